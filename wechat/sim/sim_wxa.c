/*
 * sim_wxa.c: the /wxa/ endpoints: msgSecCheck v2 (answered from words
 * registered with /sim/seccheck), getuserphonenumber (codes minted with
 * /sim/phonecode, 300 s on the sim clock, single use) and
 * getwxacodeunlimit (a PNG drawn by sim_png.c). It computes answers only;
 * sim_fault.c decides when and whether they are sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define WORDS_MAX 1000
#define PHONES_MAX 100000        /* live phone codes; minting fails beyond */
#define PHONE_CODE_LEN 64
#define PHONE_TTL_MS (300 * 1000)
#define CONTENT_MAX 2500         /* msg_sec_check, in characters */
#define SCENE_MAX 32
#define PAGE_MAX 256
#define WIDTH_MIN 280
#define WIDTH_MAX 1280
#define WIDTH_DEFAULT 430

struct sim_word {
	struct sim_word *next;
	char *word;                  /* owned */
	int risky;                   /* else review */
	int label;
};

struct sim_phone {
	struct sim_phone *next;
	char code[PHONE_CODE_LEN + 1];
	char *openid;                /* owned, NULL when none */
	char *country;               /* owned: "86" */
	char *pure;                  /* owned: "13800001234" */
	int64_t minted_ms;
	int used;
};

/*==== Shared ====*/

/* Optional bool field: 0 when absent, null or a bool (*v set), else -1. */
static int
opt_bool(const cJSON *body, const char *name, int def, int *v)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);

	*v = def;
	if (item == NULL || cJSON_IsNull(item))
		return 0;
	if (!cJSON_IsBool(item))
		return -1;
	*v = cJSON_IsTrue(item);
	return 0;
}

/* Characters (code points) of strict-enough UTF-8, or -1 if malformed. */
static long
utf8_chars(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	while (*p != '\0') {
		int more = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 :
		    (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;

		if (more < 0 || (*p & 0xfe) == 0xc0)
			return -1;
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return -1;
		}
		n++;
	}
	return n;
}

/*==== msgSecCheck ====*/

/*
 * Registers a word: content holding it comes back risky (or review) with
 * label. Registering a word again replaces its verdict. Returns 0 or -1
 * when too many are known.
 */
int
sim_word_add(struct sim *sim, const char *word, int risky, int label)
{
	struct sim_word **pp = &sim->words;

	for (; *pp != NULL; pp = &(*pp)->next) {
		if (strcmp((*pp)->word, word) == 0) {
			(*pp)->risky = risky;
			(*pp)->label = label;
			return 0;
		}
	}
	if (sim->nwords >= WORDS_MAX)
		return -1;
	*pp = sim_calloc(1, sizeof(**pp));
	(*pp)->word = sim_strdup(word);
	(*pp)->risky = risky;
	(*pp)->label = label;
	sim->nwords++;
	return 0;
}

/*
 * POST /wxa/msg_sec_check {content, version:2, scene:1..4, openid}. Any
 * bad argument is 40097. The first registered risky word the content
 * holds decides; else the first review word; else pass with label 100.
 */
