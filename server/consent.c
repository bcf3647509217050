/*
 * consent.c - the ledger of one-time subscription credits. Each "accept"
 * in wx.requestSubscribeMessage's popup grants one send of that template;
 * a successful send spends it; 43101 or a "reject" from the settings page
 * (subscribe_msg_change_event) sets it to zero; "ban" too.
 *
 * The same tap may be reported twice: by the mini-program (POST
 * /api/v1/subscriptions) and by WeChat's push (subscribe_msg_popup_event).
 * Each report is kept as a tap; a tap from one source pairs with an
 * unpaired tap of the same openid, template and status from the other
 * source within TAP_WINDOW_S, and a paired tap changes nothing.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAP_WINDOW_S 120

enum {
    Q_TAP_FIND, Q_TAP_MATCH, Q_TAP_INSERT, Q_ACCEPT, Q_STATUS, Q_CREDITS, Q_SPEND, Q_OPENID, Q_LIST,
};
static const char *const sql[] = {
    [Q_TAP_FIND] =
        "SELECT id FROM consent_taps WHERE openid = ?1 AND template_id = ?2 AND status = ?3 "
        "AND source = ?4 AND matched = 0 AND at BETWEEN ?5 AND ?6 ORDER BY at LIMIT 1",
    [Q_TAP_MATCH] = "UPDATE consent_taps SET matched = 1 WHERE id = ?1",
    [Q_TAP_INSERT] =
        "INSERT INTO consent_taps (openid, template_id, status, source, at, matched) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_ACCEPT] =
        "INSERT INTO consent (openid, template_id, credits, last_status, updated_at) "
        "VALUES (?1, ?2, 1, 'accept', ?3) ON CONFLICT(openid, template_id) DO UPDATE SET "
        "credits = credits + 1, last_status = 'accept', updated_at = ?3",
    [Q_STATUS] =
        "INSERT INTO consent (openid, template_id, credits, last_status, updated_at) "
        "VALUES (?1, ?2, 0, ?3, ?4) ON CONFLICT(openid, template_id) DO UPDATE SET "
        "last_status = ?3, credits = CASE WHEN ?5 THEN 0 ELSE credits END, updated_at = ?4",
    [Q_CREDITS] = "SELECT credits FROM consent WHERE openid = ?1 AND template_id = ?2",
    [Q_SPEND] =
        "UPDATE consent SET credits = CASE WHEN ?3 THEN 0 ELSE max(credits - 1, 0) END, "
        "last_status = CASE WHEN ?3 OR credits <= 1 THEN 'spent' ELSE last_status END, updated_at = ?4 "
        "WHERE openid = ?1 AND template_id = ?2",
    [Q_OPENID] = "SELECT openid FROM wx_users WHERE id = ?1",
    [Q_LIST] = "SELECT credits, last_status FROM consent WHERE openid = ?1 AND template_id = ?2",
};
const struct db_sqlset consent_sql = { "consent", sql, GY_ARRAY_LEN(sql) };

static bool status_ok(const char *s)
{
    return !strcmp(s, "accept") || !strcmp(s, "reject") || !strcmp(s, "ban") || !strcmp(s, "filter");
}

/* Move the ledger for one tap (not paired). */
static int apply(struct db_conn *c, const char *openid, const char *tid, const char *status,
                 bool zero)
{
    sqlite3_stmt *st;

    if (!strcmp(status, "accept")) {
        st = db_stmt(c, &consent_sql, Q_ACCEPT);
        sqlite3_bind_text(st, 1, openid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, tid, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, clock_now());
        return db_exec_stmt(st);
    }
    st = db_stmt(c, &consent_sql, Q_STATUS);
    sqlite3_bind_text(st, 1, openid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, clock_now());
    /* A popup "reject" only declines a new credit; a ban or a reject from
     * the settings page takes the old ones away. */
    sqlite3_bind_int(st, 5, zero || !strcmp(status, "ban"));
    return db_exec_stmt(st);
}

