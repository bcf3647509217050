/*
 * auth.c - who is calling: WeChat login, session tokens, API keys.
 *
 * Login exchanges the mini-program's code with WeChat (code2Session,
 * through wechat/ on the loop, never blocking), records the user and a new
 * session in one writer unit, and answers once that is durable. Tokens are
 * 32 random bytes handed out once; the database keeps only their SHA-256.
 * A client that resends the same code (a phone on a bad network) is given
 * the first answer again: the answer is kept in memory, keyed by the
 * code's hash, for session.login_replay_s, and never written anywhere.
 */
#include "gongyou.h"
#include "wx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/crypto.h>

enum {
    Q_UPSERT_USER, Q_INSERT_SESSION, Q_SESSION_BY_HASH, Q_TOUCH_SESSION, Q_DELETE_SESSION,
    Q_APIKEY_BY_HASH, Q_INSERT_APIKEY, Q_EMPLOYEE_OF_USER, Q_SESSION_EXPIRY, Q_PURGE_SESSIONS,
    Q_APIKEY_LIST, Q_APIKEY_REVOKE,
};
static const char *const sql[] = {
    [Q_UPSERT_USER] =
        "INSERT INTO wx_users (openid, unionid, session_key, created_at, last_login_at) "
        "VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT(openid) DO UPDATE SET "
        "unionid = coalesce(excluded.unionid, unionid), session_key = excluded.session_key, "
        "last_login_at = excluded.last_login_at RETURNING id",
    [Q_INSERT_SESSION] =
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, touched_at) "
        "VALUES (?1, ?2, ?3, ?4, ?3)",
    [Q_SESSION_BY_HASH] =
        "SELECT s.user_id, s.expires_at, s.touched_at, e.id, e.employee_no, e.roles "
        "FROM sessions s LEFT JOIN employees e ON e.wx_user_id = s.user_id AND e.active = 1 "
        "WHERE s.token_hash = ?1",
    [Q_TOUCH_SESSION] =
        "UPDATE sessions SET expires_at = ?2, touched_at = ?3 WHERE token_hash = ?1 AND expires_at > ?3",
    [Q_DELETE_SESSION] = "DELETE FROM sessions WHERE token_hash = ?1",
    [Q_APIKEY_BY_HASH] = "SELECT id, role FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL",
    [Q_INSERT_APIKEY] =
        "INSERT INTO api_keys (key_hash, name, role, created_at) VALUES (?1, ?2, ?3, ?4)",
    [Q_EMPLOYEE_OF_USER] = "SELECT id FROM employees WHERE wx_user_id = ?1 AND active = 1",
    [Q_SESSION_EXPIRY] = "SELECT expires_at FROM sessions WHERE token_hash = ?1",
    [Q_PURGE_SESSIONS] = "DELETE FROM sessions WHERE expires_at < ?1",
    [Q_APIKEY_LIST] = "SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY id",
    [Q_APIKEY_REVOKE] =
        "UPDATE api_keys SET revoked_at = ?2 WHERE (CASE WHEN ?3 THEN id = ?4 ELSE name = ?1 END) "
        "AND revoked_at IS NULL",
};
const struct db_sqlset auth_sql = { "auth", sql, GY_ARRAY_LEN(sql) };

#define APIKEY_PREFIX "gyk_"

/*
 * One login in progress or recently answered, keyed by sha256(code).
 * While PENDING, later requests with the same code wait on it.
 */
struct waiter {
    struct gy_req *r;
    struct waiter *next;
};

struct login {
    char code_hash[65];
    enum { L_PENDING, L_DONE } state;
    double done_ms;              /* when it was answered (monotonic) */
    struct waiter *waiters;      /* requests to answer */
    /* Filled when the exchange succeeds: */
    char openid[129], unionid[129], session_key[129];
    char token[44];              /* plaintext, memory only, for replays */
    char token_hash[65];
    int64_t user_id;
    int64_t expires_at;
    struct login *next;          /* hash chain */
};

#define NBUCKETS 1024

static struct {
    const struct gy_config *cfg;
    struct login *bucket[NBUCKETS];
    struct event *sweep;
} A;

/* ---- the replay table ---- */

/* The hash is hex, so its first characters spread evenly. */
static unsigned bucket_of(const char *hash)
{
    unsigned v = 0;

    for (int i = 0; i < 4; i++)
        v = v << 4 | (unsigned)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    return v % NBUCKETS;
}

