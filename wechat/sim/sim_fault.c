/*
 * sim_fault.c: the life of one WeChat-endpoint call. Each call is logged
 * (the call log behind /sim/calls), checked against the fault rules queued
 * by /sim/faults, and then answered at once, or after an evtimer delay with
 * the normal answer, an errcode, an HTTP error status, or a dropped
 * connection. What a normal answer contains is sim_api.c's business.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "sim.h"

#define RULES_MAX 1000

/* What a fault rule's "api" matches. */
enum {
	MATCH_JSCODE2SESSION,
	MATCH_TOKEN,                 /* /cgi-bin/token and stable_token */
	MATCH_STABLE_TOKEN,
	MATCH_SUBSCRIBE_SEND,
	MATCH_MSG_SEC_CHECK,
	MATCH_PHONE,
	MATCH_QRCODE,
	MATCH_ROBOT_SEND,
	MATCH_ANY
};

struct sim_rule {
	struct sim_rule *next;
	int match;                   /* MATCH_* */
	int errcode;
	int count;                   /* calls still to affect */
	int delay_ms;
	int drop;
	int http_status;             /* 0: none */
};

/* A call waiting on its fault timer; owns its params and timer. */
struct sim_call {
	struct sim_call *prev, *next; /* sim->pending */
	struct sim *sim;
	struct evhttp_request *req;  /* alive until we reply or free it */
	struct event *timer;
	int api;
	uint64_t seq;                /* its call-log entry */
	struct sim_params params;
	int errcode;                 /* the rule's effect, copied */
	int drop;
	int http_status;
};

/* One call-log entry. */
struct sim_rec {
	uint64_t seq;
	int api;
	char *appid;                 /* owned, NULL when absent */
	char *js_code;               /* owned, jscode2session only */
	char *openid;                /* owned: subscribe_send, msg_sec_check */
	char *template_id;           /* owned: subscribe_send */
	char *scene;                 /* owned: getwxacodeunlimit */
	char *key;                   /* owned: robot_send (a sim key, no secret) */
	int secret_ok;
	int force_refresh;           /* stable_token only */
	int64_t at_ms;               /* arrival, sim clock */
	int pending;                 /* not answered yet */
	int errcode;
	int http_status;             /* 0 when dropped */
	int faulted;                 /* a fault rule took this call */
	int dropped;
};

/* errmsg text of injected errcodes. */
static const char *
fault_text(int errcode)
{
	switch (errcode) {
	case -1:
		return "system error";
	case 45011:
		return "api minute-quota reach limit  mustslower  retry next minute";
	case 40226:
		return "code blocked";
	case 40029:
		return "invalid code";
	default:
		return "sim fault";
	}
}

/*==== Call log ====*/

static void
rec_clear(struct sim_rec *r)
{
	free(r->appid);
	free(r->js_code);
	free(r->openid);
	free(r->template_id);
	free(r->scene);
	free(r->key);
	memset(r, 0, sizeof(*r));
}

static struct sim_rec *
rec_get(struct sim *sim, uint64_t seq)
{
	if (sim->recs == NULL || seq < sim->rec_first || seq >= sim->rec_next)
		return NULL;
	return &sim->recs[seq % SIM_CALLS_MAX];
}

/* Logs a call that just arrived; returns its seq. */
static uint64_t
rec_add(struct sim *sim, int api, const struct sim_params *p)
{
	struct sim_rec *r;

	if (sim->recs == NULL)
		sim->recs = sim_calloc(SIM_CALLS_MAX, sizeof(*sim->recs));
	if (sim->rec_next - sim->rec_first >= SIM_CALLS_MAX) {
		rec_clear(&sim->recs[sim->rec_first % SIM_CALLS_MAX]);
		sim->rec_first++;
	}
	r = &sim->recs[sim->rec_next % SIM_CALLS_MAX];
	r->seq = sim->rec_next;
	r->api = api;
	r->appid = p->appid ? sim_strdup(p->appid) : NULL;
	r->js_code = p->js_code ? sim_strdup(p->js_code) : NULL;
	r->openid = p->openid ? sim_strdup(p->openid) : NULL;
	r->template_id = p->template_id ? sim_strdup(p->template_id) : NULL;
	r->scene = p->scene ? sim_strdup(p->scene) : NULL;
	r->key = p->key ? sim_strdup(p->key) : NULL;
	r->secret_ok = p->secret != NULL && strcmp(p->secret, sim->secret) == 0;
	r->force_refresh = p->force_refresh;
	r->at_ms = sim_now_ms(sim);
	r->pending = 1;
	return sim->rec_next++;
}

