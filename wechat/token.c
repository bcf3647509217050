/*
 * token.c - the access token: cached in memory and in the caller's store,
 * refreshed ahead of expiry, one refresh in flight at a time (the others
 * wait for it), and the invalid-token rule for every API that needs one
 * (wx_call_authed): on 40001/40014/42001 drop the token only if it is
 * still the one that failed, refresh once, retry the call once.
 *
 * stable_token (the default) returns the same token to every caller within
 * its window, so several processes sharing one appid do not invalidate
 * each other; /cgi-bin/token (token_classic) does, which is why a token
 * found in the store is preferred to a new one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "wx.h"
#include "wx_internal.h"

#define TOKEN_MAX 1024

struct waiter {
    wx_token_cb *cb;
    void *arg;
    void (*arg_free)(void *);   /* NULL: ARG is the caller's */
    struct waiter *next;
};

struct wx_token {
    struct wx_client *c;
    char value[TOKEN_MAX];      /* "" when none */
    long long expires_at;
    char failed[TOKEN_MAX];     /* the last token an API refused */
    int refreshing;
    int forced_once;            /* a force refresh was tried for FAILED */
    int force_next;             /* the next refresh (only) asks force_refresh */
    int start_failed;           /* a refresh could not start: flush reports it */
    struct waiter *waiters, **tail;
    struct event flush;         /* serves waiters from the cache, from the loop */
    struct wx_token_store store;
};

static long long now_s(void)
{
    return (long long)time(NULL);
}

static struct wx_token *token_of(struct wx_client *c);

void wx_token_free(struct wx_token *t)
{
    if (!t)
        return;
    evtimer_del(&t->flush);
    while (t->waiters) {
        struct waiter *w = t->waiters;
        t->waiters = w->next;
        if (w->arg_free)
            w->arg_free(w->arg);
        free(w);
    }
    explicit_bzero(t->value, sizeof t->value);
    free(t);
}

static int fresh(const struct wx_token *t)
{
    return t->value[0] && now_s() < t->expires_at - wx_client_token_margin(t->c);
}

/* Hand the waiters their token (or the failure R). */
static void serve(struct wx_token *t, const struct wx_result *r)
{
    struct waiter *list = t->waiters;
    char value[TOKEN_MAX];

    t->waiters = NULL;
    t->tail = &t->waiters;
    /* A callback may start calls that change t->value: give each the same copy. */
    snprintf(value, sizeof value, "%s", t->value);
    while (list) {
        struct waiter *w = list;
        list = w->next;
        w->cb(w->arg, r, r->status == WX_OK ? value : NULL);
        free(w);
    }
    explicit_bzero(value, sizeof value);
}

static void start_refresh(struct wx_token *t);

/* From the loop: serve the waiters from the cache, or report a refresh
 * that could not start, or (the cache went stale meanwhile) refresh. */
static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct wx_token *t = arg;
    struct wx_result ok = { .status = WX_OK, .errmsg = "ok", .rid = "" };
    struct wx_result fail = { .status = WX_TRANSPORT, .errcode = -1,
                              .errmsg = "cannot start the token request", .rid = "" };

    if (t->start_failed) {
        t->start_failed = 0;
        serve(t, &fail);
    } else if (fresh(t)) {
        serve(t, &ok);
    } else if (!t->refreshing && t->waiters) {
        start_refresh(t);
    }
}

