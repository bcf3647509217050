/*
 * makeup.c - make-up requests (补卡): a worker asks to correct one punch
 * (the IN or the OUT of one attendance date), within a deadline and a
 * monthly count, as WeCom and DingTalk allow; their supervisor (or HR)
 * approves or rejects; an approval adds a punch of fixed direction and the
 * day is judged again. The reason goes through msg_sec_check first. The
 * supervisor hears of the request, the worker of the decision, through
 * the outbox.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { Q_EMP, Q_PENDING_SAME, Q_MONTH_COUNT, Q_INSERT, Q_GET, Q_DECIDE, Q_LIST_MINE, Q_LIST_TEAM,
       Q_LIST_ALL };
#define MAKEUP_COLS \
    "k.id, e.employee_no, e.name, k.att_date, k.kind, k.at, m.text, m.status, k.status, " \
    "k.created_at, k.decided_at, k.decided_by, k.comment, k.employee_id, IFNULL(e.supervisor_no, '') " \
    "FROM makeups k JOIN employees e ON e.id = k.employee_id LEFT JOIN moderation m ON m.id = k.moderation_id "
static const char *const sql[] = {
    [Q_EMP] = "SELECT department, IFNULL(supervisor_no, ''), employee_no, name FROM employees WHERE id = ?1",
    [Q_PENDING_SAME] =
        "SELECT 1 FROM makeups WHERE employee_id = ?1 AND att_date = ?2 AND kind = ?3 AND status = 'pending'",
    [Q_MONTH_COUNT] =
        "SELECT count(*) FROM makeups WHERE employee_id = ?1 AND att_date >= ?2 AND att_date < ?3 "
        "AND status <> 'rejected'",
    [Q_INSERT] =
        "INSERT INTO makeups (employee_id, att_date, kind, at, moderation_id, status, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6) RETURNING id",
    [Q_GET] = "SELECT " MAKEUP_COLS "WHERE k.id = ?1",
    [Q_DECIDE] =
        "UPDATE makeups SET status = ?2, decided_at = ?3, decided_by = ?4, comment = ?5, punch_id = ?6 "
        "WHERE id = ?1 AND status = 'pending'",
    [Q_LIST_MINE] =
        "SELECT " MAKEUP_COLS "WHERE k.employee_id = ?1 AND (?2 = '' OR k.status = ?2) AND k.id < ?3 "
        "ORDER BY k.id DESC LIMIT ?4",
    [Q_LIST_TEAM] =
        "SELECT " MAKEUP_COLS "WHERE e.supervisor_no = ?1 AND (?2 = '' OR k.status = ?2) AND k.id < ?3 "
        "ORDER BY k.id DESC LIMIT ?4",
    [Q_LIST_ALL] =
        "SELECT " MAKEUP_COLS "WHERE (?2 = '' OR k.status = ?2) AND k.id < ?3 ORDER BY k.id DESC LIMIT ?4",
};
const struct db_sqlset makeup_sql = { "makeup", sql, GY_ARRAY_LEN(sql) };

static void add_text(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        cJSON_AddStringToObject(o, name, (const char *)sqlite3_column_text(st, col));
}

/* A row of MAKEUP_COLS; the reason only once moderation lets it be shown,
 * or to its author. */
static cJSON *makeup_json(sqlite3_stmt *st, int64_t viewer)
{
    cJSON *o = cJSON_CreateObject();
    const char *mstatus = (const char *)sqlite3_column_text(st, 7);
    bool shown = viewer == sqlite3_column_int64(st, 13) ||
                 (mstatus && (!strcmp(mstatus, "visible") || !strcmp(mstatus, "released")));
    char date[11];

    cJSON_AddNumberToObject(o, "id", (double)sqlite3_column_int64(st, 0));
    cJSON_AddStringToObject(o, "employee_no", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 2));
    att_format_date(sqlite3_column_int(st, 3), date);
    cJSON_AddStringToObject(o, "date", date);
    cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(st, 4));
    api_add_time_col(o, "time", st, 5);
    if (shown)
        add_text(o, "reason", st, 6);
    else
        cJSON_AddNullToObject(o, "reason");
    cJSON_AddStringToObject(o, "status", (const char *)sqlite3_column_text(st, 8));
    api_add_time_col(o, "created_at", st, 9);
    api_add_time_col(o, "decided_at", st, 10);
    add_text(o, "decided_by", st, 11);
    add_text(o, "comment", st, 12);
    return o;
}

static cJSON *makeup_get(struct db_conn *c, int64_t id, int64_t viewer)
{
    sqlite3_stmt *st = db_stmt(c, &makeup_sql, Q_GET);
    cJSON *o = NULL;

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW)
        o = makeup_json(st, viewer);
    db_done(st, 0);
    return o;
}