/* Records how call seq was answered, unless reset or the cap dropped it. */
static void
rec_finish(struct sim *sim, uint64_t seq, int errcode, int http_status,
    int dropped)
{
	struct sim_rec *r = rec_get(sim, seq);

	if (r == NULL)
		return;
	r->pending = 0;
	r->errcode = errcode;
	r->http_status = http_status;
	r->dropped = dropped;
}

/* Adds name: value, or name: null when value is NULL. */
static void
add_string_or_null(cJSON *o, const char *name, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(o, name, value);
	else
		cJSON_AddNullToObject(o, name);
}

/*
 * The call log as {"calls":[...]} in arrival order; caller frees. A call
 * still waiting on a fault delay shows "pending":true and errcode null.
 * Business endpoints add "openid" (subscribe_send's touser, msg_sec_check's
 * openid), "template_id" (subscribe_send), "scene" (getwxacodeunlimit) and
 * "key" (robot_send).
 */
cJSON *
sim_calls_json(const struct sim *sim)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "calls");

	for (uint64_t seq = sim->rec_first; seq < sim->rec_next; seq++) {
		const struct sim_rec *r = &sim->recs[seq % SIM_CALLS_MAX];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "api", sim_api_name(r->api));
		if (r->api == SIM_API_JSCODE2SESSION) {
			if (r->js_code != NULL)
				cJSON_AddStringToObject(o, "js_code", r->js_code);
			else
				cJSON_AddNullToObject(o, "js_code");
		}
		if (r->appid != NULL)
			cJSON_AddStringToObject(o, "appid", r->appid);
		else
			cJSON_AddNullToObject(o, "appid");
		cJSON_AddBoolToObject(o, "secret_ok", r->secret_ok);
		if (r->api == SIM_API_STABLE_TOKEN)
			cJSON_AddBoolToObject(o, "force_refresh",
			    r->force_refresh);
		if (r->api == SIM_API_SUBSCRIBE_SEND ||
		    r->api == SIM_API_MSG_SEC_CHECK)
			add_string_or_null(o, "openid", r->openid);
		if (r->api == SIM_API_SUBSCRIBE_SEND)
			add_string_or_null(o, "template_id", r->template_id);
		if (r->api == SIM_API_QRCODE)
			add_string_or_null(o, "scene", r->scene);
		if (r->api == SIM_API_ROBOT_SEND)
			add_string_or_null(o, "key", r->key);
		if (r->pending)
			cJSON_AddNullToObject(o, "errcode");
		else
			cJSON_AddNumberToObject(o, "errcode", r->errcode);
		cJSON_AddBoolToObject(o, "faulted", r->faulted);
		cJSON_AddBoolToObject(o, "pending", r->pending);
		cJSON_AddBoolToObject(o, "dropped", r->dropped);
		cJSON_AddNumberToObject(o, "http_status", r->http_status);
		cJSON_AddNumberToObject(o, "at", (double)(r->at_ms / 1000));
		cJSON_AddItemToArray(arr, o);
	}
	return root;
}

/*==== Fault rules ====*/

static int
match_parse(const char *api)
{
	static const char *const names[] = {
		[MATCH_JSCODE2SESSION] = "jscode2session",
		[MATCH_TOKEN] = "token",
		[MATCH_STABLE_TOKEN] = "stable_token",
		[MATCH_SUBSCRIBE_SEND] = "subscribe_send",
		[MATCH_MSG_SEC_CHECK] = "msg_sec_check",
		[MATCH_PHONE] = "getuserphonenumber",
		[MATCH_QRCODE] = "getwxacodeunlimit",
		[MATCH_ROBOT_SEND] = "robot_send",
		[MATCH_ANY] = "*",
	};

	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++) {
		if (strcmp(api, names[i]) == 0)
			return i;
	}
	return -1;
}

/* True when api is a name /sim/faults accepts (an endpoint or "*"). */
int
sim_fault_api_ok(const char *api)
{
	return api != NULL && match_parse(api) >= 0;
}

