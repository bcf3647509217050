/*
 * test_apis.c - wechat/'s access token and business APIs against a fake
 * WeChat: an evhttp server on 127.0.0.1 (port 0) in the test's own
 * event_base. The token endpoints (/cgi-bin/stable_token, /cgi-bin/token)
 * play one script, every other path another; the last step of a script
 * repeats. Every request is logged with its path, query, body and what the
 * server had answered by the time it came, so a case can check what went
 * upstream, how often, and whether two requests overlapped (wxtest.c).
 * No sleeps: the loop runs until a counter is reached or a per-wait
 * watchdog fires.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "wx.h"
#include "wxtest.h"

#define LIMIT_MS 2000           /* watchdog of one wait */

#define JSON_CT "application/json"
#define TOK(t, e) "{\"access_token\":\"" t "\",\"expires_in\":" #e "}"
#define ERR(code, msg) "{\"errcode\":" #code ",\"errmsg\":\"" msg "\"}"
#define SEC_REPLY(sug, label, trace) \
    "{\"errcode\":0,\"errmsg\":\"ok\",\"result\":{\"suggest\":\"" sug "\",\"label\":" #label "}," \
    "\"detail\":[{\"strategy\":\"content_model\",\"errcode\":0,\"suggest\":\"" sug "\"," \
    "\"label\":" #label ",\"prob\":90}],\"trace_id\":\"" trace "\"}"
#define SEC_PASS SEC_REPLY("pass", 100, "trace-pass")

/*==== What the fake WeChat saw ====*/

/* The I-th request to a token endpoint (TOKEN) or to an API; an empty
 * record (path "", no body) when there was none. */
static const struct wxt_seen *nth(int token, int i)
{
    static char empty[1];
    static struct wxt_seen none = { .query = empty, .api_held = -1 };

    for (int k = 0; k < wxt_srv.nseen; k++)
        if (wxt_srv.seen[k].token == token && i-- == 0)
            return &wxt_srv.seen[k];
    return &none;
}

/* Its body as JSON (NULL when none or not JSON). */
static const cJSON *body_of(int token, int i)
{
    struct wxt_seen *s = (struct wxt_seen *)nth(token, i);

    if (!s->body)
        return NULL;
    if (!s->json)
        s->json = cJSON_Parse(s->body);
    return s->json;
}

/* 1 when the query of request (TOKEN, I) has KEY equal to WANT (decoded). */
static int query_is(int token, int i, const char *key, const char *want)
{
    const struct wxt_seen *s = nth(token, i);
    struct evkeyvalq kv;
    const char *v;
    int ok = 0;

    if (!s->query)
        return 0;
    if (evhttp_parse_query_str(s->query, &kv) != 0)
        return 0;
    v = evhttp_find_header(&kv, key);
    ok = v && strcmp(v, want) == 0;
    evhttp_clear_headers(&kv);
    return ok;
}

static int jstr(const cJSON *o, const char *key, const char *want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) && strcmp(v->valuestring, want) == 0;
}

static int jnum(const cJSON *o, const char *key, double want)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsNumber(v) && v->valuedouble == want;
}

/*==== What a call came back with ====*/

static int in_call;     /* set while a wx_* call that takes a callback runs */
static int ncb;         /* callbacks run, all kinds */
static int seq;         /* order of callbacks */

struct outcome {
    int done, reentered, order;
    enum wx_status status;
    long errcode, http;
    int attempts;
    char errmsg[256];
    int has;                    /* the success value came (token, verdict, phone, png) */
    char text[192];             /* token, phone, msgid, trace_id */
    char cc[16];                /* country code */
    enum wx_suggest suggest;
    long label;
    unsigned char png[512];
    size_t len;
};

static void note(struct outcome *o, const struct wx_result *r)
{
    if (in_call)
        o->reentered = 1;
    o->done++;
    o->order = ++seq;
    ncb++;
    o->status = r->status;
    o->errcode = r->errcode;
    o->http = r->http_status;
    o->attempts = r->attempts;
    snprintf(o->errmsg, sizeof o->errmsg, "%s", r->errmsg ? r->errmsg : "(null)");
}

static void token_cb(void *arg, const struct wx_result *r, const char *token)
{
    struct outcome *o = arg;

    note(o, r);
    if (token) {
        o->has = 1;
        snprintf(o->text, sizeof o->text, "%s", token);
    }
}

static void sec_cb(void *arg, const struct wx_result *r, const struct wx_seccheck *s)
{
    struct outcome *o = arg;

    note(o, r);
    if (s) {
        o->has = 1;
        o->suggest = s->suggest;
        o->label = s->label;
        snprintf(o->text, sizeof o->text, "%s", s->trace_id ? s->trace_id : "(null)");
    }
}

static void phone_cb(void *arg, const struct wx_result *r, const char *phone, const char *cc)
{
    struct outcome *o = arg;

    note(o, r);
    if (phone) {
        o->has = 1;
        snprintf(o->text, sizeof o->text, "%s", phone);
        snprintf(o->cc, sizeof o->cc, "%s", cc ? cc : "(null)");
    }
}

static void send_cb(void *arg, const struct wx_result *r, const char *msgid)
{
    struct outcome *o = arg;

    note(o, r);
    snprintf(o->text, sizeof o->text, "%s", msgid ? msgid : "(null)");
}

static void qr_cb(void *arg, const struct wx_result *r, const unsigned char *png, size_t len)
{
    struct outcome *o = arg;

    note(o, r);
    o->len = len;
    if (png) {
        o->has = 1;
        memcpy(o->png, png, len < sizeof o->png ? len : sizeof o->png);
    }
}

static struct wx_client *client_ex(int classic, long margin, int retries)
{
    struct wx_config cfg;

    wxt_config(&cfg, NULL);
    cfg.max_retries = retries;
    cfg.token_classic = classic;
    cfg.token_margin_s = margin;
    return wx_client_new(wxt_srv.base, &cfg);
}

static struct wx_client *client(void)
{
    return client_ex(0, 0, 1);
}

/* Start wx_msg_sec_check and run until its callback. */
static int sec_run(struct wx_client *c, const char *openid, int scene, const char *content,
                   struct outcome *o)
{
    int rc = -1;

    START(wx_msg_sec_check(c, openid, scene, content, sec_cb, o));
    CHECK(wxt_wait_n(&o->done, 1, LIMIT_MS) == 0);
    CHECK(o->done == 1 && !o->reentered);
    rc = 0;
out:
    return rc;
}

/* A malloc'd string of N copies of UTF-8 character CH. */
static char *repeat(const char *ch, size_t n)
{
    size_t k = strlen(ch);
    char *s = malloc(k * n + 1);

    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * k, ch, k);
    s[k * n] = '\0';
    return s;
}

/*==== Token ====*/

