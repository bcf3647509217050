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
	SIM_API_SUBSCRIBE_SEND,      /* business endpoints: ?access_token= */
	SIM_API_MSG_SEC_CHECK,
	SIM_API_PHONE,
	SIM_API_QRCODE,
	SIM_API_ROBOT_SEND,          /* WeCom's webhook: ?key=, no token */
	SIM_API_COUNT
};

/* The first endpoint that needs an access token and a JSON body (up to
 * SIM_API_QRCODE; robot_send has its own parameters). */
#define SIM_API_FIRST_AUTHED SIM_API_SUBSCRIBE_SEND

#define SIM_CALLS_MAX 10000      /* call log entries kept (oldest dropped) */
#define SIM_BODY_MAX 65536       /* request body limit */

struct sim_code;                 /* sim_api.c */
struct sim_token;                /* sim_api.c */
struct sim_rule;                 /* sim_fault.c */
struct sim_call;                 /* sim_fault.c */
struct sim_rec;                  /* sim_fault.c */
struct sim_template;             /* sim_msg.c */
struct sim_page;                 /* sim_msg.c */
struct sim_credit;               /* sim_msg.c */
struct sim_word;                 /* sim_wxa.c */
struct sim_phone;                /* sim_wxa.c */
struct sim_push;                 /* sim_push.c */
struct sim_robot;                /* sim_robot.c */

/*
 * What a WeChat-endpoint call asked for, parsed once on arrival (query
 * string, or JSON body for stable_token and the business endpoints).
 * Strings are owned, NULL when the parameter was absent or empty.
 */
struct sim_params {
	char *appid;
	char *secret;
	char *js_code;
	char *grant_type;
	int force_refresh;           /* stable_token: "force_refresh" was true */
	int bad_body;                /* body not a JSON object -> 47001 */

	/* business endpoints (api >= SIM_API_FIRST_AUTHED) */
	char *access_token;          /* ?access_token= */
	cJSON *body;                 /* the JSON object body, owned */
	char *openid;                /* touser / openid: call log, 43108 */
	char *template_id;           /* subscribe_send, for the log */
	char *scene;                 /* getwxacodeunlimit, for the log */
	int concurrent;              /* subscribe_send: another send to the
	                              * same openid was being answered */

	/* robot_send (WeCom): also body and bad_body */
	char *key;                   /* ?key= */
};

/*
 * What an endpoint answered. On success exactly one of json and png is
 * set (owned: whoever sends it frees it); on an error errmsg may hold the
 * text, else sim_api_errmsg() gives it.
 */
struct sim_answer {
	cJSON *json;
	unsigned char *png;          /* getwxacodeunlimit: the image */
	size_t png_len;
	char errmsg[256];
};

struct sim {
	struct event_base *base;
	struct evhttp *http;
	const char *appid;           /* configured appid (argv, not owned) */
	const char *secret;          /* configured secret (argv, not owned) */
	const char *push_url;        /* --push-url, NULL when none (argv) */
	const char *push_token;      /* --push-token, NULL when none (argv) */
	const char *push_aes_key;    /* --push-aes-key, NULL when none (argv) */
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

	/* sim_msg.c */
	struct sim_template *templates; /* /sim/templates, newest first */
	size_t ntemplates;
	struct sim_page *pages;      /* /sim/pages, newest first */
	size_t npages;
	struct sim_credit *credits;  /* consent per (openid, template_id) */
	size_t ncredits;
	cJSON *messages;             /* array of sent messages, oldest first */

	/* sim_wxa.c */
	struct sim_word *words;      /* /sim/seccheck words in arrival order */
	size_t nwords;
	struct sim_phone *phones;    /* phone codes, newest first */
	size_t nphones;

	/* sim_push.c */
	struct sim_push *pushes;     /* pushes waiting on the push URL */
	size_t npushes;

	/* sim_robot.c */
	struct sim_robot *robots;    /* rate state per webhook key */
	size_t nrobots;
	cJSON *robot_messages;       /* array of accepted messages, oldest first */
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
void sim_reply_png(struct evhttp_request *req, unsigned char *png,
    size_t len);

/* sim_api.c */
int sim_params_parse(int api, struct evhttp_request *req,
    struct sim_params *p);
void sim_params_clear(struct sim_params *p);
int sim_api_answer(struct sim *sim, int api, const struct sim_params *p,
    struct sim_answer *a);
const char *sim_api_errmsg(int errcode);
int sim_api_authed(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a);
int sim_api_fail(struct sim_answer *a, int errcode, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
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
int sim_fault_api_ok(const char *api);

/* sim_msg.c */
int sim_template_add(struct sim *sim, const char *id, const char *const *keys,
    size_t nkeys);
int sim_page_add(struct sim *sim, const char *page);
int sim_page_known(const struct sim *sim, const char *page);
int sim_consent_add(struct sim *sim, const char *openid,
    const char *template_id, long long count, int set, long long *now);
cJSON *sim_consent_json(const struct sim *sim);
cJSON *sim_messages_json(const struct sim *sim);
int sim_msg_send(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a);
void sim_msg_reset(struct sim *sim);

/* sim_fields.c */
int sim_field_check(const char *key, const char *value);

/* sim_wxa.c */
int sim_word_add(struct sim *sim, const char *word, int risky, int label);
int sim_phone_mint(struct sim *sim, const char *openid, const char *phone,
    char *out, size_t outlen);
int sim_phone_ok(const char *phone);
int sim_wxa_seccheck(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a);
int sim_wxa_phone(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a);
int sim_wxa_qrcode(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a);
void sim_wxa_reset(struct sim *sim);

/* sim_png.c */
int sim_png_qrcode(const char *seed, unsigned width, unsigned char **out,
    size_t *len);
int sim_png_gray1(const unsigned char *bits, unsigned width, unsigned height,
    unsigned char **out, size_t *len);

/* sim_push.c */
int sim_push_config_ok(const struct sim *sim);
void sim_ctl_push(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_push_verify(struct sim *sim, struct evhttp_request *req,
    cJSON *body);
void sim_push_shutdown(struct sim *sim);

/* sim_robot.c */
void sim_robot_params(struct evhttp_request *req, struct sim_params *p);
int sim_robot_send(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a);
void sim_ctl_robot(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_robot_reset(struct sim *sim);

/* sim_ctl.c */
int sim_get_int(const cJSON *body, const char *name, long long def,
    long long min, long long max, long long *val);
const char *sim_get_string(const cJSON *body, const char *name, int *bad);
void sim_ctl_code(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_faults(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_reset(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_clock(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_calls(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_templates(struct sim *sim, struct evhttp_request *req,
    cJSON *body);
void sim_ctl_pages(struct sim *sim, struct evhttp_request *req, cJSON *body);
void sim_ctl_consent(struct sim *sim, struct evhttp_request *req,
    cJSON *body);
void sim_ctl_consent_get(struct sim *sim, struct evhttp_request *req,
    cJSON *body);
void sim_ctl_messages(struct sim *sim, struct evhttp_request *req,
    cJSON *body);
void sim_ctl_seccheck(struct sim *sim, struct evhttp_request *req,
    cJSON *body);
void sim_ctl_phonecode(struct sim *sim, struct evhttp_request *req,
    cJSON *body);

#endif