static int
matches(int match, int api)
{
	switch (match) {
	case MATCH_JSCODE2SESSION:
		return api == SIM_API_JSCODE2SESSION;
	case MATCH_TOKEN:
		return api == SIM_API_TOKEN || api == SIM_API_STABLE_TOKEN;
	case MATCH_STABLE_TOKEN:
		return api == SIM_API_STABLE_TOKEN;
	case MATCH_SUBSCRIBE_SEND:
		return api == SIM_API_SUBSCRIBE_SEND;
	case MATCH_MSG_SEC_CHECK:
		return api == SIM_API_MSG_SEC_CHECK;
	case MATCH_PHONE:
		return api == SIM_API_PHONE;
	case MATCH_QRCODE:
		return api == SIM_API_QRCODE;
	case MATCH_ROBOT_SEND:
		return api == SIM_API_ROBOT_SEND;
	default:
		return 1;
	}
}

/*
 * Queues a fault rule (values already range-checked by the caller).
 * Returns 0, or -1 when api names no endpoint or the queue is full.
 */
int
sim_fault_add(struct sim *sim, const char *api, int errcode, int count,
    int delay_ms, int drop, int http_status)
{
	struct sim_rule *r, **pp = &sim->rules;
	int match = match_parse(api);
	size_t n = 0;

	if (match < 0)
		return -1;
	for (; *pp != NULL; pp = &(*pp)->next)
		n++;
	if (n >= RULES_MAX)
		return -1;
	r = sim_calloc(1, sizeof(*r));
	r->match = match;
	r->errcode = errcode;
	r->count = count;
	r->delay_ms = delay_ms;
	r->drop = drop;
	r->http_status = http_status;
	*pp = r;
	return 0;
}

/*
 * Takes one count from the first rule matching api, copying it to *out
 * (a rule used up is freed). Returns 1 if a rule matched, else 0.
 */
static int
rule_take(struct sim *sim, int api, struct sim_rule *out)
{
	for (struct sim_rule **pp = &sim->rules; *pp; pp = &(*pp)->next) {
		struct sim_rule *r = *pp;

		if (r->count <= 0 || !matches(r->match, api))
			continue;
		*out = *r;
		out->next = NULL;
		if (--r->count == 0) {
			*pp = r->next;
			free(r);
		}
		return 1;
	}
	return 0;
}

/*==== Calls ====*/

static void
call_free(struct sim_call *call)
{
	if (call->timer != NULL)
		event_free(call->timer);
	sim_params_clear(&call->params);
	free(call);
}

static void
pending_unlink(struct sim_call *call)
{
	if (call->prev != NULL)
		call->prev->next = call->next;
	else
		call->sim->pending = call->next;
	if (call->next != NULL)
		call->next->prev = call->prev;
	call->prev = call->next = NULL;
}

/*
 * An errcode answer with HTTP 200: WeChat's errmsg gets a rid tail, WeCom's
 * (robot_send) is sent as it is.
 */
static void
reply_errcode(struct evhttp_request *req, int api, int errcode,
    const char *text)
{
	cJSON *body;

	if (api != SIM_API_ROBOT_SEND) {
		sim_reply_wx_error(req, 200, errcode, text);
		return;
	}
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "errcode", errcode);
	cJSON_AddStringToObject(body, "errmsg", text);
	sim_reply_json(req, 200, body, 1);
}

/* The normal answer: sim_api.c decides, we send and log it. */
static void
call_answer(struct sim_call *call)
{
	struct sim_answer a;
	int errcode;

	memset(&a, 0, sizeof(a));
	errcode = sim_api_answer(call->sim, call->api, &call->params, &a);
	if (errcode == 0 && a.png != NULL)
		sim_reply_png(call->req, a.png, a.png_len);
	else if (errcode == 0)
		sim_reply_json(call->req, 200, a.json, 1);
	else
		reply_errcode(call->req, call->api, errcode,
		    a.errmsg[0] ? a.errmsg : sim_api_errmsg(errcode));
	rec_finish(call->sim, call->seq, errcode, 200, 0);
}

/*
 * True when a subscribe_send to openid is being answered already (held by
 * a fault delay): WeChat refuses the second with 43108.
 */