static int test_token_single_flight(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    struct outcome o[3] = { { 0 } };
    struct wx_client *c = NULL;
    const cJSON *b;
    long long exp = 0, t0, t1;
    int rc = -1;

    wxt_serve(tok, 1, NULL, 0);
    c = client();
    CHECK(c);
    t0 = (long long)time(NULL);
    for (int i = 0; i < 3; i++)
        START(wx_access_token(c, token_cb, &o[i]));
    CHECK(ncb == 0);
    CHECK(wxt_wait_n(&ncb, 3, LIMIT_MS) == 0);
    t1 = (long long)time(NULL);
    for (int i = 0; i < 3; i++) {
        CHECK(o[i].done == 1 && !o[i].reentered);
        CHECK(o[i].status == WX_OK && o[i].has);
        CHECK(strcmp(o[i].text, "tok-1") == 0);
    }
    CHECK(wxt_srv.ntok_req == 1 && wxt_srv.napi_req == 0);
    CHECK(strcmp(nth(1, 0)->path, "/cgi-bin/stable_token") == 0);
    CHECK(nth(1, 0)->post);
    CHECK(strncmp(nth(1, 0)->ctype, "application/json", 16) == 0);
    CHECK(nth(1, 0)->query[0] == '\0');     /* the secret goes in the body only */
    b = body_of(1, 0);
    CHECK(cJSON_IsObject(b));
    CHECK(jstr(b, "grant_type", "client_credential"));
    CHECK(jstr(b, "appid", APPID));
    CHECK(jstr(b, "secret", SECRET));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(b, "force_refresh")));
    CHECK(strcmp(wx_token_cached(c, &exp), "tok-1") == 0);
    CHECK(exp >= t0 + 7200 && exp <= t1 + 7200);
    wxt_loop_for(30);
    CHECK(ncb == 3 && wxt_srv.ntok_req == 1);
    CHECK(wx_client_pending(c) == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_token_cache_and_margin(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step shortlived[] = {
        { 200, JSON_CT, TOK("tok-short", 100), 0, 0 },
        { 200, JSON_CT, TOK("tok-long", 7200), 0, 0 },
    };
    struct outcome a = { 0 }, b = { 0 }, d = { 0 }, e = { 0 }, f = { 0 }, g = { 0 }, h = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    /* a fresh cached token is served without asking again, from the loop */
    wxt_serve(tok, 1, NULL, 0);
    c = client();
    CHECK(c);
    START(wx_access_token(c, token_cb, &a));
    CHECK(wxt_wait_n(&a.done, 1, LIMIT_MS) == 0);
    CHECK(a.status == WX_OK && strcmp(a.text, "tok-1") == 0);
    START(wx_access_token(c, token_cb, &b));
    CHECK(!b.done);
    CHECK(wxt_wait_n(&b.done, 1, LIMIT_MS) == 0);
    CHECK(!b.reentered && b.status == WX_OK && strcmp(b.text, "tok-1") == 0);
    CHECK(wxt_srv.ntok_req == 1);
    wx_client_free(c);

    /* expires_in below the margin (300 s): handed out once, refreshed on next use */
    wxt_serve(shortlived, 2, NULL, 0);
    c = client_ex(0, 300, 1);
    CHECK(c);
    START(wx_access_token(c, token_cb, &d));
    CHECK(wxt_wait_n(&d.done, 1, LIMIT_MS) == 0);
    CHECK(d.status == WX_OK && strcmp(d.text, "tok-short") == 0);
    CHECK(wxt_srv.ntok_req == 1);
    START(wx_access_token(c, token_cb, &e));
    CHECK(wxt_wait_n(&e.done, 1, LIMIT_MS) == 0);
    CHECK(!e.reentered && e.status == WX_OK && strcmp(e.text, "tok-long") == 0);
    CHECK(wxt_srv.ntok_req == 2);
    START(wx_access_token(c, token_cb, &f));
    CHECK(wxt_wait_n(&f.done, 1, LIMIT_MS) == 0);
    CHECK(f.status == WX_OK && strcmp(f.text, "tok-long") == 0);
    CHECK(wxt_srv.ntok_req == 2);
    CHECK(strcmp(wx_token_cached(c, NULL), "tok-long") == 0);
    wx_client_free(c);

    /* the margin is the configured one: 100 s left is fresh with a 60 s margin */
    wxt_serve(shortlived, 1, NULL, 0);
    c = client_ex(0, 60, 1);
    CHECK(c);
    START(wx_access_token(c, token_cb, &g));
    CHECK(wxt_wait_n(&g.done, 1, LIMIT_MS) == 0);
    START(wx_access_token(c, token_cb, &h));
    CHECK(wxt_wait_n(&h.done, 1, LIMIT_MS) == 0);
    CHECK(strcmp(g.text, "tok-short") == 0 && strcmp(h.text, "tok-short") == 0);
    CHECK(wxt_srv.ntok_req == 1);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

struct store {
    int loads, saves;
    int has;
    char value[64];
    long long exp;
    char next[64];              /* when set: VALUE from the second load on */
    char saved[64];
    long long saved_exp;
};

static int store_load(void *arg, char *token, size_t toksz, long long *expires_at)
{
    struct store *s = arg;

    if (s->loads++ == 1 && s->next[0])
        snprintf(s->value, sizeof s->value, "%s", s->next);
    if (!s->has)
        return -1;
    snprintf(token, toksz, "%s", s->value);
    *expires_at = s->exp;
    return 0;
}

static void store_save(void *arg, const char *token, long long expires_at)
{
    struct store *s = arg;

    s->saves++;
    snprintf(s->saved, sizeof s->saved, "%s", token);
    s->saved_exp = expires_at;
}

static int test_token_store(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, ERR(40001, "invalid credential, access_token is invalid or not latest"), 0, 0 },
        { 200, JSON_CT, SEC_PASS, 0, 0 },
    };
    struct store st = { 0 };
    struct wx_token_store hooks = { store_load, store_save, &st };
    struct outcome a = { 0 }, b = { 0 }, d = { 0 }, e = { 0 }, f = { 0 }, g = { 0 };
    struct wx_client *c = NULL;
    long long t0, t1;
    int rc = -1;

    /* a fresh stored token: no HTTP at all */
    wxt_serve(tok, 1, api, 2);
    c = client_ex(0, 300, 1);
    CHECK(c);
    st.has = 1;
    snprintf(st.value, sizeof st.value, "stored-tok");
    st.exp = (long long)time(NULL) + 3600;
    wx_client_set_token_store(c, &hooks);
    START(wx_access_token(c, token_cb, &a));
    CHECK(wxt_wait_n(&a.done, 1, LIMIT_MS) == 0);
    CHECK(!a.reentered && a.status == WX_OK && strcmp(a.text, "stored-tok") == 0);
    START(wx_access_token(c, token_cb, &b));
    CHECK(wxt_wait_n(&b.done, 1, LIMIT_MS) == 0);
    CHECK(b.status == WX_OK && strcmp(b.text, "stored-tok") == 0);
    CHECK(st.loads >= 1 && st.saves == 0);
    CHECK(wxt_srv.nseen == 0);
    wx_client_free(c);

    /* a stored token inside the margin is ignored; the new one is saved */
    wxt_serve(tok, 1, api, 2);
    memset(&st, 0, sizeof st);
    st.has = 1;
    snprintf(st.value, sizeof st.value, "old-tok");
    st.exp = (long long)time(NULL) + 100;
    c = client_ex(0, 300, 1);
    CHECK(c);
    wx_client_set_token_store(c, &hooks);
    t0 = (long long)time(NULL);
    START(wx_access_token(c, token_cb, &d));
    CHECK(wxt_wait_n(&d.done, 1, LIMIT_MS) == 0);
    t1 = (long long)time(NULL);
    CHECK(d.status == WX_OK && strcmp(d.text, "tok-1") == 0);
    CHECK(st.loads >= 1 && wxt_srv.ntok_req == 1);
    CHECK(st.saves == 1 && strcmp(st.saved, "tok-1") == 0);
    CHECK(st.saved_exp >= t0 + 7200 && st.saved_exp <= t1 + 7200);
    wx_client_free(c);

    /* nothing stored: fetched and saved */
    wxt_serve(tok, 1, api, 2);
    memset(&st, 0, sizeof st);
    c = client_ex(0, 300, 1);
    CHECK(c);
    wx_client_set_token_store(c, &hooks);
    START(wx_access_token(c, token_cb, &e));
    CHECK(wxt_wait_n(&e.done, 1, LIMIT_MS) == 0);
    CHECK(e.status == WX_OK && strcmp(e.text, "tok-1") == 0);
    CHECK(st.loads >= 1 && st.saves == 1 && wxt_srv.ntok_req == 1);
    wx_client_free(c);

    /* the store keeps handing back a token WeChat refused: not taken again */
    wxt_serve(tok, 1, api, 2);
    memset(&st, 0, sizeof st);
    st.has = 1;
    snprintf(st.value, sizeof st.value, "stored-tok");
    st.exp = (long long)time(NULL) + 3600;
    c = client_ex(0, 300, 1);
    CHECK(c);
    wx_client_set_token_store(c, &hooks);
    CHECK(sec_run(c, "o-1", 2, "hello", &f) == 0);
    CHECK(f.status == WX_OK && f.has);
    CHECK(wxt_srv.napi_req == 2 && wxt_srv.ntok_req == 1);
    CHECK(query_is(0, 0, "access_token", "stored-tok"));
    CHECK(query_is(0, 1, "access_token", "tok-1"));
    CHECK(st.saves == 1 && strcmp(st.saved, "tok-1") == 0);
    wx_client_free(c);

    /* after a refusal the store holds another process's new token: taken, no HTTP */
    wxt_serve(tok, 1, api, 2);
    memset(&st, 0, sizeof st);
    st.has = 1;
    snprintf(st.value, sizeof st.value, "stored-tok");
    snprintf(st.next, sizeof st.next, "stored-new");
    st.exp = (long long)time(NULL) + 3600;
    c = client_ex(0, 300, 1);
    CHECK(c);
    wx_client_set_token_store(c, &hooks);
    CHECK(sec_run(c, "o-1", 2, "hello", &g) == 0);
    CHECK(g.status == WX_OK && g.has);
    CHECK(wxt_srv.napi_req == 2 && wxt_srv.ntok_req == 0);
    CHECK(query_is(0, 0, "access_token", "stored-tok"));
    CHECK(query_is(0, 1, "access_token", "stored-new"));
    CHECK(st.loads == 2 && st.saves == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_token_classic(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-classic", 7200), 0, 0 } };
    static const struct wxt_step api[] = { { 200, JSON_CT, SEC_PASS, 0, 0 } };
    struct outcome a = { 0 }, b = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 1, api, 1);
    c = client_ex(1, 0, 1);
    CHECK(c);
    START(wx_access_token(c, token_cb, &a));
    CHECK(wxt_wait_n(&a.done, 1, LIMIT_MS) == 0);
    CHECK(!a.reentered && a.status == WX_OK && strcmp(a.text, "tok-classic") == 0);
    CHECK(wxt_srv.ntok_req == 1);
    CHECK(strcmp(nth(1, 0)->path, "/cgi-bin/token") == 0);
    CHECK(!nth(1, 0)->post);
    CHECK(query_is(1, 0, "grant_type", "client_credential"));
    CHECK(query_is(1, 0, "appid", APPID));
    CHECK(query_is(1, 0, "secret", SECRET));
    CHECK(sec_run(c, "o-1", 1, "hi", &b) == 0);
    CHECK(b.status == WX_OK);
    CHECK(wxt_srv.ntok_req == 1 && wxt_srv.napi_req == 1);
    CHECK(query_is(0, 0, "access_token", "tok-classic"));
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_token_failure(void)
{
    static const struct wxt_step bad_appid[] = {
        { 200, JSON_CT, ERR(40013, "invalid appid rid: 64f0-aa"), 0, 0 },
        { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 },
    };
    static const struct wxt_step busy[] = { { 200, JSON_CT, ERR(-1, "system error"), 0, 0 } };
    static const struct wxt_step ok[] = { { 200, JSON_CT, TOK("tok-2", 7200), 0, 0 } };
    static const struct wxt_step api[] = { { 200, JSON_CT, SEC_PASS, 0, 0 } };
    static const struct wxt_step junk[] = {
        { 200, JSON_CT, "{\"expires_in\":7200}", 0, 0 },
        { 200, JSON_CT, "{\"access_token\":\"\",\"expires_in\":7200}", 0, 0 },
        { 200, JSON_CT, "{\"access_token\":\"t\"}", 0, 0 },
        { 200, JSON_CT, "{\"access_token\":\"t\",\"expires_in\":0}", 0, 0 },
        { 200, JSON_CT, "{\"access_token\":7,\"expires_in\":7200}", 0, 0 },
    };
    struct outcome w[3] = { { 0 } }, s = { 0 }, again = { 0 }, x[2] = { { 0 } }, y = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    /* 40013: every waiter, plain or authed, gets it; no API call is made */
    wxt_serve(bad_appid, 2, api, 1);
    c = client_ex(0, 0, 1);
    CHECK(c);
    for (int i = 0; i < 3; i++)
        START(wx_access_token(c, token_cb, &w[i]));
    START(wx_msg_sec_check(c, "o-1", 2, "hello", sec_cb, &s));
    CHECK(wxt_wait_n(&ncb, 4, LIMIT_MS) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK(w[i].done == 1 && !w[i].reentered);
        CHECK(w[i].status == WX_ERRCODE && w[i].errcode == 40013 && !w[i].has);
    }
    CHECK(s.done == 1 && s.status == WX_ERRCODE && s.errcode == 40013 && !s.has);
    CHECK(wxt_srv.ntok_req == 1 && wxt_srv.napi_req == 0);
    /* the next call tries again */
    START(wx_access_token(c, token_cb, &again));
    CHECK(wxt_wait_n(&again.done, 1, LIMIT_MS) == 0);
    CHECK(again.status == WX_OK && strcmp(again.text, "tok-1") == 0);
    CHECK(wxt_srv.ntok_req == 2);
    wx_client_free(c);

    /* -1 beyond the retries (1): both waiters get -1 after two attempts */
    wxt_serve(busy, 1, api, 1);
    c = client_ex(0, 0, 1);
    CHECK(c);
    START(wx_access_token(c, token_cb, &x[0]));
    START(wx_access_token(c, token_cb, &x[1]));
    CHECK(wxt_wait_n(&ncb, 7, LIMIT_MS) == 0);
    for (int i = 0; i < 2; i++) {
        CHECK(x[i].done == 1 && !x[i].reentered);
        CHECK(x[i].status == WX_ERRCODE && x[i].errcode == -1 && !x[i].has);
        CHECK(x[i].attempts == 2);
    }
    CHECK(wxt_srv.ntok_req == 2);
    wxt_serve(ok, 1, api, 1);
    START(wx_access_token(c, token_cb, &y));
    CHECK(wxt_wait_n(&y.done, 1, LIMIT_MS) == 0);
    CHECK(y.status == WX_OK && strcmp(y.text, "tok-2") == 0);
    CHECK(wxt_srv.ntok_req == 1);
    wx_client_free(c);

    /* a 200 without a usable token is a bad reply, not a token */
    c = client_ex(0, 0, 1);
    CHECK(c);
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        struct outcome z = { 0 };

        wxt_serve(&junk[i], 1, api, 1);
        START(wx_access_token(c, token_cb, &z));
        CHECK(wxt_wait_n(&z.done, 1, LIMIT_MS) == 0);
        if (z.status != WX_BADREPLY)
            fprintf(stderr, "junk %zu: status %d\n", i, (int)z.status);
        CHECK(z.status == WX_BADREPLY && !z.has);
        CHECK(wxt_srv.ntok_req == 1);
        CHECK(strcmp(wx_token_cached(c, NULL), "") == 0);
    }
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_authed_refresh_once(void)
{
    static const long codes[] = { 40001, 40014, 42001 };
    static const struct wxt_step tok[] = {
        { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-2", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-3", 7200), 0, 0 },
    };
    static const struct wxt_step forever[] = {
        { 200, JSON_CT, ERR(42001, "access_token expired rid: 65aa-01"), 0, 0 },
    };
    static const struct wxt_step other[] = {
        { 200, JSON_CT, ERR(40003, "invalid openid rid: 65aa-02"), 0, 0 },
    };
    struct wxt_step once[2] = {
        { 200, JSON_CT, NULL, 0, 0 },
        { 200, JSON_CT, SEC_PASS, 0, 0 },
    };
    char body[128];
    struct outcome f = { 0 }, g = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    /* a token error once: one refresh, one retry with the new token */
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        struct outcome o = { 0 };

        snprintf(body, sizeof body, "{\"errcode\":%ld,\"errmsg\":\"token trouble\"}", codes[i]);
        once[0].body = body;
        wxt_serve(tok, 3, once, 2);
        c = client();
        CHECK(c);
        CHECK(sec_run(c, "o-1", 2, "hello", &o) == 0);
        if (o.status != WX_OK)
            fprintf(stderr, "errcode %ld: status %d errcode %ld\n", codes[i], (int)o.status, o.errcode);
        CHECK(o.status == WX_OK && o.has && o.suggest == WX_SUGGEST_PASS);
        CHECK(wxt_srv.ntok_req == 2 && wxt_srv.napi_req == 2);
        CHECK(query_is(0, 0, "access_token", "tok-1"));
        CHECK(query_is(0, 1, "access_token", "tok-2"));
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(body_of(1, 1), "force_refresh")));
        CHECK(strcmp(wx_token_cached(c, NULL), "tok-2") == 0);
        wxt_loop_for(20);
        CHECK(wxt_srv.ntok_req == 2 && wxt_srv.napi_req == 2 && o.done == 1);
        wx_client_free(c);
        c = NULL;
    }

    /* 42001 forever: two API calls, two token fetches, then the 42001 */
    wxt_serve(tok, 3, forever, 1);
    c = client();
    CHECK(c);
    CHECK(sec_run(c, "o-1", 2, "hello", &f) == 0);
    CHECK(f.status == WX_ERRCODE && f.errcode == 42001 && !f.has);
    CHECK(strstr(f.errmsg, "access_token expired") != NULL);
    CHECK(wxt_srv.napi_req == 2 && wxt_srv.ntok_req <= 2);
    CHECK(query_is(0, 0, "access_token", "tok-1"));
    CHECK(query_is(0, 1, "access_token", "tok-2"));
    wxt_loop_for(50);
    CHECK(wxt_srv.napi_req == 2 && wxt_srv.ntok_req <= 2 && f.done == 1);
    CHECK(wx_client_pending(c) == 0);
    wx_client_free(c);

    /* any other errcode is the API's answer: no refresh, no retry */
    wxt_serve(tok, 3, other, 1);
    c = client();
    CHECK(c);
    CHECK(sec_run(c, "o-1", 2, "hello", &g) == 0);
    CHECK(g.status == WX_ERRCODE && g.errcode == 40003);
    CHECK(wxt_srv.napi_req == 1 && wxt_srv.ntok_req == 1);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* Two calls fail with the same token: the second failure must not drop
 * the token the first one's refresh already brought. */