/* ==== asking ==== */

enum { E_NOT_ALLOWED = 1, E_LIMIT, E_DUPLICATE, E_NOT_FOUND, E_DECIDED, E_FORBIDDEN };

struct ask {
    struct gy_req *r;
    int64_t employee_id;
    int32_t date;
    bool in;
    int64_t at;
    int64_t moderation_id;
    bool held;
    const char *why;     /* for E_NOT_ALLOWED */
    cJSON *reply;
};

static int64_t count_month(struct db_conn *c, int64_t emp, int32_t date)
{
    char ym[11];
    int32_t first, next;
    sqlite3_stmt *st;
    int64_t n = 0;

    att_format_date(date, ym);
    ym[7] = '\0';
    att_parse_month(ym, &first, &next);
    st = db_stmt(c, &makeup_sql, Q_MONTH_COUNT);
    sqlite3_bind_int64(st, 1, emp);
    sqlite3_bind_int(st, 2, first);
    sqlite3_bind_int(st, 3, next);
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    return n;
}

/* Why the request cannot be made for that day and time, or NULL. */
static const char *day_problem(struct ask *a, const struct att_day *d)
{
    const struct gy_config *cfg = http_config();
    int32_t today = attday_today();

    if (a->date > today)
        return "date_in_future";
    if (today - a->date > cfg->attendance.makeup_deadline_days)
        return "past_deadline";
    if (!d->version_id)
        return "rest_day";
    if (a->at > clock_now())
        return "time_in_future";
    if (a->at < d->w.open || a->at > d->w.close)
        return "time_outside_window";
    return NULL;
}

