/*
 * test_robot.c - wechat/'s WeCom group robot (wx_robot_send) and the
 * transport's whole-URL paths, against a fake WeCom: an evhttp server on
 * 127.0.0.1 (port 0) in the test's own event_base playing a script whose
 * last step repeats. Every request is kept (method, path, query,
 * Content-Type, body) so a case can check what went upstream and how
 * often. The client's api_base points at a closed port: whatever reaches
 * the fake came through the webhook URL itself. No sleeps: the loop runs
 * until a counter is reached or a per-wait watchdog fires.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#include "wx.h"
#include "wx_internal.h"   /* wx_call_start(): whole-URL paths */
#include "wxtest.h"

#define KEY "0a1b2c3d-4e5f-6789-abcd-ef0123456789"   /* the webhook's secret */
#define HOOK_PATH "/cgi-bin/webhook/send"
#define LIMIT_MS 3000           /* watchdog of one wait */
#define JSON_CT "application/json; charset=UTF-8"
#define OK_REPLY "{\"errcode\":0,\"errmsg\":\"ok\"}"
#define ERR(code, msg) "{\"errcode\":" #code ",\"errmsg\":\"" msg "\"}"

/* A loopback port that was just free: bound, read back, closed. With
 * LISTENING the socket stays open and listens (connections are queued,
 * never accepted) and *FD gets it. Returns the port or -1. */
static int spare_port(int listening, int *fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    int s = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (s < 0)
        return -1;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s, (struct sockaddr *)&sin, sizeof sin) == 0 &&
        getsockname(s, (struct sockaddr *)&sin, &len) == 0 &&
        (!listening || listen(s, 8) == 0))
        port = ntohs(sin.sin_port);
    if (listening && port >= 0) {
        *fd = s;
        return port;
    }
    close(s);
    return port;
}

/*==== What a call came back with ====*/

static int in_call;     /* set while a wx_* call that takes a callback runs */
static int ncb;         /* callbacks run, all kinds */

struct outcome {
    int done, reentered;
    enum wx_status status;
    long errcode, http;
    int attempts;
    char errmsg[256], rid[128];
    int leak;                   /* the key or the URL showed up in R */
    int nobs;                   /* observer calls */
    long obs_errcode[4], obs_http[4];
    int bad_obs;                /* the observer saw a wrong name, the key, the URL */
};

/* True when S quotes the webhook's key or its path. */
static int leaks(const char *s)
{
    return !s || strstr(s, KEY) || strstr(s, HOOK_PATH) || strstr(s, "key=");
}

static void robot_cb(void *arg, const struct wx_result *r)
{
    struct outcome *o = arg;

    if (in_call)
        o->reentered = 1;
    o->done++;
    ncb++;
    o->status = r->status;
    o->errcode = r->errcode;
    o->http = r->http_status;
    o->attempts = r->attempts;
    snprintf(o->errmsg, sizeof o->errmsg, "%s", r->errmsg ? r->errmsg : "(null)");
    snprintf(o->rid, sizeof o->rid, "%s", r->rid ? r->rid : "(null)");
    if (leaks(r->errmsg) || leaks(r->rid))
        o->leak = 1;
}

static void observe(void *arg, const char *api, long errcode, long http,
                    double ms, const char *rid)
{
    struct outcome *o = arg;

    if (o->nobs < 4) {
        o->obs_errcode[o->nobs] = errcode;
        o->obs_http[o->nobs] = http;
    }
    o->nobs++;
    if (!api || strcmp(api, "robot_send") != 0 || leaks(rid) || ms < 0)
        o->bad_obs = 1;
}

/* A client whose api_base is a closed port, retrying up to RETRIES times. */
static struct wx_client *client(int retries, struct outcome *obs)
{
    static char base[64];
    struct wx_config cfg;
    struct wx_client *c;