static int test_authed_drop_only_failed(void)
{
    static const struct wxt_step tok[] = {
        { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-2", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-3", 7200), 0, 0 },
    };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, ERR(40001, "invalid credential"), 0, 0 },
        { 200, JSON_CT, ERR(40001, "invalid credential"), 150, 0 },
        { 200, JSON_CT, SEC_PASS, 0, 0 },
    };
    struct outcome a = { 0 }, b = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 3, api, 3);
    c = client();
    CHECK(c);
    START(wx_msg_sec_check(c, "o-1", 2, "one", sec_cb, &a));
    START(wx_msg_sec_check(c, "o-2", 2, "two", sec_cb, &b));
    CHECK(wxt_wait_n(&ncb, 2, LIMIT_MS) == 0);
    CHECK(a.status == WX_OK && b.status == WX_OK);
    CHECK(wxt_srv.ntok_req == 2 && wxt_srv.napi_req == 4);
    CHECK(query_is(0, 0, "access_token", "tok-1"));
    CHECK(query_is(0, 1, "access_token", "tok-1"));
    CHECK(query_is(0, 2, "access_token", "tok-2"));
    CHECK(query_is(0, 3, "access_token", "tok-2"));
    CHECK(strcmp(wx_token_cached(c, NULL), "tok-2") == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_stable_same_token(void)
{
    static const struct wxt_step tok[] = {
        { 200, JSON_CT, TOK("tok-A", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-A", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-B", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-C", 7200), 0, 0 },
    };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, ERR(40001, "access_token is invalid or not latest"), 0, 0 },
        { 200, JSON_CT, SEC_PASS, 0, 0 },
    };
    struct outcome o = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 4, api, 2);
    c = client();
    CHECK(c);
    CHECK(sec_run(c, "o-1", 2, "hello", &o) == 0);
    CHECK(o.status == WX_OK && o.has);
    CHECK(wxt_srv.ntok_req == 3 && wxt_srv.napi_req == 2);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(body_of(1, 0), "force_refresh")));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(body_of(1, 1), "force_refresh")));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body_of(1, 2), "force_refresh")));
    CHECK(query_is(0, 0, "access_token", "tok-A"));
    CHECK(query_is(0, 1, "access_token", "tok-B"));
    CHECK(strcmp(wx_token_cached(c, NULL), "tok-B") == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* stable_token keeps handing back the refused token and the API keeps
 * refusing it: bounded, and the refusal reaches the caller. */
static int test_stable_same_token_forever(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-A", 7200), 0, 0 } };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, ERR(40001, "access_token is invalid or not latest"), 0, 0 },
    };
    struct outcome o = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 1, api, 1);
    c = client();
    CHECK(c);
    CHECK(sec_run(c, "o-1", 2, "hello", &o) == 0);
    CHECK(o.status == WX_ERRCODE && o.errcode == 40001 && !o.has);
    CHECK(wxt_srv.napi_req == 2 && wxt_srv.ntok_req == 3);
    CHECK(query_is(0, 0, "access_token", "tok-A") && query_is(0, 1, "access_token", "tok-A"));
    wxt_loop_for(50);
    CHECK(wxt_srv.napi_req == 2 && wxt_srv.ntok_req == 3 && o.done == 1);
    CHECK(wx_client_pending(c) == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* After that one forced refresh, the next routine refresh is a normal one:
 * force mode is limited (20 a day) and invalidates every other process's
 * token. */
static int test_force_refresh_not_sticky(void)
{
    static const struct wxt_step tok[] = {
        { 200, JSON_CT, TOK("tok-A", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-A", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-B", 100), 0, 0 },     /* inside the 300 s margin */
        { 200, JSON_CT, TOK("tok-C", 7200), 0, 0 },
    };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, ERR(40001, "access_token is invalid or not latest"), 0, 0 },
        { 200, JSON_CT, SEC_PASS, 0, 0 },
    };
    struct outcome o = { 0 }, t = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 4, api, 2);
    c = client_ex(0, 300, 1);
    CHECK(c);
    CHECK(sec_run(c, "o-1", 2, "hello", &o) == 0);
    CHECK(o.status == WX_OK && wxt_srv.ntok_req == 3);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(body_of(1, 2), "force_refresh")));
    START(wx_access_token(c, token_cb, &t));
    CHECK(wxt_wait_n(&t.done, 1, LIMIT_MS) == 0);
    CHECK(t.status == WX_OK && strcmp(t.text, "tok-C") == 0);
    CHECK(wxt_srv.ntok_req == 4);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(body_of(1, 3), "force_refresh")));
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/*==== msg_sec_check ====*/

