/*
 * api_login.c - auth.code2Session: GET /sns/jscode2session, and the check
 * that its reply holds an openid and a session_key. Transport, retries and
 * the observer are transport.c's business.
 */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "wx.h"
#include "wx_internal.h"

/* What wx_code2session() hands to the transport as its ARG. */
struct login {
    wx_code2session_cb *cb;
    void *arg;
};

static const char *nonempty_string(const cJSON *body, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);

    if (!cJSON_IsString(item) || !item->valuestring[0])
        return NULL;
    return item->valuestring;
}

static void login_done(void *arg, const struct wx_result *r, const cJSON *body,
                       const struct wx_raw *raw)
{
    struct login *l = arg;
    struct wx_session s;
    struct wx_result bad;

    if (r->status != WX_OK) {
        l->cb(l->arg, r, NULL);
        return;
    }
    s.openid = nonempty_string(body, "openid");
    s.session_key = nonempty_string(body, "session_key");
    s.unionid = nonempty_string(body, "unionid");
    if (!s.openid || !s.session_key) {
        bad = *r;
        bad.status = WX_BADREPLY;
        bad.errmsg = "reply lacks openid or session_key";
        l->cb(l->arg, &bad, NULL);
        return;
    }
    l->cb(l->arg, r, &s);
}

/* JS_CODE is copied into the request; the client keeps nothing of ARG. */
int wx_code2session(struct wx_client *c, const char *js_code,
                    wx_code2session_cb *cb, void *arg)
{
    struct wx_param q[4];
    struct login *l;
    int rc = -1;

    if (!c || !js_code || !cb)
        goto out;
    l = malloc(sizeof *l);
    if (!l)
        goto out;
    l->cb = cb;
    l->arg = arg;
    q[0].key = "appid";
    q[0].value = wx_client_appid(c);
    q[1].key = "secret";
    q[1].value = wx_client_secret(c);
    q[2].key = "js_code";
    q[2].value = js_code;
    q[3].key = "grant_type";
    q[3].value = "authorization_code";
    /* wx_call_start() owns L from here, failure included */
    rc = wx_call_start(c, "jscode2session", "/sns/jscode2session",
                       q, 4, NULL, login_done, l);
out:
    return rc;
}
