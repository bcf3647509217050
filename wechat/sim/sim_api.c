/*
 * sim_api.c: the WeChat endpoints themselves (code2Session, /cgi-bin/token,
 * /cgi-bin/stable_token) and the state behind them: minted js_codes and
 * access tokens of both namespaces; the access-token check of the business
 * endpoints, whose answers come from sim_msg.c and sim_wxa.c. It computes
 * answers only; sim_fault.c decides when and whether they are sent, sim.c
 * sends them.
 *
 * Every expiry uses the sim clock (sim_now_ms). Codes live 300 s and are
 * single use; tokens live 7200 s, and a superseded token 300 s more.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>

#include "sim.h"

#define CODE_LEN 32
#define CODE_TTL_MS (300 * 1000)
#define CODES_MAX 100000         /* live codes; minting fails beyond */
#define TOKEN_LEN 136
#define TOKEN_TTL_S 7200
#define TOKEN_GRACE_MS (300 * 1000)   /* old token's life after a new one */
#define TOKEN_KEEP_MS (86400 * 1000)  /* expired tokens remembered (42001) */
#define TOKENS_MAX 10000         /* per namespace, oldest dropped */
#define STABLE_MIN_LEFT_MS (300 * 1000)
#define FORCE_PER_DAY 20
#define FORCE_GAP_MS (30 * 1000)
#define SIM_DAY_OFFSET_S (8 * 3600)   /* quota days follow Beijing time */

#define NS_TOKEN 0
#define NS_STABLE 1

static const char alnum[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
static const char token_chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

struct sim_code {
	struct sim_code *next;
	char value[CODE_LEN + 1];
	char *openid;                /* owned */
	char *unionid;               /* owned, NULL when none */
	int64_t minted_ms;
	int used;                    /* exchanged already */
};

struct sim_token {
	struct sim_token *next;
	char value[TOKEN_LEN + 1];
	int64_t expires_ms;
};

/* errmsg text for each errcode this file produces. */
static const struct {
	int errcode;
	const char *text;
} errmsgs[] = {
	{ -1, "system error" },
	{ 40001, "invalid credential" },
	{ 40002, "invalid grant_type" },
	{ 40013, "invalid appid" },
	{ 40003, "invalid openid" },
	{ 40029, "invalid code" },
	{ 40037, "invalid template_id" },
	{ 40097, "invalid args" },
	{ 40125, "invalid appsecret" },
	{ 40163, "code been used" },
	{ 40169, "invalid length for scene, or the data is not json string" },
	{ 41001, "access_token missing" },
	{ 41002, "appid missing" },
	{ 41004, "appsecret missing" },
	{ 41008, "missing code" },
	{ 41030, "invalid page" },
	{ 42001, "access_token expired" },
	{ 43101, "user refuse to accept the msg" },
	{ 43108, "Cannot make concurrent calls to the same OpenID" },
	{ 45009, "reach max api daily quota limit" },
	{ 47001, "data format error" },
	{ 47003, "argument invalid!" },
};

/* The WeChat errmsg text (without rid) for errcode. */
const char *
sim_api_errmsg(int errcode)
{
	for (size_t i = 0; i < sizeof(errmsgs) / sizeof(errmsgs[0]); i++) {
		if (errmsgs[i].errcode == errcode)
			return errmsgs[i].text;
	}
	return "system error";
}

/*==== Parameters ====*/

static char *
dup_nonempty(const char *s)
{
	return (s != NULL && *s != '\0') ? sim_strdup(s) : NULL;
}

/* A string field of a JSON body; a present non-string marks the body bad. */
static char *
body_string(const cJSON *body, const char *name, int *bad)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);

	if (item == NULL || cJSON_IsNull(item))
		return NULL;
	if (!cJSON_IsString(item)) {
		*bad = 1;
		return NULL;
	}
	return dup_nonempty(item->valuestring);
}

/*
 * A business endpoint's request: access_token from the query, the JSON
 * object body kept whole, and the fields the call log shows.
 */
static void
params_authed(int api, struct evhttp_request *req, struct sim_params *p)
{
	struct evkeyvalq q;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	const char *openid_field = "openid";
	int empty, bad = 0;

	if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
		p->access_token = dup_nonempty(evhttp_find_header(&q,
		    "access_token"));
		evhttp_clear_headers(&q);
	}
	p->body = sim_body_json(req, &empty);
	if (!cJSON_IsObject(p->body)) {
		cJSON_Delete(p->body);
		p->body = NULL;
		p->bad_body = 1;
		return;
	}
	if (api == SIM_API_SUBSCRIBE_SEND) {
		openid_field = "touser";
		p->template_id = body_string(p->body, "template_id", &bad);
	}
	if (api == SIM_API_SUBSCRIBE_SEND || api == SIM_API_MSG_SEC_CHECK)
		p->openid = body_string(p->body, openid_field, &bad);
	if (api == SIM_API_QRCODE)
		p->scene = body_string(p->body, "scene", &bad);
}

