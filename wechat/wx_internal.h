/*
 * wx_internal.h - what wechat/'s own source files share and callers never
 * see: the generic request of transport.c that each api_*.c builds on.
 * Nothing outside wechat/ includes this header.
 */
#ifndef GY_WX_INTERNAL_H
#define GY_WX_INTERNAL_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "wx.h"

struct wx_raw;

/* One query parameter; the value is escaped with wx_url_escape(). */
struct wx_param {
    const char *key;               /* sent as is: use URL-safe names */
    const char *value;
};

/*
 * How a request ends, after its retries. R is as documented in wx.h;
 * BODY is the parsed JSON object when R->status is WX_OK, NULL otherwise;
 * RAW is the reply's bytes whenever a reply came (for a JSON reply too, so
 * an API can read numbers beyond 2^53 as text), else NULL. A binary
 * success (WX_CALL_BINARY) has R->status WX_OK and BODY NULL.
 * All are valid only during the call.
 * Both are valid only during the call. ARG is the one given to
 * wx_call_start(): the transport frees it with free() once this returns.
 */
typedef void wx_call_done_fn(void *arg, const struct wx_result *r,
                             const cJSON *body, const struct wx_raw *raw);

/* The bytes of a reply. */
struct wx_raw {
    const unsigned char *data;
    size_t len;
    const char *content_type;      /* never NULL; "" when none was sent */
};

/* Flags of wx_call_start_ex() and wx_call_authed(). */
#define WX_CALL_BINARY 1u   /* a 200 reply that is not JSON is success, passed as RAW */
/* Not safe to repeat (a send): retry only when the request surely did not
 * reach WeChat (no connection, no DNS) or WeChat said -1. A timeout or a
 * 5xx after sending is handed back for the caller to decide. */
#define WX_CALL_ONCE 2u

/*
 * Start a request to {api_base}{PATH}?{QUERY...}: a GET, or a POST of
 * JSON_BODY (copied; Content-Type application/json) when it is not NULL.
 * A PATH beginning with "http://" or "https://" is the whole URL instead
 * (a WeCom webhook): QUERY follows it, after '&' when it has a '?'; its
 * own query values are treated like the secret (an errmsg or rid quoting
 * one of 8 bytes or more is withheld).
 * API is the short name given to the observer and must outlive the call
 * (use a string literal). The URL and the body may hold the secret: the
 * transport never logs them or passes them on. DONE runs exactly once,
 * from the event loop, never from inside this call; on wx_client_free()
 * it does not run at all.
 *
 * ARG must be NULL or a block from malloc(): the request takes it over on
 * every path, failure included, and frees it with free().
 * Returns 0, or -1 if the request could not be started (DONE not called).
 */
int wx_call_start(struct wx_client *c, const char *api, const char *path,
                  const struct wx_param *query, size_t nquery,
                  const char *json_body, wx_call_done_fn *done, void *arg);

/* The same, with ARG released by ARG_FREE (on every path) instead of free(). */
int wx_call_start_ex(struct wx_client *c, const char *api, const char *path,
                     const struct wx_param *query, size_t nquery,
                     const char *json_body, unsigned flags,
                     wx_call_done_fn *done, void *arg, void (*arg_free)(void *));

/* The client's appid and secret, owned by the client. */
const char *wx_client_appid(const struct wx_client *c);
const char *wx_client_secret(const struct wx_client *c);
struct event_base *wx_client_base(const struct wx_client *c);
int wx_client_token_classic(const struct wx_client *c);
long wx_client_token_margin(const struct wx_client *c);

/* token.c's state of a client, created on first use; transport.c frees it
 * with wx_token_free() when the client goes (waiters are not called). */
struct wx_token;
struct wx_token **wx_client_token_slot(struct wx_client *c);
void wx_token_free(struct wx_token *t);

/* api_msg.c's per-openid send queues, likewise. */
struct wx_sendq;
struct wx_sendq **wx_client_sendq_slot(struct wx_client *c);
void wx_sendq_free(struct wx_sendq *q);

/* Finish a call that never reached WeChat: CB-style failures go through
 * the loop like every other result. Runs DONE(ARG, r) with status STATUS
 * and ERRMSG from a 0 ms timer; ARG_FREE(ARG) afterwards. -1 if it cannot
 * be scheduled (ARG released). */
int wx_fail_later(struct wx_client *c, enum wx_status status, const char *errmsg,
                  wx_call_done_fn *done, void *arg, void (*arg_free)(void *));

/*
 * wx_call_start() for APIs that take ?access_token=: gets a token first
 * (waiting for a refresh if one is under way), adds it to QUERY, and on
 * 40001/40014/42001 drops that token (if still current), refreshes once
 * and retries once. QUERY, JSON_BODY and ARG as for wx_call_start(); if
 * the token cannot be had, DONE gets the token API's failure.
 */
int wx_call_authed(struct wx_client *c, const char *api, const char *path,
                   const struct wx_param *query, size_t nquery,
                   const char *json_body, unsigned flags,
                   wx_call_done_fn *done, void *arg);

#endif