static void refresh_done(void *arg, const struct wx_result *r, const cJSON *body,
                         const struct wx_raw *raw)
{
    struct wx_client *c = arg;
    struct wx_token *t = token_of(c);
    const cJSON *tok = cJSON_GetObjectItemCaseSensitive(body, "access_token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(body, "expires_in");
    struct wx_result bad;

    t->refreshing = 0;
    if (r->status != WX_OK) {
        serve(t, r);
        return;
    }
    if (!cJSON_IsString(tok) || !tok->valuestring[0] || strlen(tok->valuestring) >= TOKEN_MAX ||
        !cJSON_IsNumber(exp) || exp->valuedouble <= 0) {
        bad = *r;
        bad.status = WX_BADREPLY;
        bad.errmsg = "token reply lacks access_token or expires_in";
        serve(t, &bad);
        return;
    }
    /* stable_token in normal mode hands back the token that just failed
     * while WeChat still considers it current: force one refresh then. */
    if (!wx_client_token_classic(c) && strcmp(tok->valuestring, t->failed) == 0 && !t->forced_once) {
        t->forced_once = 1;
        t->force_next = 1;
        start_refresh(t);
        return;
    }
    snprintf(t->value, sizeof t->value, "%s", tok->valuestring);
    t->expires_at = now_s() + (long long)exp->valuedouble;
    if (t->store.save)
        t->store.save(t->store.arg, t->value, t->expires_at);
    serve(t, r);
}

/* The refresh call does not own a block of ours: its ARG is the client. */
static void no_free(void *arg)
{
}

static void start_refresh(struct wx_token *t)
{
    struct wx_client *c = t->c;
    struct wx_param q[3];
    cJSON *body;
    char *text;
    int rc;

    t->refreshing = 1;
    if (wx_client_token_classic(c)) {
        q[0].key = "grant_type";
        q[0].value = "client_credential";
        q[1].key = "appid";
        q[1].value = wx_client_appid(c);
        q[2].key = "secret";
        q[2].value = wx_client_secret(c);
        rc = wx_call_start_ex(c, "token", "/cgi-bin/token", q, 3, NULL, 0, refresh_done, c, no_free);
    } else {
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "grant_type", "client_credential");
        cJSON_AddStringToObject(body, "appid", wx_client_appid(c));
        cJSON_AddStringToObject(body, "secret", wx_client_secret(c));
        cJSON_AddBoolToObject(body, "force_refresh", t->force_next);
        t->force_next = 0;   /* one forced refresh, never a habit: it is limited to 20 a day */
        text = cJSON_PrintUnformatted(body);
        cJSON_Delete(body);
        rc = text ? wx_call_start_ex(c, "stable_token", "/cgi-bin/stable_token", NULL, 0, text, 0,
                                     refresh_done, c, no_free)
                  : -1;
        if (text) {
            explicit_bzero(text, strlen(text));
            free(text);
        }
    }
    if (rc != 0) {
        /* Reported from the loop: callers are never called back inside their call. */
        struct timeval zero = { 0, 0 };
        t->refreshing = 0;
        t->start_failed = 1;
        evtimer_add(&t->flush, &zero);
    }
}

static struct wx_token *token_of(struct wx_client *c)
{
    struct wx_token **slot = wx_client_token_slot(c);

    if (!*slot) {
        struct wx_token *t = calloc(1, sizeof *t);
        if (!t)
            return NULL;
        t->c = c;
        t->tail = &t->waiters;
        evtimer_assign(&t->flush, wx_client_base(c), flush_cb, t);
        *slot = t;
    }
    return *slot;
}

/* Adopt the stored token when it is fresh and not the one that failed. */
static void try_store(struct wx_token *t)
{
    char value[TOKEN_MAX];
    long long exp = 0;

    if (!t->store.load || t->store.load(t->store.arg, value, sizeof value, &exp) != 0)
        return;
    value[sizeof value - 1] = '\0';
    if (value[0] && strcmp(value, t->failed) != 0 && strcmp(value, t->value) != 0 &&
        now_s() < exp - wx_client_token_margin(t->c)) {
        snprintf(t->value, sizeof t->value, "%s", value);
        t->expires_at = exp;
    }
    explicit_bzero(value, sizeof value);
}

/* Queue a waiter and make sure it will be served. ARG_FREE as in struct waiter. */
static int get_token(struct wx_client *c, wx_token_cb *cb, void *arg, void (*arg_free)(void *))
{
    struct wx_token *t = token_of(c);
    struct waiter *w = t ? calloc(1, sizeof *w) : NULL;
    struct timeval zero = { 0, 0 };

    if (!w) {
        if (arg_free)
            arg_free(arg);
        return -1;
    }
    w->cb = cb;
    w->arg = arg;
    w->arg_free = arg_free;
    *t->tail = w;
    t->tail = &w->next;
    if (t->refreshing)
        return 0;
    if (!fresh(t))
        try_store(t);
    if (fresh(t))
        evtimer_add(&t->flush, &zero);
    else
        start_refresh(t);
    return 0;
}

int wx_access_token(struct wx_client *c, wx_token_cb *cb, void *arg)
{
    if (!c || !cb)
        return -1;
    return get_token(c, cb, arg, NULL);
}

void wx_client_set_token_store(struct wx_client *c, const struct wx_token_store *s)
{
    struct wx_token *t = c ? token_of(c) : NULL;

    if (t && s)
        t->store = *s;
}