/*
 * Fills *p from req: the query string, or for stable_token the JSON body,
 * or for the business endpoints and robot_send (sim_robot.c) both. Absent and empty parameters are
 * NULL. A body that is not a JSON object, or (stable_token) has a field of
 * the wrong type, sets p->bad_body. Returns 0.
 * Release *p with sim_params_clear.
 */
int
sim_params_parse(int api, struct evhttp_request *req, struct sim_params *p)
{
	struct evkeyvalq q;
	const struct evhttp_uri *uri;
	const char *query;
	const cJSON *force;
	cJSON *body = NULL;
	int empty;

	memset(p, 0, sizeof(*p));
	if (api == SIM_API_ROBOT_SEND) {
		sim_robot_params(req, p);
		return 0;
	}
	if (api >= SIM_API_FIRST_AUTHED) {
		params_authed(api, req, p);
		return 0;
	}
	if (api == SIM_API_STABLE_TOKEN) {
		body = sim_body_json(req, &empty);
		if (!cJSON_IsObject(body)) {
			p->bad_body = 1;
			goto out;
		}
		p->appid = body_string(body, "appid", &p->bad_body);
		p->secret = body_string(body, "secret", &p->bad_body);
		p->grant_type = body_string(body, "grant_type", &p->bad_body);
		force = cJSON_GetObjectItemCaseSensitive(body, "force_refresh");
		if (cJSON_IsBool(force))
			p->force_refresh = cJSON_IsTrue(force);
		else if (force != NULL && !cJSON_IsNull(force))
			p->bad_body = 1;
		goto out;
	}

	uri = evhttp_request_get_evhttp_uri(req);
	query = uri ? evhttp_uri_get_query(uri) : NULL;
	if (query == NULL || evhttp_parse_query_str(query, &q) != 0)
		goto out;
	p->appid = dup_nonempty(evhttp_find_header(&q, "appid"));
	p->secret = dup_nonempty(evhttp_find_header(&q, "secret"));
	p->grant_type = dup_nonempty(evhttp_find_header(&q, "grant_type"));
	if (api == SIM_API_JSCODE2SESSION)
		p->js_code = dup_nonempty(evhttp_find_header(&q, "js_code"));
	evhttp_clear_headers(&q);
out:
	cJSON_Delete(body);
	return 0;
}

/* Frees what sim_params_parse put in *p. */
void
sim_params_clear(struct sim_params *p)
{
	free(p->appid);
	free(p->secret);
	free(p->js_code);
	free(p->grant_type);
	free(p->access_token);
	cJSON_Delete(p->body);
	free(p->openid);
	free(p->template_id);
	free(p->scene);
	free(p->key);
	memset(p, 0, sizeof(*p));
}

/*==== Codes ====*/

static void
code_free(struct sim_code *c)
{
	free(c->openid);
	free(c->unionid);
	free(c);
}

static struct sim_code *
code_find(struct sim *sim, const char *value)
{
	for (struct sim_code *c = sim->codes; c != NULL; c = c->next) {
		if (strcmp(c->value, value) == 0)
			return c;
	}
	return NULL;
}

/* Drops codes past their 300 s: they answer 40029 like unknown ones. */
static void
codes_prune(struct sim *sim, int64_t now)
{
	struct sim_code **pp = &sim->codes;

	while (*pp != NULL) {
		struct sim_code *c = *pp;

		if (now - c->minted_ms > CODE_TTL_MS) {
			*pp = c->next;
			code_free(c);
			sim->ncodes--;
		} else {
			pp = &c->next;
		}
	}
}

/*
 * Mints a fresh single-use js_code for openid (and unionid, may be NULL),
 * valid 300 s on the sim clock, and copies it into out (outlen > 32).
 * Returns 0, or -1 when too many codes are live.
 */
