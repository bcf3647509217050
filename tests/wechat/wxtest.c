/*
 * wxtest.c - the scripted fake WeChat of wxtest.h and the loop helpers
 * around it. The fake answers each request with the next step of its
 * script (token endpoints and the rest have one each), late when the step
 * says so, and records what came. It knows nothing of any one API: the
 * cases check what went upstream themselves.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "wxtest.h"

#define MAX_DELAYED 16

struct wxt_server wxt_srv;

static struct delayed {         /* a reply waiting on its timer */
    struct event *ev;
    struct evhttp_request *req; /* NULL when the slot is free */
    const struct wxt_step *st;
    int token;
} delayed[MAX_DELAYED];

static void arm(struct event *ev, long ms)
{
    struct timeval tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(ev, &tv);
}

static const char *reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Whatever";
    }
}

static void reply(struct evhttp_request *req, const struct wxt_step *st, int token)
{
    struct evbuffer *b = evbuffer_new();
    const char *body = st->body ? st->body : wxt_srv.big;

    if (b)
        evbuffer_add(b, body, st->len ? st->len : strlen(body));
    if (st->ctype)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", st->ctype);
    /* frees REQ quietly if its client has gone */
    evhttp_send_reply(req, st->code, reason(st->code), b);
    if (b)
        evbuffer_free(b);
    if (!token) {
        wxt_srv.napi_replied++;
        wxt_srv.napi_held--;
    }
}

static void delayed_cb(evutil_socket_t fd, short what, void *arg)
{
    struct delayed *d = arg;

    if (d->req) {
        struct evhttp_request *req = d->req;

        d->req = NULL;
        reply(req, d->st, d->token);
    }
}

void wxt_flush_delayed(void)
{
    for (int i = 0; i < MAX_DELAYED; i++) {
        if (delayed[i].ev)
            evtimer_del(delayed[i].ev);
        delayed_cb(-1, 0, &delayed[i]);
    }
}

static void keep(struct evhttp_request *req, const char *path, const char *q, int token)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t blen = evbuffer_get_length(in);
    struct wxt_seen *s;

    if (wxt_srv.nseen >= WXT_MAX_SEEN)
        return;
    s = &wxt_srv.seen[wxt_srv.nseen++];
    s->token = token;
    s->post = evhttp_request_get_command(req) == EVHTTP_REQ_POST;
    snprintf(s->path, sizeof s->path, "%s", path);
    snprintf(s->ctype, sizeof s->ctype, "%s", ct ? ct : "");
    s->query = strdup(q ? q : "");
    s->body = malloc(blen + 1);
    if (s->body) {
        evbuffer_copyout(in, s->body, blen);
        s->body[blen] = '\0';
    }
    s->api_replied = wxt_srv.napi_replied;
    s->api_held = wxt_srv.napi_held;
}

static void srv_cb(struct evhttp_request *req, void *arg)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(uri);
    const char *q = evhttp_uri_get_query(uri);
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    const struct wxt_step *script, *st;
    size_t n;
    int token, idx, i;

    if (!path)
        path = "";
    token = strcmp(path, "/cgi-bin/stable_token") == 0 || strcmp(path, "/cgi-bin/token") == 0;
    if (token) {
        idx = wxt_srv.ntok_req++;
        script = wxt_srv.tok;
        n = wxt_srv.ntok;
    } else {
        idx = wxt_srv.napi_req++;
        script = wxt_srv.api;
        n = wxt_srv.napi;
    }
    wxt_srv.nreq++;
    if (conn != wxt_srv.last_conn) {
        wxt_srv.nconn++;
        wxt_srv.last_conn = conn;
    }
    snprintf(wxt_srv.query, sizeof wxt_srv.query, "%s", q ? q : "");
    keep(req, path, q, token);
    if (!script || n == 0) {
        evhttp_send_error(req, 404, NULL);
        return;
    }
    if (!token)
        wxt_srv.napi_held++;
    st = &script[(size_t)idx < n ? (size_t)idx : n - 1];
    if (st->delay_ms <= 0) {
        reply(req, st, token);
        return;
    }
    for (i = 0; i < MAX_DELAYED && delayed[i].req; i++)
        ;
    if (i == MAX_DELAYED) {
        static const struct wxt_step busy = { 500, "text/plain", "too many delayed replies", 0, 0 };

        reply(req, &busy, token);
        return;
    }
    delayed[i].req = req;
    delayed[i].st = st;
    delayed[i].token = token;
    arm(delayed[i].ev, st->delay_ms);
}

