/*
 * attday.c - daily attendance results: one att_days row per employee and
 * attendance date, holding the shift instance it is judged against (a
 * pinned version and its times) and the result. Rows are planned ahead
 * for every active employee, judged again at every punch, make-up or
 * review (attday_settle), and made final when the check-out window
 * closes. A timer on the writer thread does the planning, the finalising,
 * the supervisors' digests, the field-punch alerts and the reminders.
 * Everything here but the timer itself runs on the writer thread.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define FINALISE_BATCH 2000   /* days finalised per tick; the rest next time */
#define DIGEST_NAMES 20       /* names listed in one digest line at most */

enum {
    Q_GET, Q_SPAN, Q_INSERT, Q_REPLAN, Q_PUNCHES, Q_STORE, Q_STORE_SAME, Q_MONTH, Q_SET_STATUS, Q_PLANNED, Q_PLAN_MARK,
    Q_ACTIVE, Q_LAST_PLANNED, Q_DUE, Q_DIGEST_DUE, Q_DIGEST_MARK, Q_REMIND_DUE, Q_REMIND_MARK, Q_FIELD_DUE,
    Q_FIELD_MARK,
};
static const char *const sql[] = {
    [Q_GET] =
        "SELECT shift_version_id, start_at, end_at, open_at, close_at, status, first_in, last_out, "
        "late_min, early_min, worked_min, tier, half_day, excused, final, punches "
        "FROM att_days WHERE employee_id = ?1 AND att_date = ?2",
    /* The same columns for ?2..?3, then att_date: one descent for the
     * days around a punch instead of one each. */
    [Q_SPAN] =
        "SELECT shift_version_id, start_at, end_at, open_at, close_at, status, first_in, last_out, "
        "late_min, early_min, worked_min, tier, half_day, excused, final, punches, att_date "
        "FROM att_days WHERE employee_id = ?1 AND att_date BETWEEN ?2 AND ?3",
    [Q_INSERT] =
        "INSERT OR IGNORE INTO att_days (employee_id, att_date, shift_version_id, start_at, end_at, "
        "open_at, close_at, status, final, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [Q_REPLAN] =
        "UPDATE att_days SET shift_version_id = ?3, start_at = ?4, end_at = ?5, open_at = ?6, "
        "close_at = ?7, updated_at = ?8 "
        "WHERE employee_id = ?1 AND att_date = ?2",
    [Q_PUNCHES] =
        "SELECT at, fixed_dir, dir, field_status FROM punches WHERE employee_id = ?1 AND att_date = ?2 "
        "AND (field_status IS NULL OR field_status <> 'rejected')",
    [Q_STORE] =
        "UPDATE att_days SET status = ?3, first_in = ?4, last_out = ?5, late_min = ?6, early_min = ?7, "
        "worked_min = ?8, tier = ?9, half_day = ?10, excused = 0, punches = ?11, final = ?12, "
        "updated_at = ?13 WHERE employee_id = ?1 AND att_date = ?2",
    /* The same when "final" does not change (every punch): SQLite then
     * leaves att_days_closing alone, one random page less per punch. */
    [Q_STORE_SAME] =
        "UPDATE att_days SET status = ?3, first_in = ?4, last_out = ?5, late_min = ?6, early_min = ?7, "
        "worked_min = ?8, tier = ?9, half_day = ?10, excused = 0, punches = ?11, "
        "updated_at = ?13 WHERE employee_id = ?1 AND att_date = ?2",
    [Q_MONTH] =
        "SELECT d.att_date, d.status, d.late_min, d.excused, v.grace_min FROM att_days d "
        "JOIN shift_versions v ON v.id = d.shift_version_id "
        "WHERE d.employee_id = ?1 AND d.att_date >= ?2 AND d.att_date < ?3 ORDER BY d.att_date",
    [Q_SET_STATUS] =
        "UPDATE att_days SET status = ?3, excused = ?4 WHERE employee_id = ?1 AND att_date = ?2",
    [Q_PLANNED] = "SELECT 1 FROM att_plans WHERE att_date = ?1",
    [Q_LAST_PLANNED] = "SELECT max(att_date) FROM att_plans WHERE att_date < ?1",
    [Q_PLAN_MARK] = "INSERT OR REPLACE INTO att_plans (att_date, planned_at) VALUES (?1, ?2)",
    [Q_ACTIVE] = "SELECT id, department FROM employees WHERE active = 1",
    [Q_DUE] =
        "SELECT employee_id, att_date FROM att_days WHERE final = 0 AND shift_version_id IS NOT NULL "
        "AND close_at <= ?1 LIMIT ?2",
    [Q_DIGEST_DUE] =
        "SELECT d.att_date, d.first_in, d.status, d.late_min, e.employee_no, e.name, e.department, "
        "IFNULL(e.supervisor_no, ''), v.code, v.name, d.excused FROM att_days d "
        "JOIN employees e ON e.id = d.employee_id JOIN shift_versions v ON v.id = d.shift_version_id "
        "WHERE d.digest_done = 0 AND d.shift_version_id IS NOT NULL AND d.start_at <= ?1 "
        "ORDER BY d.att_date, v.code, e.department, 8, e.employee_no",
    [Q_DIGEST_MARK] =
        "UPDATE att_days SET digest_done = 1 WHERE digest_done = 0 AND shift_version_id IS NOT NULL "
        "AND start_at <= ?1",
    [Q_REMIND_DUE] =
        "SELECT d.start_at, d.first_in, e.employee_no, e.name, v.name, IFNULL(w.openid, '') "
        "FROM att_days d JOIN employees e ON e.id = d.employee_id "
        "JOIN shift_versions v ON v.id = d.shift_version_id LEFT JOIN wx_users w ON w.id = e.wx_user_id "
        "WHERE d.reminded = 0 AND d.shift_version_id IS NOT NULL AND d.start_at <= ?1",
    [Q_REMIND_MARK] =
        "UPDATE att_days SET reminded = 1 WHERE reminded = 0 AND shift_version_id IS NOT NULL "
        "AND start_at <= ?1",
    [Q_FIELD_DUE] =
        "SELECT p.at, e.employee_no, e.name, e.department, IFNULL(e.supervisor_no, '') "
        "FROM punches p JOIN employees e ON e.id = p.employee_id "
        "WHERE p.field_status = 'pending' AND p.field_alerted = 0 ORDER BY 5, e.department, p.id",
    [Q_FIELD_MARK] = "UPDATE punches SET field_alerted = 1 WHERE field_status = 'pending' AND field_alerted = 0",
};
const struct db_sqlset attday_sql = { "attday", sql, GY_ARRAY_LEN(sql) };

