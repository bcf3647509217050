/*
 * transport.c - the HTTP side of the WeChat client: the client object, one
 * curl multi handle driven by the caller's libevent loop (curl's
 * "hiperfifo" pattern), the generic request of wx_internal.h (JSON
 * parsing, errcode and rid, retries with back-off, the observer) and the
 * pure helpers of wx.h. It knows no particular WeChat API: api_*.c do.
 *
 * Every attempt starts from a per-request timer (0 ms for the first one),
 * so no callback ever runs inside the call that started the request, and
 * a retry waits on the loop instead of sleeping.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "wx.h"
#include "wx_internal.h"

#define MAX_BODY (1024L * 1024L)    /* a larger reply is WX_BADREPLY */
#define MAX_BACKOFF_MS 60000L       /* cap of one back-off, before jitter */
#define MIN_URL_KEY 8               /* shorter query values of a whole URL are not keys */

/* One socket curl asked us to watch; curl keeps it with curl_multi_assign. */
struct sock {
    struct sock *prev, *next;       /* in c->socks */
    struct wx_client *c;
    struct event ev;
    int ev_on;                      /* ev is assigned and added */
};

/* One request, across all its attempts. */
struct call {
    struct call *prev, *next;       /* in c->calls while pending */
    int linked;
    struct wx_client *c;
    const char *api;                /* name for the observer; not owned */
    char *url;                      /* may hold the secret: never exposed */
    size_t own_query_end;           /* whole-URL PATH: end of its own query in url, else 0 */
    char *post;                     /* JSON body, NULL for a GET; may hold the secret */
    struct curl_slist *headers;     /* for a POST */
    CURL *easy;                     /* the attempt under way, else NULL */
    struct event timer;             /* starts the next attempt */
    struct timespec t0;             /* when the attempt under way started */
    int attempts;                   /* attempts started so far */
    char *body;                     /* reply body of the attempt under way */
    size_t body_len, body_cap;
    int too_big;                    /* body went over MAX_BODY */
    char errbuf[CURL_ERROR_SIZE];   /* curl's words on a transport error */
    char errmsg[256];               /* wx_result.errmsg */
    char rid[128];                  /* wx_result.rid */
    unsigned flags;                 /* WX_CALL_* */
    int local;                      /* a failure decided here (wx_fail_later) */
    enum wx_status local_status;
    char ctype[128];                /* Content-Type of the attempt's reply */
    wx_call_done_fn *done;
    void *arg;                      /* owned: freed with arg_free */
    void (*arg_free)(void *);
};

struct wx_client {
    struct event_base *base;        /* not owned */
    CURLM *multi;
    struct event curl_timer;        /* curl's CURLMOPT_TIMERFUNCTION timer */
    char *appid;
    char *secret;
    char *api_base;
    long connect_timeout_ms;
    long timeout_ms;
    int max_retries;
    long retry_base_ms;
    wx_observer_fn *observer;
    void *observer_arg;
    struct call *calls;             /* pending, including those waiting to retry */
    int npending;
    struct sock *socks;
    int depth;                      /* > 0 while our event callbacks run */
    int dying;                      /* freed inside a callback: finish on the way out */
    uint64_t rng;                   /* xorshift state for the jitter */
    int token_classic;              /* see wx_config */
    long token_margin_s;
    struct wx_token *token;         /* token.c's state, NULL until used */
    struct wx_sendq *sendq;         /* api_msg.c's state, NULL until used */
};

static void check_multi(struct wx_client *c);
static void start_attempt(struct call *call);

/*==== Small helpers ====*/

/* Free a string that may hold a secret, wiping it first. */
static void scrub_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) * 1000.0 +
           (double)(now.tv_nsec - t0->tv_nsec) / 1e6;
}

static uint64_t next_rand(struct wx_client *c)
{
    uint64_t x = c->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c->rng = x;
    return x;
}

