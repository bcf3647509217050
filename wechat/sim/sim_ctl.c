/*
 * sim_ctl.c: the /sim/ control API that tests and demos drive: mint codes,
 * queue faults, reset, move the sim clock, read the call log. Each handler
 * validates its JSON body (already parsed by sim.c, not owned here) and
 * replies; the state itself lives in sim_api.c and sim_fault.c.
 */
#include <limits.h>
#include <string.h>

#include "sim.h"

#define OPENID_MAX 256
#define COUNT_MAX 100000
#define DELAY_MAX_MS 600000
#define ADVANCE_MAX_S (100LL * 366 * 86400)

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
static int
get_int(const cJSON *body, const char *name, long long def, long long min,
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
 * A string field: NULL when absent or null, -1 in *bad when present but
 * not a string.
 */
static const char *
get_string(const cJSON *body, const char *name, int *bad)
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

	openid = get_string(body, "openid", &bad);
	if (openid == NULL || *openid == '\0') {
		sim_reply_ctl_error(req, 400, "openid required");
		return;
	}
	unionid = get_string(body, "unionid", &bad);
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

	api = get_string(body, "api", &bad);
	if (api == NULL || (strcmp(api, "jscode2session") != 0 &&
	    strcmp(api, "token") != 0 && strcmp(api, "stable_token") != 0 &&
	    strcmp(api, "*") != 0)) {
		sim_reply_ctl_error(req, 400, "api must be one of "
		    "jscode2session, token, stable_token, *");
		return;
	}
	if (get_int(body, "errcode", -1, INT_MIN, INT_MAX, &errcode) != 0) {
		sim_reply_ctl_error(req, 400, "errcode must be an integer");
		return;
	}
	if (get_int(body, "count", 1, 1, COUNT_MAX, &count) != 0) {
		sim_reply_ctl_error(req, 400, "count must be 1..100000");
		return;
	}
	if (get_int(body, "delay_ms", 0, 0, DELAY_MAX_MS, &delay_ms) != 0) {
		sim_reply_ctl_error(req, 400, "delay_ms must be 0..600000");
		return;
	}
	if (get_int(body, "http_status", 0, 0, 599, &http_status) != 0 ||
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

/* POST /sim/reset -> {"ok":true}: codes, tokens, faults, log, clock. */
void
sim_ctl_reset(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	(void)body;
	sim_api_reset(sim);
	sim_fault_reset(sim);
	sim->offset_ms = 0;
	reply_ok(req);
}

/* POST /sim/clock {"advance_s":N} -> {"now":<unix s>} */
void
sim_ctl_clock(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	long long advance;
	cJSON *o;

	if (get_int(body, "advance_s", 0, 0, ADVANCE_MAX_S, &advance) != 0) {
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