static struct {
    const struct gy_config *cfg;
    struct event *timer;
    bool busy, again;
    int quiet_from, quiet_to;
} A;

static int offset_for_day(int32_t date)
{
    return clock_utc_offset((int64_t)date * 86400 + 43200);
}

int32_t attday_today(void)
{
    int64_t now = clock_now();

    return att_local_day(now, clock_utc_offset(now));
}

/* ==== one row ==== */

static int64_t col_time(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, col);
}

/* A row of Q_GET or Q_SPAN into D (its employee and date set already). */
static void read_row(sqlite3_stmt *st, struct att_day *d)
{
    d->version_id = col_time(st, 0);
    d->w.start = sqlite3_column_int64(st, 1);
    d->w.end = sqlite3_column_int64(st, 2);
    d->w.open = sqlite3_column_int64(st, 3);
    d->w.close = sqlite3_column_int64(st, 4);
    d->status = (enum att_status)att_status_parse((const char *)sqlite3_column_text(st, 5));
    d->first_in = col_time(st, 6);
    d->last_out = col_time(st, 7);
    d->late_min = sqlite3_column_int(st, 8);
    d->early_min = sqlite3_column_int(st, 9);
    d->worked_min = sqlite3_column_int(st, 10);
    d->tier = sqlite3_column_int(st, 11);
    d->half_day = sqlite3_column_int(st, 12);
    d->excused = sqlite3_column_int(st, 13);
    d->final = sqlite3_column_int(st, 14);
    d->punches = sqlite3_column_int(st, 15);
}

int attday_get(struct db_conn *c, int64_t emp, int32_t date, struct att_day *d)
{
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_GET);
    int found = 0;

    memset(d, 0, sizeof *d);
    d->employee_id = emp;
    d->date = date;
    sqlite3_bind_int64(st, 1, emp);
    sqlite3_bind_int(st, 2, date);
    if (sqlite3_step(st) == SQLITE_ROW) {
        found = 1;
        read_row(st, d);
    }
    db_done(st, 0);
    return found;
}