/* Back-off before retry number N (0 for the first): base * 2^N, +/-25%. */
static long backoff_ms(struct wx_client *c, int n)
{
    long d = c->retry_base_ms > 0 ? c->retry_base_ms : 0;
    long jitter;
    int i;

    if (d > MAX_BACKOFF_MS)
        d = MAX_BACKOFF_MS;
    for (i = 0; i < n && d < MAX_BACKOFF_MS; i++)
        d *= 2;
    if (d > MAX_BACKOFF_MS)
        d = MAX_BACKOFF_MS;
    jitter = d / 4;
    if (jitter > 0)
        d += (long)(next_rand(c) % (uint64_t)(2 * jitter + 1)) - jitter;
    return d;
}

static void arm(struct event *ev, long ms)
{
    struct timeval tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    evtimer_add(ev, &tv);
}

/*
 * Our event callbacks bracket their work with enter()/leave(): user code
 * they run may call wx_client_free(), which then only aborts the calls and
 * leaves the freeing to leave(), once nothing of ours is on the stack.
 */
static void destroy(struct wx_client *c);

static void enter(struct wx_client *c)
{
    c->depth++;
}

static void leave(struct wx_client *c)
{
    if (--c->depth == 0 && c->dying)
        destroy(c);
}

/*==== Calls ====*/

static void call_link(struct call *call)
{
    struct wx_client *c = call->c;

    if (call->linked)
        return;
    call->prev = NULL;
    call->next = c->calls;
    if (c->calls)
        c->calls->prev = call;
    c->calls = call;
    call->linked = 1;
    c->npending++;
}

static void call_unlink(struct call *call)
{
    struct wx_client *c = call->c;

    if (!call->linked)
        return;
    if (call->prev)
        call->prev->next = call->next;
    else
        c->calls = call->next;
    if (call->next)
        call->next->prev = call->prev;
    call->prev = call->next = NULL;
    call->linked = 0;
    c->npending--;
}

/* Free an unlinked call, aborting its transfer; DONE is not called. */
static void call_free(struct call *call)
{
    struct wx_client *c = call->c;

    if (call->easy) {
        curl_multi_remove_handle(c->multi, call->easy);
        curl_easy_cleanup(call->easy);
    }
    evtimer_del(&call->timer);
    curl_slist_free_all(call->headers);
    scrub_free(call->url);
    scrub_free(call->post);
    free(call->body);
    call->arg_free(call->arg);
    free(call);
}

static void abort_all(struct wx_client *c)
{
    struct call *call;

    while (c->calls) {
        call = c->calls;
        call_unlink(call);
        call_free(call);
    }
    /* Token waiters and queued sends go too, without their callbacks. */
    wx_token_free(c->token);
    c->token = NULL;
    wx_sendq_free(c->sendq);
    c->sendq = NULL;
}

static void set_errmsg(struct call *call, const char *s)
{
    snprintf(call->errmsg, sizeof call->errmsg, "%s", s);
}

/* Make R describe the attempt that just ended; *JSONP gets the parsed body. */
/* A 200 reply that is an image, not JSON (WX_CALL_BINARY calls only).
 * Errors are JSON: checked by Content-Type prefix and by a leading '{'. */