static struct login *login_find(const char *hash)
{
    for (struct login *l = A.bucket[bucket_of(hash)]; l; l = l->next)
        if (strcmp(l->code_hash, hash) == 0)
            return l;
    return NULL;
}

static void login_unlink(struct login *l)
{
    struct login **pp = &A.bucket[bucket_of(l->code_hash)];

    while (*pp != l)
        pp = &(*pp)->next;
    *pp = l->next;
}

static void login_free(struct login *l)
{
    /* The plaintext token and session key are wiped before the memory goes back. */
    OPENSSL_cleanse(l->token, sizeof l->token);
    OPENSSL_cleanse(l->session_key, sizeof l->session_key);
    free(l);
}

static int purge_sessions(struct db_conn *c, void *arg)
{
    sqlite3_stmt *st = db_stmt(c, &auth_sql, Q_PURGE_SESSIONS);

    /* Kept a day past expiry, so a late client hears token_expired. */
    sqlite3_bind_int64(st, 1, clock_now() - 86400);
    sesscache_stale();
    return db_exec_stmt(st);
}

/* Every 30 s: drop answered logins older than the replay window; every
 * hour, purge long-expired sessions. */
static void sweep(evutil_socket_t fd, short what, void *arg)
{
    static unsigned ticks;
    double now = clock_mono_ms(), keep = (double)A.cfg->session.login_replay_s * 1000.0;

    if (++ticks % 120 == 0)
        writer_submit(purge_sessions, NULL, NULL);

    for (unsigned b = 0; b < NBUCKETS; b++) {
        struct login **pp = &A.bucket[b];
        while (*pp) {
            struct login *l = *pp;
            if (l->state == L_DONE && now - l->done_ms >= keep) {
                *pp = l->next;
                login_free(l);
            } else {
                pp = &l->next;
            }
        }
    }
}

/* ---- answering ---- */

/* Answer R with L's session; false when that session is gone (logged out,
 * unbound by HR) and the token must not be handed out again. */