/* The instance of the schedule's shift for EMP on DATE into D (not stored). */
static void resolve(struct db_conn *c, int64_t emp, const char *dept, int32_t date, struct att_day *d)
{
    char code[ATT_CODE_LEN];
    const struct shift_version *v;

    memset(d, 0, sizeof *d);
    d->employee_id = emp;
    d->date = date;
    d->status = ATT_REST;
    d->final = true;
    shifts_resolve(c, emp, dept, date, code);
    if (!code[0] || !(v = shifts_version(c, shifts_current(c, code))))
        return;
    d->version_id = v->id;
    att_instance(&v->def, date, offset_for_day(date), &d->w);
    d->status = ATT_PENDING;
    d->final = false;
}

static int insert(struct db_conn *c, const struct att_day *d)
{
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_INSERT);

    sqlite3_bind_int64(st, 1, d->employee_id);
    sqlite3_bind_int(st, 2, d->date);
    if (d->version_id)
        sqlite3_bind_int64(st, 3, d->version_id);
    sqlite3_bind_int64(st, 4, d->w.start);
    sqlite3_bind_int64(st, 5, d->w.end);
    sqlite3_bind_int64(st, 6, d->w.open);
    sqlite3_bind_int64(st, 7, d->w.close);
    sqlite3_bind_text(st, 8, att_status_name(d->status), -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, d->final);
    sqlite3_bind_int64(st, 10, clock_now());
    return db_exec_stmt(st);
}

int attday_ensure(struct db_conn *c, int64_t emp, const char *dept, int32_t date, struct att_day *d)
{
    return attday_ensure_span(c, emp, dept, date, 1, d);
}

int attday_ensure_span(struct db_conn *c, int64_t emp, const char *dept, int32_t first, size_t n,
                       struct att_day *days)
{
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_SPAN);
    bool found[ATTDAY_MAX_SPAN] = { false };
    int rc;

    if (n > ATTDAY_MAX_SPAN)
        return GY_ERR;
    sqlite3_bind_int64(st, 1, emp);
    sqlite3_bind_int(st, 2, first);
    sqlite3_bind_int(st, 3, first + (int32_t)n - 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t k = (size_t)(sqlite3_column_int(st, 16) - first);
        memset(&days[k], 0, sizeof days[k]);
        days[k].employee_id = emp;
        days[k].date = first + (int32_t)k;
        read_row(st, &days[k]);
        found[k] = true;
    }
    db_done(st, 0);
    if (rc != SQLITE_DONE)
        return db_fail(c, "attendance days");
    for (size_t k = 0; k < n; k++) {
        if (found[k])
            continue;
        resolve(c, emp, dept, first + (int32_t)k, &days[k]);
        if (insert(c, &days[k]) != GY_OK)
            return GY_ERR;
    }
    return GY_OK;
}

/* ==== judging ==== */

/* Re-apply the monthly late allowance over the month of DATE. */
static int apply_allowance(struct db_conn *c, int64_t emp, int32_t date)
{
    char ym[11];
    int32_t first, next;
    struct att_result days[32];
    int32_t dates[32];
    bool was_excused[32];
    enum att_status was[32];
    size_t n = 0;
    sqlite3_stmt *st;

    att_format_date(date, ym);
    ym[7] = '\0';
    if (att_parse_month(ym, &first, &next) != 0)
        return GY_ERR;
    st = db_stmt(c, &attday_sql, Q_MONTH);
    sqlite3_bind_int64(st, 1, emp);
    sqlite3_bind_int(st, 2, first);
    sqlite3_bind_int(st, 3, next);
    while (n < GY_ARRAY_LEN(days) && sqlite3_step(st) == SQLITE_ROW) {
        memset(&days[n], 0, sizeof days[n]);
        dates[n] = sqlite3_column_int(st, 0);
        days[n].status = (enum att_status)att_status_parse((const char *)sqlite3_column_text(st, 1));
        days[n].late_min = sqlite3_column_int(st, 2);
        days[n].excused = sqlite3_column_int(st, 3);
        days[n].grace_min = sqlite3_column_int(st, 4);
        was[n] = days[n].status;
        was_excused[n] = days[n].excused;
        n++;
    }
    db_done(st, 0);
    att_apply_allowance(days, n, A.cfg->attendance.late_allowance,
                        (int)A.cfg->attendance.late_allowance_within_min);
    for (size_t i = 0; i < n; i++) {
        if (days[i].status == was[i] && days[i].excused == was_excused[i])
            continue;
        st = db_stmt(c, &attday_sql, Q_SET_STATUS);
        sqlite3_bind_int64(st, 1, emp);
        sqlite3_bind_int(st, 2, dates[i]);
        sqlite3_bind_text(st, 3, att_status_name(days[i].status), -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 4, days[i].excused);
        if (db_exec_stmt(st) != GY_OK)
            return GY_ERR;
    }
    return GY_OK;
}