static int is_binary(const struct call *call, long http)
{
    const char *p = call->body;
    size_t i = 0;

    if (!(call->flags & WX_CALL_BINARY) || http != 200 || !p || call->body_len == 0)
        return 0;
    if (strncmp(call->ctype, "application/json", 16) == 0 || strncmp(call->ctype, "text/", 5) == 0)
        return 0;
    while (i < call->body_len && (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t'))
        i++;
    return i < call->body_len && p[i] != '{';
}

/*
 * True when S quotes a value of the query that came with a whole-URL PATH
 * (a webhook's key=...). Values shorter than MIN_URL_KEY are not taken
 * for keys: WeCom's are 36-character UUIDs, and short ones would withhold
 * innocent messages.
 */
static int quotes_url_key(const struct call *call, const char *s)
{
    const char *q = call->own_query_end ? strchr(call->url, '?') : NULL;
    const char *end = call->url + call->own_query_end;
    size_t slen = strlen(s), n, i;
    const char *amp, *eq;

    if (!q)
        return 0;
    for (q++; q < end; q = amp + 1) {
        amp = memchr(q, '&', (size_t)(end - q));
        if (!amp)
            amp = end;
        eq = memchr(q, '=', (size_t)(amp - q));
        eq = eq ? eq + 1 : q;
        n = (size_t)(amp - eq);
        for (i = 0; n >= MIN_URL_KEY && i + n <= slen; i++)
            if (memcmp(s + i, eq, n) == 0)
                return 1;
    }
    return 0;
}

static void classify(struct call *call, CURLcode res, long http,
                     struct wx_result *r, cJSON **jsonp)
{
    const char *secret = call->c->secret;
    const cJSON *code, *msg;
    cJSON *json = NULL;
    int bad_code = 0;
    double d;

    memset(r, 0, sizeof *r);
    call->errmsg[0] = '\0';
    call->rid[0] = '\0';
    r->errmsg = call->errmsg;
    r->rid = call->rid;
    r->attempts = call->attempts;
    r->http_status = http;

    if (res != CURLE_OK) {
        if (call->too_big || res == CURLE_FILESIZE_EXCEEDED) {
            r->status = WX_BADREPLY;
            snprintf(call->errmsg, sizeof call->errmsg,
                     "reply larger than %ld bytes", MAX_BODY);
        } else {
            r->status = WX_TRANSPORT;
            set_errmsg(call, call->errbuf[0] ? call->errbuf
                                             : curl_easy_strerror(res));
            /* curl's words name the host, not the query; check anyway */
            if (secret[0] && strstr(call->errmsg, secret))
                set_errmsg(call, curl_easy_strerror(res));
        }
        goto out;
    }

    if (is_binary(call, http)) {
        r->status = WX_OK;
        set_errmsg(call, "ok");
        goto out;
    }
    json = cJSON_ParseWithLength(call->body ? call->body : "", call->body_len);
    if (cJSON_IsObject(json)) {
        code = cJSON_GetObjectItemCaseSensitive(json, "errcode");
        msg = cJSON_GetObjectItemCaseSensitive(json, "errmsg");
        if (cJSON_IsString(msg)) {
            set_errmsg(call, msg->valuestring);
            wx_extract_rid(msg->valuestring, call->rid, sizeof call->rid);
        }
        if (cJSON_IsNumber(code)) {
            d = code->valuedouble;
            if (d >= (double)INT_MIN && d <= (double)INT_MAX && d == (double)(long)d)
                r->errcode = (long)d;
            else
                bad_code = 1;
        } else if (code && !cJSON_IsNull(code)) {
            bad_code = 1;
        }
    }

    if (http != 200) {
        r->status = WX_HTTP;
        if (!call->errmsg[0])
            snprintf(call->errmsg, sizeof call->errmsg, "http status %ld", http);
    } else if (!cJSON_IsObject(json)) {
        r->status = WX_BADREPLY;
        set_errmsg(call, "reply is not a JSON object");
    } else if (bad_code) {
        r->status = WX_BADREPLY;
        set_errmsg(call, "errcode is not an integer");
    } else if (r->errcode != 0) {
        r->status = WX_ERRCODE;
        if (!call->errmsg[0])
            snprintf(call->errmsg, sizeof call->errmsg, "errcode %ld", r->errcode);
    } else {
        r->status = WX_OK;
        if (!call->errmsg[0])
            set_errmsg(call, "ok");
    }

out:
    /* WeChat never quotes the secret back; if anything did, drop it */
    if (secret[0] && strstr(call->errmsg, secret))
        set_errmsg(call, "message withheld: it quotes the secret");
    if (secret[0] && strstr(call->rid, secret))
        call->rid[0] = '\0';
    /* nor the key of a whole URL (a WeCom webhook) */
    if (quotes_url_key(call, call->errmsg))
        set_errmsg(call, "message withheld: it quotes the URL's key");
    if (quotes_url_key(call, call->rid))
        call->rid[0] = '\0';
    *jsonp = json;
}

/* Did this attempt surely not reach WeChat? (WX_CALL_ONCE retries only then.) */
static int not_delivered(CURLcode res, const struct wx_result *r)
{
    return res == CURLE_COULDNT_CONNECT || res == CURLE_COULDNT_RESOLVE_HOST ||
           res == CURLE_COULDNT_RESOLVE_PROXY || res == CURLE_FAILED_INIT ||
           (r->status == WX_ERRCODE && r->errcode == -1);
}

/*
 * The attempt under way ended with RES (CURLE_FAILED_INIT when it could
 * not start): report it to the observer, then retry or finish the call.
 */
static void attempt_done(struct call *call, CURLcode res)
{
    struct wx_client *c = call->c;
    struct wx_result r;
    cJSON *json = NULL;
    long http = 0;
    long seen;
    double ms;

    call->ctype[0] = '\0';
    if (call->easy) {
        char *ct = NULL;
        curl_easy_getinfo(call->easy, CURLINFO_RESPONSE_CODE, &http);
        if (curl_easy_getinfo(call->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
            snprintf(call->ctype, sizeof call->ctype, "%s", ct);
        curl_multi_remove_handle(c->multi, call->easy);
        curl_easy_cleanup(call->easy);
        call->easy = NULL;
    }
    ms = elapsed_ms(&call->t0);
    /* unlinked while user code runs, so wx_client_free() leaves it to us */
    call_unlink(call);
    classify(call, res, http, &r, &json);

    seen = (r.status == WX_OK || r.status == WX_ERRCODE) ? r.errcode : -1;
    if (c->observer)
        c->observer(c->observer_arg, call->api, seen, r.http_status, ms, r.rid);
    if (c->dying)
        goto out;

    if (wx_result_is_transient(&r) && call->attempts <= c->max_retries &&
        (!(call->flags & WX_CALL_ONCE) || not_delivered(res, &r))) {
        call_link(call);
        arm(&call->timer, backoff_ms(c, call->attempts - 1));
        call = NULL;
        goto out;
    }
    {
        struct wx_raw raw = { (const unsigned char *)(call->body ? call->body : ""),
                              call->body_len, call->ctype };
        call->done(call->arg, &r, r.status == WX_OK ? json : NULL,
                   r.http_status ? &raw : NULL);
    }

out:
    cJSON_Delete(json);
    if (call)
        call_free(call);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct call *call = userdata;
    size_t n = size * nmemb;
    size_t cap;
    char *p;

    if (n > (size_t)MAX_BODY - call->body_len) {
        call->too_big = 1;
        return 0;
    }
    if (call->body_len + n > call->body_cap) {
        cap = call->body_cap ? call->body_cap : 4096;
        while (cap < call->body_len + n)
            cap *= 2;
        p = realloc(call->body, cap);
        if (!p)
            return 0;
        call->body = p;
        call->body_cap = cap;
    }
    memcpy(call->body + call->body_len, ptr, n);
    call->body_len += n;
    return n;
}

static int setup_easy(struct call *call, CURL *e)
{
    struct wx_client *c = call->c;
    CURLcode rc;

    rc = curl_easy_setopt(e, CURLOPT_URL, call->url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_PRIVATE, call);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                              c->connect_timeout_ms > 0 ? c->connect_timeout_ms : 0L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                              c->timeout_ms > 0 ? c->timeout_ms : 0L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_MAXFILESIZE, MAX_BODY);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_WRITEDATA, call);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, call->errbuf);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_USERAGENT, "gongyou-wx/1");
#if LIBCURL_VERSION_NUM >= 0x075500
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (rc == CURLE_OK && call->post) {
        rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->post);
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(call->post));
        if (rc == CURLE_OK)
            rc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, call->headers);
    }
    return rc == CURLE_OK ? 0 : -1;
}

