/*
 * sim_ctl.c: the /sim/ control API that tests and demos drive: mint codes,
 * queue faults, reset, move the sim clock, read the call log; register
 * templates, pages, consent and sensitive words, mint phone codes, read
 * sent messages. Each handler validates its JSON body (already parsed by
 * sim.c, not owned here) and replies; the state itself lives in sim_api.c,
 * sim_fault.c, sim_msg.c and sim_wxa.c. /sim/push is sim_push.c's.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define OPENID_MAX 256
#define COUNT_MAX 100000
#define DELAY_MAX_MS 600000
#define ADVANCE_MAX_S (100LL * 366 * 86400)
#define ID_MAX 128               /* template ids */
#define KEYS_MAX 64              /* keys of one template */
#define KEY_MAX 64
#define PAGE_MAX 256
#define PAGES_MAX 1000           /* pages of one /sim/pages call */
#define WORD_MAX 256
#define LABEL_MAX 999999
#define PHONE_MAX 32

static void
reply_ok(struct evhttp_request *req)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "ok", 1);
	sim_reply_json(req, 200, o, 0);
}

/*
 * Reads integer field name of body into *val: def when absent, else it must
 * be an integral number in [min, max]. Returns 0 or -1.
 */
int
sim_get_int(const cJSON *body, const char *name, long long def, long long min,
    long long max, long long *val)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);
	double d;

	if (item == NULL) {
		*val = def;
		return 0;
	}
	if (!cJSON_IsNumber(item))
		return -1;
	d = item->valuedouble;
	if (!(d >= (double)min && d <= (double)max) ||
	    (double)(long long)d != d)
		return -1;
	*val = (long long)d;
	return 0;
}

/*
 * A string field (owned by body): NULL when absent or null, with *bad set
 * to 1 when present but not a string, else to 0.
 */
const char *
sim_get_string(const cJSON *body, const char *name, int *bad)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);

	*bad = 0;
	if (item == NULL || cJSON_IsNull(item))
		return NULL;
	if (!cJSON_IsString(item)) {
		*bad = 1;
		return NULL;
	}
	return item->valuestring;
}

/* POST /sim/code {"openid":..,"unionid":..?} -> {"code":..} */
void
sim_ctl_code(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	const char *openid, *unionid;
	char code[64];
	cJSON *o;
	int bad;

	openid = sim_get_string(body, "openid", &bad);
	if (openid == NULL || *openid == '\0') {
		sim_reply_ctl_error(req, 400, "openid required");
		return;
	}
	unionid = sim_get_string(body, "unionid", &bad);
	if (bad) {
		sim_reply_ctl_error(req, 400, "unionid must be a string");
		return;
	}
	if (strlen(openid) > OPENID_MAX ||
	    (unionid != NULL && strlen(unionid) > OPENID_MAX)) {
		sim_reply_ctl_error(req, 400, "openid or unionid too long");
		return;
	}
	if (unionid != NULL && *unionid == '\0')
		unionid = NULL;
	if (sim_code_mint(sim, openid, unionid, code, sizeof(code)) != 0) {
		sim_reply_ctl_error(req, 503, "too many live codes");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "code", code);
	sim_reply_json(req, 200, o, 0);
}

/*
 * POST /sim/faults {"api":..,"errcode":-1,"count":1,"delay_ms":0,
 * "drop":false,"http_status":0} -> {"ok":true}
 */
void
sim_ctl_faults(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	const cJSON *drop_item;
	const char *api;
	long long errcode, count, delay_ms, http_status;
	int drop = 0, bad;

	api = sim_get_string(body, "api", &bad);
	if (!sim_fault_api_ok(api)) {
		sim_reply_ctl_error(req, 400, "api must be one of "
		    "jscode2session, token, stable_token, subscribe_send, "
		    "msg_sec_check, getuserphonenumber, getwxacodeunlimit, "
		    "robot_send, *");
		return;
	}
	if (sim_get_int(body, "errcode", -1, INT_MIN, INT_MAX, &errcode) != 0) {
		sim_reply_ctl_error(req, 400, "errcode must be an integer");
		return;
	}
	if (sim_get_int(body, "count", 1, 1, COUNT_MAX, &count) != 0) {
		sim_reply_ctl_error(req, 400, "count must be 1..100000");
		return;
	}
	if (sim_get_int(body, "delay_ms", 0, 0, DELAY_MAX_MS, &delay_ms) != 0) {
		sim_reply_ctl_error(req, 400, "delay_ms must be 0..600000");
		return;
	}
	if (sim_get_int(body, "http_status", 0, 0, 599, &http_status) != 0 ||
	    (http_status != 0 && http_status < 200)) {
		sim_reply_ctl_error(req, 400,
		    "http_status must be 0 or 200..599");
		return;
	}
	drop_item = cJSON_GetObjectItemCaseSensitive(body, "drop");
	if (drop_item != NULL && !cJSON_IsBool(drop_item)) {
		sim_reply_ctl_error(req, 400, "drop must be a boolean");
		return;
	}
	drop = cJSON_IsTrue(drop_item);
	if (sim_fault_add(sim, api, (int)errcode, (int)count, (int)delay_ms,
	    drop, (int)http_status) != 0) {
		sim_reply_ctl_error(req, 400, "too many fault rules");
		return;
	}
	reply_ok(req);
}