static bool reply_login(struct gy_req *r, const struct login *l)
{
    struct db_conn *c = db_reader();
    sqlite3_stmt *st;
    int64_t employee_id = 0, expires_at = 0;
    cJSON *body;
    char when[32];

    st = db_stmt(c, &auth_sql, Q_SESSION_EXPIRY);
    sqlite3_bind_text(st, 1, l->token_hash, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        expires_at = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    if (expires_at <= clock_now())
        return false;
    body = cJSON_CreateObject();
    st = db_stmt(c, &auth_sql, Q_EMPLOYEE_OF_USER);
    sqlite3_bind_int64(st, 1, l->user_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        employee_id = sqlite3_column_int64(st, 0);
    db_done(st, 0);

    clock_format(expires_at, when);
    cJSON_AddStringToObject(body, "token", l->token);
    cJSON_AddStringToObject(body, "expires_at", when);
    cJSON_AddBoolToObject(body, "bound", employee_id != 0);
    cJSON_AddItemToObject(body, "employee",
                          employee_id ? bind_employee_json(c, employee_id) : cJSON_CreateNull());
    r->auth.user_id = l->user_id;
    api_reply_json(r, 200, body);
    return true;
}

/* Answer every waiter of L with an error and forget L. */
static void fail_login(struct login *l, const char *code, int retry_after)
{
    struct waiter *w = l->waiters;

    login_unlink(l);
    while (w) {
        struct waiter *next = w->next;
        api_reply_error_ex(w->r, code, NULL, retry_after);
        free(w);
        w = next;
    }
    login_free(l);
}

static void finish_login(struct login *l)
{
    struct waiter *w = l->waiters;

    l->waiters = NULL;
    l->state = L_DONE;
    l->done_ms = clock_mono_ms();
    while (w) {
        struct waiter *next = w->next;
        if (!reply_login(w->r, l))
            api_reply_error(w->r, "internal_error");
        free(w);
        w = next;
    }
}

/* ---- the writer unit: user and session ---- */

static int login_write(struct db_conn *c, void *arg)
{
    struct login *l = arg;
    int64_t now = clock_now();
    sqlite3_stmt *st = db_stmt(c, &auth_sql, Q_UPSERT_USER);

    sqlite3_bind_text(st, 1, l->openid, -1, SQLITE_STATIC);
    db_bind_text(st, 2, l->unionid[0] ? l->unionid : NULL);
    sqlite3_bind_text(st, 3, l->session_key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_done(st, 0);
        return db_fail(c, "login: cannot save user");
    }
    l->user_id = sqlite3_column_int64(st, 0);
    db_done(st, 0);

    l->expires_at = now + A.cfg->session.ttl_s;
    st = db_stmt(c, &auth_sql, Q_INSERT_SESSION);
    sqlite3_bind_text(st, 1, l->token_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, l->user_id);
    sqlite3_bind_int64(st, 3, now);
    sqlite3_bind_int64(st, 4, l->expires_at);
    return db_exec_stmt(st);
}

static void login_written(void *arg, int rc)
{
    struct login *l = arg;

    if (rc != 0) {
        fail_login(l, "internal_error", 0);
        return;
    }
    finish_login(l);
}

/* ---- code2Session ---- */

static void on_session(void *arg, const struct wx_result *res, const struct wx_session *s)
{
    struct login *l = arg;

    if (res->status == WX_OK) {
        snprintf(l->openid, sizeof l->openid, "%s", s->openid);
        snprintf(l->unionid, sizeof l->unionid, "%s", s->unionid ? s->unionid : "");
        snprintf(l->session_key, sizeof l->session_key, "%s", s->session_key);
        gy_token_new(l->token);
        gy_sha256_hex(l->token, strlen(l->token), l->token_hash);
        writer_submit(login_write, login_written, l);
        return;
    }
    gy_log(LOG_WARN, "code2session failed: status %d errcode %ld after %d attempts, rid %s",
           (int)res->status, res->errcode, res->attempts, res->rid);
    if (res->status == WX_ERRCODE && (res->errcode == 40029 || res->errcode == 40163))
        fail_login(l, "wx_code_invalid", 0);
    else if (res->status == WX_ERRCODE && res->errcode == 45011)
        fail_login(l, "wechat_rate_limited", 60);
    else if (res->status == WX_ERRCODE && res->errcode == 40226)
        fail_login(l, "wx_login_blocked", 0);
    else if (wx_result_is_transient(res))
        fail_login(l, "wechat_unavailable", 5);
    else
        fail_login(l, "wechat_error", 0);
}

/* A js_code is short printable ASCII. */
static bool code_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (n >= 128 || s[n] <= ' ' || s[n] > '~')
            return false;
    return n > 0;
}

void auth_login(struct gy_req *r)
{
    const char *code = api_str(r, "code", 1, 128);
    char hash[65];
    struct login *l;
    struct waiter *w;

    if (!code)
        return;
    if (!code_ok(code)) {
        api_reply_bad_field(r, "code", "bad_characters");
        return;
    }
    gy_sha256_hex(code, strlen(code), hash);
    l = login_find(hash);
    if (l && l->state == L_DONE &&
        clock_mono_ms() - l->done_ms < (double)A.cfg->session.login_replay_s * 1000.0) {
        if (reply_login(r, l))
            return;
        /* Its session ended meanwhile; the code is spent at WeChat. */
        login_unlink(l);
        login_free(l);
        api_reply_error(r, "wx_code_invalid");
        return;
    }
    if (l && l->state == L_DONE) {
        login_unlink(l);
        login_free(l);
        l = NULL;
    }
    w = gy_calloc(1, sizeof *w);
    w->r = r;
    if (l) {   /* the same code is being exchanged right now: wait for it */
        w->next = l->waiters;
        l->waiters = w;
        return;
    }
    l = gy_calloc(1, sizeof *l);
    snprintf(l->code_hash, sizeof l->code_hash, "%s", hash);
    l->waiters = w;
    l->next = A.bucket[bucket_of(hash)];
    A.bucket[bucket_of(hash)] = l;
    if (wx_code2session(wxlink_client(), code, on_session, l) != 0)
        fail_login(l, "wechat_unavailable", 5);
}

/* ---- resolving a bearer token ---- */

static int touch_session(struct db_conn *c, void *arg)
{
    char *hash = arg;
    int64_t now = clock_now();
    sqlite3_stmt *st = db_stmt(c, &auth_sql, Q_TOUCH_SESSION);

    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now + A.cfg->session.ttl_s);
    sqlite3_bind_int64(st, 3, now);
    return db_exec_stmt(st);
}

static void touched(void *arg, int rc)
{
    if (rc != 0)
        sesscache_drop(arg);   /* it was extended in memory only */
    free(arg);
}

static int resolve_apikey(struct gy_req *r, const char *hash)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &auth_sql, Q_APIKEY_BY_HASH);
    bool ok;

    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_done(st, 0);
        api_reply_error(r, "token_invalid");
        return GY_ERR;
    }
    r->auth.apikey_id = sqlite3_column_int64(st, 0);
    r->auth.roles = roles_parse((const char *)sqlite3_column_text(st, 1), &ok);
    db_done(st, 0);
    return GY_OK;
}