static void forget_seen(void)
{
    for (int i = 0; i < wxt_srv.nseen; i++) {
        free(wxt_srv.seen[i].query);
        free(wxt_srv.seen[i].body);
        cJSON_Delete(wxt_srv.seen[i].json);
    }
    memset(wxt_srv.seen, 0, sizeof wxt_srv.seen);
    wxt_srv.nseen = 0;
}

void wxt_serve(const struct wxt_step *tok, size_t ntok,
               const struct wxt_step *api, size_t napi)
{
    wxt_flush_delayed();
    forget_seen();
    wxt_srv.tok = tok;
    wxt_srv.ntok = ntok;
    wxt_srv.api = api;
    wxt_srv.napi = napi;
    wxt_srv.nreq = wxt_srv.ntok_req = wxt_srv.napi_req = 0;
    wxt_srv.napi_replied = wxt_srv.napi_held = 0;
    wxt_srv.nconn = 0;
    wxt_srv.last_conn = NULL;
    wxt_srv.query[0] = '\0';
}

int wxt_srv_start(void)
{
    struct evhttp_bound_socket *h;
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;

    signal(SIGPIPE, SIG_IGN);
    wxt_srv.base = event_base_new();
    if (!wxt_srv.base)
        return -1;
    wxt_srv.http = evhttp_new(wxt_srv.base);
    if (!wxt_srv.http)
        return -1;
    evhttp_set_gencb(wxt_srv.http, srv_cb, NULL);
    h = evhttp_bind_socket_with_handle(wxt_srv.http, "127.0.0.1", 0);
    if (!h)
        return -1;
    if (getsockname(evconnlistener_get_fd(evhttp_bound_socket_get_listener(h)),
                    (struct sockaddr *)&sin, &len) != 0)
        return -1;
    wxt_srv.port = ntohs(sin.sin_port);
    for (int i = 0; i < MAX_DELAYED; i++) {
        delayed[i].ev = evtimer_new(wxt_srv.base, delayed_cb, &delayed[i]);
        if (!delayed[i].ev)
            return -1;
    }
    wxt_srv.big = malloc(WXT_BIG + 1);
    if (!wxt_srv.big)
        return -1;
    memset(wxt_srv.big, 'x', WXT_BIG);
    wxt_srv.big[WXT_BIG] = '\0';
    return 0;
}

void wxt_srv_stop(void)
{
    wxt_flush_delayed();
    forget_seen();
    for (int i = 0; i < MAX_DELAYED; i++)
        if (delayed[i].ev)
            event_free(delayed[i].ev);
    if (wxt_srv.http)
        evhttp_free(wxt_srv.http);
    if (wxt_srv.base)
        event_base_free(wxt_srv.base);
    free(wxt_srv.big);
}

/*==== Driving the loop ====*/

static void watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    *(int *)arg = 1;
}

int wxt_wait_n(const int *counter, int n, long limit_ms)
{
    struct event *wd;
    int expired = 0;

    wd = evtimer_new(wxt_srv.base, watchdog_cb, &expired);
    if (!wd)
        return -1;
    arm(wd, limit_ms);
    while (*counter < n && !expired)
        event_base_loop(wxt_srv.base, EVLOOP_ONCE);
    event_free(wd);
    return *counter >= n ? 0 : -1;
}

void wxt_loop_for(long ms)
{
    static const int never = 0;

    wxt_wait_n(&never, 1, ms);
}

/*==== Clients and main() ====*/

void wxt_config(struct wx_config *cfg, const char *base)
{
    static char own[64];

    if (!base) {
        snprintf(own, sizeof own, "http://127.0.0.1:%d", wxt_srv.port);
        base = own;
    }
    memset(cfg, 0, sizeof *cfg);
    cfg->appid = APPID;
    cfg->secret = SECRET;
    cfg->api_base = base;
    cfg->connect_timeout_ms = 1000;
    cfg->timeout_ms = 2000;
    cfg->retry_base_ms = 10;
}

int wxt_main(const char *what, const struct wxt_test *tests, size_t n, void (*reset)(void))
{
    int failed;

    if (wxt_srv_start() != 0) {
        fprintf(stderr, "cannot start the %s\n", what);
        wxt_srv_stop();
        return 2;
    }
    failed = wxt_run(tests, n, reset);
    wxt_srv_stop();
    libevent_global_shutdown();
    return failed ? 1 : 0;
}