static int ask_unit(struct db_conn *c, void *arg)
{
    struct ask *a = arg;
    const struct gy_config *cfg = http_config();
    char dept[200], sup[64], no[64], name[128], hhmm[20], date[11];
    struct att_day d;
    sqlite3_stmt *st = db_stmt(c, &makeup_sql, Q_EMP);
    int64_t id;
    cJSON *f;
    int rc;

    sqlite3_bind_int64(st, 1, a->employee_id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return db_done(st, 0), GY_ERR;
    snprintf(dept, sizeof dept, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(sup, sizeof sup, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(no, sizeof no, "%s", (const char *)sqlite3_column_text(st, 2));
    snprintf(name, sizeof name, "%s", (const char *)sqlite3_column_text(st, 3));
    db_done(st, 0);
    if (attday_ensure(c, a->employee_id, dept, a->date, &d) != GY_OK)
        return GY_ERR;
    if ((a->why = day_problem(a, &d)))
        return E_NOT_ALLOWED;
    st = db_stmt(c, &makeup_sql, Q_PENDING_SAME);
    sqlite3_bind_int64(st, 1, a->employee_id);
    sqlite3_bind_int(st, 2, a->date);
    sqlite3_bind_text(st, 3, a->in ? "in" : "out", -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    db_done(st, 0);
    if (rc == SQLITE_ROW)
        return E_DUPLICATE;
    if (count_month(c, a->employee_id, a->date) >= cfg->attendance.makeups_per_month)
        return E_LIMIT;
    st = db_stmt(c, &makeup_sql, Q_INSERT);
    sqlite3_bind_int64(st, 1, a->employee_id);
    sqlite3_bind_int(st, 2, a->date);
    sqlite3_bind_text(st, 3, a->in ? "in" : "out", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, a->at);
    sqlite3_bind_int64(st, 5, a->moderation_id);
    sqlite3_bind_int64(st, 6, clock_now());
    if (sqlite3_step(st) != SQLITE_ROW)
        return db_done(st, 0), db_fail(c, "makeup insert");
    id = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    if (sup[0]) {
        f = cJSON_CreateObject();
        att_format_date(a->date, date);
        clock_format_minute(a->at, hhmm);
        cJSON_AddStringToObject(f, "name", name);
        cJSON_AddStringToObject(f, "employee_no", no);
        cJSON_AddStringToObject(f, "date", date);
        cJSON_AddStringToObject(f, "kind", a->in ? "上班" : "下班");
        cJSON_AddStringToObject(f, "time", hhmm);
        cJSON_AddStringToObject(f, "reason", a->held ? "（理由待审核）" :
                                cJSON_GetObjectItem(a->r->json, "reason")->valuestring);
        cJSON_AddNumberToObject(f, "id", (double)id);
        rc = notify_enqueue(c, "makeup_request", sup, f);
        cJSON_Delete(f);
        if (rc != GY_OK)
            return GY_ERR;
    }
    a->reply = makeup_get(c, id, a->employee_id);
    return a->reply ? GY_OK : GY_ERR;
}

static void ask_done(void *arg, int rc)
{
    struct ask *a = arg;
    cJSON *extra;

    switch (rc) {
    case GY_OK:
        api_reply_json(a->r, 201, a->reply);
        a->reply = NULL;
        break;
    case E_NOT_ALLOWED:
        extra = cJSON_CreateObject();
        cJSON_AddStringToObject(extra, "reason", a->why);
        api_reply_error_ex(a->r, "makeup_not_allowed", extra, 0);
        break;
    case E_LIMIT:
        extra = cJSON_CreateObject();
        cJSON_AddNumberToObject(extra, "per_month", http_config()->attendance.makeups_per_month);
        api_reply_error_ex(a->r, "makeup_limit", extra, 0);
        break;
    case E_DUPLICATE:
        api_reply_error(a->r, "makeup_duplicate");
        break;
    default:
        api_reply_error(a->r, "internal_error");
    }
    cJSON_Delete(a->reply);
    free(a);
}

static void reason_checked(struct gy_req *r, void *arg, int64_t id, bool held)
{
    struct ask *a = arg;

    (void)r;
    a->moderation_id = id;
    a->held = held;
    writer_submit(ask_unit, ask_done, a);
}

void makeup_post(struct gy_req *r)
{
    const char *date, *kind, *time, *reason;
    struct ask *a;
    int32_t day;
    int64_t at;

    if (!(date = api_str(r, "date", 10, 10)) || !(kind = api_str(r, "kind", 2, 3)) ||
        !(time = api_str(r, "time", 16, 40)) || !(reason = api_str(r, "reason", 2, 200)))
        return;
    if (att_parse_date(date, &day) != 0) {
        api_reply_bad_field(r, "date", "want_yyyy_mm_dd");
        return;
    }
    if (strcmp(kind, "in") && strcmp(kind, "out")) {
        api_reply_bad_field(r, "kind", "want_in_or_out");
        return;
    }
    if (clock_parse(time, &at) != GY_OK) {
        api_reply_bad_field(r, "time", "want_iso8601_with_offset");
        return;
    }
    a = gy_calloc(1, sizeof *a);
    a->r = r;
    a->employee_id = r->auth.employee_id;
    a->date = day;
    a->in = !strcmp(kind, "in");
    a->at = at;
    moderation_submit(r, "makeup_reason", reason, 2, reason_checked, a, free);
}

/* ==== deciding ==== */

struct decide {
    struct gy_req *r;
    int64_t id;
    bool approve;
    char comment[256];
    bool has_comment;
    cJSON *reply;
};

static int decide_unit(struct db_conn *c, void *arg)
{
    struct decide *dc = arg;
    sqlite3_stmt *st = db_stmt(c, &makeup_sql, Q_GET);
    char no[64], sup[64], by[64], date[11], hhmm[20];
    int64_t emp, at, punch = 0;
    int32_t day;
    bool in, pending;
    struct att_day d;
    cJSON *f;

    sqlite3_bind_int64(st, 1, dc->id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return db_done(st, 0), E_NOT_FOUND;
    snprintf(no, sizeof no, "%s", (const char *)sqlite3_column_text(st, 1));
    day = sqlite3_column_int(st, 3);
    in = !strcmp((const char *)sqlite3_column_text(st, 4), "in");
    at = sqlite3_column_int64(st, 5);
    pending = !strcmp((const char *)sqlite3_column_text(st, 8), "pending");
    emp = sqlite3_column_int64(st, 13);
    snprintf(sup, sizeof sup, "%s", (const char *)sqlite3_column_text(st, 14));
    db_done(st, 0);
    if (!attendance_may_decide(dc->r, sup, no))
        return E_FORBIDDEN;
    if (!pending)
        return E_DECIDED;
    if (dc->approve) {
        if (attday_get(c, emp, day, &d) != 1 || !d.version_id)
            return E_DECIDED;   /* the day became a rest day meanwhile */
        if (clockin_insert_makeup(c, emp, day, d.version_id, in, at, dc->id, &punch) != GY_OK ||
            attday_settle(c, emp, day, NULL) != GY_OK)
            return GY_ERR;
    }
    if (dc->r->auth.employee_no[0])
        snprintf(by, sizeof by, "%s", dc->r->auth.employee_no);
    else
        snprintf(by, sizeof by, "apikey:%lld", (long long)dc->r->auth.apikey_id);
    st = db_stmt(c, &makeup_sql, Q_DECIDE);
    sqlite3_bind_int64(st, 1, dc->id);
    sqlite3_bind_text(st, 2, dc->approve ? "approved" : "rejected", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, clock_now());
    sqlite3_bind_text(st, 4, by, -1, SQLITE_STATIC);
    if (dc->has_comment)
        sqlite3_bind_text(st, 5, dc->comment, -1, SQLITE_STATIC);
    if (punch)
        sqlite3_bind_int64(st, 6, punch);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    f = cJSON_CreateObject();
    att_format_date(day, date);
    clock_format_minute(at, hhmm);
    cJSON_AddStringToObject(f, "date", date);
    cJSON_AddStringToObject(f, "kind", in ? "上班" : "下班");
    cJSON_AddStringToObject(f, "time", hhmm);
    cJSON_AddStringToObject(f, "result", dc->approve ? "已通过" : "未通过");
    cJSON_AddStringToObject(f, "comment", dc->has_comment ? dc->comment : "无");
    cJSON_AddNumberToObject(f, "id", (double)dc->id);
    if (notify_enqueue(c, "makeup_decision", no, f) != GY_OK) {
        cJSON_Delete(f);
        return GY_ERR;
    }
    cJSON_Delete(f);
    dc->reply = makeup_get(c, dc->id, 0);
    if (dc->reply && attday_get(c, emp, day, &d) == 1)
        cJSON_AddItemToObject(dc->reply, "day", attday_json(&d, shifts_version(c, d.version_id)));
    return dc->reply ? GY_OK : GY_ERR;
}

static void decide_done(void *arg, int rc)
{
    struct decide *dc = arg;
    static const char *const codes[] = { [E_NOT_FOUND] = "not_found", [E_DECIDED] = "already_decided",
                                         [E_FORBIDDEN] = "forbidden" };

    if (rc == GY_OK) {
        api_reply_json(dc->r, 200, dc->reply);
        dc->reply = NULL;
    } else if (rc >= E_NOT_FOUND && rc <= E_FORBIDDEN) {
        api_reply_error(dc->r, codes[rc]);
    } else {
        api_reply_error(dc->r, "internal_error");
    }
    cJSON_Delete(dc->reply);
    free(dc);
}

void makeup_decide(struct gy_req *r)
{
    struct decide *dc;
    const char *comment;
    long long id;
    int approve;
    bool bad;

    if (gy_parse_ll(r->params.value[0], 1, INT64_MAX, &id) != GY_OK) {
        api_reply_error(r, "not_found");
        return;
    }
    if ((approve = attendance_decision(r)) < 0)
        return;
    comment = api_opt_str(r, "comment", 1, 60, &bad);
    if (bad)
        return;
    dc = gy_calloc(1, sizeof *dc);
    dc->r = r;
    dc->id = id;
    dc->approve = approve;
    if (comment) {
        dc->has_comment = true;
        snprintf(dc->comment, sizeof dc->comment, "%s", comment);
    }
    writer_submit(decide_unit, decide_done, dc);
}

/* ==== listing: ?scope=mine|team&status= ==== */

void makeup_list(struct gy_req *r)
{
    static const char *const scopes[] = { "mine", "team" };
    static const char *const statuses[] = { "pending", "approved", "rejected", "all" };
    char scope[8], status[16];
    struct api_page page;
    sqlite3_stmt *st;
    cJSON *body, *list;
    int q;

    if (api_query_choice(r, "scope", scopes, GY_ARRAY_LEN(scopes), scope, sizeof scope) != GY_OK ||
        api_query_status(r, statuses, GY_ARRAY_LEN(statuses), "all", status) != GY_OK ||
        api_page_params(r, 100, &page) != GY_OK)
        return;
    if (!scope[0])
        snprintf(scope, sizeof scope, "%s", (r->auth.roles & (R_SUPERVISOR | R_HR)) ? "team" : "mine");
    if (!strcmp(scope, "mine")) {
        if (!r->auth.employee_id) {
            api_reply_error(r, "not_bound");
            return;
        }
        q = Q_LIST_MINE;
    } else if (r->auth.roles & R_HR) {
        q = Q_LIST_ALL;
    } else if (r->auth.roles & R_SUPERVISOR) {
        q = Q_LIST_TEAM;
    } else {
        api_reply_error(r, "forbidden");
        return;
    }
    st = db_stmt(db_reader(), &makeup_sql, q);
    if (q == Q_LIST_MINE)
        sqlite3_bind_int64(st, 1, r->auth.employee_id);
    else if (q == Q_LIST_TEAM)
        sqlite3_bind_text(st, 1, r->auth.employee_no, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, page.before);
    sqlite3_bind_int64(st, 4, page.limit);
    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "items");
    while (sqlite3_step(st) == SQLITE_ROW) {
        page.last = sqlite3_column_int64(st, 0);
        cJSON_AddItemToArray(list, makeup_json(st, r->auth.employee_id));
    }
    db_done(st, 0);
    api_reply_page(r, body, list, &page);
}