static bool latish(enum att_status st)
{
    return st == ATT_LATE || st == ATT_LATE_AND_EARLY;
}

#define MAX_PUNCHES ATTDAY_MAX_PUNCHES

void attday_punch_add(struct att_punch *p, size_t *n, int64_t at, enum att_dir dir, bool field_pending)
{
    if (*n == MAX_PUNCHES) {
        /* Dozens of punches on one day: keep the first and the latest. */
        p[*n - 1].at = at > p[*n - 1].at ? at : p[*n - 1].at;
        return;
    }
    p[*n].at = at;
    p[*n].dir = dir;
    p[*n].field_pending = field_pending;
    (*n)++;
}

static size_t load_punches(struct db_conn *c, int64_t emp, int32_t date, struct att_punch *p)
{
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_PUNCHES);
    size_t n = 0;

    sqlite3_bind_int64(st, 1, emp);
    sqlite3_bind_int(st, 2, date);
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *fs = (const char *)sqlite3_column_text(st, 3);
        enum att_dir dir = ATT_NONE;

        if (sqlite3_column_int(st, 1))
            dir = strcmp((const char *)sqlite3_column_text(st, 2), "in") == 0 ? ATT_IN : ATT_OUT;
        attday_punch_add(p, &n, sqlite3_column_int64(st, 0), dir, fs && strcmp(fs, "pending") == 0);
    }
    db_done(st, 0);
    return n;
}

int attday_judge(struct db_conn *c, struct att_day *d, const struct att_punch *p, size_t n)
{
    const struct shift_version *v = shifts_version(c, d->version_id);
    bool was_latish = latish(d->status) || d->excused, was_final = d->final;
    int64_t now = clock_now();
    struct att_result res;
    sqlite3_stmt *st;

    d->final = !v || now >= d->w.close;
    att_judge(v ? &v->def : NULL, &d->w, p, n, d->final, &res);
    d->status = res.status;
    d->first_in = res.first_in;
    d->last_out = res.last_out;
    d->late_min = res.late_min;
    d->early_min = res.early_min;
    d->worked_min = res.worked_min;
    d->tier = (int)res.tier;
    d->half_day = res.half_day;
    d->excused = false;
    d->punches = (int)n;
    st = db_stmt(c, &attday_sql, d->final == was_final ? Q_STORE_SAME : Q_STORE);
    sqlite3_bind_int64(st, 1, d->employee_id);
    sqlite3_bind_int(st, 2, d->date);
    sqlite3_bind_text(st, 3, att_status_name(res.status), -1, SQLITE_STATIC);
    if (res.first_in)
        sqlite3_bind_int64(st, 4, res.first_in);
    if (res.last_out)
        sqlite3_bind_int64(st, 5, res.last_out);
    sqlite3_bind_int(st, 6, res.late_min);
    sqlite3_bind_int(st, 7, res.early_min);
    sqlite3_bind_int(st, 8, res.worked_min);
    sqlite3_bind_int(st, 9, (int)res.tier);
    sqlite3_bind_int(st, 10, res.half_day);
    sqlite3_bind_int(st, 11, (int)n);
    if (d->final != was_final)
        sqlite3_bind_int(st, 12, d->final);
    sqlite3_bind_int64(st, 13, now);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    /* The allowance may move this day or later ones: read this one back. */
    if (v && A.cfg->attendance.late_allowance > 0 && (was_latish || latish(res.status)) &&
        (apply_allowance(c, d->employee_id, d->date) != GY_OK ||
         attday_get(c, d->employee_id, d->date, d) != 1))
        return GY_ERR;
    return GY_OK;
}