static int test_sec_check(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, SEC_REPLY("pass", 100, "trace-1"), 0, 0 },
        { 200, JSON_CT, SEC_REPLY("review", 20001, "trace-2"), 0, 0 },
        { 200, JSON_CT, SEC_REPLY("risky", 20002, "trace-3"), 0, 0 },
        { 200, JSON_CT, SEC_REPLY("pass", 100, "trace-4"), 0, 0 },
        { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\",\"trace_id\":\"t\"}", 0, 0 },
    };
    static const char content[] = "食堂的菜 \"太咸\"\n& <b>ok</b>";
    struct outcome a = { 0 }, b = { 0 }, d = { 0 }, e = { 0 }, f = { 0 };
    struct wx_client *c = NULL;
    char *big = NULL;
    const cJSON *j;
    int rc = -1;

    wxt_serve(tok, 1, api, 5);
    c = client();
    CHECK(c);
    CHECK(sec_run(c, "o-user-1", 2, content, &a) == 0);
    CHECK(a.status == WX_OK && a.has);
    CHECK(a.suggest == WX_SUGGEST_PASS && a.label == 100);
    CHECK(strcmp(a.text, "trace-1") == 0);
    CHECK(wxt_srv.napi_req == 1);
    CHECK(strcmp(nth(0, 0)->path, "/wxa/msg_sec_check") == 0 && nth(0, 0)->post);
    CHECK(query_is(0, 0, "access_token", "tok-1"));
    j = body_of(0, 0);
    CHECK(cJSON_IsObject(j));
    CHECK(jstr(j, "content", content));
    CHECK(jnum(j, "version", 2));
    CHECK(jnum(j, "scene", 2));
    CHECK(jstr(j, "openid", "o-user-1"));

    CHECK(sec_run(c, "o-user-2", 3, "hmm", &b) == 0);
    CHECK(b.status == WX_OK && b.has);
    CHECK(b.suggest == WX_SUGGEST_REVIEW && b.label == 20001);
    CHECK(strcmp(b.text, "trace-2") == 0);
    CHECK(jnum(body_of(0, 1), "scene", 3));

    CHECK(sec_run(c, "o-user-3", 4, "bad words", &d) == 0);
    CHECK(d.status == WX_OK && d.has);
    CHECK(d.suggest == WX_SUGGEST_RISKY && d.label == 20002);
    CHECK(strcmp(d.text, "trace-3") == 0);
    CHECK(jnum(body_of(0, 2), "scene", 4));

    /* exactly 2500 characters (7500 bytes) is allowed */
    big = repeat("中", 2500);
    CHECK(big);
    CHECK(sec_run(c, "o-user-1", 1, big, &e) == 0);
    CHECK(e.status == WX_OK && e.has);
    CHECK(wxt_srv.napi_req == 4);
    CHECK(jstr(body_of(0, 3), "content", big));

    /* a reply without a verdict is no pass */
    CHECK(sec_run(c, "o-user-1", 1, "x", &f) == 0);
    CHECK(f.status == WX_BADREPLY && !f.has);
    CHECK(wxt_srv.ntok_req == 1);
    rc = 0;