    if (!base[0])
        snprintf(base, sizeof base, "http://127.0.0.1:%d", spare_port(0, NULL));
    wxt_config(&cfg, base);
    cfg.max_retries = retries;
    c = wx_client_new(wxt_srv.base, &cfg);
    if (c && obs)
        wx_client_set_observer(c, observe, obs);
    return c;
}

/* The webhook URL on the fake, with EXTRA appended to the query. */
static const char *hook(const char *extra)
{
    static char url[256];

    snprintf(url, sizeof url, "http://127.0.0.1:%d" HOOK_PATH "?key=" KEY "%s",
             wxt_srv.port, extra);
    return url;
}

/* Send MARKDOWN to WEBHOOK and wait for the callback. */
static int send_wait(struct wx_client *c, const char *webhook, const char *markdown,
                     struct outcome *o)
{
    int rc = -1;

    START(wx_robot_send(c, webhook, markdown, robot_cb, o));
    CHECK(wxt_wait_n(&o->done, 1, LIMIT_MS) == 0);
    wxt_loop_for(20);               /* a second callback would show here */
    CHECK(o->done == 1 && !o->reentered && !o->leak && !o->bad_obs);
    rc = 0;
out:
    return rc;
}

/*==== Cases ====*/

static int test_body_shape(void)
{
    static const struct wxt_step ok[] = { { 200, JSON_CT, OK_REPLY, 0, 0 } };
    const char *md = "## 工单 #42\n> 状态：<font color=\"warning\">待处理</font>\n"
                     "[详情](https://example.com/t/42?a=1&b=2) \\ tab\there";
    /* the exact bytes: two members in this order, content escaped as JSON */
    const char *want = "{\"msgtype\":\"markdown\",\"markdown\":{\"content\":"
                       "\"## 工单 #42\\n> 状态：<font color=\\\"warning\\\">待处理</font>\\n"
                       "[详情](https://example.com/t/42?a=1&b=2) \\\\ tab\\there\"}}";
    struct outcome o = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(NULL, 0, ok, 1);
    c = client(2, &o);
    CHECK(c);
    CHECK(send_wait(c, hook(""), md, &o) == 0);
    CHECK(o.status == WX_OK && o.errcode == 0 && o.http == 200 && o.attempts == 1);
    CHECK(strcmp(o.errmsg, "ok") == 0 && o.rid[0] == '\0');
    CHECK(o.nobs == 1 && o.obs_errcode[0] == 0 && o.obs_http[0] == 200);
    CHECK(wxt_srv.nreq == 1);
    CHECK(wxt_srv.seen[0].post);
    CHECK(strcmp(wxt_srv.seen[0].path, HOOK_PATH) == 0);
    CHECK(strcmp(wxt_srv.seen[0].query, "key=" KEY) == 0);
    CHECK(strncmp(wxt_srv.seen[0].ctype, "application/json", 16) == 0);
    if (strcmp(wxt_srv.seen[0].body, want) != 0)
        fprintf(stderr, "body %s\nwant %s\n", wxt_srv.seen[0].body, want);
    CHECK(strcmp(wxt_srv.seen[0].body, want) == 0);
    CHECK(wx_client_pending(c) == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_success_limits(void)
{
    static const struct wxt_step ok[] = { { 200, JSON_CT, OK_REPLY, 0, 0 } };
    struct outcome o = { 0 };
    struct wx_client *c = NULL;
    char md[4097];
    cJSON *body = NULL;
    const cJSON *content;
    int rc = -1;

    /* exactly 4096 bytes, ending in a 3-byte character */
    memset(md, 'a', sizeof md);
    memcpy(md + 4093, "单", 3);
    md[4096] = '\0';
    wxt_serve(NULL, 0, ok, 1);
    c = client(2, &o);
    CHECK(c);
    CHECK(send_wait(c, hook(""), md, &o) == 0);
    CHECK(o.status == WX_OK && o.attempts == 1 && wxt_srv.nreq == 1);
    body = cJSON_Parse(wxt_srv.seen[0].body);
    content = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body, "markdown"),
                                              "content");
    CHECK(cJSON_IsString(content) && strcmp(content->valuestring, md) == 0);

    /* one byte */
    memset(&o, 0, sizeof o);
    CHECK(send_wait(c, hook(""), "x", &o) == 0);
    CHECK(o.status == WX_OK && wxt_srv.nreq == 2);
    rc = 0;
out:
    cJSON_Delete(body);
    wx_client_free(c);
    return rc;
}