int
sim_wxa_seccheck(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a)
{
	static const char hex[] = "0123456789abcdef";
	const cJSON *version, *scene, *content;
	const struct sim_word *hit = NULL;
	const char *suggest = "pass";
	char trace[27];
	long chars;
	int label = 100, rc;
	cJSON *result, *detail, *d;

	rc = sim_api_authed(sim, p, a);
	if (rc != 0)
		return rc;
	version = cJSON_GetObjectItemCaseSensitive(p->body, "version");
	scene = cJSON_GetObjectItemCaseSensitive(p->body, "scene");
	content = cJSON_GetObjectItemCaseSensitive(p->body, "content");
	if (!cJSON_IsNumber(version) || version->valuedouble != 2 ||
	    !cJSON_IsNumber(scene) || !(scene->valuedouble >= 1 &&
	    scene->valuedouble <= 4) ||
	    scene->valuedouble != (double)(int)scene->valuedouble ||
	    p->openid == NULL || !cJSON_IsString(content))
		return sim_api_fail(a, 40097, "invalid args");
	chars = utf8_chars(content->valuestring);
	if (chars <= 0 || chars > CONTENT_MAX)
		return sim_api_fail(a, 40097, "invalid args");

	for (const struct sim_word *w = sim->words; w; w = w->next) {
		if (strstr(content->valuestring, w->word) == NULL)
			continue;
		if (w->risky) {
			hit = w;
			break;
		}
		if (hit == NULL)
			hit = w;
	}
	if (hit != NULL) {
		suggest = hit->risky ? "risky" : "review";
		label = hit->label;
	}

	sim_random_string(trace, sizeof(trace) - 1, hex);
	trace[8] = trace[17] = '-';
	a->json = cJSON_CreateObject();
	cJSON_AddNumberToObject(a->json, "errcode", 0);
	cJSON_AddStringToObject(a->json, "errmsg", "ok");
	result = cJSON_AddObjectToObject(a->json, "result");
	cJSON_AddStringToObject(result, "suggest", suggest);
	cJSON_AddNumberToObject(result, "label", label);
	detail = cJSON_AddArrayToObject(a->json, "detail");
	d = cJSON_CreateObject();
	cJSON_AddStringToObject(d, "strategy", "content_model");
	cJSON_AddNumberToObject(d, "errcode", 0);
	cJSON_AddStringToObject(d, "suggest", suggest);
	cJSON_AddNumberToObject(d, "label", label);
	cJSON_AddNumberToObject(d, "prob", 90);
	cJSON_AddItemToArray(detail, d);
	cJSON_AddStringToObject(a->json, "trace_id", trace);
	return 0;
}

/*==== getuserphonenumber ====*/

/*
 * Splits "13800001234" (country 86) or "+CC NATIONAL" / "+CC-NATIONAL"
 * into country code and national digits (either may be NULL). Returns 1
 * when phone has one of those forms, else 0.
 */
static int
phone_split(const char *phone, char *country, size_t clen, char *pure,
    size_t plen)
{
	const char *cc = "86", *nat = phone;
	size_t ccn = 2, n;

	if (*phone == '+') {
		cc = phone + 1;
		ccn = strspn(cc, "0123456789");
		if (ccn < 1 || ccn > 4 || (cc[ccn] != ' ' && cc[ccn] != '-'))
			return 0;
		nat = cc + ccn + 1;
	}
	n = strspn(nat, "0123456789");
	if (n < 5 || n > 20 || nat[n] != '\0')
		return 0;
	if (country != NULL && clen > ccn) {
		memcpy(country, cc, ccn);
		country[ccn] = '\0';
	}
	if (pure != NULL && plen > n)
		memcpy(pure, nat, n + 1);
	return 1;
}

/* True when phone is "13800001234" or "+86 13800001234" alike. */
int
sim_phone_ok(const char *phone)
{
	return phone_split(phone, NULL, 0, NULL, 0);
}

static void
phone_free(struct sim_phone *ph)
{
	free(ph->openid);
	free(ph->country);
	free(ph->pure);
	free(ph);
}

/* Drops phone codes past their 300 s (used or not). */
static void
phones_prune(struct sim *sim, int64_t now)
{
	struct sim_phone **pp = &sim->phones;

	while (*pp != NULL) {
		struct sim_phone *ph = *pp;

		if (now - ph->minted_ms > PHONE_TTL_MS) {
			*pp = ph->next;
			phone_free(ph);
			sim->nphones--;
		} else {
			pp = &ph->next;
		}
	}
}

static struct sim_phone *
phone_find(const struct sim *sim, const char *code)
{
	for (struct sim_phone *ph = sim->phones; ph; ph = ph->next) {
		if (strcmp(ph->code, code) == 0)
			return ph;
	}
	return NULL;
}

