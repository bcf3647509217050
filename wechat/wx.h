/*
 * wx.h - the whole public API of Gongyou's WeChat client library.
 *
 * The library talks to api.weixin.qq.com (or wxsim) through one libcurl
 * multi handle driven by the caller's libevent loop: no call here ever
 * blocks. It knows nothing of server/: results go back through callbacks,
 * and what a daemon wants to count or log comes out through an observer.
 *
 * Threading: every function must be called on the thread that runs the
 * event_base given to wx_client_new(); callbacks run on that thread too.
 */
#ifndef GY_WX_H
#define GY_WX_H

#include <stddef.h>

struct event_base;
struct wx_client;

/* Settings of one client; strings are copied by wx_client_new(). */
struct wx_config {
    const char *appid;
    const char *secret;          /* never logged, never passed to the observer */
    const char *api_base;        /* "https://api.weixin.qq.com" or wxsim's URL, no trailing '/' */
    long connect_timeout_ms;     /* per attempt */
    long timeout_ms;             /* per attempt, whole transfer */
    int max_retries;             /* extra attempts on -1, transport errors, HTTP 5xx */
    long retry_base_ms;          /* first back-off; doubles each retry, +/-25% jitter */
};

/* How a call ended. */
enum wx_status {
    WX_OK = 0,       /* HTTP 200, JSON body, errcode absent or 0 */
    WX_ERRCODE,      /* HTTP 200, JSON body with a non-zero errcode */
    WX_TRANSPORT,    /* DNS, connect, TLS, timeout, connection reset */
    WX_HTTP,         /* HTTP status other than 200 */
    WX_BADREPLY      /* 200 but the body is not the JSON we expect */
};

/* The outcome of one call, after any retries. Valid only during the callback. */
struct wx_result {
    enum wx_status status;
    long errcode;          /* WeChat's errcode; 0 when absent; -1 also stands for "busy" */
    long http_status;      /* 0 when no HTTP response was received */
    int attempts;          /* 1 + retries made */
    const char *errmsg;    /* WeChat's errmsg, or a description of the failure; never NULL */
    const char *rid;       /* WeChat's "rid: ..." taken from errmsg; "" when none */
};

/* What code2Session returns on success. */
struct wx_session {
    const char *openid;
    const char *unionid;     /* NULL when WeChat sent none */
    const char *session_key; /* secret: store server-side only, never log */
};

/*
 * Observer: called once per HTTP attempt (retries included) with the API's
 * short name ("jscode2session"), the errcode seen (0 on success, -1 for
 * transport errors and HTTP failures), the HTTP status (0 if none), the
 * time taken in milliseconds and WeChat's rid ("" if none). It never sees
 * a secret. May be NULL.
 */
typedef void wx_observer_fn(void *arg, const char *api, long errcode,
                            long http_status, double ms, const char *rid);

/*
 * Create a client on BASE. Returns NULL (and sets nothing) if curl cannot
 * be initialised. The caller frees it with wx_client_free().
 */
struct wx_client *wx_client_new(struct event_base *base, const struct wx_config *cfg);

/* Set the observer (see wx_observer_fn). */
void wx_client_set_observer(struct wx_client *c, wx_observer_fn *fn, void *arg);

/*
 * Abort every call in flight without calling its callback, and free the
 * client. Safe with NULL.
 */
void wx_client_free(struct wx_client *c);

/* Number of calls in flight (including ones waiting to retry). */
int wx_client_pending(const struct wx_client *c);

/*
 * True when this result is a transient failure that a later try might
 * cure: errcode -1, a transport error, HTTP 5xx. Pure function.
 */
int wx_result_is_transient(const struct wx_result *r);

/*
 * code2Session: GET /sns/jscode2session. CB is called exactly once, on
 * the loop thread, never from inside this call. On WX_OK, S is filled;
 * otherwise S is NULL. The pointers in R and S are valid only during the
 * callback: copy what you keep. JS_CODE is copied. Returns 0, or -1 if
 * the call could not be started (CB is then not called).
 */
typedef void wx_code2session_cb(void *arg, const struct wx_result *r,
                                const struct wx_session *s);
int wx_code2session(struct wx_client *c, const char *js_code,
                    wx_code2session_cb *cb, void *arg);

/*
 * Pure helpers, exposed for tests and for the server's own use.
 */

/* Copy the "rid: xxx" tail of an errmsg into OUT (empty if none). */
void wx_extract_rid(const char *errmsg, char *out, size_t outsz);

/*
 * Percent-encode S for a URL query value into OUT (RFC 3986 unreserved
 * characters kept). Returns the length, or -1 if OUTSZ is too small.
 */
int wx_url_escape(const char *s, char *out, size_t outsz);

#endif