/*
 * POST /sim/reset -> {"ok":true}: codes, tokens, faults, log, clock,
 * templates, pages, consent, messages, sensitive words, phone codes,
 * robot messages and rate state.
 */
void
sim_ctl_reset(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	(void)body;
	sim_api_reset(sim);
	sim_fault_reset(sim);
	sim_msg_reset(sim);
	sim_wxa_reset(sim);
	sim_robot_reset(sim);
	sim->offset_ms = 0;
	reply_ok(req);
}

/* POST /sim/clock {"advance_s":N} -> {"now":<unix s>} */
void
sim_ctl_clock(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	long long advance;
	cJSON *o;

	if (sim_get_int(body, "advance_s", 0, 0, ADVANCE_MAX_S,
	    &advance) != 0) {
		sim_reply_ctl_error(req, 400,
		    "advance_s must be a non-negative integer");
		return;
	}
	sim->offset_ms += (int64_t)advance * 1000;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "now", (double)(sim_now_ms(sim) / 1000));
	sim_reply_json(req, 200, o, 0);
}

/* GET /sim/calls -> {"calls":[...]} */
void
sim_ctl_calls(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	(void)body;
	sim_reply_json(req, 200, sim_calls_json(sim), 0);
}

/*
 * The strings of array field name of body (borrowed from body) into a
 * fresh array *out (caller frees), each 1..maxlen bytes. Returns the
 * count, or -1 when the field is absent, not an array, longer than maxn or
 * holds anything else.
 */
static int
get_strings(const cJSON *body, const char *name, size_t maxn, size_t maxlen,
    const char ***out)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, name);
	const cJSON *item;
	int n = cJSON_GetArraySize(arr), i = 0;

	*out = NULL;
	if (!cJSON_IsArray(arr) || n < 0 || (size_t)n > maxn)
		return -1;
	*out = sim_calloc((size_t)n, sizeof(**out));
	cJSON_ArrayForEach(item, arr) {
		if (!cJSON_IsString(item) || item->valuestring[0] == '\0' ||
		    strlen(item->valuestring) > maxlen) {
			free(*out);
			*out = NULL;
			return -1;
		}
		(*out)[i++] = item->valuestring;
	}
	return n;
}

/*
 * POST /sim/templates {"template_id":..,"keys":["thing1","time2",..]}
 * -> {"ok":true}. Registering an id again replaces its keys.
 */
void
sim_ctl_templates(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	const char **keys = NULL;
	const char *id;
	int bad, n;

	id = sim_get_string(body, "template_id", &bad);
	if (id == NULL || *id == '\0' || strlen(id) > ID_MAX) {
		sim_reply_ctl_error(req, 400, "template_id required (1..128)");
		return;
	}
	n = get_strings(body, "keys", KEYS_MAX, KEY_MAX, &keys);
	if (n <= 0) {
		sim_reply_ctl_error(req, 400,
		    "keys must be 1..64 non-empty strings");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < i; j++) {
			if (strcmp(keys[i], keys[j]) == 0) {
				sim_reply_ctl_error(req, 400,
				    "keys must be distinct");
				goto out;
			}
		}
	}
	if (sim_template_add(sim, id, keys, (size_t)n) != 0) {
		sim_reply_ctl_error(req, 503, "too many templates");
		goto out;
	}
	reply_ok(req);
out:
	free(keys);
}

/*
 * POST /sim/pages {"pages":["pages/ticket/detail",..]} -> {"ok":true}.
 * Adds to the pages already registered; a leading '/' is dropped.
 */
void
sim_ctl_pages(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	const char **pages = NULL;
	int n;

	n = get_strings(body, "pages", PAGES_MAX, PAGE_MAX, &pages);
	if (n < 0) {
		sim_reply_ctl_error(req, 400, "pages must be an array of "
		    "non-empty strings");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const char *pg = pages[i] + (pages[i][0] == '/');

		if (*pg == '\0' || strchr(pg, '?') != NULL) {
			sim_reply_ctl_error(req, 400,
			    "a page is a path without a query");
			goto out;
		}
	}
	for (int i = 0; i < n; i++) {
		if (sim_page_add(sim, pages[i] + (pages[i][0] == '/')) != 0) {
			sim_reply_ctl_error(req, 503, "too many pages");
			goto out;
		}
	}
	reply_ok(req);
out:
	free(pages);
}