out:
    free(big);
    wx_client_free(c);
    return rc;
}

static int test_sec_check_invalid(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = { { 200, JSON_CT, SEC_PASS, 0, 0 } };
    char *ascii = repeat("a", 2501), *han = repeat("中", 2501);
    struct {
        const char *openid;
        int scene;
        const char *content;
    } cases[] = {
        { "o-1", 2, "" },
        { "o-1", 2, ascii },
        { "o-1", 2, han },
        { "o-1", 0, "hello" },
        { "o-1", 5, "hello" },
        { "", 2, "hello" },
    };
    struct wx_client *c = NULL;
    int rc = -1;

    CHECK(ascii && han);
    wxt_serve(tok, 1, api, 1);
    c = client();
    CHECK(c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o = { 0 };

        START(wx_msg_sec_check(c, cases[i].openid, cases[i].scene, cases[i].content, sec_cb, &o));
        CHECK(o.done == 0);
        CHECK(wxt_wait_n(&o.done, 1, LIMIT_MS) == 0);
        if (o.status != WX_INVALID)
            fprintf(stderr, "case %zu: status %d\n", i, (int)o.status);
        CHECK(o.done == 1 && !o.reentered);
        CHECK(o.status == WX_INVALID && !o.has && o.errmsg[0]);
    }
    wxt_loop_for(20);
    CHECK(wxt_srv.nseen == 0);
    CHECK(wx_client_pending(c) == 0);
    rc = 0;
out:
    free(ascii);
    free(han);
    wx_client_free(c);
    return rc;
}

/*==== getuserphonenumber ====*/