/* Start the next attempt; a failure to start ends it at once, as an attempt. */
static void start_attempt(struct call *call)
{
    struct wx_client *c = call->c;
    CURL *easy;

    call->attempts++;
    call->body_len = 0;
    call->too_big = 0;
    call->errbuf[0] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &call->t0);

    easy = curl_easy_init();
    if (!easy)
        goto fail;
    if (setup_easy(call, easy) != 0 ||
        curl_multi_add_handle(c->multi, easy) != CURLM_OK) {
        curl_easy_cleanup(easy);
        goto fail;
    }
    call->easy = easy;
    return;

fail:
    attempt_done(call, CURLE_FAILED_INIT);
}

/* Report a failure decided before any request (wx_fail_later). */
static void finish_local(struct call *call)
{
    struct wx_result r;

    memset(&r, 0, sizeof r);
    r.status = call->local_status;
    r.errcode = call->local_status == WX_TRANSPORT ? -1 : 0;
    r.errmsg = call->errmsg;
    r.rid = "";
    call_unlink(call);
    call->done(call->arg, &r, NULL, NULL);
    call_free(call);
}

static void call_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct call *call = arg;
    struct wx_client *c = call->c;

    enter(c);
    if (call->local)
        finish_local(call);
    else
        start_attempt(call);
    leave(c);
}