static int test_not_retried(void)
{
    static const struct wxt_step bad_key[] = {
        { 200, JSON_CT, ERR(93000, "invalid webhook url, hint: [1795430631_ef112e6c16f43146], "
                          "more info at https://open.work.weixin.qq.com/devtool/query?e=93000"), 0, 0 },
        { 200, JSON_CT, OK_REPLY, 0, 0 },
    };
    static const struct wxt_step freq[] = {
        { 200, JSON_CT, ERR(45009, "api freq out of limit, hint: [1795430631_0123456789abcdef]"), 0, 0 },
        { 200, JSON_CT, OK_REPLY, 0, 0 },
    };
    static const struct wxt_step too_long[] = {
        { 200, JSON_CT, ERR(40058, "content exceed max length"), 0, 0 },
        { 200, JSON_CT, OK_REPLY, 0, 0 },
    };
    static const struct {
        const struct wxt_step *script;
        long errcode;
    } table[] = { { bad_key, 93000 }, { freq, 45009 }, { too_long, 40058 } };
    struct wx_client *c = NULL;
    int rc = -1;

    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        struct outcome o = { 0 };

        wxt_serve(NULL, 0, table[i].script, 2);
        c = client(3, &o);
        CHECK(c);
        CHECK(send_wait(c, hook(""), "**hello**", &o) == 0);
        wxt_loop_for(100);          /* a retry would be under way by now */
        CHECK(wxt_srv.nreq == 1);
        CHECK(o.status == WX_ERRCODE && o.errcode == table[i].errcode);
        CHECK(o.attempts == 1 && o.http == 200);
        CHECK(o.nobs == 1 && o.obs_errcode[0] == table[i].errcode);
        CHECK(wx_client_pending(c) == 0);
        wx_client_free(c);
        c = NULL;
    }
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_busy_retried(void)
{
    static const struct wxt_step busy_then_ok[] = {
        { 200, JSON_CT, ERR(-1, "system busy"), 0, 0 },
        { 200, JSON_CT, OK_REPLY, 0, 0 },
    };
    static const struct wxt_step gateway[] = { { 502, JSON_CT, "<html>bad gateway</html>", 0, 0 } };
    static const struct wxt_step always_busy[] = { { 200, JSON_CT, ERR(-1, "system busy"), 0, 0 } };
    struct outcome o = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    /* -1 means WeChat did not take it: retried. */
    wxt_serve(NULL, 0, busy_then_ok, 2);
    c = client(2, &o);
    CHECK(c);
    CHECK(send_wait(c, hook(""), "retry me", &o) == 0);
    CHECK(o.status == WX_OK && o.attempts == 2 && wxt_srv.nreq == 2);
    CHECK(o.nobs == 2 && o.obs_errcode[0] == -1 && o.obs_errcode[1] == 0);
    for (int i = 0; i < 2; i++)
        CHECK(strcmp(wxt_srv.seen[i].body, wxt_srv.seen[0].body) == 0 &&
              strcmp(wxt_srv.seen[i].query, "key=" KEY) == 0);
    wx_client_free(c);

    /* A 502 after the message left may have been delivered: not repeated
     * here, handed back for the caller's back-off (a send is not safe to
     * repeat at once). */
    memset(&o, 0, sizeof o);
    wxt_serve(NULL, 0, gateway, 1);
    c = client(2, &o);
    CHECK(c);
    CHECK(send_wait(c, hook(""), "once", &o) == 0);
    CHECK(o.status == WX_HTTP && o.attempts == 1 && wxt_srv.nreq == 1);
    wx_client_free(c);

    /* out of retries: the last busy is the result */
    memset(&o, 0, sizeof o);
    wxt_serve(NULL, 0, always_busy, 1);
    c = client(1, &o);
    CHECK(c);
    CHECK(send_wait(c, hook(""), "retry me", &o) == 0);
    CHECK(o.status == WX_ERRCODE && o.errcode == -1 && o.attempts == 2 && wxt_srv.nreq == 2);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_invalid(void)
{
    static const struct wxt_step ok[] = { { 200, JSON_CT, OK_REPLY, 0, 0 } };
    char big[4098];
    struct {
        const char *webhook;
        const char *markdown;
    } table[] = {
        { "", "x" },
        { "ftp://127.0.0.1/cgi-bin/webhook/send?key=" KEY, "x" },
        { "qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" KEY, "x" },
        { "HTTPS://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" KEY, "x" },
        { "http://", "x" },
        { "https:///cgi-bin/webhook/send?key=" KEY, "x" },
        { "http://127.0.0.1/cgi-bin/webhook/send?key=" KEY " x", "x" },
        { "http://127.0.0.1/cgi-bin/webhook/send?key=" KEY "\n", "x" },
        { "http://127.0.0.1/群/send?key=" KEY, "x" },
        { NULL, "" },                               /* empty */
        { NULL, NULL },                             /* 4097 bytes */
        { NULL, "bad \xff byte" },
        { NULL, "overlong \xc0\xaf" },
        { NULL, "overlong \xe0\x80\xaf" },
        { NULL, "surrogate \xed\xa0\x80" },
        { NULL, "too high \xf4\x90\x80\x80" },
        { NULL, "cut \xe5\xb7" },
        { NULL, "stray \x80 continuation" },
    };
    struct outcome o;
    struct wx_client *c = NULL;
    int rc = -1;

    memset(big, 'a', sizeof big);
    big[4097] = '\0';
    wxt_serve(NULL, 0, ok, 1);
    memset(&o, 0, sizeof o);
    c = client(2, &o);
    CHECK(c);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const char *wh = table[i].webhook ? table[i].webhook : hook("");
        const char *md = table[i].markdown ? table[i].markdown : big;

        memset(&o, 0, sizeof o);
        if (send_wait(c, wh, md, &o) != 0 || o.status != WX_INVALID)
            fprintf(stderr, "invalid row %zu: status %d\n", i, (int)o.status);
        CHECK(o.status == WX_INVALID && o.attempts == 0 && o.http == 0 && o.errcode == 0);
        CHECK(o.errmsg[0] && o.rid[0] == '\0');
        CHECK(o.nobs == 0);
    }
    CHECK(strcmp(o.errmsg, "markdown is not valid UTF-8") == 0);
    CHECK(wxt_srv.nreq == 0);
    CHECK(wx_client_pending(c) == 0);

    /* NULLs: not started, no callback */
    ncb = 0;
    CHECK(wx_robot_send(NULL, hook(""), "x", robot_cb, &o) == -1);
    CHECK(wx_robot_send(c, NULL, "x", robot_cb, &o) == -1);
    CHECK(wx_robot_send(c, hook(""), NULL, robot_cb, &o) == -1);
    CHECK(wx_robot_send(c, hook(""), "x", NULL, &o) == -1);
    wxt_loop_for(20);
    CHECK(ncb == 0 && wxt_srv.nreq == 0 && wx_client_pending(c) == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* The key never reaches errmsg, rid or the observer, whatever happens. */
static int test_key_not_exposed(void)
{
    static const struct wxt_step echo[] = {
        { 200, JSON_CT, ERR(93000, "invalid webhook url " HOOK_PATH "?key=" KEY ", rid: " KEY), 0, 0 },
    };
    static const struct wxt_step echo_rid[] = {
        { 200, JSON_CT, ERR(93000, "invalid webhook url, rid: " KEY), 0, 0 },
    };
    struct outcome o = { 0 };
    struct wx_client *c = NULL;
    char url[256];
    int port, rc = -1;

    /* transport error: nothing listens there */
    port = spare_port(0, NULL);
    CHECK(port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d" HOOK_PATH "?key=" KEY, port);
    wxt_serve(NULL, 0, NULL, 0);
    c = client(1, &o);
    CHECK(c);
    CHECK(send_wait(c, url, "hello", &o) == 0);
    CHECK(o.status == WX_TRANSPORT && o.attempts == 2 && o.http == 0);
    CHECK(o.nobs == 2 && o.obs_errcode[0] == -1 && o.obs_errcode[1] == -1);
    CHECK(!strstr(o.errmsg, KEY) && !strstr(o.errmsg, url));
    wx_client_free(c);
    c = NULL;

    /* https:// passes the check; a resolver error names the host, never the query */
    memset(&o, 0, sizeof o);
    c = client(0, &o);
    CHECK(c);
    CHECK(send_wait(c, "https://no-such-host.invalid" HOOK_PATH "?key=" KEY, "hello", &o) == 0);
    CHECK(o.status == WX_TRANSPORT && o.attempts == 1);
    wx_client_free(c);
    c = NULL;

    /* a reply quoting the key: the errmsg is withheld, the rid dropped */
    memset(&o, 0, sizeof o);
    wxt_serve(NULL, 0, echo, 1);
    c = client(1, &o);
    CHECK(c);
    CHECK(send_wait(c, hook(""), "hello", &o) == 0);
    CHECK(o.status == WX_ERRCODE && o.errcode == 93000 && o.attempts == 1);
    CHECK(strstr(o.errmsg, "withheld") && o.rid[0] == '\0');
    CHECK(o.nobs == 1);

    memset(&o, 0, sizeof o);
    wxt_serve(NULL, 0, echo_rid, 1);
    wx_client_set_observer(c, observe, &o);
    CHECK(send_wait(c, hook(""), "hello", &o) == 0);
    CHECK(o.errcode == 93000 && o.rid[0] == '\0');
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* A webhook that already has a query beyond key=, sent as is. */
static int test_url_with_query(void)
{
    static const struct wxt_step ok[] = { { 200, JSON_CT, OK_REPLY, 0, 0 } };
    struct outcome o = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(NULL, 0, ok, 1);
    c = client(0, &o);
    CHECK(c);
    CHECK(send_wait(c, hook("&debug=1&x=%E5%B7%A5"), "hi", &o) == 0);
    CHECK(o.status == WX_OK && wxt_srv.nreq == 1);
    CHECK(strcmp(wxt_srv.seen[0].path, HOOK_PATH) == 0);
    CHECK(strcmp(wxt_srv.seen[0].query, "key=" KEY "&debug=1&x=%E5%B7%A5") == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* wx_call_start() with a whole URL: its own query first, ours after '&'
 * (or '?' when it has none); a plain path still goes under api_base. */
struct raw_done {
    int done;
    enum wx_status status;
};

static void raw_cb(void *arg, const struct wx_result *r, const cJSON *body,
                   const struct wx_raw *raw)
{
    struct raw_done *d = *(struct raw_done **)arg;

    d->done++;
    d->status = r->status;
}

static int start_raw(struct wx_client *c, const char *path, const struct wx_param *q,
                     size_t nq, struct raw_done *d)
{
    struct raw_done **slot = malloc(sizeof *slot);   /* the transport frees it */

    if (!slot)
        return -1;
    *slot = d;
    return wx_call_start(c, "robot_send", path, q, nq, NULL, raw_cb, slot);
}

static int test_transport_whole_url(void)
{
    static const struct wxt_step ok[] = { { 200, JSON_CT, OK_REPLY, 0, 0 } };
    static const struct wx_param q[] = { { "x", "a b" }, { "y", "工" } };
    struct raw_done d = { 0 };
    struct wx_client *c = NULL;
    struct wx_config cfg;
    char url[128], base[64];
    int rc = -1;

    wxt_serve(NULL, 0, ok, 1);
    c = client(0, NULL);
    CHECK(c);
    CHECK(start_raw(c, hook(""), q, 2, &d) == 0);
    CHECK(wxt_wait_n(&d.done, 1, LIMIT_MS) == 0);
    CHECK(d.status == WX_OK && wxt_srv.nreq == 1 && !wxt_srv.seen[0].post);
    CHECK(strcmp(wxt_srv.seen[0].path, HOOK_PATH) == 0);
    CHECK(strcmp(wxt_srv.seen[0].query, "key=" KEY "&x=a%20b&y=%E5%B7%A5") == 0);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/plain", wxt_srv.port);
    CHECK(start_raw(c, url, q, 1, &d) == 0);
    CHECK(wxt_wait_n(&d.done, 2, LIMIT_MS) == 0);
    CHECK(wxt_srv.nreq == 2 && strcmp(wxt_srv.seen[1].path, "/plain") == 0);
    CHECK(strcmp(wxt_srv.seen[1].query, "x=a%20b") == 0);

    CHECK(start_raw(c, url, NULL, 0, &d) == 0);
    CHECK(wxt_wait_n(&d.done, 3, LIMIT_MS) == 0);
    CHECK(wxt_srv.nreq == 3 && strcmp(wxt_srv.seen[2].query, "") == 0);
    wx_client_free(c);
    c = NULL;

    /* a path: api_base + path + '?' query, as before */
    memset(&cfg, 0, sizeof cfg);
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", wxt_srv.port);
    cfg.appid = APPID;
    cfg.secret = SECRET;
    cfg.api_base = base;
    cfg.connect_timeout_ms = 1000;
    cfg.timeout_ms = 2000;
    c = wx_client_new(wxt_srv.base, &cfg);
    CHECK(c);
    CHECK(start_raw(c, "/sns/x", q, 2, &d) == 0);
    CHECK(wxt_wait_n(&d.done, 4, LIMIT_MS) == 0);
    CHECK(wxt_srv.nreq == 4 && strcmp(wxt_srv.seen[3].path, "/sns/x") == 0);
    CHECK(strcmp(wxt_srv.seen[3].query, "x=a%20b&y=%E5%B7%A5") == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* Freeing the client with a send on the wire: no callback, nothing leaks. */
static int test_free_in_flight(void)
{
    struct outcome o = { 0 };
    struct wx_client *c = NULL;
    char url[128];
    int fd = -1, port, rc = -1;

    port = spare_port(1, &fd);      /* listens, never accepts: no reply */
    CHECK(port > 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d" HOOK_PATH "?key=" KEY, port);
    c = client(2, &o);
    CHECK(c);
    START(wx_robot_send(c, url, "never answered", robot_cb, &o));
    wxt_loop_for(100);
    CHECK(wx_client_pending(c) == 1 && o.done == 0);
    wx_client_free(c);
    c = NULL;
    wxt_loop_for(50);
    CHECK(o.done == 0 && o.nobs == 0);
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    wx_client_free(c);
    return rc;
}

/*==== Runner ====*/

static const struct wxt_test tests[] = {
    { "body_shape", test_body_shape, NULL },
    { "success_limits", test_success_limits, NULL },
    { "not_retried", test_not_retried, NULL },
    { "busy_retried", test_busy_retried, NULL },
    { "invalid", test_invalid, NULL },
    { "key_not_exposed", test_key_not_exposed, NULL },
    { "url_with_query", test_url_with_query, NULL },
    { "transport_whole_url", test_transport_whole_url, NULL },
    { "free_in_flight", test_free_in_flight, NULL },
};

static void reset(void)
{
    ncb = 0;
    in_call = 0;
}

int main(void)
{
    return wxt_main("fake WeCom", tests, sizeof tests / sizeof tests[0], reset);
}