/*
 * Mints a getPhoneNumber code for phone (checked by sim_phone_ok) and
 * openid (may be NULL), valid 300 s on the sim clock, single use, into
 * out (outlen > 64). Returns 0, or -1 when too many are live.
 */
int
sim_phone_mint(struct sim *sim, const char *openid, const char *phone,
    char *out, size_t outlen)
{
	int64_t now = sim_now_ms(sim);
	char country[8], pure[32];
	struct sim_phone *ph;

	phones_prune(sim, now);
	if (sim->nphones >= PHONES_MAX || outlen <= PHONE_CODE_LEN ||
	    !phone_split(phone, country, sizeof(country), pure, sizeof(pure)))
		return -1;
	ph = sim_calloc(1, sizeof(*ph));
	do {
		sim_random_string(ph->code, PHONE_CODE_LEN,
		    "0123456789abcdef");
	} while (phone_find(sim, ph->code) != NULL);
	ph->openid = openid ? sim_strdup(openid) : NULL;
	ph->country = sim_strdup(country);
	ph->pure = sim_strdup(pure);
	ph->minted_ms = now;
	ph->next = sim->phones;
	sim->phones = ph;
	sim->nphones++;
	memcpy(out, ph->code, PHONE_CODE_LEN + 1);
	return 0;
}

/*
 * POST /wxa/business/getuserphonenumber {code}: 40029 for a missing,
 * unknown, expired or used code; else phone_info with the watermark.
 * phoneNumber carries "+CC " only for countries other than 86.
 */
int
sim_wxa_phone(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a)
{
	int64_t now = sim_now_ms(sim);
	const cJSON *code;
	struct sim_phone *ph;
	char full[48];
	cJSON *info, *wm;
	int rc;

	rc = sim_api_authed(sim, p, a);
	if (rc != 0)
		return rc;
	code = cJSON_GetObjectItemCaseSensitive(p->body, "code");
	ph = cJSON_IsString(code) ? phone_find(sim, code->valuestring) : NULL;
	if (ph == NULL || ph->used || now - ph->minted_ms > PHONE_TTL_MS)
		return sim_api_fail(a, 40029, "invalid code");
	ph->used = 1;

	if (strcmp(ph->country, "86") == 0)
		snprintf(full, sizeof(full), "%s", ph->pure);
	else
		snprintf(full, sizeof(full), "+%s %s", ph->country, ph->pure);
	a->json = cJSON_CreateObject();
	cJSON_AddNumberToObject(a->json, "errcode", 0);
	cJSON_AddStringToObject(a->json, "errmsg", "ok");
	info = cJSON_AddObjectToObject(a->json, "phone_info");
	cJSON_AddStringToObject(info, "phoneNumber", full);
	cJSON_AddStringToObject(info, "purePhoneNumber", ph->pure);
	cJSON_AddStringToObject(info, "countryCode", ph->country);
	wm = cJSON_AddObjectToObject(info, "watermark");
	cJSON_AddNumberToObject(wm, "timestamp", (double)(now / 1000));
	cJSON_AddStringToObject(wm, "appid", sim->appid);
	return 0;
}

/*==== getwxacodeunlimit ====*/

/* 1..32 of [0-9A-Za-z!#$&'()*+,/:;=?@-._~]. */
static int
scene_ok(const char *s)
{
	static const char extra[] = "!#$&'()*+,/:;=?@-._~";
	size_t n = 0;

	for (; s[n] != '\0'; n++) {
		unsigned char ch = (unsigned char)s[n];

		if (n >= SCENE_MAX)
			return 0;
		if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= 'a' && ch <= 'z') || strchr(extra, ch) != NULL))
			return 0;
	}
	return n > 0;
}

