/*
 * wxlink.c - gongyoud's side of the WeChat client: creating it from the
 * config, counting and logging every call (the observer), and keeping the
 * access token in SQLite so that a restart, or a second gongyoud on the
 * same database, reuses it instead of spending quota.
 */
#include "gongyou.h"
#include "wx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { Q_TOKEN_GET, Q_TOKEN_PUT };
static const char *const sql[] = {
    [Q_TOKEN_GET] = "SELECT token, expires_at FROM wx_tokens WHERE appid = ?1",
    [Q_TOKEN_PUT] =
        "INSERT INTO wx_tokens (appid, token, expires_at, updated_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(appid) DO UPDATE SET token = excluded.token, expires_at = excluded.expires_at, "
        "updated_at = excluded.updated_at WHERE excluded.expires_at >= wx_tokens.expires_at "
        "OR wx_tokens.token <> excluded.token",
};
const struct db_sqlset wxlink_sql = { "wxlink", sql, GY_ARRAY_LEN(sql) };

static struct {
    struct wx_client *wx;
    const struct gy_config *cfg;
} L;

struct wx_client *wxlink_client(void)
{
    return L.wx;
}

static void observe(void *arg, const char *api, long errcode, long http_status, double ms,
                    const char *rid)
{
    metrics_wechat(api, errcode, ms);
    if (errcode != 0) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "api", api);
        cJSON_AddNumberToObject(f, "errcode", (double)errcode);
        cJSON_AddNumberToObject(f, "http_status", (double)http_status);
        cJSON_AddNumberToObject(f, "ms", (double)(long)ms);
        cJSON_AddStringToObject(f, "rid", rid);
        gy_log_json(LOG_WARN, "wechat call failed", f);
        cJSON_Delete(f);
    }
}

/* ---- the token store: read on the loop (one indexed row), write through the writer ---- */

static int token_load(void *arg, char *token, size_t toksz, long long *expires_at)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &wxlink_sql, Q_TOKEN_GET);
    int rc = -1;

    sqlite3_bind_text(st, 1, L.cfg->wechat.appid, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(token, toksz, "%s", (const char *)sqlite3_column_text(st, 0));
        *expires_at = sqlite3_column_int64(st, 1);
        rc = 0;
    }
    db_done(st, 0);
    return rc;
}

struct token_row {
    char *token;
    long long expires_at;
};

static int token_put(struct db_conn *c, void *arg)
{
    struct token_row *t = arg;
    sqlite3_stmt *st = db_stmt(c, &wxlink_sql, Q_TOKEN_PUT);

    sqlite3_bind_text(st, 1, L.cfg->wechat.appid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, t->token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, t->expires_at);
    sqlite3_bind_int64(st, 4, clock_now());
    return db_exec_stmt(st);
}

static void token_put_done(void *arg, int rc)
{
    struct token_row *t = arg;

    if (rc != 0)
        gy_log(LOG_WARN, "cannot store the WeChat access token; it stays in memory");
    free(t->token);
    free(t);
}

static void token_save(void *arg, const char *token, long long expires_at)
{
    struct token_row *t = gy_malloc(sizeof *t);

    t->token = gy_strdup(token);
    t->expires_at = expires_at;
    writer_submit(token_put, token_put_done, t);
}

int wxlink_start(struct event_base *base, const struct gy_config *cfg, char *err, size_t errsz)
{
    struct wx_config wc = {
        .appid = cfg->wechat.appid,
        .secret = cfg->wechat.secret,
        .api_base = cfg->wechat.api_base,
        .connect_timeout_ms = cfg->wechat.connect_timeout_ms,
        .timeout_ms = cfg->wechat.timeout_ms,
        .max_retries = cfg->wechat.max_retries,
        .retry_base_ms = cfg->wechat.retry_base_ms,
        .token_classic = strcmp(cfg->wechat.token_api, "token") == 0,
        .token_margin_s = cfg->wechat.token_margin_s,
    };
    struct wx_token_store store = { token_load, token_save, NULL };

    L.cfg = cfg;
    L.wx = wx_client_new(base, &wc);
    if (!L.wx) {
        snprintf(err, errsz, "cannot start the WeChat client");
        return GY_ERR;
    }
    wx_client_set_observer(L.wx, observe, NULL);
    wx_client_set_token_store(L.wx, &store);
    return GY_OK;
}

void wxlink_free(void)
{
    wx_client_free(L.wx);
    L.wx = NULL;
}