/* The session's row and employee, from SQLite; GY_ERR (replied) if none. */
static int read_session(struct gy_req *r, const char *hash, int64_t *expires, int64_t *touched_at)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &auth_sql, Q_SESSION_BY_HASH);
    bool ok;

    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_done(st, 0);
        api_reply_error(r, "token_invalid");
        return GY_ERR;
    }
    r->auth.user_id = sqlite3_column_int64(st, 0);
    *expires = sqlite3_column_int64(st, 1);
    *touched_at = sqlite3_column_int64(st, 2);
    if (sqlite3_column_type(st, 3) != SQLITE_NULL) {
        r->auth.employee_id = sqlite3_column_int64(st, 3);
        snprintf(r->auth.employee_no, sizeof r->auth.employee_no, "%s",
                 (const char *)sqlite3_column_text(st, 4));
        r->auth.roles = roles_parse((const char *)sqlite3_column_text(st, 5), &ok);
    }
    db_done(st, 0);
    return GY_OK;
}

static int resolve_session(struct gy_req *r, const char *hash)
{
    int64_t now = clock_now(), expires, touched_at;

    if (!sesscache_get(hash, &r->auth, &expires, &touched_at)) {
        unsigned gen = sesscache_gen();   /* before the read: see sesscache.c */
        if (read_session(r, hash, &expires, &touched_at) != GY_OK)
            return GY_ERR;
        sesscache_put(hash, &r->auth, expires, touched_at, gen);
    }
    if (expires <= now) {
        api_reply_error(r, "token_expired");
        return GY_ERR;
    }
    /* Sliding expiry, written at most once per touch interval. */
    if (now - touched_at >= A.cfg->session.touch_interval_s) {
        writer_submit(touch_session, touched, gy_strdup(hash));
        sesscache_touch(hash, now + A.cfg->session.ttl_s, now);
    }
    return GY_OK;
}

int auth_resolve(struct gy_req *r)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Authorization");
    const char *token;

    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        api_reply_error(r, "unauthorized");
        return GY_ERR;
    }
    token = h + 7;
    while (*token == ' ')
        token++;
    if (!*token || strlen(token) > 200) {
        api_reply_error(r, "token_invalid");
        return GY_ERR;
    }
    gy_sha256_hex(token, strlen(token), r->auth.token_hash);
    if (strncmp(token, APIKEY_PREFIX, strlen(APIKEY_PREFIX)) == 0)
        return resolve_apikey(r, r->auth.token_hash);
    return resolve_session(r, r->auth.token_hash);
}

/* ---- logout ---- */

static int delete_session(struct db_conn *c, void *arg)
{
    struct gy_req *r = arg;
    sqlite3_stmt *st = db_stmt(c, &auth_sql, Q_DELETE_SESSION);

    sqlite3_bind_text(st, 1, r->auth.token_hash, -1, SQLITE_STATIC);
    sesscache_stale();
    return db_exec_stmt(st);
}

static void session_deleted(void *arg, int rc)
{
    struct gy_req *r = arg;
    cJSON *body;

    if (rc != 0) {
        api_reply_error(r, "internal_error");
        return;
    }
    body = cJSON_CreateObject();
    cJSON_AddBoolToObject(body, "ok", true);
    api_reply_json(r, 200, body);
}

void auth_logout(struct gy_req *r)
{
    if (!r->auth.user_id) {
        api_reply_error(r, "forbidden");
        return;
    }
    writer_submit(delete_session, session_deleted, r);
}

/* ---- the test clock ---- */

void testing_clock_set(struct gy_req *r)
{
    const cJSON *now = cJSON_GetObjectItemCaseSensitive(r->json, "now");
    const cJSON *adv = cJSON_GetObjectItemCaseSensitive(r->json, "advance_s");
    cJSON *body;
    char iso[32];
    int64_t when;

    if (cJSON_IsString(now)) {   /* ISO 8601 with offset, as the API's times */
        if (clock_parse(now->valuestring, &when) != GY_OK) {
            api_reply_bad_field(r, "now", "not_iso8601_with_offset");
            return;
        }
        clock_set(when);
    } else if ((now && !cJSON_IsNumber(now)) || (adv && !cJSON_IsNumber(adv))) {
        api_reply_bad_field(r, now && !cJSON_IsNumber(now) ? "now" : "advance_s", "not_a_number");
        return;
    } else if (now) {
        clock_set((int64_t)now->valuedouble);
    }
    if (!now && adv)
        clock_set(clock_now() + (int64_t)adv->valuedouble);
    attday_kick();   /* windows may have closed, digests come due */
    body = cJSON_CreateObject();
    cJSON_AddNumberToObject(body, "now", (double)clock_now());
    clock_format(clock_now(), iso);
    cJSON_AddStringToObject(body, "iso", iso);
    api_reply_json(r, 200, body);
}

