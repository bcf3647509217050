/*
 * moderation.c - text that one worker shows to others goes through
 * WeChat's msg_sec_check first (mini-programs that skip it get blocked).
 * "risky" is refused with a message that says why; "review" is kept but
 * held, shown to nobody else until HR releases it; "pass" is visible at
 * once. When WeChat cannot be asked, the text is held rather than lost or
 * shown unchecked. Features call moderation_submit() and keep the id.
 */
#include "gongyou.h"
#include "wx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { Q_OPENID, Q_INSERT, Q_LIST, Q_LIST_STATUS, Q_DECIDE };
static const char *const sql[] = {
    [Q_OPENID] = "SELECT openid FROM wx_users WHERE id = ?1",
    [Q_INSERT] =
        "INSERT INTO moderation (kind, openid, text, suggest, label, trace_id, status, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
    /* Two statements, so a filter on the status can use its index. */
    [Q_LIST] =
        "SELECT id, kind, openid, text, suggest, label, status, created_at, decided_at, decided_by "
        "FROM moderation WHERE id < ?2 ORDER BY id DESC LIMIT ?3",
    [Q_LIST_STATUS] =
        "SELECT id, kind, openid, text, suggest, label, status, created_at, decided_at, decided_by "
        "FROM moderation WHERE status = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
    [Q_DECIDE] =
        "UPDATE moderation SET status = ?2, decided_at = ?3, decided_by = ?4 WHERE id = ?1 AND status = 'held'",
};
const struct db_sqlset moderation_sql = { "moderation", sql, GY_ARRAY_LEN(sql) };

struct mod {
    struct gy_req *r;
    char kind[48];
    char openid[130];
    char *text;
    const char *suggest;
    long label;
    char trace_id[80];
    const char *status;
    int64_t id;
    moderation_done_fn *done;
    void *arg;
    void (*arg_free)(void *);   /* ARG's owner, when DONE is not called */
};

static void mod_free(void *p)
{
    struct mod *m = p;

    if (m->arg_free)
        m->arg_free(m->arg);
    free(m->text);
    free(m);
}

static int record_unit(struct db_conn *c, void *arg)
{
    struct mod *m = arg;
    sqlite3_stmt *st = db_stmt(c, &moderation_sql, Q_INSERT);
    int rc;

    sqlite3_bind_text(st, 1, m->kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, m->openid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->text, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, m->suggest, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, m->label);
    sqlite3_bind_text(st, 6, m->trace_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, m->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, clock_now());
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        m->id = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    return rc == SQLITE_ROW ? GY_OK : db_fail(c, "moderation: cannot record");
}

static void recorded(void *arg, int rc)
{
    struct mod *m = arg;

    if (rc != GY_OK)
        api_reply_error(m->r, "internal_error");
    else if (!strcmp(m->status, "refused"))
        api_reply_error(m->r, "content_risky");
    else {
        m->done(m->r, m->arg, m->id, !strcmp(m->status, "held"));
        m->arg_free = NULL;   /* DONE owns it now */
    }
    mod_free(m);
}

static void checked(void *arg, const struct wx_result *res, const struct wx_seccheck *v)
{
    struct mod *m = arg;

    m->r->cleanup = NULL;
    if (res->status == WX_OK) {
        m->suggest = v->suggest == WX_SUGGEST_PASS ? "pass" : v->suggest == WX_SUGGEST_RISKY ? "risky" : "review";
        m->status = v->suggest == WX_SUGGEST_PASS ? "visible" : v->suggest == WX_SUGGEST_RISKY ? "refused" : "held";
        m->label = v->label;
        snprintf(m->trace_id, sizeof m->trace_id, "%s", v->trace_id);
    } else {
        gy_log(LOG_WARN, "moderation: msg_sec_check failed (status %d, errcode %ld): holding the text",
               (int)res->status, res->errcode);
        m->suggest = "unchecked";
        m->status = "held";
    }
    writer_submit(record_unit, recorded, m);
}

