/*
 * sim.h: private header of wxsim, the stand-in for api.weixin.qq.com used
 * by tests and demos. Nothing outside wechat/sim/ includes it.
 *
 * The sim is single-threaded: one event_base, one struct sim, every delay an
 * evtimer. Prototypes are grouped by the file that defines them.
 */
#ifndef WXSIM_SIM_H
#define WXSIM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>

/* The WeChat endpoints the sim serves; indexes sim_api_name(). */
enum sim_api {
	SIM_API_JSCODE2SESSION,
	SIM_API_TOKEN,
	SIM_API_STABLE_TOKEN,
	SIM_API_COUNT
};

#define SIM_CALLS_MAX 10000      /* call log entries kept (oldest dropped) */
#define SIM_BODY_MAX 65536       /* request body limit */

struct sim_code;                 /* sim_api.c */
struct sim_token;                /* sim_api.c */
struct sim_rule;                 /* sim_fault.c */
struct sim_call;                 /* sim_fault.c */
struct sim_rec;                  /* sim_fault.c */

/*
 * What a WeChat-endpoint call asked for, parsed once on arrival (query
 * string, or JSON body for stable_token). Strings are owned, NULL when the
 * parameter was absent or empty.
 */
struct sim_params {
	char *appid;
	char *secret;
	char *js_code;
	char *grant_type;
	int force_refresh;           /* stable_token: "force_refresh" was true */
	int bad_body;                /* stable_token: body unusable -> 47001 */
};

struct sim {
	struct event_base *base;
	struct evhttp *http;
	const char *appid;           /* configured appid (argv, not owned) */
	const char *secret;          /* configured secret (argv, not owned) */
	int64_t offset_ms;           /* sim clock minus real clock */

	/* sim_api.c */
	struct sim_code *codes;      /* minted js_codes, newest first */
	size_t ncodes;
	struct sim_token *tokens[2]; /* [0] /cgi-bin/token, [1] stable; newest first */
	size_t ntokens[2];
	int64_t force_day;           /* sim-day of force_count */
	int force_count;             /* stable force refreshes that day */
	int64_t last_force_ms;       /* last stable force refresh, or INT64_MIN */

	/* sim_fault.c */
	struct sim_rule *rules;      /* fault rules in arrival order */
	struct sim_call *pending;    /* calls waiting on a fault timer */
	struct sim_rec *recs;        /* call log ring, SIM_CALLS_MAX slots */
	uint64_t rec_first;          /* oldest seq still in the ring */
	uint64_t rec_next;           /* seq the next call gets */
};

/* sim.c */
void *sim_malloc(size_t size);
void *sim_calloc(size_t n, size_t size);
char *sim_strdup(const char *s);
void sim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int64_t sim_now_ms(const struct sim *sim);
void sim_random_bytes(unsigned char *buf, size_t len);
void sim_random_string(char *out, size_t len, const char *alphabet);
const char *sim_api_name(int api);
cJSON *sim_body_json(struct evhttp_request *req, int *empty);
/* The sim_reply_* functions answer req; body ownership passes on every path. */
void sim_reply_json(struct evhttp_request *req, int status, cJSON *body,
    int wechat);
void sim_reply_wx_error(struct evhttp_request *req, int status, int errcode,
    const char *text);
void sim_reply_ctl_error(struct evhttp_request *req, int status,
    const char *msg);

/* sim_api.c */
int sim_params_parse(int api, struct evhttp_request *req,
    struct sim_params *p);
void sim_params_clear(struct sim_params *p);
int sim_api_answer(struct sim *sim, int api, const struct sim_params *p,
    cJSON **out);
const char *sim_api_errmsg(int errcode);
int sim_code_mint(struct sim *sim, const char *openid, const char *unionid,
    char *out, size_t outlen);
int sim_token_check(struct sim *sim, const char *token);
void sim_api_reset(struct sim *sim);

/* sim_fault.c */
int sim_fault_add(struct sim *sim, const char *api, int errcode, int count,
    int delay_ms, int drop, int http_status);
void sim_call_start(struct sim *sim, struct evhttp_request *req, int api);
cJSON *sim_calls_json(const struct sim *sim);
void sim_fault_reset(struct sim *sim);
void sim_fault_shutdown(struct sim *sim);

/* sim_ctl.c */
void sim_ctl_code(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_faults(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_reset(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_clock(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_calls(struct sim *sim, struct evhttp_request *req, cJSON *body);

#endif