/* ---- API keys (operator command) ---- */

int auth_apikey_create(struct db_conn *c, const char *role, const char *name)
{
    char token[44], key[sizeof APIKEY_PREFIX + 44], hash[65];
    sqlite3_stmt *st;
    bool ok;
    unsigned bits = roles_parse(role, &ok);

    if (!ok || !bits || strchr(role, '|')) {
        fprintf(stderr, "apikey: --role must be one of worker, technician, supervisor, hr\n");
        return GY_ERR;
    }
    if (!*name || gy_utf8_len(name) > 64 || !gy_utf8_valid(name, strlen(name), UTF8_NO_CTL)) {
        fprintf(stderr, "apikey: --name must be 1 to 64 characters\n");
        return GY_ERR;
    }
    gy_token_new(token);
    snprintf(key, sizeof key, "%s%s", APIKEY_PREFIX, token);
    gy_sha256_hex(key, strlen(key), hash);
    st = db_stmt(c, &auth_sql, Q_INSERT_APIKEY);
    sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, role, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, clock_now());
    if (db_exec_stmt(st) != GY_OK) {
        fprintf(stderr, "apikey: cannot store the key: %s\n", sqlite3_errmsg(db_handle(c)));
        return GY_ERR;
    }
    printf("%s\n", key);
    return GY_OK;
}

int auth_apikey_list(struct db_conn *c)
{
    sqlite3_stmt *st = db_stmt(c, &auth_sql, Q_APIKEY_LIST);

    printf("%-6s %-24s %-11s %-25s %s\n", "id", "name", "role", "created", "revoked");
    while (sqlite3_step(st) == SQLITE_ROW) {
        char made[32], gone[32] = "-";
        clock_format(sqlite3_column_int64(st, 3), made);
        if (sqlite3_column_type(st, 4) != SQLITE_NULL)
            clock_format(sqlite3_column_int64(st, 4), gone);
        printf("%-6lld %-24s %-11s %-25s %s\n", (long long)sqlite3_column_int64(st, 0),
               (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2),
               made, gone);
    }
    db_done(st, 0);
    return GY_OK;
}

int auth_apikey_revoke(struct db_conn *c, const char *name_or_id)
{
    sqlite3_stmt *st = db_stmt(c, &auth_sql, Q_APIKEY_REVOKE);
    int n;

    long long id;

    sqlite3_bind_text(st, 1, name_or_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, clock_now());
    /* All digits: the key's id (from `apikey list`); otherwise its name. */
    sqlite3_bind_int(st, 3, gy_parse_ll(name_or_id, 1, INT64_MAX, &id) == GY_OK);
    sqlite3_bind_int64(st, 4, gy_parse_ll(name_or_id, 1, INT64_MAX, &id) == GY_OK ? id : 0);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    n = sqlite3_changes(db_handle(c));
    if (n == 0) {
        fprintf(stderr, "apikey: no active key named or numbered %s\n", name_or_id);
        return GY_ERR;
    }
    printf("revoked %d key(s)\n", n);
    return GY_OK;
}

/* ---- start and stop ---- */

int auth_init(struct event_base *base, const struct gy_config *cfg)
{
    struct timeval every = { 30, 0 };

    A.cfg = cfg;
    A.sweep = event_new(base, -1, EV_PERSIST, sweep, NULL);
    event_add(A.sweep, &every);
    return GY_OK;
}

void auth_free(void)
{
    if (A.sweep)
        event_free(A.sweep);
    A.sweep = NULL;
    for (unsigned b = 0; b < NBUCKETS; b++) {
        while (A.bucket[b]) {
            struct login *l = A.bucket[b];
            A.bucket[b] = l->next;
            /* Only a forced shutdown leaves waiters; http_abandon_all()
             * frees their requests. */
            while (l->waiters) {
                struct waiter *w = l->waiters;
                l->waiters = w->next;
                free(w);
            }
            login_free(l);
        }
    }
}
