/*
 * test_wechat.c - wechat/ on its own: a fake WeChat (an evhttp server on
 * 127.0.0.1, port 0, in the test's own event_base) plays scripted replies
 * for /sns/jscode2session while wx_code2session() runs against it. Each
 * case checks what the caller got and what went upstream. No sleeps: the
 * loop runs until a flag is set or a per-case watchdog fires.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>   /* evhttp_parse_query_str() initialises it */

#include "wx.h"
#include "wxtest.h"

#define RID "6560c4d0-1234abcd"
#define LIMIT_MS 3000           /* watchdog of one case */

/* Parameter NAME of the last request's query, decoded; "(none)" when it
 * has none. Points into a static buffer, good until the next call. */
static const char *param(const char *name)
{
    static char out[64];
    struct evkeyvalq kv;
    const char *v;

    out[0] = '\0';
    if (evhttp_parse_query_str(wxt_srv.query, &kv) != 0)
        return out;
    v = evhttp_find_header(&kv, name);
    snprintf(out, sizeof out, "%s", v ? v : "(none)");
    evhttp_clear_headers(&kv);
    return out;
}

/*==== What a call came back with ====*/

struct outcome {
    int done;                   /* callbacks run */
    int reentered;              /* a callback ran inside wx_code2session() */
    int leak;                   /* the secret showed up somewhere */
    enum wx_status status;
    long errcode, http;
    int attempts, transient;
    char errmsg[256], rid[128];
    int has_session, has_unionid;
    char openid[64], session_key[64], unionid[64];
    int nobs;                   /* observer calls */
    long obs_errcode[8], obs_http[8];
    int bad_obs;                /* the observer saw something it should not */
    struct wx_client *free_in_cb;   /* wx_client_free() this from the callback */
    struct wx_client *free_in_obs;  /* ... or from the observer */
    int *counter;               /* bumped by every callback */
};

static int in_call;             /* set around wx_code2session() */

static void login_cb(void *arg, const struct wx_result *r, const struct wx_session *s)
{
    struct outcome *o = arg;

    if (in_call)
        o->reentered = 1;
    o->status = r->status;
    o->errcode = r->errcode;
    o->http = r->http_status;
    o->attempts = r->attempts;
    o->transient = wx_result_is_transient(r);
    snprintf(o->errmsg, sizeof o->errmsg, "%s", r->errmsg);
    snprintf(o->rid, sizeof o->rid, "%s", r->rid);
    if (strstr(r->errmsg, SECRET) || strstr(r->rid, SECRET))
        o->leak = 1;
    if (s) {
        o->has_session = 1;
        snprintf(o->openid, sizeof o->openid, "%s", s->openid);
        snprintf(o->session_key, sizeof o->session_key, "%s", s->session_key);
        if (s->unionid) {
            o->has_unionid = 1;
            snprintf(o->unionid, sizeof o->unionid, "%s", s->unionid);
        }
    }
    if (o->counter)
        (*o->counter)++;
    if (o->free_in_cb)
        wx_client_free(o->free_in_cb);
    o->done++;
}

static void observe(void *arg, const char *api, long errcode, long http,
                    double ms, const char *rid)
{
    struct outcome *o = arg;

    if (o->nobs < 8) {
        o->obs_errcode[o->nobs] = errcode;
        o->obs_http[o->nobs] = http;
    }
    o->nobs++;
    if (strcmp(api, "jscode2session") != 0 || !rid || strstr(rid, SECRET) || ms < 0)
        o->bad_obs = 1;
    if (o->free_in_obs)
        wx_client_free(o->free_in_obs);
}

/* A client of BASE (NULL: the fake). */
static struct wx_client *client_at(const char *base, long timeout_ms,
                                   int max_retries, long retry_base_ms)
{
    struct wx_config cfg;

    wxt_config(&cfg, base);
    cfg.timeout_ms = timeout_ms;
    cfg.max_retries = max_retries;
    cfg.retry_base_ms = retry_base_ms;
    return wx_client_new(wxt_srv.base, &cfg);
}

static struct wx_client *client(long timeout_ms, int max_retries, long retry_base_ms)
{
    return client_at(NULL, timeout_ms, max_retries, retry_base_ms);
}