static int test_phone(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = {
        { 200, JSON_CT,
          "{\"errcode\":0,\"errmsg\":\"ok\",\"phone_info\":{\"phoneNumber\":\"+86 13800001234\","
          "\"purePhoneNumber\":\"13800001234\",\"countryCode\":\"86\","
          "\"watermark\":{\"timestamp\":1700000000,\"appid\":\"" APPID "\"}}}", 0, 0 },
        { 200, JSON_CT, ERR(40029, "invalid code, rid: 66bb-01"), 0, 0 },
    };
    struct outcome a = { 0 }, b = { 0 };
    struct wx_client *c = NULL;
    const cJSON *j;
    int rc = -1;

    wxt_serve(tok, 1, api, 2);
    c = client();
    CHECK(c);
    START(wx_phone_number(c, "code+/=abc", phone_cb, &a));
    CHECK(wxt_wait_n(&a.done, 1, LIMIT_MS) == 0);
    CHECK(!a.reentered && a.status == WX_OK && a.has);
    CHECK(strcmp(a.text, "13800001234") == 0);
    CHECK(strcmp(a.cc, "86") == 0);
    CHECK(wxt_srv.napi_req == 1);
    CHECK(strcmp(nth(0, 0)->path, "/wxa/business/getuserphonenumber") == 0 && nth(0, 0)->post);
    CHECK(query_is(0, 0, "access_token", "tok-1"));
    j = body_of(0, 0);
    CHECK(cJSON_IsObject(j));
    CHECK(jstr(j, "code", "code+/=abc"));

    START(wx_phone_number(c, "used-code", phone_cb, &b));
    CHECK(wxt_wait_n(&b.done, 1, LIMIT_MS) == 0);
    CHECK(b.status == WX_ERRCODE && b.errcode == 40029 && !b.has);
    CHECK(wxt_srv.napi_req == 2 && wxt_srv.ntok_req == 1);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* WECHAT.md e: countryCode is documented as a string, the example shows a
 * number: both must come back as "86". */
static int test_phone_country_code_number(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = {
        { 200, JSON_CT,
          "{\"errcode\":0,\"errmsg\":\"ok\",\"phone_info\":{\"phoneNumber\":\"13800001234\","
          "\"purePhoneNumber\":\"13800001234\",\"countryCode\":86}}", 0, 0 },
    };
    struct outcome a = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 1, api, 1);
    c = client();
    CHECK(c);
    START(wx_phone_number(c, "code", phone_cb, &a));
    CHECK(wxt_wait_n(&a.done, 1, LIMIT_MS) == 0);
    CHECK(a.status == WX_OK && a.has && strcmp(a.text, "13800001234") == 0);
    if (strcmp(a.cc, "86") != 0)
        fprintf(stderr, "countryCode 86 (a number) came back as \"%s\"\n", a.cc);
    CHECK(strcmp(a.cc, "86") == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/*==== subscribeMessage.send ====*/

/* 25 different Chinese characters; fitted to thing (20): the first 19 and "…". */
#define HAN25 "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥天地人"
#define HAN19_CUT "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申…"

static int test_subscribe_body(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":1864323726461255680}", 0, 0 },
        { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\"}", 0, 0 },
        { 200, JSON_CT, ERR(43101, "user refuse to accept the msg rid: 67cc-01"), 0, 0 },
    };
    static const struct wx_data_item data[] = {
        { "thing1", HAN25 },
        { "number2", "42" },
        { "character_string3", "AB-123" },
    };
    static const struct wx_data_item data2[] = { { "thing1", "报修已受理" } };
    struct wx_subscribe m = { "o-user-1", "TPL-1", "pages/ticket/index?id=7", "developer", "en_US",
                              data, 3 };
    struct wx_subscribe m2 = { "o-user-1", "TPL-2", NULL, NULL, NULL, data2, 1 };
    struct outcome a = { 0 }, b = { 0 }, d = { 0 };
    struct wx_client *c = NULL;
    const cJSON *j, *dj, *item;
    int rc = -1;

    wxt_serve(tok, 1, api, 3);
    c = client();
    CHECK(c);
    START(wx_subscribe_send(c, &m, send_cb, &a));
    CHECK(wxt_wait_n(&a.done, 1, LIMIT_MS) == 0);
    CHECK(!a.reentered && a.status == WX_OK);
    CHECK(strcmp(a.text, "1864323726461255680") == 0);
    CHECK(wxt_srv.napi_req == 1);
    CHECK(strcmp(nth(0, 0)->path, "/cgi-bin/message/subscribe/send") == 0 && nth(0, 0)->post);
    CHECK(query_is(0, 0, "access_token", "tok-1"));
    j = body_of(0, 0);
    CHECK(cJSON_IsObject(j));
    CHECK(jstr(j, "touser", "o-user-1"));
    CHECK(jstr(j, "template_id", "TPL-1"));
    CHECK(jstr(j, "page", "pages/ticket/index?id=7"));
    CHECK(jstr(j, "miniprogram_state", "developer"));
    CHECK(jstr(j, "lang", "en_US"));
    dj = cJSON_GetObjectItemCaseSensitive(j, "data");
    CHECK(cJSON_IsObject(dj));          /* an object, not a JSON-encoded string */
    CHECK(cJSON_GetArraySize(dj) == 3);
    item = cJSON_GetObjectItemCaseSensitive(dj, "thing1");
    CHECK(cJSON_IsObject(item));
    CHECK(jstr(item, "value", HAN19_CUT));
    CHECK(jstr(cJSON_GetObjectItemCaseSensitive(dj, "number2"), "value", "42"));
    CHECK(jstr(cJSON_GetObjectItemCaseSensitive(dj, "character_string3"), "value", "AB-123"));

    /* defaults: formal, zh_CN, no page; no msgid in the reply gives "" */
    START(wx_subscribe_send(c, &m2, send_cb, &b));
    CHECK(wxt_wait_n(&b.done, 1, LIMIT_MS) == 0);
    CHECK(b.status == WX_OK && strcmp(b.text, "") == 0);
    j = body_of(0, 1);
    CHECK(cJSON_IsObject(j));
    CHECK(jstr(j, "template_id", "TPL-2"));
    CHECK(jstr(j, "miniprogram_state", "formal"));
    CHECK(jstr(j, "lang", "zh_CN"));
    CHECK(!cJSON_HasObjectItem(j, "page"));
    CHECK(jstr(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "data"),
                                                "thing1"), "value", "报修已受理"));

    /* WeChat's refusal reaches the callback */
    START(wx_subscribe_send(c, &m2, send_cb, &d));
    CHECK(wxt_wait_n(&d.done, 1, LIMIT_MS) == 0);
    CHECK(d.status == WX_ERRCODE && d.errcode == 43101 && strcmp(d.text, "") == 0);
    CHECK(wxt_srv.ntok_req == 1);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_subscribe_invalid(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = { { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\"}", 0, 0 } };
    static const struct wx_data_item bad_number[] = {
        { "thing1", "ok" },
        { "number2", "12ab" },
    };
    static const struct wx_data_item empty_thing[] = { { "thing4", "" } };
    struct wx_subscribe m1 = { "o-1", "TPL", NULL, NULL, NULL, bad_number, 2 };
    struct wx_subscribe m2 = { "o-1", "TPL", NULL, NULL, NULL, empty_thing, 1 };
    struct wx_subscribe m3 = { "o-1", "TPL", NULL, NULL, NULL, NULL, 0 };
    struct outcome a = { 0 }, b = { 0 }, d = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 1, api, 1);
    c = client();
    CHECK(c);
    START(wx_subscribe_send(c, &m1, send_cb, &a));
    START(wx_subscribe_send(c, &m2, send_cb, &b));
    START(wx_subscribe_send(c, &m3, send_cb, &d));
    CHECK(ncb == 0);
    CHECK(wxt_wait_n(&ncb, 3, LIMIT_MS) == 0);
    CHECK(a.status == WX_INVALID && strstr(a.errmsg, "number2") != NULL);
    CHECK(b.status == WX_INVALID && strstr(b.errmsg, "thing4") != NULL);
    CHECK(d.status == WX_INVALID);
    CHECK(strcmp(a.text, "") == 0);
    wxt_loop_for(20);
    CHECK(wxt_srv.nseen == 0);
    CHECK(wx_client_pending(c) == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/* Sends to one openid never overlap upstream (43108) and end in order. */
static int test_subscribe_same_openid(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":101}", 150, 0 },
        { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":102}", 50, 0 },
        { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":103}", 0, 0 },
    };
    static const struct wx_data_item d1[] = { { "thing1", "first" } };
    static const struct wx_data_item d2[] = { { "thing1", "second" } };
    static const struct wx_data_item d3[] = { { "thing1", "third" } };
    struct wx_subscribe m1 = { "o-same", "TPL", NULL, NULL, NULL, d1, 1 };
    struct wx_subscribe m2 = { "o-same", "TPL", NULL, NULL, NULL, d2, 1 };
    struct wx_subscribe m3 = { "o-same", "TPL", NULL, NULL, NULL, d3, 1 };
    struct outcome a = { 0 }, b = { 0 }, d = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 1, api, 3);
    c = client();
    CHECK(c);
    START(wx_subscribe_send(c, &m1, send_cb, &a));
    START(wx_subscribe_send(c, &m2, send_cb, &b));
    START(wx_subscribe_send(c, &m3, send_cb, &d));
    CHECK(wxt_wait_n(&ncb, 3, LIMIT_MS) == 0);
    CHECK(a.status == WX_OK && b.status == WX_OK && d.status == WX_OK);
    CHECK(a.order < b.order && b.order < d.order);
    CHECK(strcmp(a.text, "101") == 0 && strcmp(b.text, "102") == 0 && strcmp(d.text, "103") == 0);
    CHECK(wxt_srv.napi_req == 3);
    /* each came only after the reply to the one before */
    CHECK(nth(0, 1)->api_replied >= 1 && nth(0, 1)->api_held == 0);
    CHECK(nth(0, 2)->api_replied >= 2 && nth(0, 2)->api_held == 0);
    CHECK(jstr(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body_of(0, 0), "data"),
                                                "thing1"), "value", "first"));
    CHECK(jstr(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body_of(0, 1), "data"),
                                                "thing1"), "value", "second"));
    CHECK(jstr(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(body_of(0, 2), "data"),
                                                "thing1"), "value", "third"));
    CHECK(wx_client_pending(c) == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_subscribe_other_openids(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = {
        { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":201}", 200, 0 },
        { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":202}", 0, 0 },
    };
    static const struct wx_data_item d1[] = { { "thing1", "hello" } };
    struct wx_subscribe m1 = { "o-a", "TPL", NULL, NULL, NULL, d1, 1 };
    struct wx_subscribe m2 = { "o-b", "TPL", NULL, NULL, NULL, d1, 1 };
    struct outcome a = { 0 }, b = { 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    wxt_serve(tok, 1, api, 2);
    c = client();
    CHECK(c);
    START(wx_subscribe_send(c, &m1, send_cb, &a));
    START(wx_subscribe_send(c, &m2, send_cb, &b));
    CHECK(wxt_wait_n(&ncb, 2, LIMIT_MS) == 0);
    CHECK(a.status == WX_OK && b.status == WX_OK);
    CHECK(wxt_srv.napi_req == 2);
    CHECK(nth(0, 1)->api_held == 1);    /* the first was still held: they overlapped */
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/*==== getwxacodeunlimit ====*/

static const unsigned char png[] = {
    0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 0x0d, 'I', 'H', 'D', 'R',
    0, 0, 1, 0xae, 0, 0, 1, 0xae, 8, 6, 0, 0, 0, '{', 0xff, 0x00, 0x7b, 0x22,
    0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 'B', 0x60, 0x82,
};

static int test_qrcode_png(void)
{
    static const struct wxt_step tok[] = {
        { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-2", 7200), 0, 0 },
    };
    static const struct wxt_step api[] = {
        { 200, "image/png", (const char *)png, 0, sizeof png },
        { 200, JSON_CT, ERR(40001, "invalid credential"), 0, 0 },
        { 200, "image/png", (const char *)png, 0, sizeof png },
    };
    struct wx_qrcode q = { "room=12&b=3", "pages/room/index", 0, NULL, 0 };
    struct wx_qrcode q2 = { "t/7", NULL, 1, "trial", 2000 };
    struct outcome a = { 0 }, b = { 0 };
    struct wx_client *c = NULL;
    const cJSON *j;
    int rc = -1;

    wxt_serve(tok, 2, api, 3);
    c = client();
    CHECK(c);
    START(wx_qrcode_unlimited(c, &q, qr_cb, &a));
    CHECK(wxt_wait_n(&a.done, 1, LIMIT_MS) == 0);
    CHECK(!a.reentered && a.status == WX_OK && a.has && a.http == 200);
    CHECK(a.len == sizeof png && memcmp(a.png, png, sizeof png) == 0);
    CHECK(wxt_srv.napi_req == 1 && wxt_srv.ntok_req == 1);
    CHECK(strcmp(nth(0, 0)->path, "/wxa/getwxacodeunlimit") == 0 && nth(0, 0)->post);
    CHECK(query_is(0, 0, "access_token", "tok-1"));
    j = body_of(0, 0);
    CHECK(cJSON_IsObject(j));
    CHECK(jstr(j, "scene", "room=12&b=3"));
    CHECK(jstr(j, "page", "pages/room/index"));
    CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "check_path")));
    CHECK(jstr(j, "env_version", "release"));
    CHECK(jnum(j, "width", 430));

    /* a token error on a binary API: refreshed once, the image still arrives */
    START(wx_qrcode_unlimited(c, &q2, qr_cb, &b));
    CHECK(wxt_wait_n(&b.done, 1, LIMIT_MS) == 0);
    CHECK(b.status == WX_OK && b.has);
    CHECK(b.len == sizeof png && memcmp(b.png, png, sizeof png) == 0);
    CHECK(wxt_srv.napi_req == 3 && wxt_srv.ntok_req == 2);
    CHECK(query_is(0, 2, "access_token", "tok-2"));
    j = body_of(0, 2);
    CHECK(jstr(j, "scene", "t/7"));
    CHECK(!cJSON_HasObjectItem(j, "page"));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "check_path")));
    CHECK(jstr(j, "env_version", "trial"));
    CHECK(jnum(j, "width", 1280));
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_qrcode_json_errors(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct {
        struct wxt_step st;
        enum wx_status want;
        long errcode;
    } cases[] = {
        { { 200, "application/json; charset=UTF-8", ERR(41030, "invalid page rid: 68dd-01"), 0, 0 },
          WX_ERRCODE, 41030 },
        { { 200, "image/jpeg", ERR(45009, "reach max api daily quota limit"), 0, 0 },
          WX_ERRCODE, 45009 },
        { { 200, "text/plain", ERR(40169, "invalid length for scene"), 0, 0 }, WX_ERRCODE, 40169 },
        { { 200, "image/png", " \r\n" ERR(40097, "invalid args"), 0, 0 }, WX_ERRCODE, 40097 },
        { { 200, "image/gif", "GIF89a\x01\x00\x01\x00", 0, 0 }, WX_BADREPLY, 0 },
        { { 200, JSON_CT, "{\"errcode\":0,\"errmsg\":\"ok\"}", 0, 0 }, WX_BADREPLY, 0 },
    };
    struct wx_qrcode q = { "abc", NULL, 1, NULL, 0 };
    struct wx_client *c = NULL;
    int rc = -1;

    c = client();
    CHECK(c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct outcome o = { 0 };

        wxt_serve(tok, 1, &cases[i].st, 1);
        START(wx_qrcode_unlimited(c, &q, qr_cb, &o));
        CHECK(wxt_wait_n(&o.done, 1, LIMIT_MS) == 0);
        if (o.status != cases[i].want || o.errcode != cases[i].errcode)
            fprintf(stderr, "case %zu: status %d errcode %ld\n", i, (int)o.status, o.errcode);
        CHECK(o.status == cases[i].want && o.errcode == cases[i].errcode);
        CHECK(!o.has && o.len == 0);
        CHECK(wxt_srv.napi_req == 1);
    }
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

static int test_qrcode_invalid(void)
{
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    static const struct wxt_step api[] = { { 200, "image/png", (const char *)png, 0, sizeof png } };
    static const struct wx_qrcode bad[] = {
        { "abcdefghijklmnopqrstuvwxyz0123456", NULL, 0, NULL, 0 },      /* 33 */
        { "a%20b", NULL, 0, NULL, 0 },
        { "房间12", NULL, 0, NULL, 0 },
        { "", NULL, 0, NULL, 0 },
        { NULL, NULL, 0, NULL, 0 },
        { "ok", "/pages/index", 0, NULL, 0 },
        { "ok", "pages/index?x=1", 0, NULL, 0 },
        { "ok", NULL, 0, "prod", 0 },
    };
    static const struct {
        const char *scene;
        int ok;
    } table[] = {
        { "a", 1 },
        { "abcdefghijklmnopqrstuvwxyz012345", 1 },         /* 32 */
        { "abcdefghijklmnopqrstuvwxyz0123456", 0 },        /* 33 */
        { "0123456789ABCDEFGHIJKLMNOPQRSTUV", 1 },
        { "!#$&'()*+,/:;=?@-._~", 1 },
        { "id=7&t=2", 1 },
        { "", 0 },
        { "a b", 0 },
        { "a%20b", 0 },
        { "%E6%88%BF", 0 },
        { "房间", 0 },
        { "a\"b", 0 },
        { "a<b", 0 },
        { "a\\b", 0 },
        { "a^b", 0 },
        { "a`b", 0 },
        { "a{b}", 0 },
        { "a|b", 0 },
        { "a[b]", 0 },
        { "a\nb", 0 },
        { "a\x7f", 0 },
    };
    struct wx_client *c = NULL;
    int rc = -1;

    CHECK(!wx_qrcode_scene_ok(NULL));
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!!wx_qrcode_scene_ok(table[i].scene) != table[i].ok)
            fprintf(stderr, "scene_ok row %zu (\"%s\")\n", i, table[i].scene);
        CHECK(!!wx_qrcode_scene_ok(table[i].scene) == table[i].ok);
    }

    wxt_serve(tok, 1, api, 1);
    c = client();
    CHECK(c);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct outcome o = { 0 };

        START(wx_qrcode_unlimited(c, &bad[i], qr_cb, &o));
        CHECK(wxt_wait_n(&o.done, 1, LIMIT_MS) == 0);
        if (o.status != WX_INVALID)
            fprintf(stderr, "bad qrcode %zu: status %d\n", i, (int)o.status);
        CHECK(o.done == 1 && !o.reentered);
        CHECK(o.status == WX_INVALID && !o.has && o.len == 0 && o.errmsg[0]);
    }
    wxt_loop_for(20);
    CHECK(wxt_srv.nseen == 0);
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/*==== Freeing with calls waiting ====*/