int attday_settle(struct db_conn *c, int64_t emp, int32_t date, struct att_day *out)
{
    struct att_day d;
    struct att_punch p[MAX_PUNCHES];
    size_t n;

    if (attday_get(c, emp, date, &d) != 1)
        return GY_ERR;
    n = load_punches(c, emp, date, p);
    if (attday_judge(c, &d, p, n) != GY_OK)
        return GY_ERR;
    if (out)
        *out = d;
    return GY_OK;
}

int attday_replan(struct db_conn *c, int64_t emp, const char *dept, int32_t date)
{
    struct att_day old, fresh;
    sqlite3_stmt *st;

    if (attday_get(c, emp, date, &old) != 1)
        return 0;   /* planned from the new schedule when its time comes */
    resolve(c, emp, dept, date, &fresh);
    st = db_stmt(c, &attday_sql, Q_REPLAN);
    sqlite3_bind_int64(st, 1, emp);
    sqlite3_bind_int(st, 2, date);
    if (fresh.version_id)
        sqlite3_bind_int64(st, 3, fresh.version_id);
    sqlite3_bind_int64(st, 4, fresh.w.start);
    sqlite3_bind_int64(st, 5, fresh.w.end);
    sqlite3_bind_int64(st, 6, fresh.w.open);
    sqlite3_bind_int64(st, 7, fresh.w.close);
    sqlite3_bind_int64(st, 8, clock_now());
    if (db_exec_stmt(st) != GY_OK)
        return -1;
    return attday_settle(c, emp, date, NULL) == GY_OK ? 1 : -1;
}

/* ==== JSON ==== */

void attday_shift_jout(struct jout *j, const struct att_day *d, const struct shift_version *v)
{
    if (!v) {
        jout_null(j, "shift");
        return;
    }
    jout_open(j, "shift");
    jout_str(j, "code", v->def.code);
    jout_str(j, "name", v->name);
    jout_time(j, "start", d->w.start);
    jout_time(j, "end", d->w.end);
    jout_time(j, "opens_at", d->w.open);
    jout_time(j, "closes_at", d->w.close);
    jout_close(j);
}

void attday_jout(struct jout *j, const char *name, const struct att_day *d,
                 const struct shift_version *v, bool with_shift)
{
    char date[11];

    att_format_date(d->date, date);
    jout_open(j, name);
    jout_str(j, "date", date);
    if (with_shift)
        attday_shift_jout(j, d, v);
    jout_str(j, "status", att_status_name(d->status));
    jout_time(j, "first_in", d->first_in);
    jout_time(j, "last_out", d->last_out);
    jout_int(j, "late_min", d->late_min);
    jout_int(j, "early_min", d->early_min);
    jout_int(j, "worked_min", d->worked_min);
    jout_bool(j, "serious_late", d->tier == ATT_TIER_SERIOUS);
    jout_bool(j, "half_day", d->half_day);
    jout_bool(j, "excused", d->excused);
    jout_bool(j, "final", d->final);
    jout_close(j);
}

cJSON *attday_json(const struct att_day *d, const struct shift_version *v)
{
    struct jout j = { 0 };
    size_t len;
    char *text;
    cJSON *o;

    attday_jout(&j, NULL, d, v, true);
    text = jout_take(&j, &len);
    o = cJSON_CreateRaw(text);
    free(text);
    return o;
}

/* ==== the timer: planning, finalising, digests, reminders ==== */

/* Create the day rows of DATE for every active employee, once. */
static int plan_date(struct db_conn *c, int32_t date)
{
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_PLANNED);
    bool done;
    struct { int64_t id; char *dept; } *emps = NULL;
    size_t n = 0, cap = 0;
    int rc = GY_OK;

    sqlite3_bind_int(st, 1, date);
    done = sqlite3_step(st) == SQLITE_ROW;
    db_done(st, 0);
    if (done)
        return GY_OK;
    st = db_stmt(c, &attday_sql, Q_ACTIVE);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            emps = gy_realloc(emps, cap * sizeof *emps);
        }
        emps[n].id = sqlite3_column_int64(st, 0);
        emps[n].dept = gy_strdup((const char *)sqlite3_column_text(st, 1));
        n++;
    }
    db_done(st, 0);
    for (size_t i = 0; i < n; i++) {
        struct att_day d;
        if (rc == GY_OK)
            rc = attday_ensure(c, emps[i].id, emps[i].dept, date, &d);
        free(emps[i].dept);
    }
    free(emps);
    if (rc != GY_OK)
        return rc;
    st = db_stmt(c, &attday_sql, Q_PLAN_MARK);
    sqlite3_bind_int(st, 1, date);
    sqlite3_bind_int64(st, 2, clock_now());
    return db_exec_stmt(st);
}