static int
send_in_flight(const struct sim *sim, const char *openid)
{
	if (openid == NULL)
		return 0;
	for (const struct sim_call *c = sim->pending; c != NULL; c = c->next) {
		if (c->api == SIM_API_SUBSCRIBE_SEND &&
		    c->params.openid != NULL &&
		    strcmp(c->params.openid, openid) == 0)
			return 1;
	}
	return 0;
}

/*
 * Closes the connection without a reply. Runs from a timer, never inside
 * the request callback. If the client already left, libevent detached the
 * request from its connection and it is ours to free.
 */
static void
call_drop(struct sim_call *call)
{
	struct evhttp_connection *evcon;

	evcon = evhttp_request_get_connection(call->req);
	sim_log("%s %s -> dropped", sim_api_name(call->api),
	    evcon ? "connection" : "(client gone)");
	if (evcon != NULL)
		evhttp_connection_free(evcon);   /* frees the request too */
	else
		evhttp_request_free(call->req);
	call->req = NULL;
	rec_finish(call->sim, call->seq, call->errcode, 0, 1);
}

static void
call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_call *call = arg;
	struct sim *sim = call->sim;

	(void)fd;
	(void)what;
	pending_unlink(call);
	if (call->drop) {
		call_drop(call);
	} else if (call->http_status != 0) {
		cJSON *body = cJSON_CreateObject();

		cJSON_AddNumberToObject(body, "errcode", -1);
		cJSON_AddStringToObject(body, "errmsg", "system error");
		sim_reply_json(call->req, call->http_status, body, 1);
		rec_finish(sim, call->seq, -1, call->http_status, 0);
	} else if (call->errcode != 0) {
		reply_errcode(call->req, call->api, call->errcode,
		    fault_text(call->errcode));
		rec_finish(sim, call->seq, call->errcode, 200, 0);
	} else {
		call_answer(call);
	}
	call_free(call);
}

/*
 * Handles a call to a WeChat endpoint: logs it, then answers it now, or,
 * when a fault rule takes it, from a timer after the rule's delay.
 */
void
sim_call_start(struct sim *sim, struct evhttp_request *req, int api)
{
	struct sim_call *call = sim_calloc(1, sizeof(*call));
	struct sim_rule rule;
	struct timeval tv;

	call->sim = sim;
	call->req = req;
	call->api = api;
	sim_params_parse(api, req, &call->params);
	call->seq = rec_add(sim, api, &call->params);
	if (api == SIM_API_SUBSCRIBE_SEND)
		call->params.concurrent = send_in_flight(sim,
		    call->params.openid);

	if (!rule_take(sim, api, &rule)) {
		call_answer(call);
		call_free(call);
		return;
	}
	rec_get(sim, call->seq)->faulted = 1;
	call->errcode = rule.errcode;
	call->drop = rule.drop;
	call->http_status = rule.http_status;
	call->timer = evtimer_new(sim->base, call_timer_cb, call);
	tv.tv_sec = rule.delay_ms / 1000;
	tv.tv_usec = (rule.delay_ms % 1000) * 1000;
	if (call->timer == NULL || evtimer_add(call->timer, &tv) != 0) {
		sim_log("cannot arm fault timer");
		sim_reply_wx_error(req, 500, -1, "system error");
		rec_finish(sim, call->seq, -1, 500, 0);
		call_free(call);
		return;
	}
	call->next = sim->pending;
	if (call->next != NULL)
		call->next->prev = call;
	sim->pending = call;
}

/* Forgets the fault rules and the call log; pending calls still finish. */
void
sim_fault_reset(struct sim *sim)
{
	while (sim->rules != NULL) {
		struct sim_rule *r = sim->rules;

		sim->rules = r->next;
		free(r);
	}
	if (sim->recs != NULL) {
		for (uint64_t seq = sim->rec_first; seq < sim->rec_next; seq++)
			rec_clear(&sim->recs[seq % SIM_CALLS_MAX]);
	}
	sim->rec_first = sim->rec_next;
}

/*
 * At exit: answers every pending call with 503 (which also frees requests
 * whose client left), then frees rules and the call log. Call before
 * evhttp_free.
 */
void
sim_fault_shutdown(struct sim *sim)
{
	while (sim->pending != NULL) {
		struct sim_call *call = sim->pending;

		pending_unlink(call);
		sim_reply_wx_error(call->req, 503, -1, "system error");
		call_free(call);
	}
	sim_fault_reset(sim);
	free(sim->recs);
	sim->recs = NULL;
}