static int start_everything(struct wx_client *c, struct outcome *o)
{
    static const struct wx_data_item d1[] = { { "thing1", "hello" } };
    static const struct wx_subscribe same = { "o-same", "TPL", NULL, NULL, NULL, d1, 1 };
    static const struct wx_subscribe other = { "o-other", "TPL", NULL, NULL, NULL, d1, 1 };
    static const struct wx_qrcode q = { "abc", NULL, 1, NULL, 0 };
    int rc = -1;

    START(wx_access_token(c, token_cb, &o[0]));
    START(wx_access_token(c, token_cb, &o[1]));
    START(wx_msg_sec_check(c, "o-1", 2, "hello", sec_cb, &o[2]));
    START(wx_phone_number(c, "code", phone_cb, &o[3]));
    START(wx_subscribe_send(c, &same, send_cb, &o[4]));
    START(wx_subscribe_send(c, &same, send_cb, &o[5]));
    START(wx_subscribe_send(c, &other, send_cb, &o[6]));
    START(wx_qrcode_unlimited(c, &q, qr_cb, &o[7]));
    rc = 0;
out:
    return rc;
}

static int test_free_with_waiters(void)
{
    static const struct wxt_step slow_tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 300, 0 } };
    static const struct wxt_step tok_then_slow[] = {
        { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 },
        { 200, JSON_CT, TOK("tok-2", 7200), 300, 0 },
    };
    static const struct wxt_step expired[] = { { 200, JSON_CT, ERR(42001, "access_token expired"), 0, 0 } };
    static const struct wxt_step slow_api[] = { { 200, JSON_CT, SEC_PASS, 300, 0 } };
    static const struct wxt_step tok[] = { { 200, JSON_CT, TOK("tok-1", 7200), 0, 0 } };
    struct outcome o[8];
    struct wx_client *c = NULL;
    int rc = -1;

    /* the token refresh on the wire, every call waiting for it */
    memset(o, 0, sizeof o);
    wxt_serve(slow_tok, 1, NULL, 0);
    c = client();
    CHECK(c);
    CHECK(start_everything(c, o) == 0);
    CHECK(wxt_wait_n(&wxt_srv.ntok_req, 1, LIMIT_MS) == 0);
    CHECK(wx_client_pending(c) >= 1);
    wx_client_free(c);
    c = NULL;
    wxt_loop_for(30);
    wxt_flush_delayed();
    wxt_loop_for(30);
    CHECK(ncb == 0);
    CHECK(wxt_srv.ntok_req == 1 && wxt_srv.napi_req == 0);

    /* every API refused the token; the one refresh is on the wire, the
     * calls wait for it and a second send waits in its openid's lane */
    memset(o, 0, sizeof o);
    wxt_serve(tok_then_slow, 2, expired, 1);
    c = client();
    CHECK(c);
    CHECK(start_everything(c, o) == 0);
    CHECK(wxt_wait_n(&wxt_srv.ntok_req, 2, LIMIT_MS) == 0);
    CHECK(wxt_wait_n(&wxt_srv.napi_req, 5, LIMIT_MS) == 0);
    wx_client_free(c);
    c = NULL;
    wxt_loop_for(30);
    wxt_flush_delayed();
    wxt_loop_for(30);
    CHECK(ncb == 2);            /* the two plain token callbacks had run, nothing since */
    CHECK(o[0].done == 1 && o[1].done == 1);
    for (int i = 2; i < 8; i++)
        CHECK(o[i].done == 0);

    /* the API calls on the wire */
    memset(o, 0, sizeof o);
    ncb = 0;
    wxt_serve(tok, 1, slow_api, 1);
    c = client();
    CHECK(c);
    CHECK(start_everything(c, o) == 0);
    CHECK(wxt_wait_n(&wxt_srv.napi_req, 5, LIMIT_MS) == 0);
    CHECK(ncb == 2);
    wx_client_free(c);
    c = NULL;
    wxt_loop_for(30);
    wxt_flush_delayed();
    wxt_loop_for(30);
    CHECK(ncb == 2);
    CHECK(wxt_srv.napi_req == 5);   /* the second send to o-same never left */
    rc = 0;