/* Judge the days whose check-out window has closed; true if more are due. */
static int finalise(struct db_conn *c, bool *more)
{
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_DUE);
    struct { int64_t emp; int32_t date; } *due = gy_malloc(FINALISE_BATCH * sizeof *due);
    size_t n = 0;
    int rc = GY_OK;

    sqlite3_bind_int64(st, 1, clock_now());
    sqlite3_bind_int(st, 2, FINALISE_BATCH);
    while (n < FINALISE_BATCH && sqlite3_step(st) == SQLITE_ROW) {
        due[n].emp = sqlite3_column_int64(st, 0);
        due[n].date = sqlite3_column_int(st, 1);
        n++;
    }
    db_done(st, 0);
    for (size_t i = 0; i < n && rc == GY_OK; i++)
        rc = attday_settle(c, due[i].emp, due[i].date, NULL);
    free(due);
    *more = n == FINALISE_BATCH;
    return rc;
}

/* A growing "张三、李四(6 分钟)" list, at most DIGEST_NAMES names. */
struct names {
    char buf[1024];
    int count;
};

static void names_add(struct names *nm, const char *name, int minutes)
{
    size_t len = strlen(nm->buf);

    if (nm->count++ >= DIGEST_NAMES)
        return;
    if (minutes > 0)
        snprintf(nm->buf + len, sizeof nm->buf - len, "%s%s(%d分钟)", len ? "、" : "", name, minutes);
    else
        snprintf(nm->buf + len, sizeof nm->buf - len, "%s%s", len ? "、" : "", name);
}

static void names_field(cJSON *f, const char *key, const struct names *nm)
{
    char text[1100];

    if (nm->count > DIGEST_NAMES)
        snprintf(text, sizeof text, "%s等%d人", nm->buf, nm->count);
    else
        snprintf(text, sizeof text, "%s", nm->count ? nm->buf : "无");
    cJSON_AddStringToObject(f, key, text);
}

struct digest {
    int32_t date;
    char code[ATT_CODE_LEN], shift[64], dept[200], sup[64], member[64];
    struct names late, missing, field;
};

/* Queue one group's digest, if it has anything to say. A group with no
 * supervisor can only go to its department's robot. */
static int digest_flush(struct db_conn *c, struct digest *g, const char *kind)
{
    const struct notify_kind *k = notify_kind(kind);
    char date[11];
    cJSON *f;
    int rc;

    if (!g->date || (!g->late.count && !g->missing.count && !g->field.count))
        return GY_OK;
    if (!k || (!g->sup[0] && !k->robot_only))
        return GY_OK;
    f = cJSON_CreateObject();
    att_format_date(g->date, date);
    cJSON_AddStringToObject(f, "date", date);
    cJSON_AddStringToObject(f, "department", g->dept[0] ? g->dept : "未分部门");
    cJSON_AddStringToObject(f, "shift", g->shift);
    cJSON_AddNumberToObject(f, "late_count", g->late.count);
    names_field(f, "late_names", &g->late);
    cJSON_AddNumberToObject(f, "missing_count", g->missing.count);
    names_field(f, "missing_names", &g->missing);
    cJSON_AddNumberToObject(f, "field_count", g->field.count);
    names_field(f, "field_names", &g->field);
    rc = notify_enqueue(c, kind, g->sup[0] ? g->sup : g->member, f);
    cJSON_Delete(f);
    return rc;
}

static bool quiet_now(void)
{
    int64_t now = clock_now();
    int64_t local = now + clock_utc_offset(now);
    int minute = (int)(((local % 86400) + 86400) % 86400 / 60);

    return att_in_minutes(minute, A.quiet_from, A.quiet_to);
}

/* One digest per (date, shift, department, supervisor) whose shift began
 * digest_after_min ago: who is late, who has not punched in. */