/* Record one reported tap; pairs it with the other source's report. */
static int tap(struct db_conn *c, const char *openid, const char *tid, const char *status,
               const char *source)
{
    const char *other = strcmp(source, "client") == 0 ? "push" : "client";
    int64_t now = clock_now(), twin = 0;
    sqlite3_stmt *st = db_stmt(c, &consent_sql, Q_TAP_FIND);

    sqlite3_bind_text(st, 1, openid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, other, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now - TAP_WINDOW_S);
    sqlite3_bind_int64(st, 6, now + TAP_WINDOW_S);
    if (sqlite3_step(st) == SQLITE_ROW)
        twin = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    if (twin) {
        st = db_stmt(c, &consent_sql, Q_TAP_MATCH);
        sqlite3_bind_int64(st, 1, twin);
        if (db_exec_stmt(st) != GY_OK)
            return GY_ERR;
    }
    st = db_stmt(c, &consent_sql, Q_TAP_INSERT);
    sqlite3_bind_text(st, 1, openid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_int(st, 6, twin != 0);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    return twin ? GY_OK : apply(c, openid, tid, status, false);
}

int consent_from_push(struct db_conn *c, const char *openid, const cJSON *event)
{
    const cJSON *ev = cJSON_GetObjectItemCaseSensitive(event, "Event");
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(event, "List");
    bool change;

    if (!cJSON_IsString(ev) || !cJSON_IsArray(list) || !*openid)
        return GY_OK;
    change = strcmp(ev->valuestring, "subscribe_msg_change_event") == 0;
    if (!change && strcmp(ev->valuestring, "subscribe_msg_popup_event") != 0)
        return GY_OK;
    for (const cJSON *it = list->child; it; it = it->next) {
        const cJSON *tid = cJSON_GetObjectItemCaseSensitive(it, "TemplateId");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(it, "SubscribeStatusString");
        int rc;

        if (!cJSON_IsString(tid) || !cJSON_IsString(st) || !status_ok(st->valuestring))
            continue;
        /* Changed in settings: no tap to pair. A reject takes the credits;
         * anything else only notes the status (no popup, no new credit). */
        if (change && strcmp(st->valuestring, "reject") == 0)
            rc = apply(c, openid, tid->valuestring, "reject", true);
        else if (change)
            rc = apply(c, openid, tid->valuestring, "filter", false);
        else
            rc = tap(c, openid, tid->valuestring, st->valuestring, "push");
        if (rc != GY_OK)
            return rc;
    }
    return GY_OK;
}

long consent_credits(struct db_conn *c, const char *openid, const char *template_id)
{
    sqlite3_stmt *st = db_stmt(c, &consent_sql, Q_CREDITS);
    long n = 0;

    sqlite3_bind_text(st, 1, openid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, template_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    db_done(st, 0);
    return n;
}

int consent_spend(struct db_conn *c, const char *openid, const char *template_id, bool exhausted)
{
    sqlite3_stmt *st = db_stmt(c, &consent_sql, Q_SPEND);

    sqlite3_bind_text(st, 1, openid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, template_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, exhausted);
    sqlite3_bind_int64(st, 4, clock_now());
    return db_exec_stmt(st);
}

/* ==== HTTP ==== */

static bool openid_of(struct db_conn *c, int64_t user_id, char *out, size_t outsz)
{
    sqlite3_stmt *st = db_stmt(c, &consent_sql, Q_OPENID);
    bool ok;

    sqlite3_bind_int64(st, 1, user_id);
    ok = sqlite3_step(st) == SQLITE_ROW;
    if (ok)
        snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(st, 0));
    db_done(st, 0);
    return ok;
}

/* Every template a configured kind sends, with this user's credits: the
 * mini-program asks again (on the next tap) for those with "ask": true. */
static cJSON *templates_json(const char *openid)
{
    size_t n;
    const struct notify_kind *k = notify_kinds(&n);
    cJSON *arr = cJSON_CreateArray();

    for (size_t i = 0; i < n; i++) {
        cJSON *t = NULL, *kinds;
        if (!k[i].template_id)
            continue;
        for (cJSON *it = arr->child; it && !t; it = it->next)
            if (!strcmp(cJSON_GetObjectItem(it, "template_id")->valuestring, k[i].template_id))
                t = it;
        if (!t) {
            sqlite3_stmt *st = db_stmt(db_reader(), &consent_sql, Q_LIST);
            long credits = 0;
            char last[16] = "unknown";

            sqlite3_bind_text(st, 1, openid, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, k[i].template_id, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) {
                credits = (long)sqlite3_column_int64(st, 0);
                snprintf(last, sizeof last, "%s", (const char *)sqlite3_column_text(st, 1));
            }
            db_done(st, 0);
            t = cJSON_CreateObject();
            cJSON_AddStringToObject(t, "template_id", k[i].template_id);
            cJSON_AddArrayToObject(t, "kinds");
            cJSON_AddNumberToObject(t, "credits", (double)credits);
            cJSON_AddStringToObject(t, "last_status", last);
            cJSON_AddBoolToObject(t, "ask", credits == 0 && strcmp(last, "ban") != 0);
            cJSON_AddItemToArray(arr, t);
        }
        kinds = cJSON_GetObjectItem(t, "kinds");
        cJSON_AddItemToArray(kinds, cJSON_CreateString(k[i].name));
    }
    return arr;
}

static void reply_templates(struct gy_req *r, const char *openid)
{
    cJSON *body = cJSON_CreateObject();

    cJSON_AddItemToObject(body, "templates", templates_json(openid));
    api_reply_json(r, 200, body);
}

void consent_get(struct gy_req *r)
{
    char openid[130];

    if (!r->auth.user_id || !openid_of(db_reader(), r->auth.user_id, openid, sizeof openid)) {
        api_reply_error(r, "forbidden");
        return;
    }
    reply_templates(r, openid);
}

struct report {
    struct gy_req *r;
    char openid[130];
};

static int report_unit(struct db_conn *c, void *arg)
{
    struct report *rep = arg;
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(rep->r->json, "results");

    for (const cJSON *it = results->child; it; it = it->next)
        if (tap(c, rep->openid, it->string, it->valuestring, "client") != GY_OK)
            return GY_ERR;
    return GY_OK;
}

static void report_done(void *arg, int rc)
{
    struct report *rep = arg;

    if (rc != GY_OK)
        api_reply_error(rep->r, "internal_error");
    else
        reply_templates(rep->r, rep->openid);
    free(rep);
}

void consent_post(struct gy_req *r)
{
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(r->json, "results");
    struct report *rep;
    int n = 0;

    if (!r->auth.user_id) {
        api_reply_error(r, "forbidden");
        return;
    }
    if (!cJSON_IsObject(results)) {
        api_reply_bad_field(r, "results", "not_an_object");
        return;
    }
    /* Validate every entry before anything is written. */
    for (const cJSON *it = results->child; it; it = it->next, n++) {
        size_t len = strlen(it->string);
        /* cJSON keeps repeated keys: one template reported twice is one tap. */
        for (const cJSON *prev = results->child; prev != it; prev = prev->next) {
            if (strcmp(prev->string, it->string) == 0) {
                api_reply_bad_field(r, "results", "duplicate_template_id");
                return;
            }
        }
        if (n >= 20 || len == 0 || len > 128 || !gy_utf8_valid(it->string, len, UTF8_NO_CTL)) {
            api_reply_bad_field(r, "results", "bad_template_id");
            return;
        }
        if (!cJSON_IsString(it) || !status_ok(it->valuestring)) {
            api_reply_bad_field(r, "results", "bad_status");
            return;
        }
    }
    if (n == 0) {
        api_reply_bad_field(r, "results", "empty");
        return;
    }
    rep = gy_calloc(1, sizeof *rep);
    rep->r = r;
    if (!openid_of(db_reader(), r->auth.user_id, rep->openid, sizeof rep->openid)) {
        free(rep);
        api_reply_error(r, "forbidden");
        return;
    }
    writer_submit(report_unit, report_done, rep);
}