int wx_fail_later(struct wx_client *c, enum wx_status status, const char *errmsg,
                  wx_call_done_fn *done, void *arg, void (*arg_free)(void *))
{
    struct call *call = c && !c->dying ? calloc(1, sizeof *call) : NULL;

    if (!call) {
        arg_free(arg);
        return -1;
    }
    call->c = c;
    call->api = "local";
    call->done = done;
    call->arg = arg;
    call->arg_free = arg_free;
    call->local = 1;
    call->local_status = status;
    set_errmsg(call, errmsg);
    evtimer_assign(&call->timer, c->base, call_timer_cb, call);
    call_link(call);
    arm(&call->timer, 0);
    return 0;
}

/* True when PATH is a whole URL rather than a path under api_base. */
static int is_whole_url(const char *path)
{
    return strncmp(path, "http://", 7) == 0 || strncmp(path, "https://", 8) == 0;
}

/*
 * Base URL + PATH + escaped QUERY, in a new string, or NULL. A whole-URL
 * PATH stands alone, and QUERY follows its own query with '&'.
 */
static char *build_url(const struct wx_client *c, const char *path,
                       const struct wx_param *query, size_t nquery)
{
    const char *base = is_whole_url(path) ? "" : c->api_base;
    char sep = is_whole_url(path) && strchr(path, '?') ? '&' : '?';
    size_t size, len, i;
    char *url = NULL;
    int n;

    size = strlen(base) + strlen(path) + 2;
    for (i = 0; i < nquery; i++)
        size += strlen(query[i].key) + 3 * strlen(query[i].value) + 2;
    url = malloc(size);
    if (!url)
        goto out;
    len = (size_t)snprintf(url, size, "%s%s", base, path);
    for (i = 0; i < nquery; i++) {
        len += (size_t)snprintf(url + len, size - len, "%c%s=",
                                i == 0 ? sep : '&', query[i].key);
        n = wx_url_escape(query[i].value, url + len, size - len);
        if (n < 0) {
            scrub_free(url);
            url = NULL;
            goto out;
        }
        len += (size_t)n;
    }
out:
    return url;
}

int wx_call_start(struct wx_client *c, const char *api, const char *path,
                  const struct wx_param *query, size_t nquery,
                  const char *json_body, wx_call_done_fn *done, void *arg)
{
    return wx_call_start_ex(c, api, path, query, nquery, json_body, 0, done, arg, free);
}

int wx_call_start_ex(struct wx_client *c, const char *api, const char *path,
                     const struct wx_param *query, size_t nquery,
                     const char *json_body, unsigned flags,
                     wx_call_done_fn *done, void *arg, void (*arg_free)(void *))
{
    struct call *call = NULL;
    struct curl_slist *h;
    int rc = -1;
    size_t i;

    if (!c || c->dying || !api || !path || !done || (nquery && !query))
        goto out;
    for (i = 0; i < nquery; i++)
        if (!query[i].key || !query[i].value)
            goto out;
    call = calloc(1, sizeof *call);
    if (!call)
        goto out;
    call->c = c;
    call->api = api;
    call->done = done;
    call->arg = arg;
    call->arg_free = arg_free;
    call->flags = flags;
    arg = NULL;
    evtimer_assign(&call->timer, c->base, call_timer_cb, call);

    call->url = build_url(c, path, query, nquery);
    if (!call->url)
        goto out;
    if (is_whole_url(path))
        call->own_query_end = strlen(path);
    if (json_body) {
        call->post = strdup(json_body);
        if (!call->post)
            goto out;
        h = curl_slist_append(NULL, "Content-Type: application/json");
        if (!h)
            goto out;
        call->headers = h;
        h = curl_slist_append(call->headers, "Expect:");
        if (!h)
            goto out;
    }
    call_link(call);
    arm(&call->timer, 0);   /* the first attempt starts from the loop */
    call = NULL;
    rc = 0;
out:
    if (call)
        call_free(call);
    if (arg)
        arg_free(arg);
    return rc;
}