/* Start a code2Session on C into O (observer included). */
static int start(struct wx_client *c, const char *code, struct outcome *o)
{
    int rc;

    wx_client_set_observer(c, observe, o);
    in_call = 1;
    rc = wx_code2session(c, code, login_cb, o);
    in_call = 0;
    if (o->done)
        o->reentered = 1;
    return rc;
}

/* Start, run to the callback, and check what every call must satisfy. */
static int run(struct wx_client *c, const char *code, struct outcome *o)
{
    int rc = -1;

    CHECK(start(c, code, o) == 0);
    CHECK(wx_client_pending(c) == 1);
    CHECK(wxt_wait_n(&o->done, 1, LIMIT_MS) == 0);
    CHECK(o->done == 1);
    CHECK(!o->reentered);
    CHECK(!o->leak);
    CHECK(!o->bad_obs);
    CHECK(o->nobs == o->attempts);
    CHECK(o->errmsg[0] != '\0');
    CHECK(wx_client_pending(c) == 0);
    rc = 0;
out:
    return rc;
}

/*==== Cases ====*/

static int test_success(void)
{
    static const struct wxt_step with[] = {
        {200, "application/json",
         "{\"openid\":\"o-abc\",\"session_key\":\"tiM+k/ey==\",\"unionid\":\"u-xyz\"}", 0, 0},
    };
    static const struct wxt_step without[] = {
        {200, "application/json",
         "{\"errcode\":0,\"errmsg\":\"ok\",\"openid\":\"o-def\",\"session_key\":\"key2\"}", 0, 0},
    };
    struct outcome o = {0}, o2 = {0};
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(NULL, 0, with, 1);
    c = client(1000, 2, 10);
    CHECK(c);
    CHECK(run(c, "a+b/c=d", &o) == 0);
    CHECK(o.status == WX_OK);
    CHECK(o.errcode == 0 && o.http == 200 && o.attempts == 1);
    CHECK(o.has_session);
    CHECK(strcmp(o.openid, "o-abc") == 0);
    CHECK(strcmp(o.session_key, "tiM+k/ey==") == 0);
    CHECK(o.has_unionid && strcmp(o.unionid, "u-xyz") == 0);
    CHECK(o.rid[0] == '\0');
    CHECK(o.nobs == 1 && o.obs_errcode[0] == 0 && o.obs_http[0] == 200);
    CHECK(wxt_srv.nreq == 1);
    CHECK(strcmp(param("appid"), APPID) == 0);
    CHECK(strcmp(param("secret"), SECRET) == 0);
    CHECK(strcmp(param("js_code"), "a+b/c=d") == 0);
    CHECK(strcmp(param("grant_type"), "authorization_code") == 0);
    CHECK(strstr(wxt_srv.query, "js_code=a%2Bb%2Fc%3Dd") != NULL);

    wxt_serve(NULL, 0, without, 1);
    CHECK(run(c, "0a1B2c-_.~", &o2) == 0);
    CHECK(o2.status == WX_OK && o2.has_session && !o2.has_unionid);
    CHECK(strcmp(o2.openid, "o-def") == 0);
    CHECK(strcmp(o2.session_key, "key2") == 0);
    CHECK(strcmp(param("js_code"), "0a1B2c-_.~") == 0);
    CHECK(strstr(wxt_srv.query, "js_code=0a1B2c-_.~") != NULL);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_errcode_no_retry(void)
{
    static const long codes[] = {40029, 40163, 43101, 47003, 40037, 41030, 45009, 45011, 40226};
    struct wx_client *c = NULL;
    struct wxt_step st = {200, "application/json", NULL, 0, 0};
    char body[128];
    size_t i;
    int rc = -1;

    c = client(1000, 2, 10);
    CHECK(c);
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        struct outcome o = {0};

        snprintf(body, sizeof body,
                 "{\"errcode\":%ld,\"errmsg\":\"invalid code, rid: " RID "\"}", codes[i]);
        st.body = body;
        wxt_serve(NULL, 0, &st, 1);
        CHECK(run(c, "code", &o) == 0);
        CHECK(o.status == WX_ERRCODE);
        CHECK(o.errcode == codes[i]);
        CHECK(o.attempts == 1 && wxt_srv.nreq == 1);
        CHECK(!o.transient);
        CHECK(strcmp(o.rid, RID) == 0);
        CHECK(strcmp(o.errmsg, "invalid code, rid: " RID) == 0);
        CHECK(o.nobs == 1 && o.obs_errcode[0] == codes[i]);
    }
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_busy_then_ok(void)
{
    static const struct wxt_step script[] = {
        {200, "application/json", "{\"errcode\":-1,\"errmsg\":\"system error, rid: r-1\"}", 0, 0},
        {200, "application/json", "{\"errcode\":-1,\"errmsg\":\"system error, rid: r-2\"}", 0, 0},
        {200, "application/json", "{\"openid\":\"o1\",\"session_key\":\"k1\"}", 0, 0},
    };
    struct outcome o = {0};
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(NULL, 0, script, 3);
    c = client(1000, 2, 10);
    CHECK(c);
    CHECK(run(c, "code", &o) == 0);
    CHECK(o.status == WX_OK && o.has_session);
    CHECK(o.attempts == 3 && wxt_srv.nreq == 3);
    CHECK(o.nobs == 3);
    CHECK(o.obs_errcode[0] == -1 && o.obs_errcode[1] == -1 && o.obs_errcode[2] == 0);
    CHECK(wxt_srv.nconn == 1);     /* the three attempts shared a connection */
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_busy_forever(void)
{
    static const struct wxt_step script[] = {
        {200, "application/json", "{\"errcode\":-1,\"errmsg\":\"system error, rid: aa-1\"}", 0, 0},
    };
    struct outcome o = {0};
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(NULL, 0, script, 1);
    c = client(1000, 2, 10);
    CHECK(c);
    CHECK(run(c, "code", &o) == 0);
    CHECK(o.status == WX_ERRCODE && o.errcode == -1);
    CHECK(o.attempts == 3 && wxt_srv.nreq == 3);
    CHECK(o.transient);
    CHECK(strcmp(o.rid, "aa-1") == 0);
    CHECK(!o.has_session);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_http_status(void)
{
    static const struct wxt_step s500[] = {
        {500, "text/html", "<h1>oops</h1>", 0, 0},
        {200, "application/json", "{\"openid\":\"o1\",\"session_key\":\"k1\"}", 0, 0},
    };
    static const struct wxt_step s404[] = {
        {404, "text/html", "<h1>not here</h1>", 0, 0},
    };
    static const struct wxt_step s503[] = {
        {503, "application/json", "{\"errcode\":-1,\"errmsg\":\"busy, rid: r503\"}", 0, 0},
    };
    struct outcome o = {0}, o2 = {0}, o3 = {0};
    struct wx_client *c = NULL;
    int rc = -1;

    c = client(1000, 2, 10);
    CHECK(c);
    wxt_serve(NULL, 0, s500, 2);
    CHECK(run(c, "code", &o) == 0);
    CHECK(o.status == WX_OK && o.attempts == 2 && wxt_srv.nreq == 2);
    CHECK(o.obs_errcode[0] == -1 && o.obs_http[0] == 500);
    CHECK(o.obs_errcode[1] == 0 && o.obs_http[1] == 200);

    wxt_serve(NULL, 0, s404, 1);
    CHECK(run(c, "code", &o2) == 0);
    CHECK(o2.status == WX_HTTP && o2.http == 404);
    CHECK(o2.attempts == 1 && wxt_srv.nreq == 1);
    CHECK(!o2.transient);
    CHECK(o2.obs_errcode[0] == -1 && o2.obs_http[0] == 404);

    wxt_serve(NULL, 0, s503, 1);
    CHECK(run(c, "code", &o3) == 0);
    CHECK(o3.status == WX_HTTP && o3.http == 503);
    CHECK(o3.attempts == 3 && wxt_srv.nreq == 3);
    CHECK(o3.transient);
    CHECK(strcmp(o3.rid, "r503") == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_timeout(void)
{
    static const struct wxt_step slow[] = {
        {200, "application/json", "{\"openid\":\"o1\",\"session_key\":\"k1\"}", 1000, 0},
    };
    struct outcome o = {0};
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(NULL, 0, slow, 1);
    c = client(200, 1, 10);
    CHECK(c);
    CHECK(run(c, "code", &o) == 0);
    CHECK(o.status == WX_TRANSPORT);
    CHECK(o.transient);
    CHECK(o.http == 0);
    CHECK(o.attempts == 2 && wxt_srv.nreq == 2);
    CHECK(o.obs_errcode[0] == -1 && o.obs_http[0] == 0);
    /* No timing assertion: WX_TRANSPORT on a reply that would have been a
     * success (it comes at 1000 ms) is what shows the timeout worked. */
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_refused(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    struct outcome o = {0};
    struct wx_client *c = NULL;
    char base[64];
    int fd, rc = -1;

    /* a port that was just free: bound, read back, closed, never listened on */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0);
    CHECK(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
    close(fd);
    fd = -1;
    snprintf(base, sizeof base, "http://127.0.0.1:%d", ntohs(sin.sin_port));

    wxt_serve(NULL, 0, NULL, 0);
    c = client_at(base, 1000, 1, 10);
    CHECK(c);
    CHECK(run(c, "code", &o) == 0);
    CHECK(o.status == WX_TRANSPORT && o.transient);
    CHECK(o.http == 0 && o.attempts == 2);
    CHECK(o.obs_errcode[0] == -1 && o.obs_errcode[1] == -1);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    wx_client_free(c);
    return rc;
}

static int test_bad_reply(void)
{
    static const char *const bodies[] = {
        "this is not json",
        "",
        "[1,2,3]",
        "\"a string\"",
        "{\"session_key\":\"k\"}",
        "{\"openid\":\"o\"}",
        "{\"openid\":\"\",\"session_key\":\"k\"}",
        "{\"openid\":7,\"session_key\":\"k\"}",
        "{\"errcode\":\"40029\",\"errmsg\":\"x\"}",
        "{\"errcode\":1e300}",
        NULL,                   /* wxt_srv.big: 1.5 MiB */
    };
    struct wx_client *c = NULL;
    struct wxt_step st = {200, "application/json", NULL, 0, 0};
    size_t i;
    int rc = -1;

    c = client(2000, 2, 10);
    CHECK(c);
    for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        struct outcome o = {0};

        st.body = bodies[i];
        wxt_serve(NULL, 0, &st, 1);
        CHECK(run(c, "code", &o) == 0);
        if (o.status != WX_BADREPLY)
            fprintf(stderr, "body %zu: status %d (%s)\n", i, (int)o.status, o.errmsg);
        CHECK(o.status == WX_BADREPLY);
        CHECK(!o.has_session && !o.transient);
        CHECK(o.attempts == 1 && wxt_srv.nreq == 1);
    }
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_content_types(void)
{
    static const char *const types[] = {
        "application/json; charset=UTF-8", "text/plain", "application/json", NULL,
    };
    struct wx_client *c = NULL;
    struct wxt_step st = {200, NULL, "{\"openid\":\"o1\",\"session_key\":\"k1\"}", 0, 0};
    size_t i;
    int rc = -1;

    c = client(1000, 0, 10);
    CHECK(c);
    for (i = 0; i < sizeof types / sizeof types[0]; i++) {
        struct outcome o = {0};

        st.ctype = types[i];
        wxt_serve(NULL, 0, &st, 1);
        CHECK(run(c, "code", &o) == 0);
        CHECK(o.status == WX_OK && o.has_session);
        CHECK(strcmp(o.openid, "o1") == 0);
    }
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_free_in_flight(void)
{
    static const struct wxt_step slow[] = {
        {200, "application/json", "{\"openid\":\"o1\",\"session_key\":\"k1\"}", 1000, 0},
    };
    static const struct wxt_step busy[] = {
        {200, "application/json", "{\"errcode\":-1,\"errmsg\":\"busy\"}", 0, 0},
    };
    struct outcome o = {0}, o2 = {0}, o3 = {0};
    struct wx_client *c = NULL;
    int rc = -1;

    /* freed while the request is on the wire */
    wxt_serve(NULL, 0, slow, 1);
    c = client(5000, 2, 10);
    CHECK(c);
    CHECK(start(c, "code", &o) == 0);
    CHECK(wxt_wait_n(&wxt_srv.nreq, 1, LIMIT_MS) == 0);
    wx_client_free(c);
    c = NULL;
    wxt_loop_for(50);
    CHECK(o.done == 0 && o.nobs == 0);

    /* freed while waiting to retry */
    wxt_serve(NULL, 0, busy, 1);
    c = client(1000, 2, 10000);
    CHECK(c);
    CHECK(start(c, "code", &o2) == 0);
    CHECK(wxt_wait_n(&o2.nobs, 1, LIMIT_MS) == 0);
    CHECK(wx_client_pending(c) == 1);
    wx_client_free(c);
    c = NULL;
    wxt_loop_for(50);
    CHECK(o2.done == 0 && o2.nobs == 1 && wxt_srv.nreq == 1);

    /* freed before the first attempt started */
    c = client(1000, 2, 10);
    CHECK(c);
    CHECK(start(c, "code", &o3) == 0);
    CHECK(start(c, "code2", &o3) == 0);
    CHECK(wx_client_pending(c) == 2);
    wx_client_free(c);
    c = NULL;
    wxt_loop_for(50);
    CHECK(o3.done == 0 && o3.nobs == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_never_reentered(void)
{
    static const struct wxt_step ok[] = {
        {200, "application/json", "{\"openid\":\"o1\",\"session_key\":\"k1\"}", 0, 0},
    };
    struct outcome o = {0}, o2 = {0}, o3 = {0};
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(NULL, 0, ok, 1);
    c = client(1000, 0, 10);
    CHECK(c);
    CHECK(start(c, "code", &o) == 0);
    CHECK(o.done == 0);
    CHECK(wxt_wait_n(&o.done, 1, LIMIT_MS) == 0);
    CHECK(!o.reentered && o.status == WX_OK);

    /* a call that cannot be started: -1 and no callback, ever */
    in_call = 1;
    CHECK(wx_code2session(c, NULL, login_cb, &o2) == -1);
    CHECK(wx_code2session(NULL, "code", login_cb, &o2) == -1);
    in_call = 0;
    wxt_loop_for(30);
    CHECK(o2.done == 0);
    wx_client_free(c);
    c = NULL;

    /* a failure curl sees at once still comes back through the loop */
    c = client_at("gopher://127.0.0.1:1", 1000, 0, 10);
    CHECK(c);
    CHECK(start(c, "code", &o3) == 0);
    CHECK(o3.done == 0);
    CHECK(wxt_wait_n(&o3.done, 1, LIMIT_MS) == 0);
    CHECK(!o3.reentered && o3.status == WX_TRANSPORT && !o3.leak);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_free_in_callback(void)
{
    static const struct wxt_step ok[] = {
        {200, "application/json", "{\"openid\":\"o1\",\"session_key\":\"k1\"}", 0, 0},
    };
    static const struct wxt_step busy[] = {
        {200, "application/json", "{\"errcode\":-1,\"errmsg\":\"busy\"}", 0, 0},
    };
    struct outcome o1 = {0}, o2 = {0}, o3 = {0}, o4 = {0};
    struct wx_client *c = NULL;
    int ncb = 0, rc = -1;

    /* two calls in flight; whichever ends first frees the client */
    wxt_serve(NULL, 0, ok, 1);
    c = client(1000, 0, 10);
    CHECK(c);
    o1.free_in_cb = o2.free_in_cb = c;
    o1.counter = o2.counter = &ncb;
    CHECK(wx_code2session(c, "one", login_cb, &o1) == 0);
    CHECK(wx_code2session(c, "two", login_cb, &o2) == 0);
    c = NULL;
    CHECK(wxt_wait_n(&ncb, 1, LIMIT_MS) == 0);
    wxt_loop_for(50);
    CHECK(ncb == 1);

    /* the observer frees the client: no callback, no retry */
    wxt_serve(NULL, 0, busy, 1);
    c = client(1000, 2, 10);
    CHECK(c);
    o3.free_in_obs = c;
    CHECK(start(c, "code", &o3) == 0);
    c = NULL;
    CHECK(wxt_wait_n(&o3.nobs, 1, LIMIT_MS) == 0);
    wxt_loop_for(50);
    CHECK(o3.nobs == 1 && o3.done == 0 && wxt_srv.nreq == 1);

    /* ... and on a last attempt, which would otherwise end the call */
    wxt_serve(NULL, 0, ok, 1);
    c = client(1000, 2, 10);
    CHECK(c);
    o4.free_in_obs = c;
    CHECK(start(c, "code", &o4) == 0);
    c = NULL;
    CHECK(wxt_wait_n(&o4.nobs, 1, LIMIT_MS) == 0);
    wxt_loop_for(50);
    CHECK(o4.nobs == 1 && o4.done == 0 && wxt_srv.nreq == 1);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_helpers(void)
{
    static const struct {
        struct wx_result r;
        int want;
    } tr[] = {
        {{WX_OK, 0, 200, 1, "ok", ""}, 0},
        {{WX_ERRCODE, -1, 200, 1, "busy", ""}, 1},
        {{WX_ERRCODE, 40029, 200, 1, "x", ""}, 0},
        {{WX_ERRCODE, 45009, 200, 1, "x", ""}, 0},
        {{WX_ERRCODE, 45011, 200, 1, "x", ""}, 0},
        {{WX_TRANSPORT, 0, 0, 1, "x", ""}, 1},
        {{WX_HTTP, 0, 500, 1, "x", ""}, 1},
        {{WX_HTTP, 0, 503, 1, "x", ""}, 1},
        {{WX_HTTP, 0, 599, 1, "x", ""}, 1},
        {{WX_HTTP, 0, 404, 1, "x", ""}, 0},
        {{WX_HTTP, -1, 429, 1, "x", ""}, 0},
        {{WX_HTTP, 0, 302, 1, "x", ""}, 0},
        {{WX_BADREPLY, 0, 200, 1, "x", ""}, 0},
    };
    char buf[64], small[6];
    size_t i;
    int rc = -1;

    CHECK(wx_url_escape("a+b/c=d", buf, sizeof buf) == 13);
    CHECK(strcmp(buf, "a%2Bb%2Fc%3Dd") == 0);
    CHECK(wx_url_escape("AZaz09-._~", buf, sizeof buf) == 10);
    CHECK(strcmp(buf, "AZaz09-._~") == 0);
    CHECK(wx_url_escape("a b&\xc3\xa9", buf, sizeof buf) == 14);
    CHECK(strcmp(buf, "a%20b%26%C3%A9") == 0);
    CHECK(wx_url_escape("", buf, sizeof buf) == 0 && buf[0] == '\0');
    CHECK(wx_url_escape("a+b", small, sizeof small) == 5);     /* exactly fits */
    CHECK(strcmp(small, "a%2Bb") == 0);
    CHECK(wx_url_escape("a+bc", small, sizeof small) == -1);   /* one too many */
    CHECK(wx_url_escape("abcdef", small, sizeof small) == -1);
    CHECK(wx_url_escape("a", buf, 0) == -1);

    wx_extract_rid("invalid code, rid: " RID, buf, sizeof buf);
    CHECK(strcmp(buf, RID) == 0);
    wx_extract_rid("ok", buf, sizeof buf);
    CHECK(buf[0] == '\0');
    wx_extract_rid("", buf, sizeof buf);
    CHECK(buf[0] == '\0');
    wx_extract_rid(NULL, buf, sizeof buf);
    CHECK(buf[0] == '\0');
    wx_extract_rid("rid: ", buf, sizeof buf);
    CHECK(buf[0] == '\0');
    wx_extract_rid("hint: [x] rid: 64a1b2c3-0a1b2c3d trailing", buf, sizeof buf);
    CHECK(strcmp(buf, "64a1b2c3-0a1b2c3d") == 0);
    wx_extract_rid("x rid: " RID, small, sizeof small);
    CHECK(strcmp(small, "6560c") == 0);                        /* truncated */

    CHECK(wx_result_is_transient(NULL) == 0);
    for (i = 0; i < sizeof tr / sizeof tr[0]; i++) {
        if (wx_result_is_transient(&tr[i].r) != tr[i].want)
            fprintf(stderr, "is_transient row %zu\n", i);
        CHECK(wx_result_is_transient(&tr[i].r) == tr[i].want);
    }
    rc = 0;
out:
    return rc;
}

/*==== Runner ====*/

static const struct wxt_test tests[] = {
    {"success", test_success, NULL},
    {"errcode_no_retry", test_errcode_no_retry, NULL},
    {"busy_then_ok", test_busy_then_ok, NULL},
    {"busy_forever", test_busy_forever, NULL},
    {"http_status", test_http_status, NULL},
    {"timeout", test_timeout, NULL},
    {"refused", test_refused, NULL},
    {"bad_reply", test_bad_reply, NULL},
    {"content_types", test_content_types, NULL},
    {"free_in_flight", test_free_in_flight, NULL},
    {"never_reentered", test_never_reentered, NULL},
    {"free_in_callback", test_free_in_callback, NULL},
    {"helpers", test_helpers, NULL},
};

int main(void)
{
    return wxt_main("fake WeChat", tests, sizeof tests / sizeof tests[0], NULL);
}
