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

/* One query parameter; the value is escaped with wx_url_escape(). */
struct wx_param {
    const char *key;               /* sent as is: use URL-safe names */
    const char *value;
};

/*
 * How a request ends, after its retries. R is as documented in wx.h;
 * BODY is the parsed JSON object when R->status is WX_OK, NULL otherwise.
 * Both are valid only during the call. ARG is the one given to
 * wx_call_start(): the transport frees it with free() once this returns.
 */
typedef void wx_call_done_fn(void *arg, const struct wx_result *r,
                             const cJSON *body);

/*
 * Start a request to {api_base}{PATH}?{QUERY...}: a GET, or a POST of
 * JSON_BODY (copied; Content-Type application/json) when it is not NULL.
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

/* The client's appid and secret, owned by the client. */
const char *wx_client_appid(const struct wx_client *c);
const char *wx_client_secret(const struct wx_client *c);

#endif