/*==== curl <-> libevent ====*/

static void sock_free(struct sock *s)
{
    struct wx_client *c = s->c;

    if (s->ev_on)
        event_del(&s->ev);
    if (s->prev)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sock *s = arg;
    struct wx_client *c = s->c;   /* S may be freed by curl below */
    int action = 0;
    int running;

    if (what & EV_READ)
        action |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        action |= CURL_CSELECT_OUT;
    enter(c);
    curl_multi_socket_action(c->multi, fd, action, &running);
    check_multi(c);
    leave(c);
}

/* CURLMOPT_SOCKETFUNCTION: watch FD as curl asks. */
static int sock_cb(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct wx_client *c = userp;
    struct sock *s = socketp;
    short flags = EV_PERSIST;

    if (what == CURL_POLL_REMOVE) {
        if (s)
            sock_free(s);
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->c = c;
        s->next = c->socks;
        if (c->socks)
            c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
    }
    if (s->ev_on) {
        event_del(&s->ev);
        s->ev_on = 0;
    }
    if (what & CURL_POLL_IN)
        flags |= EV_READ;
    if (what & CURL_POLL_OUT)
        flags |= EV_WRITE;
    if (event_assign(&s->ev, c->base, fd, flags, sock_event_cb, s) != 0 ||
        event_add(&s->ev, NULL) != 0)
        return -1;
    s->ev_on = 1;
    return 0;
}

static void curl_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wx_client *c = arg;
    int running;

    enter(c);
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi(c);
    leave(c);
}

/* CURLMOPT_TIMERFUNCTION: (re)arm or stop curl's one timer. */
static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    struct wx_client *c = userp;

    evtimer_del(&c->curl_timer);
    if (timeout_ms >= 0)
        arm(&c->curl_timer, timeout_ms);
    return 0;
}

/* Finish every transfer curl reports done. */
static void check_multi(struct wx_client *c)
{
    struct call *call;
    CURLMsg *msg;
    CURLcode res;
    char *priv;
    int left;

    while (!c->dying) {
        msg = curl_multi_info_read(c->multi, &left);
        if (!msg)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;
        res = msg->data.result;
        priv = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
        call = (struct call *)priv;
        if (call)
            attempt_done(call, res);
    }
}

/*==== The client ====*/

static void destroy(struct wx_client *c)
{
    abort_all(c);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    evtimer_del(&c->curl_timer);
    while (c->socks)
        sock_free(c->socks);
    free(c->appid);
    scrub_free(c->secret);
    free(c->api_base);
    free(c);
}

/*
 * curl_global_init() runs once, on the first wx_client_new(), so call that
 * first from one thread (or call curl_global_init() yourself before any
 * thread starts). curl_global_cleanup() is left to the process, at exit.
 * The client copies CFG's strings and frees them in wx_client_free().
 */
struct wx_client *wx_client_new(struct event_base *base, const struct wx_config *cfg)
{
    static int curl_ready;
    struct wx_client *c = NULL, *ret = NULL;
    struct timespec ts;
    size_t n;