/*
 * POST /wxa/getwxacodeunlimit. scene (40169), page (41030: leading '/',
 * a query, or with check_path and registered pages an unknown one),
 * env_version and option types (40097); width clamped to 280..1280
 * (default 430). Success is a width x width PNG in a->png.
 */
int
sim_wxa_qrcode(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a)
{
	static const char *const envs[] = { "release", "trial", "develop" };
	const cJSON *page_item, *env_item, *width_item, *line;
	const char *page = NULL, *env = "release";
	int check_path, flag, width = WIDTH_DEFAULT, rc, env_ok = 0;
	char *seed;
	size_t seedlen;

	rc = sim_api_authed(sim, p, a);
	if (rc != 0)
		return rc;
	if (p->scene == NULL || !scene_ok(p->scene))
		return sim_api_fail(a, 40169, "invalid length for scene, "
		    "or the data is not json string");

	page_item = cJSON_GetObjectItemCaseSensitive(p->body, "page");
	if (cJSON_IsString(page_item) && page_item->valuestring[0] != '\0')
		page = page_item->valuestring;
	else if (page_item != NULL && !cJSON_IsNull(page_item) &&
	    !cJSON_IsString(page_item))
		return sim_api_fail(a, 40097, "invalid args");
	if (opt_bool(p->body, "check_path", 1, &check_path) != 0 ||
	    opt_bool(p->body, "auto_color", 0, &flag) != 0 ||
	    opt_bool(p->body, "is_hyaline", 0, &flag) != 0)
		return sim_api_fail(a, 40097, "invalid args");
	line = cJSON_GetObjectItemCaseSensitive(p->body, "line_color");
	if (line != NULL && !cJSON_IsNull(line) && !cJSON_IsObject(line))
		return sim_api_fail(a, 40097, "invalid args");
	env_item = cJSON_GetObjectItemCaseSensitive(p->body, "env_version");
	if (env_item != NULL && !cJSON_IsNull(env_item)) {
		if (!cJSON_IsString(env_item))
			return sim_api_fail(a, 40097, "invalid args");
		env = env_item->valuestring;
	}
	for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++)
		env_ok |= strcmp(env, envs[i]) == 0;
	if (!env_ok)
		return sim_api_fail(a, 40097, "invalid args");
	width_item = cJSON_GetObjectItemCaseSensitive(p->body, "width");
	if (width_item != NULL && !cJSON_IsNull(width_item)) {
		if (!cJSON_IsNumber(width_item))
			return sim_api_fail(a, 40097, "invalid args");
		width = width_item->valuedouble < WIDTH_MIN ? WIDTH_MIN :
		    width_item->valuedouble > WIDTH_MAX ? WIDTH_MAX :
		    (int)width_item->valuedouble;
	}
	if (page != NULL && (page[0] == '/' || strchr(page, '?') != NULL ||
	    strlen(page) > PAGE_MAX ||
	    (check_path && sim->pages != NULL && !sim_page_known(sim, page))))
		return sim_api_fail(a, 41030, "invalid page");

	seedlen = strlen(p->scene) + (page ? strlen(page) : 0) +
	    strlen(env) + 3;
	seed = sim_malloc(seedlen);
	snprintf(seed, seedlen, "%s|%s|%s", p->scene, page ? page : "", env);
	rc = sim_png_qrcode(seed, (unsigned)width, &a->png, &a->png_len);
	free(seed);
	if (rc != 0)
		return sim_api_fail(a, -1, "system error");
	return 0;
}

/* Forgets sensitive words and phone codes. */
void
sim_wxa_reset(struct sim *sim)
{
	while (sim->words != NULL) {
		struct sim_word *w = sim->words;

		sim->words = w->next;
		free(w->word);
		free(w);
	}
	sim->nwords = 0;
	while (sim->phones != NULL) {
		struct sim_phone *ph = sim->phones;

		sim->phones = ph->next;
		phone_free(ph);
	}
	sim->nphones = 0;
}