static int digests(struct db_conn *c)
{
    int64_t upto = clock_now() - A.cfg->attendance.digest_after_min * 60;
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_DIGEST_DUE);
    struct digest *g = gy_calloc(1, sizeof *g);
    int rc = GY_OK;

    sqlite3_bind_int64(st, 1, upto);
    while (rc == GY_OK && sqlite3_step(st) == SQLITE_ROW) {
        int32_t date = sqlite3_column_int(st, 0);
        const char *status = (const char *)sqlite3_column_text(st, 2);
        const char *dept = (const char *)sqlite3_column_text(st, 6);
        const char *sup = (const char *)sqlite3_column_text(st, 7);
        const char *code = (const char *)sqlite3_column_text(st, 8);
        const char *name = (const char *)sqlite3_column_text(st, 5);

        if (date != g->date || strcmp(code, g->code) || strcmp(dept, g->dept) || strcmp(sup, g->sup)) {
            rc = digest_flush(c, g, "attendance_digest");
            memset(g, 0, sizeof *g);
            g->date = date;
            snprintf(g->code, sizeof g->code, "%s", code);
            snprintf(g->shift, sizeof g->shift, "%s", (const char *)sqlite3_column_text(st, 9));
            snprintf(g->dept, sizeof g->dept, "%s", dept);
            snprintf(g->sup, sizeof g->sup, "%s", sup);
            snprintf(g->member, sizeof g->member, "%s", (const char *)sqlite3_column_text(st, 4));
        }
        if (!strcmp(status, "field_pending"))
            names_add(&g->field, name, 0);
        else if (sqlite3_column_type(st, 1) == SQLITE_NULL)
            names_add(&g->missing, name, 0);
        else if (!strcmp(status, "late") || !strcmp(status, "late_and_early") || !strcmp(status, "absent") ||
                 sqlite3_column_int(st, 10))   /* excused by the allowance, still late */
            names_add(&g->late, name, sqlite3_column_int(st, 3));
    }
    db_done(st, 0);
    if (rc == GY_OK)
        rc = digest_flush(c, g, "attendance_digest");
    free(g);
    if (rc != GY_OK)
        return rc;
    st = db_stmt(c, &attday_sql, Q_DIGEST_MARK);
    sqlite3_bind_int64(st, 1, upto);
    return db_exec_stmt(st);
}

/* Field punches not yet shown to a supervisor: one alert per supervisor. */
static int field_alerts(struct db_conn *c)
{
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_FIELD_DUE);
    struct digest *g = gy_calloc(1, sizeof *g);
    int rc = GY_OK;

    while (rc == GY_OK && sqlite3_step(st) == SQLITE_ROW) {
        const char *sup = (const char *)sqlite3_column_text(st, 4);
        const char *dept = (const char *)sqlite3_column_text(st, 3);

        if (!g->date || strcmp(sup, g->sup) || strcmp(dept, g->dept)) {
            rc = digest_flush(c, g, "field_review");
            memset(g, 0, sizeof *g);
            g->date = att_local_day(sqlite3_column_int64(st, 0), clock_utc_offset(sqlite3_column_int64(st, 0)));
            snprintf(g->sup, sizeof g->sup, "%s", sup);
            snprintf(g->dept, sizeof g->dept, "%s", dept);
            snprintf(g->member, sizeof g->member, "%s", (const char *)sqlite3_column_text(st, 1));
            snprintf(g->shift, sizeof g->shift, "%s", "外勤");
        }
        names_add(&g->field, (const char *)sqlite3_column_text(st, 2), 0);
    }
    db_done(st, 0);
    if (rc == GY_OK)
        rc = digest_flush(c, g, "field_review");
    free(g);
    if (rc != GY_OK)
        return rc;
    return db_exec_stmt(db_stmt(c, &attday_sql, Q_FIELD_MARK));
}

/* Workers not yet in, remind_before_min before their shift, where they
 * hold a subscription credit for the reminder's template. */