out:
    wx_client_free(c);
    return rc;
}

/*==== Runner ====*/

static const struct wxt_test tests[] = {
    { "token_single_flight", test_token_single_flight, NULL },
    { "token_cache_and_margin", test_token_cache_and_margin, NULL },
    { "token_store", test_token_store, NULL },
    { "token_classic", test_token_classic, NULL },
    { "token_failure", test_token_failure, NULL },
    { "authed_refresh_once", test_authed_refresh_once, NULL },
    { "authed_drop_only_failed", test_authed_drop_only_failed, NULL },
    { "stable_same_token", test_stable_same_token, NULL },
    { "stable_same_token_forever", test_stable_same_token_forever, NULL },
    { "force_refresh_not_sticky", test_force_refresh_not_sticky, NULL },
    { "sec_check", test_sec_check, NULL },
    { "sec_check_invalid", test_sec_check_invalid, NULL },
    { "phone", test_phone, NULL },
    { "phone_country_code_number", test_phone_country_code_number, NULL },
    { "subscribe_body", test_subscribe_body, NULL },
    { "subscribe_invalid", test_subscribe_invalid, NULL },
    { "subscribe_same_openid", test_subscribe_same_openid, NULL },
    { "subscribe_other_openids", test_subscribe_other_openids, NULL },
    { "qrcode_png", test_qrcode_png, NULL },
    { "qrcode_json_errors", test_qrcode_json_errors, NULL },
    { "qrcode_invalid", test_qrcode_invalid, NULL },
    { "free_with_waiters", test_free_with_waiters, NULL },
};

static void reset(void)
{
    ncb = 0;
    seq = 0;
    in_call = 0;
}

int main(void)
{
    return wxt_main("fake WeChat", tests, sizeof tests / sizeof tests[0], reset);
}