/*
 * POST /sim/consent {"openid":..,"template_id":..,"count":1,"set":false}
 * -> {"ok":true,"count":<credits now>}. Adds count one-time credits (the
 * user tapped "accept" count times); with "set":true the credits become
 * count instead (0 takes them all away).
 */
void
sim_ctl_consent(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	const cJSON *set_item = cJSON_GetObjectItemCaseSensitive(body, "set");
	const char *openid, *id;
	long long count, now;
	int bad;
	cJSON *o;

	openid = sim_get_string(body, "openid", &bad);
	id = sim_get_string(body, "template_id", &bad);
	if (openid == NULL || *openid == '\0' || strlen(openid) > OPENID_MAX ||
	    id == NULL || *id == '\0' || strlen(id) > ID_MAX) {
		sim_reply_ctl_error(req, 400,
		    "openid and template_id required");
		return;
	}
	if (sim_get_int(body, "count", 1, 0, COUNT_MAX, &count) != 0) {
		sim_reply_ctl_error(req, 400, "count must be 0..100000");
		return;
	}
	if (set_item != NULL && !cJSON_IsBool(set_item)) {
		sim_reply_ctl_error(req, 400, "set must be a boolean");
		return;
	}
	if (sim_consent_add(sim, openid, id, count, cJSON_IsTrue(set_item),
	    &now) != 0) {
		sim_reply_ctl_error(req, 503, "too many consent entries");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", 1);
	cJSON_AddNumberToObject(o, "count", (double)now);
	sim_reply_json(req, 200, o, 0);
}

/* GET /sim/consent -> {"consent":[{"openid","template_id","count"},..]} */
void
sim_ctl_consent_get(struct sim *sim, struct evhttp_request *req,
    cJSON *body)
{
	(void)body;
	sim_reply_json(req, 200, sim_consent_json(sim), 0);
}

/* GET /sim/messages -> {"messages":[..]}, oldest first. */
void
sim_ctl_messages(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	(void)body;
	sim_reply_json(req, 200, sim_messages_json(sim), 0);
}

/*
 * POST /sim/seccheck {"word":..,"suggest":"risky"|"review","label":N}
 * -> {"ok":true}. label defaults to 20001 (risky) or 21000 (review).
 */
void
sim_ctl_seccheck(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	const char *word, *suggest;
	long long label;
	int bad, risky;

	word = sim_get_string(body, "word", &bad);
	if (word == NULL || *word == '\0' || strlen(word) > WORD_MAX) {
		sim_reply_ctl_error(req, 400, "word required (1..256 bytes)");
		return;
	}
	suggest = sim_get_string(body, "suggest", &bad);
	if (suggest == NULL || (strcmp(suggest, "risky") != 0 &&
	    strcmp(suggest, "review") != 0)) {
		sim_reply_ctl_error(req, 400,
		    "suggest must be risky or review");
		return;
	}
	risky = strcmp(suggest, "risky") == 0;
	if (sim_get_int(body, "label", risky ? 20001 : 21000, 1, LABEL_MAX,
	    &label) != 0) {
		sim_reply_ctl_error(req, 400, "label must be 1..999999");
		return;
	}
	if (sim_word_add(sim, word, risky, (int)label) != 0) {
		sim_reply_ctl_error(req, 503, "too many words");
		return;
	}
	reply_ok(req);
}

/*
 * POST /sim/phonecode {"openid":..?,"phone":"13800001234"} -> {"code":..}:
 * a getPhoneNumber code, valid 300 s on the sim clock, single use.
 */
void
sim_ctl_phonecode(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	const char *openid, *phone;
	char code[80];
	int bad;
	cJSON *o;

	openid = sim_get_string(body, "openid", &bad);
	if (bad || (openid != NULL && strlen(openid) > OPENID_MAX)) {
		sim_reply_ctl_error(req, 400, "openid must be a string");
		return;
	}
	phone = sim_get_string(body, "phone", &bad);
	if (phone == NULL || strlen(phone) > PHONE_MAX ||
	    !sim_phone_ok(phone)) {
		sim_reply_ctl_error(req, 400, "phone must look like "
		    "13800001234 or +86 13800001234");
		return;
	}
	if (openid != NULL && *openid == '\0')
		openid = NULL;
	if (sim_phone_mint(sim, openid, phone, code, sizeof(code)) != 0) {
		sim_reply_ctl_error(req, 503, "too many live phone codes");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "code", code);
	sim_reply_json(req, 200, o, 0);
}