static int reminders(struct db_conn *c)
{
    const struct notify_kind *k = notify_kind("clockin_reminder");
    int64_t now = clock_now(), upto = now + A.cfg->attendance.remind_before_min * 60;
    sqlite3_stmt *st;
    int rc = GY_OK;

    if (!A.cfg->attendance.remind_before_min || !k || !k->template_id)
        return GY_OK;
    st = db_stmt(c, &attday_sql, Q_REMIND_DUE);
    sqlite3_bind_int64(st, 1, upto);
    while (rc == GY_OK && sqlite3_step(st) == SQLITE_ROW) {
        int64_t start = sqlite3_column_int64(st, 0);
        const char *openid = (const char *)sqlite3_column_text(st, 5);
        char when[20];
        cJSON *f;

        if (start <= now || sqlite3_column_type(st, 1) != SQLITE_NULL || !openid[0] ||
            consent_credits(c, openid, k->template_id) <= 0)
            continue;
        f = cJSON_CreateObject();
        clock_format_minute(start, when);
        cJSON_AddStringToObject(f, "start", when);
        cJSON_AddStringToObject(f, "shift", (const char *)sqlite3_column_text(st, 4));
        cJSON_AddStringToObject(f, "name", (const char *)sqlite3_column_text(st, 3));
        rc = notify_enqueue(c, "clockin_reminder", (const char *)sqlite3_column_text(st, 2), f);
        cJSON_Delete(f);
    }
    db_done(st, 0);
    if (rc != GY_OK)
        return rc;
    st = db_stmt(c, &attday_sql, Q_REMIND_MARK);
    sqlite3_bind_int64(st, 1, upto);
    return db_exec_stmt(st);
}

/* The first date to plan: yesterday, or the day after the last one
 * planned if the daemon was down longer (a month back at most), so every
 * scheduled day gets its row and its absences. */
static int32_t plan_from(struct db_conn *c, int32_t today)
{
    sqlite3_stmt *st = db_stmt(c, &attday_sql, Q_LAST_PLANNED);
    int32_t from = today - 1;

    sqlite3_bind_int(st, 1, today - 1);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        int32_t last = sqlite3_column_int(st, 0);
        from = last + 1 > today - 31 ? last + 1 : today - 31;
    }
    db_done(st, 0);
    return from;
}

static int tick_unit(struct db_conn *c, void *arg)
{
    bool *more = arg;
    int32_t today = attday_today();
    int rc = GY_OK;

    for (int32_t d = plan_from(c, today); d <= today + 1 && rc == GY_OK; d++)
        rc = plan_date(c, d);
    if (rc == GY_OK)
        rc = finalise(c, more);
    if (rc == GY_OK && !quiet_now())
        rc = digests(c);
    if (rc == GY_OK && !quiet_now())
        rc = field_alerts(c);
    if (rc == GY_OK)
        rc = reminders(c);
    return rc;
}

static void on_tick(evutil_socket_t fd, short what, void *arg);

static void tick_done(void *arg, int rc)
{
    bool *more = arg;

    if (rc != GY_OK)
        gy_log(LOG_ERROR, "attendance: timer run failed; trying again at the next tick");
    A.busy = false;
    if (A.timer && (*more || A.again)) {
        A.again = false;
        event_active(A.timer, EV_TIMEOUT, 0);
    }
    free(more);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (A.busy) {
        A.again = true;
        return;
    }
    A.busy = true;
    writer_submit(tick_unit, tick_done, gy_calloc(1, sizeof(bool)));
}

void attday_caches_reset(void)
{
    shifts_cache_reset();
    sites_cache_reset();
}

void attday_kick(void)
{
    if (A.timer)
        event_active(A.timer, EV_TIMEOUT, 0);
}

int attday_start(struct event_base *base, const struct gy_config *cfg)
{
    static const char *const kinds[] = { "attendance_digest", "field_review", "makeup_request",
                                         "makeup_decision", "clockin_reminder" };
    struct timeval tv = { .tv_sec = cfg->attendance.tick_s };

    A.cfg = cfg;
    quiet_hours_parse(cfg->attendance.quiet_hours, &A.quiet_from, &A.quiet_to);
    for (size_t i = 0; i < GY_ARRAY_LEN(kinds); i++)
        if (!notify_kind(kinds[i]))
            gy_log(LOG_INFO, "attendance: notify.kinds has no %s; those notifications are not sent", kinds[i]);
    A.timer = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    event_add(A.timer, &tv);
    event_active(A.timer, EV_TIMEOUT, 0);   /* plan today at once */
    return GY_OK;
}

void attday_stop(void)
{
    if (A.timer)
        event_free(A.timer);
    A.timer = NULL;
}