int
sim_code_mint(struct sim *sim, const char *openid, const char *unionid,
    char *out, size_t outlen)
{
	int64_t now = sim_now_ms(sim);
	struct sim_code *c;

	codes_prune(sim, now);
	if (sim->ncodes >= CODES_MAX || outlen <= CODE_LEN)
		return -1;
	c = sim_calloc(1, sizeof(*c));
	do {
		sim_random_string(c->value, CODE_LEN, alnum);
	} while (code_find(sim, c->value) != NULL);
	c->openid = sim_strdup(openid);
	c->unionid = unionid ? sim_strdup(unionid) : NULL;
	c->minted_ms = now;
	c->next = sim->codes;
	sim->codes = c;
	sim->ncodes++;
	memcpy(out, c->value, CODE_LEN + 1);
	return 0;
}

/*==== Tokens ====*/

/*
 * Mints a token in namespace ns, valid 7200 s; tokens minted before it keep
 * at most 300 s. Forgets tokens expired for a day, and the oldest beyond
 * TOKENS_MAX. Returns the new token, which the list owns.
 */
static struct sim_token *
token_mint(struct sim *sim, int ns, int64_t now)
{
	struct sim_token **pp = &sim->tokens[ns];
	struct sim_token *t;
	size_t kept = 0;

	while (*pp != NULL) {
		t = *pp;
		if (t->expires_ms > now + TOKEN_GRACE_MS)
			t->expires_ms = now + TOKEN_GRACE_MS;
		if (t->expires_ms < now - TOKEN_KEEP_MS ||
		    kept >= TOKENS_MAX - 1) {
			*pp = t->next;
			free(t);
			sim->ntokens[ns]--;
		} else {
			kept++;
			pp = &t->next;
		}
	}
	t = sim_calloc(1, sizeof(*t));
	sim_random_string(t->value, TOKEN_LEN, token_chars);
	t->expires_ms = now + (int64_t)TOKEN_TTL_S * 1000;
	t->next = sim->tokens[ns];
	sim->tokens[ns] = t;
	sim->ntokens[ns]++;
	return t;
}

/*
 * Checks an access token of either namespace. Returns 0 when it is valid
 * now, 42001 when it expired, 40001 when it is unknown or missing. The
 * business endpoints reach it through sim_api_authed().
 */
int
sim_token_check(struct sim *sim, const char *token)
{
	int64_t now = sim_now_ms(sim);

	if (token == NULL || *token == '\0')
		return 40001;
	for (int ns = 0; ns < 2; ns++) {
		for (struct sim_token *t = sim->tokens[ns]; t; t = t->next) {
			if (strcmp(t->value, token) == 0)
				return now < t->expires_ms ? 0 : 42001;
		}
	}
	return 40001;
}

static cJSON *
token_json(const struct sim_token *t, int64_t expires_in)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "access_token", t->value);
	cJSON_AddNumberToObject(o, "expires_in", (double)expires_in);
	return o;
}

/*
 * Sets a->errmsg from fmt (the errmsg text, without rid) and returns
 * errcode, so an endpoint can write `return sim_api_fail(a, 47003, ...)`.
 */
int
sim_api_fail(struct sim_answer *a, int errcode, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->errmsg, sizeof(a->errmsg), fmt, ap);
	va_end(ap);
	return errcode;
}

/*
 * The checks every business endpoint makes first, in WeChat's order: the
 * access token (41001 missing, 40001 unknown, 42001 expired), then a JSON
 * object body (47001). Returns 0 or the errcode, with a->errmsg set.
 */
int
sim_api_authed(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a)
{
	if (p->access_token == NULL)
		return sim_api_fail(a, 41001, "access_token missing");
	switch (sim_token_check(sim, p->access_token)) {
	case 0:
		break;
	case 42001:
		return sim_api_fail(a, 42001, "access_token expired");
	default:
		return sim_api_fail(a, 40001, "invalid credential, "
		    "access_token is invalid or not latest");
	}
	if (p->bad_body || p->body == NULL)
		return sim_api_fail(a, 47001, "data format error");
	return 0;
}

/*==== Endpoints ====*/

/* appid and secret checks shared by the token endpoints. */
/* appid then secret, as WeChat checks them; BAD_SECRET differs by API. */
static int
check_app(struct sim *sim, const struct sim_params *p, int bad_secret)
{
	if (p->appid == NULL)
		return 41002;
	if (strcmp(p->appid, sim->appid) != 0)
		return 40013;
	if (p->secret == NULL)
		return 41004;
	if (strcmp(p->secret, sim->secret) != 0)
		return bad_secret;
	return 0;
}

static int
check_credential(struct sim *sim, const struct sim_params *p)
{
	if (p->grant_type == NULL ||
	    strcmp(p->grant_type, "client_credential") != 0)
		return 40002;
	return check_app(sim, p, 40001);
}