const char *wx_token_cached(const struct wx_client *c, long long *expires_at)
{
    struct wx_token *t = c ? *wx_client_token_slot((struct wx_client *)c) : NULL;

    if (expires_at)
        *expires_at = t ? t->expires_at : 0;
    return t ? t->value : "";
}

/* Drop the token if it is still the one that failed. */
static void invalidate(struct wx_client *c, const char *failed)
{
    struct wx_token *t = token_of(c);

    if (!t)
        return;
    if (strcmp(t->failed, failed) != 0)
        t->forced_once = 0;
    snprintf(t->failed, sizeof t->failed, "%s", failed);
    if (strcmp(t->value, failed) == 0) {
        explicit_bzero(t->value, sizeof t->value);
        t->expires_at = 0;
    }
}

/* ==== calls that need a token ==== */

struct authed {
    int refs;                   /* the call in flight and/or a waiter */
    struct wx_client *c;
    const char *api, *path;     /* literals of the api_*.c caller */
    struct wx_param *query;     /* copies, plus a slot for access_token */
    size_t nquery;
    char *json;
    int retried;
    char used[TOKEN_MAX];       /* the token the last attempt carried */
    unsigned flags;
    wx_call_done_fn *done;
    void *arg;                  /* the caller's, freed with free() */
};

static void authed_free(void *p)
{
    struct authed *a = p;

    if (!a || --a->refs > 0)
        return;
    for (size_t i = 0; i < a->nquery; i++) {
        free((char *)a->query[i].key);
        free((char *)a->query[i].value);
    }
    free(a->query);
    free(a->json);
    free(a->arg);
    explicit_bzero(a->used, sizeof a->used);
    free(a);
}

static void authed_have_token(void *arg, const struct wx_result *r, const char *token);

static int is_token_error(const struct wx_result *r)
{
    return r->status == WX_ERRCODE && (r->errcode == 40001 || r->errcode == 40014 || r->errcode == 42001);
}

static void authed_done(void *arg, const struct wx_result *r, const cJSON *body,
                        const struct wx_raw *raw)
{
    struct authed *a = arg;

    if (is_token_error(r) && !a->retried) {
        a->retried = 1;
        invalidate(a->c, a->used);
        a->refs++;   /* kept for the waiter; the transport drops its ref on return */
        if (get_token(a->c, authed_have_token, a, authed_free) == 0)
            return;
        /* could not wait for a token: report the refusal as it came */
    }
    a->done(a->arg, r, body, raw);
}

static void authed_have_token(void *arg, const struct wx_result *r, const char *token)
{
    struct authed *a = arg;
    struct wx_param *q = a->query;

    if (r->status != WX_OK) {
        a->done(a->arg, r, NULL, NULL);
        authed_free(a);
        return;
    }
    snprintf(a->used, sizeof a->used, "%s", token);
    q[a->nquery].key = "access_token";
    q[a->nquery].value = a->used;
    /* The waiter's reference passes to the call; hold one more across the
     * start so a failure to start can still be reported. */
    a->refs++;
    if (wx_call_start_ex(a->c, a->api, a->path, q, a->nquery + 1, a->json, a->flags,
                         authed_done, a, authed_free) != 0) {
        struct wx_result f = { .status = WX_TRANSPORT, .errcode = -1,
                               .errmsg = "cannot start the request", .rid = "" };
        a->done(a->arg, &f, NULL, NULL);
    }
    authed_free(a);
}

int wx_call_authed(struct wx_client *c, const char *api, const char *path,
                   const struct wx_param *query, size_t nquery,
                   const char *json_body, unsigned flags,
                   wx_call_done_fn *done, void *arg)
{
    struct authed *a = calloc(1, sizeof *a);

    if (!a || !c || !done) {
        free(a);
        free(arg);
        return -1;
    }
    a->refs = 1;
    a->c = c;
    a->api = api;
    a->path = path;
    a->done = done;
    a->arg = arg;
    a->flags = flags;
    a->query = calloc(nquery + 1, sizeof *a->query);
    a->json = json_body ? strdup(json_body) : NULL;
    if (!a->query || (json_body && !a->json))
        goto fail;
    for (size_t i = 0; i < nquery; i++) {
        a->query[i].key = strdup(query[i].key);
        a->query[i].value = strdup(query[i].value);
        a->nquery = i + 1;
        if (!a->query[i].key || !a->query[i].value)
            goto fail;
    }
    return get_token(c, authed_have_token, a, authed_free);
fail:
    authed_free(a);
    return -1;
}