void moderation_submit(struct gy_req *r, const char *kind, const char *text, int scene,
                       moderation_done_fn *done, void *arg, void (*arg_free)(void *))
{
    struct mod *m = gy_calloc(1, sizeof *m);
    sqlite3_stmt *st = db_stmt(db_reader(), &moderation_sql, Q_OPENID);

    m->r = r;
    snprintf(m->kind, sizeof m->kind, "%s", kind);
    m->text = gy_strdup(text);
    m->done = done;
    m->arg = arg;
    m->arg_free = arg_free;
    sqlite3_bind_int64(st, 1, r->auth.user_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(m->openid, sizeof m->openid, "%s", (const char *)sqlite3_column_text(st, 0));
    db_done(st, 0);
    if (!m->openid[0] || wx_msg_sec_check(wxlink_client(), m->openid, scene, text, checked, m) != 0) {
        /* Nobody to check it for (an API key), or it could not be asked: hold it. */
        struct wx_result fail = { .status = WX_TRANSPORT, .errcode = -1, .errmsg = "not asked", .rid = "" };
        checked(m, &fail, NULL);
        return;
    }
    r->cleanup = mod_free;   /* a forced shutdown cancels the check without a callback */
    r->cleanup_arg = m;
}

/* ==== HR ==== */

void moderation_list(struct gy_req *r)
{
    static const char *const statuses[] = { "held", "visible", "released", "rejected", "refused", "all" };
    char status[16];
    struct api_page page;
    sqlite3_stmt *st;
    cJSON *body, *list;

    /* Held items by default: what HR has to act on. */
    if (api_query_status(r, statuses, GY_ARRAY_LEN(statuses), "held", status) != GY_OK ||
        api_page_params(r, 100, &page) != GY_OK)
        return;
    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "items");
    st = db_stmt(db_reader(), &moderation_sql, status[0] ? Q_LIST_STATUS : Q_LIST);
    if (status[0])
        sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, page.before);
    sqlite3_bind_int64(st, 3, page.limit);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        char when[32];
        cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
        cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(st, 1));
        cJSON_AddStringToObject(o, "openid", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(o, "text", (const char *)sqlite3_column_text(st, 3));
        cJSON_AddStringToObject(o, "suggest", (const char *)sqlite3_column_text(st, 4));
        cJSON_AddNumberToObject(o, "label", (double)sqlite3_column_int64(st, 5));
        cJSON_AddStringToObject(o, "status", (const char *)sqlite3_column_text(st, 6));
        clock_format(sqlite3_column_int64(st, 7), when);
        cJSON_AddStringToObject(o, "created_at", when);
        if (sqlite3_column_type(st, 8) == SQLITE_NULL) {
            cJSON_AddNullToObject(o, "decided_at");
            cJSON_AddNullToObject(o, "decided_by");
        } else {
            clock_format(sqlite3_column_int64(st, 8), when);
            cJSON_AddStringToObject(o, "decided_at", when);
            cJSON_AddStringToObject(o, "decided_by", (const char *)sqlite3_column_text(st, 9));
        }
        page.last = sqlite3_column_int64(st, 0);
        cJSON_AddItemToArray(list, o);
    }
    db_done(st, 0);
    api_reply_page(r, body, list, &page);
}

struct decision {
    struct gy_req *r;
    int64_t id;
    const char *status;
    bool changed;
};

static int decide_unit(struct db_conn *c, void *arg)
{
    struct decision *d = arg;
    sqlite3_stmt *st = db_stmt(c, &moderation_sql, Q_DECIDE);
    char who[80];

    if (d->r->auth.apikey_id)
        snprintf(who, sizeof who, "apikey:%lld", (long long)d->r->auth.apikey_id);
    else
        snprintf(who, sizeof who, "employee:%s", d->r->auth.employee_no);
    sqlite3_bind_int64(st, 1, d->id);
    sqlite3_bind_text(st, 2, d->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, clock_now());
    sqlite3_bind_text(st, 4, who, -1, SQLITE_TRANSIENT);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    d->changed = sqlite3_changes(db_handle(c)) == 1;
    return GY_OK;
}

static void decided(void *arg, int rc)
{
    struct decision *d = arg;
    cJSON *body;

    if (rc != GY_OK) {
        api_reply_error(d->r, "internal_error");
    } else if (!d->changed) {
        api_reply_error(d->r, "moderation_not_held");
    } else {
        body = cJSON_CreateObject();
        cJSON_AddNumberToObject(body, "id", (double)d->id);
        cJSON_AddStringToObject(body, "status", d->status);
        api_reply_json(d->r, 200, body);
    }
    free(d);
}

static void decide(struct gy_req *r, const char *status)
{
    long long id;
    struct decision *d;

    if (gy_parse_ll(r->params.value[0], 1, INT64_MAX, &id) != GY_OK) {
        api_reply_error(r, "not_found");
        return;
    }
    d = gy_calloc(1, sizeof *d);
    d->r = r;
    d->id = id;
    d->status = status;
    writer_submit(decide_unit, decided, d);
}

void moderation_release(struct gy_req *r)
{
    decide(r, "released");
}

void moderation_reject(struct gy_req *r)
{
    decide(r, "rejected");
}

/* ==== testing: a stand-in for a survey comment ==== */

static void testing_done(struct gy_req *r, void *arg, int64_t id, bool held)
{
    cJSON *body = cJSON_CreateObject();

    cJSON_AddNumberToObject(body, "id", (double)id);
    cJSON_AddStringToObject(body, "status", held ? "held" : "visible");
    api_reply_json(r, 200, body);
}

void moderation_testing(struct gy_req *r)
{
    const char *text = api_str(r, "text", 1, 2500);

    if (!text)
        return;
    if (!r->auth.user_id) {
        api_reply_error(r, "forbidden");
        return;
    }
    moderation_submit(r, "testing", text, 2, testing_done, NULL, NULL);
}