static int
jscode2session(struct sim *sim, const struct sim_params *p, cJSON **out)
{
	int64_t now = sim_now_ms(sim);
	unsigned char raw[16];
	unsigned char key[4 * ((sizeof(raw) + 2) / 3) + 1];
	struct sim_code *c;
	cJSON *o;
	int err;

	if ((err = check_app(sim, p, 40125)) != 0)
		return err;
	if (p->grant_type == NULL ||
	    strcmp(p->grant_type, "authorization_code") != 0)
		return 40002;
	if (p->js_code == NULL)
		return 41008;
	c = code_find(sim, p->js_code);
	if (c == NULL || now - c->minted_ms > CODE_TTL_MS)
		return 40029;
	if (c->used)
		return 40163;
	c->used = 1;

	sim_random_bytes(raw, sizeof(raw));
	EVP_EncodeBlock(key, raw, (int)sizeof(raw));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "session_key", (const char *)key);
	cJSON_AddStringToObject(o, "openid", c->openid);
	if (c->unionid != NULL)
		cJSON_AddStringToObject(o, "unionid", c->unionid);
	*out = o;
	return 0;
}

static int
cgi_token(struct sim *sim, const struct sim_params *p, cJSON **out)
{
	int64_t now = sim_now_ms(sim);
	int rc = check_credential(sim, p);

	if (rc != 0)
		return rc;
	*out = token_json(token_mint(sim, NS_TOKEN, now), TOKEN_TTL_S);
	return 0;
}

static int
stable_token(struct sim *sim, const struct sim_params *p, cJSON **out)
{
	int64_t now = sim_now_ms(sim);
	int64_t day = (now / 1000 + SIM_DAY_OFFSET_S) / 86400;
	struct sim_token *t = sim->tokens[NS_STABLE];
	int rc;

	if (p->bad_body)
		return 47001;
	rc = check_credential(sim, p);
	if (rc != 0)
		return rc;

	if (!p->force_refresh) {
		if (t != NULL && t->expires_ms - now >= STABLE_MIN_LEFT_MS) {
			*out = token_json(t, (t->expires_ms - now) / 1000);
			return 0;
		}
	} else {
		if (day != sim->force_day) {
			sim->force_day = day;
			sim->force_count = 0;
		}
		if (sim->force_count >= FORCE_PER_DAY ||
		    (sim->last_force_ms != INT64_MIN &&
		    now - sim->last_force_ms < FORCE_GAP_MS))
			return 45009;
		sim->force_count++;
		sim->last_force_ms = now;
	}
	*out = token_json(token_mint(sim, NS_STABLE, now), TOKEN_TTL_S);
	return 0;
}

/*
 * Answers one call to a WeChat endpoint, changing state as WeChat would.
 * *a must start zeroed. Returns the errcode: 0 on success, when a->json or
 * a->png holds the reply the caller then owns; otherwise both are NULL and
 * a->errmsg may hold the error text.
 */
int
sim_api_answer(struct sim *sim, int api, const struct sim_params *p,
    struct sim_answer *a)
{
	switch (api) {
	case SIM_API_JSCODE2SESSION:
		return jscode2session(sim, p, &a->json);
	case SIM_API_TOKEN:
		return cgi_token(sim, p, &a->json);
	case SIM_API_STABLE_TOKEN:
		return stable_token(sim, p, &a->json);
	case SIM_API_SUBSCRIBE_SEND:
		return sim_msg_send(sim, p, a);
	case SIM_API_MSG_SEC_CHECK:
		return sim_wxa_seccheck(sim, p, a);
	case SIM_API_PHONE:
		return sim_wxa_phone(sim, p, a);
	case SIM_API_QRCODE:
		return sim_wxa_qrcode(sim, p, a);
	case SIM_API_ROBOT_SEND:
		return sim_robot_send(sim, p, a);
	default:
		return -1;
	}
}

/* Forgets every code and token and the force-refresh quota. */
void
sim_api_reset(struct sim *sim)
{
	while (sim->codes != NULL) {
		struct sim_code *c = sim->codes;

		sim->codes = c->next;
		code_free(c);
	}
	sim->ncodes = 0;
	for (int ns = 0; ns < 2; ns++) {
		while (sim->tokens[ns] != NULL) {
			struct sim_token *t = sim->tokens[ns];

			sim->tokens[ns] = t->next;
			free(t);
		}
		sim->ntokens[ns] = 0;
	}
	sim->force_day = 0;
	sim->force_count = 0;
	sim->last_force_ms = INT64_MIN;
}