    if (!base || !cfg || !cfg->appid || !cfg->secret || !cfg->api_base)
        goto out;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            goto out;
        curl_ready = 1;
    }
    c = calloc(1, sizeof *c);
    if (!c)
        goto out;
    c->base = base;
    evtimer_assign(&c->curl_timer, base, curl_timer_cb, c);
    c->appid = strdup(cfg->appid);
    c->secret = strdup(cfg->secret);
    c->api_base = strdup(cfg->api_base);
    if (!c->appid || !c->secret || !c->api_base)
        goto out;
    n = strlen(c->api_base);
    while (n > 0 && c->api_base[n - 1] == '/')
        c->api_base[--n] = '\0';
    c->connect_timeout_ms = cfg->connect_timeout_ms;
    c->timeout_ms = cfg->timeout_ms;
    c->max_retries = cfg->max_retries > 0 ? cfg->max_retries : 0;
    c->retry_base_ms = cfg->retry_base_ms;
    c->token_classic = cfg->token_classic;
    c->token_margin_s = cfg->token_margin_s > 0 ? cfg->token_margin_s : 300;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->rng = ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)c;
    if (c->rng == 0)
        c->rng = 0x9e3779b97f4a7c15ULL;

    c->multi = curl_multi_init();
    if (!c->multi)
        goto out;
    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb) != CURLM_OK ||
        curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK)
        goto out;
    ret = c;
    c = NULL;
out:
    if (c)
        destroy(c);
    return ret;
}

void wx_client_set_observer(struct wx_client *c, wx_observer_fn *fn, void *arg)
{
    if (!c)
        return;
    c->observer = fn;
    c->observer_arg = arg;
}

/*
 * Safe inside any callback of this client: the calls are aborted at once,
 * the memory is released when the callback returns to the loop.
 */
void wx_client_free(struct wx_client *c)
{
    if (!c || c->dying)
        return;
    if (c->depth > 0) {
        abort_all(c);
        c->dying = 1;
        return;
    }
    destroy(c);
}

int wx_client_pending(const struct wx_client *c)
{
    return c ? c->npending : 0;
}

const char *wx_client_appid(const struct wx_client *c)
{
    return c->appid;
}

const char *wx_client_secret(const struct wx_client *c)
{
    return c->secret;
}

struct event_base *wx_client_base(const struct wx_client *c)
{
    return c->base;
}

int wx_client_token_classic(const struct wx_client *c)
{
    return c->token_classic;
}

long wx_client_token_margin(const struct wx_client *c)
{
    return c->token_margin_s;
}

struct wx_token **wx_client_token_slot(struct wx_client *c)
{
    return &c->token;
}

struct wx_sendq **wx_client_sendq_slot(struct wx_client *c)
{
    return &c->sendq;
}

/*==== Pure helpers ====*/

int wx_result_is_transient(const struct wx_result *r)
{
    if (!r)
        return 0;
    switch (r->status) {
    case WX_TRANSPORT:
        return 1;
    case WX_HTTP:
        return r->http_status >= 500 && r->http_status <= 599;
    case WX_ERRCODE:
        return r->errcode == -1;
    default:
        return 0;
    }
}

void wx_extract_rid(const char *errmsg, char *out, size_t outsz)
{
    const char *p, *hit = NULL;
    size_t n = 0;

    if (!out || outsz == 0)
        return;
    out[0] = '\0';
    if (!errmsg)
        return;
    for (p = strstr(errmsg, "rid: "); p; p = strstr(p + 1, "rid: "))
        hit = p;            /* the last one: WeChat puts it at the end */
    if (!hit)
        return;
    hit += 5;
    while (hit[n] && hit[n] != ' ' && hit[n] != '\t' && hit[n] != '\n' &&
           hit[n] != '\r' && hit[n] != ',' && n + 1 < outsz) {
        out[n] = hit[n];
        n++;
    }
    out[n] = '\0';
}

int wx_url_escape(const char *s, char *out, size_t outsz)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    size_t n = 0;
    int rc = -1;

    if (!s || !out || outsz == 0)
        goto out;
    for (p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            if (n + 1 >= outsz)
                goto out;
            out[n++] = (char)*p;
        } else {
            if (n + 3 >= outsz)
                goto out;
            out[n++] = '%';
            out[n++] = hex[*p >> 4];
            out[n++] = hex[*p & 15];
        }
    }
    if (n > INT_MAX)
        goto out;
    out[n] = '\0';
    rc = (int)n;
out:
    if (rc < 0 && out && outsz > 0)
        out[0] = '\0';
    return rc;
}
