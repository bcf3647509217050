/*
 * shifts.c - what HR sets up before anyone punches: shifts (every edit a
 * new immutable version), each department's weekly pattern (rotating over
 * up to four weeks) and per-person overrides imported from CSV. Resolving
 * "which shift does this person work on that date" lives here too; the day
 * rows that pin a version for a date are attday.c's.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    Q_VERSION, Q_CURRENT, Q_OVERRIDE, Q_PATTERN, Q_VERSION_INSERT, Q_SHIFT_UPSERT, Q_SHIFT_LIST,
    Q_PATTERN_UPSERT, Q_PATTERN_LIST, Q_FORGET_CODE, Q_FORGET_DEPT, Q_PLANS_RESET, Q_EMP_BY_NO,
    Q_OVERRIDE_UPSERT, Q_IMPORT_LOG, Q_DAY_VERSION,
};
#define VERSION_COLS \
    "code, name, start_min, end_min, break_min, open_before_min, close_after_min, grace_min, " \
    "late_max_min, serious_max_min, early_grace_min, half_day_min, absent_below_min"
static const char *const sql[] = {
    [Q_VERSION] = "SELECT " VERSION_COLS " FROM shift_versions WHERE id = ?1",
    [Q_CURRENT] = "SELECT version_id FROM shifts WHERE code = ?1",
    [Q_OVERRIDE] = "SELECT shift_code FROM schedule_overrides WHERE employee_id = ?1 AND att_date = ?2",
    [Q_PATTERN] = "SELECT anchor_day, weeks FROM patterns WHERE department = ?1",
    [Q_VERSION_INSERT] =
        "INSERT INTO shift_versions (" VERSION_COLS ", created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) RETURNING id",
    [Q_SHIFT_UPSERT] =
        "INSERT INTO shifts (code, version_id) VALUES (?1, ?2) "
        "ON CONFLICT(code) DO UPDATE SET version_id = excluded.version_id",
    [Q_SHIFT_LIST] =
        "SELECT v." VERSION_COLS ", v.id, v.created_at FROM shifts s "
        "JOIN shift_versions v ON v.id = s.version_id ORDER BY s.code",
    [Q_PATTERN_UPSERT] =
        "INSERT INTO patterns (department, anchor_day, weeks, updated_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT(department) DO UPDATE SET anchor_day = ?2, weeks = ?3, updated_at = ?4",
    [Q_PATTERN_LIST] = "SELECT department, anchor_day, weeks, updated_at FROM patterns ORDER BY department",
    /* Days not begun and not punched are planned again from the new setup;
     * begun or punched days keep the version they were judged against. */
    [Q_FORGET_CODE] =
        "DELETE FROM att_days WHERE punches = 0 AND start_at > ?2 AND shift_version_id IN "
        "(SELECT id FROM shift_versions WHERE code = ?1)",
    [Q_FORGET_DEPT] =
        "DELETE FROM att_days WHERE punches = 0 AND att_date >= ?2 AND "
        "(shift_version_id IS NULL OR start_at > ?3) AND "
        "employee_id IN (SELECT id FROM employees WHERE department = ?1)",
    [Q_PLANS_RESET] = "DELETE FROM att_plans WHERE att_date >= ?1",
    [Q_EMP_BY_NO] = "SELECT id, department, active FROM employees WHERE employee_no = ?1",
    [Q_OVERRIDE_UPSERT] =
        "INSERT INTO schedule_overrides (employee_id, att_date, shift_code, updated_at) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(employee_id, att_date) DO UPDATE SET "
        "shift_code = ?3, updated_at = ?4",
    [Q_IMPORT_LOG] = "INSERT INTO schedule_imports (at, rows) VALUES (?1, ?2)",
    [Q_DAY_VERSION] =
        "SELECT v.code FROM att_days d LEFT JOIN shift_versions v ON v.id = d.shift_version_id "
        "WHERE d.employee_id = ?1 AND d.att_date = ?2",
};
const struct db_sqlset shifts_sql = { "shifts", sql, GY_ARRAY_LEN(sql) };

/* ==== versions and resolving (writer thread for the cache) ==== */

/* Versions never change, so the writer keeps those it has read. A batch
 * that failed to commit may have cached a version whose id will be used
 * again: writer.c calls shifts_cache_reset() then. */
static struct shift_version **cache;
static size_t ncache;

void shifts_cache_reset(void)
{
    for (size_t i = 0; i < ncache; i++)
        free(cache[i]);
    free(cache);
    cache = NULL;
    ncache = 0;
}

static void version_from_row(sqlite3_stmt *st, int col, struct shift_version *v)
{
    struct att_shift_def *d = &v->def;
    int *fields[] = { &d->start_min, &d->end_min, &d->break_min, &d->open_before_min,
                      &d->close_after_min, &d->grace_min, &d->late_max_min, &d->serious_max_min,
                      &d->early_grace_min, &d->half_day_min, &d->absent_below_min };

    memset(v, 0, sizeof *v);
    snprintf(d->code, sizeof d->code, "%s", (const char *)sqlite3_column_text(st, col));
    snprintf(v->name, sizeof v->name, "%s", (const char *)sqlite3_column_text(st, col + 1));
    for (size_t i = 0; i < GY_ARRAY_LEN(fields); i++)
        *fields[i] = sqlite3_column_int(st, col + 2 + (int)i);
}

static int version_read(struct db_conn *c, int64_t id, struct shift_version *out)
{
    sqlite3_stmt *st = db_stmt(c, &shifts_sql, Q_VERSION);
    int rc = GY_ERR;

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        version_from_row(st, 0, out);
        out->id = id;
        rc = GY_OK;
    }
    db_done(st, 0);
    return rc;
}

const struct shift_version *shifts_version(struct db_conn *c, int64_t id)
{
    struct shift_version v;

    if (id <= 0)
        return NULL;
    if ((size_t)id < ncache && cache[id])
        return cache[id];
    if (version_read(c, id, &v) != GY_OK)
        return NULL;
    if ((size_t)id >= ncache) {
        size_t n = (size_t)id * 2 + 16;
        cache = gy_realloc(cache, n * sizeof *cache);
        memset(cache + ncache, 0, (n - ncache) * sizeof *cache);
        ncache = n;
    }
    cache[id] = gy_malloc(sizeof v);
    *cache[id] = v;
    return cache[id];
}

int64_t shifts_current(struct db_conn *c, const char *code)
{
    sqlite3_stmt *st = db_stmt(c, &shifts_sql, Q_CURRENT);
    int64_t id = 0;

    sqlite3_bind_text(st, 1, code, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        id = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    return id;
}

static bool code_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n >= ATT_CODE_LEN)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '-' || *s == '_'))
            return false;
    return true;
}

/* weeks: [[7 codes], ...] into P (codes unchecked against the table). */
static int pattern_parse(const cJSON *weeks, int32_t anchor, struct att_pattern *p)
{
    int w = 0;

    memset(p, 0, sizeof *p);
    p->anchor_day = anchor;
    if (!cJSON_IsArray(weeks))
        return GY_ERR;
    for (const cJSON *wk = weeks->child; wk; wk = wk->next, w++) {
        int d = 0;
        if (w >= ATT_MAX_WEEKS || !cJSON_IsArray(wk) || cJSON_GetArraySize(wk) != 7)
            return GY_ERR;
        for (const cJSON *code = wk->child; code; code = code->next, d++) {
            if (!cJSON_IsString(code) || (code->valuestring[0] && !code_ok(code->valuestring)))
                return GY_ERR;
            snprintf(p->days[w][d], ATT_CODE_LEN, "%s", code->valuestring);
        }
    }
    p->rotation_weeks = w;
    return w ? GY_OK : GY_ERR;
}

int shifts_resolve(struct db_conn *c, int64_t employee_id, const char *department, int32_t date,
                   char code[ATT_CODE_LEN])
{
    sqlite3_stmt *st = db_stmt(c, &shifts_sql, Q_OVERRIDE);
    struct att_pattern pat;
    bool have_pat = false;
    const char *found;

    code[0] = '\0';
    sqlite3_bind_int64(st, 1, employee_id);
    sqlite3_bind_int(st, 2, date);
    if (sqlite3_step(st) == SQLITE_ROW) {
        snprintf(code, ATT_CODE_LEN, "%s", (const char *)sqlite3_column_text(st, 0));
        db_done(st, 0);
        return GY_OK;
    }
    db_done(st, 0);
    st = db_stmt(c, &shifts_sql, Q_PATTERN);
    db_bind_text(st, 1, department);
    if (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *weeks = cJSON_Parse((const char *)sqlite3_column_text(st, 1));
        have_pat = pattern_parse(weeks, sqlite3_column_int(st, 0), &pat) == GY_OK;
        cJSON_Delete(weeks);
    }
    db_done(st, 0);
    found = att_shift_for_day(have_pat ? &pat : NULL, NULL, 0, date);
    if (found)
        snprintf(code, ATT_CODE_LEN, "%s", found);
    return GY_OK;
}

/* After a change to the setup: days not begun are planned again. */
static int forget_plans(struct db_conn *c)
{
    int64_t now = clock_now();
    sqlite3_stmt *st = db_stmt(c, &shifts_sql, Q_PLANS_RESET);

    sqlite3_bind_int(st, 1, att_local_day(now, clock_utc_offset(now)) - 1);
    return db_exec_stmt(st);
}

/* ==== HTTP: shifts ==== */

static void add_hhmm(cJSON *o, const char *name, int min)
{
    char s[8];

    snprintf(s, sizeof s, "%02d:%02d", (min / 60) % 24, min % 60);
    cJSON_AddStringToObject(o, name, s);
}

cJSON *shifts_version_json(const struct shift_version *v)
{
    const struct att_shift_def *d = &v->def;
    cJSON *o = cJSON_CreateObject();

    cJSON_AddStringToObject(o, "code", d->code);
    cJSON_AddStringToObject(o, "name", v->name);
    add_hhmm(o, "start", d->start_min);
    add_hhmm(o, "end", d->end_min);
    cJSON_AddBoolToObject(o, "crosses_midnight", d->end_min <= d->start_min);
    cJSON_AddNumberToObject(o, "break_min", d->break_min);
    cJSON_AddNumberToObject(o, "open_before_min", d->open_before_min);
    cJSON_AddNumberToObject(o, "close_after_min", d->close_after_min);
    cJSON_AddNumberToObject(o, "grace_min", d->grace_min);
    cJSON_AddNumberToObject(o, "late_max_min", d->late_max_min);
    cJSON_AddNumberToObject(o, "serious_max_min", d->serious_max_min);
    cJSON_AddNumberToObject(o, "early_grace_min", d->early_grace_min);
    cJSON_AddNumberToObject(o, "half_day_min", d->half_day_min);
    cJSON_AddNumberToObject(o, "absent_below_min", d->absent_below_min);
    cJSON_AddNumberToObject(o, "version", (double)v->id);
    return o;
}

void shifts_list(struct gy_req *r)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &shifts_sql, Q_SHIFT_LIST);
    cJSON *body = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(body, "shifts");

    while (sqlite3_step(st) == SQLITE_ROW) {
        struct shift_version v;
        version_from_row(st, 0, &v);
        v.id = sqlite3_column_int64(st, 13);
        cJSON_AddItemToArray(list, shifts_version_json(&v));
    }
    db_done(st, 0);
    api_reply_json(r, 200, body);
}

struct shift_put {
    struct gy_req *r;
    struct shift_version v;
};

static int shift_put_unit(struct db_conn *c, void *arg)
{
    struct shift_put *sp = arg;
    const struct att_shift_def *d = &sp->v.def;
    int vals[] = { d->start_min, d->end_min, d->break_min, d->open_before_min, d->close_after_min,
                   d->grace_min, d->late_max_min, d->serious_max_min, d->early_grace_min,
                   d->half_day_min, d->absent_below_min };
    sqlite3_stmt *st = db_stmt(c, &shifts_sql, Q_VERSION_INSERT);
    int64_t now = clock_now();

    sqlite3_bind_text(st, 1, d->code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sp->v.name, -1, SQLITE_STATIC);
    for (size_t i = 0; i < GY_ARRAY_LEN(vals); i++)
        sqlite3_bind_int(st, 3 + (int)i, vals[i]);
    sqlite3_bind_int64(st, 14, now);
    if (sqlite3_step(st) != SQLITE_ROW)
        return db_done(st, 0), db_fail(c, "shift version insert");
    sp->v.id = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    st = db_stmt(c, &shifts_sql, Q_SHIFT_UPSERT);
    sqlite3_bind_text(st, 1, d->code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, sp->v.id);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    st = db_stmt(c, &shifts_sql, Q_FORGET_CODE);
    sqlite3_bind_text(st, 1, d->code, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    return forget_plans(c);
}

static void shift_put_done(void *arg, int rc)
{
    struct shift_put *sp = arg;

    if (rc != GY_OK)
        api_reply_error(sp->r, "internal_error");
    else
        api_reply_json(sp->r, 200, shifts_version_json(&sp->v));
    free(sp);
}

/* "08:00" FIELD of the body into *MIN; replies 400 when bad. */
static int body_hhmm(struct gy_req *r, const char *field, int *min)
{
    const char *s = api_str(r, field, 5, 5);

    if (!s)
        return GY_ERR;
    if (att_parse_hhmm(s, min) != 0) {
        api_reply_bad_field(r, field, "want_hh_mm");
        return GY_ERR;
    }
    return GY_OK;
}

void shifts_put(struct gy_req *r)
{
    static const struct { const char *name; size_t off; } mins[] = {
        { "break_min", offsetof(struct att_shift_def, break_min) },
        { "open_before_min", offsetof(struct att_shift_def, open_before_min) },
        { "close_after_min", offsetof(struct att_shift_def, close_after_min) },
        { "grace_min", offsetof(struct att_shift_def, grace_min) },
        { "late_max_min", offsetof(struct att_shift_def, late_max_min) },
        { "serious_max_min", offsetof(struct att_shift_def, serious_max_min) },
        { "early_grace_min", offsetof(struct att_shift_def, early_grace_min) },
        { "half_day_min", offsetof(struct att_shift_def, half_day_min) },
        { "absent_below_min", offsetof(struct att_shift_def, absent_below_min) },
    };
    const char *code = r->params.value[0], *name;
    struct shift_put *sp;
    int start, end;
    char why[96];

    if (!code_ok(code)) {
        api_reply_bad_field(r, "code", "want_1_to_15_letters_digits_dash_underscore");
        return;
    }
    if (!(name = api_str(r, "name", 1, 32)) || body_hhmm(r, "start", &start) != GY_OK ||
        body_hhmm(r, "end", &end) != GY_OK)
        return;
    sp = gy_calloc(1, sizeof *sp);
    att_shift_init(&sp->v.def, code, start, end);
    snprintf(sp->v.name, sizeof sp->v.name, "%s", name);
    for (size_t i = 0; i < GY_ARRAY_LEN(mins); i++) {
        if (api_int(r, r->json, mins[i].name, 0, 1440, false,
                    (int *)((char *)&sp->v.def + mins[i].off)) != GY_OK) {
            free(sp);
            return;
        }
    }
    if (att_shift_check(&sp->v.def, why, sizeof why) != 0) {
        cJSON *extra = cJSON_CreateObject();
        cJSON_AddStringToObject(extra, "reason", why);
        free(sp);
        api_reply_error_ex(r, "shift_invalid", extra, 0);
        return;
    }
    sp->r = r;
    writer_submit(shift_put_unit, shift_put_done, sp);
}

/* ==== HTTP: department patterns ==== */

static cJSON *pattern_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    char anchor[11], when[32];

    cJSON_AddStringToObject(o, "department", (const char *)sqlite3_column_text(st, 0));
    att_format_date(sqlite3_column_int(st, 1), anchor);
    cJSON_AddStringToObject(o, "anchor", anchor);
    cJSON_AddItemToObject(o, "weeks", cJSON_Parse((const char *)sqlite3_column_text(st, 2)));
    clock_format(sqlite3_column_int64(st, 3), when);
    cJSON_AddStringToObject(o, "updated_at", when);
    return o;
}

void patterns_list(struct gy_req *r)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &shifts_sql, Q_PATTERN_LIST);
    cJSON *body = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(body, "patterns");

    while (sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddItemToArray(list, pattern_json(st));
    db_done(st, 0);
    api_reply_json(r, 200, body);
}

struct pattern_put {
    struct gy_req *r;
    char department[200];
    int32_t anchor;
    char *weeks;          /* JSON text as stored */
    struct att_pattern pat;
    char unknown[ATT_CODE_LEN];
};

static int pattern_put_unit(struct db_conn *c, void *arg)
{
    struct pattern_put *pp = arg;
    int64_t now = clock_now();
    int32_t today = att_local_day(now, clock_utc_offset(now));
    sqlite3_stmt *st;

    for (int w = 0; w < pp->pat.rotation_weeks; w++) {
        for (int d = 0; d < 7; d++) {
            if (pp->pat.days[w][d][0] && !shifts_current(c, pp->pat.days[w][d])) {
                snprintf(pp->unknown, sizeof pp->unknown, "%s", pp->pat.days[w][d]);
                return 1;
            }
        }
    }
    st = db_stmt(c, &shifts_sql, Q_PATTERN_UPSERT);
    sqlite3_bind_text(st, 1, pp->department, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, pp->anchor);
    sqlite3_bind_text(st, 3, pp->weeks, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    st = db_stmt(c, &shifts_sql, Q_FORGET_DEPT);
    sqlite3_bind_text(st, 1, pp->department, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, today - 1);
    sqlite3_bind_int64(st, 3, now);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    return forget_plans(c);
}

static void pattern_put_done(void *arg, int rc)
{
    struct pattern_put *pp = arg;

    if (rc == 1) {
        api_reply_bad_field(pp->r, "weeks", "unknown_shift_code");
    } else if (rc != GY_OK) {
        api_reply_error(pp->r, "internal_error");
    } else {
        cJSON *o = cJSON_CreateObject();
        char anchor[11];
        cJSON_AddStringToObject(o, "department", pp->department);
        att_format_date(pp->anchor, anchor);
        cJSON_AddStringToObject(o, "anchor", anchor);
        cJSON_AddItemToObject(o, "weeks", cJSON_Parse(pp->weeks));
        api_reply_json(pp->r, 200, o);
    }
    free(pp->weeks);
    free(pp);
}

void patterns_put(struct gy_req *r)
{
    const char *dept = r->params.value[0], *anchor;
    const cJSON *weeks = cJSON_GetObjectItemCaseSensitive(r->json, "weeks");
    struct pattern_put *pp;

    if (!gy_utf8_valid(dept, strlen(dept), UTF8_NO_CTL) || gy_utf8_len(dept) > 64) {
        api_reply_bad_field(r, "department", "bad_characters");
        return;
    }
    if (!(anchor = api_str(r, "anchor", 10, 10)))
        return;
    pp = gy_calloc(1, sizeof *pp);
    pp->r = r;
    snprintf(pp->department, sizeof pp->department, "%s", dept);
    if (att_parse_date(anchor, &pp->anchor) != 0) {
        free(pp);
        api_reply_bad_field(r, "anchor", "want_yyyy_mm_dd");
        return;
    }
    if (pattern_parse(weeks, pp->anchor, &pp->pat) != GY_OK) {
        free(pp);
        api_reply_bad_field(r, "weeks", "want_1_to_4_weeks_of_7_codes");
        return;
    }
    pp->weeks = cJSON_PrintUnformatted(weeks);
    writer_submit(pattern_put_unit, pattern_put_done, pp);
}

/* ==== HTTP: the schedule CSV (employee_no, date, shift_code) ==== */

enum { S_NO, S_DATE, S_CODE, S_NCOLS };
static const struct csv_column sched_cols[S_NCOLS] = {
    [S_NO] = { "employee_no", true, 32 },
    [S_DATE] = { "date", true, 10 },
    [S_CODE] = { "shift_code", false, 15 },
};

struct sched_row {
    long row;
    int64_t employee_id;
    char department[200];
    int32_t date;
    char code[ATT_CODE_LEN];
    char employee_no[33];
};

struct sched_upload {
    struct gy_req *r;
    struct db_conn *c;
    struct sched_row *rows;
    size_t n;
    struct csv_problems problems;
    long changed_days;
};

/* "rest", "休" or an empty cell: a rest day. */
static bool is_rest(const char *v)
{
    return !v[0] || !strcmp(v, "rest") || !strcmp(v, "REST") || !strcmp(v, "休") || !strcmp(v, "休息");
}

static void sched_row(void *ctx, long row, char **val, const bool *ok)
{
    struct sched_upload *u = ctx;
    struct sched_row sr = { .row = row };
    sqlite3_stmt *st;

    if (!ok[S_NO] || !ok[S_DATE] || !ok[S_CODE])
        return;
    if (att_parse_date(val[S_DATE], &sr.date) != 0) {
        csv_problem_add(&u->problems, row, "date", "日期“%s”不对：应为 2026-11-23 这样的格式", val[S_DATE]);
        return;
    }
    if (!is_rest(val[S_CODE])) {
        if (!code_ok(val[S_CODE]) || !shifts_current(u->c, val[S_CODE])) {
            csv_problem_add(&u->problems, row, "shift_code", "没有班次“%s”：请先在班次设置里建好，休息日填 rest 或留空", val[S_CODE]);
            return;
        }
        snprintf(sr.code, sizeof sr.code, "%s", val[S_CODE]);
    }
    st = db_stmt(u->c, &shifts_sql, Q_EMP_BY_NO);
    sqlite3_bind_text(st, 1, val[S_NO], -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 2)) {
        sr.employee_id = sqlite3_column_int64(st, 0);
        snprintf(sr.department, sizeof sr.department, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    db_done(st, 0);
    if (!sr.employee_id) {
        csv_problem_add(&u->problems, row, "employee_no", "花名册里没有在职的工号“%s”", val[S_NO]);
        return;
    }
    snprintf(sr.employee_no, sizeof sr.employee_no, "%s", val[S_NO]);
    for (size_t i = 0; i < u->n; i++) {
        if (u->rows[i].employee_id == sr.employee_id && u->rows[i].date == sr.date) {
            csv_problem_add(&u->problems, row, "date", "工号“%s”的 %s 与第 %ld 行重复", val[S_NO],
                            val[S_DATE], u->rows[i].row);
            return;
        }
    }
    u->rows = gy_realloc(u->rows, (u->n + 1) * sizeof *u->rows);
    u->rows[u->n++] = sr;
}

static int sched_unit(struct db_conn *c, void *arg)
{
    struct sched_upload *u = arg;
    int64_t now = clock_now();
    sqlite3_stmt *st;

    u->c = c;
    if (csv_read(u->r->body, u->r->body_len, sched_cols, S_NCOLS, "排班", sched_row, u,
                 &u->problems) != GY_OK)
        return GY_ERR;
    if (u->problems.n)
        return 1;
    for (size_t i = 0; i < u->n; i++) {
        st = db_stmt(c, &shifts_sql, Q_OVERRIDE_UPSERT);
        sqlite3_bind_int64(st, 1, u->rows[i].employee_id);
        sqlite3_bind_int(st, 2, u->rows[i].date);
        sqlite3_bind_text(st, 3, u->rows[i].code, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, now);
        if (db_exec_stmt(st) != GY_OK)
            return GY_ERR;
        int rc = attday_replan(c, u->rows[i].employee_id, u->rows[i].department, u->rows[i].date);
        if (rc < 0)
            return GY_ERR;
        u->changed_days += rc;
    }
    st = db_stmt(c, &shifts_sql, Q_IMPORT_LOG);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)u->n);
    return db_exec_stmt(st);
}

static void sched_done(void *arg, int rc)
{
    struct sched_upload *u = arg;

    if (rc == GY_OK) {
        cJSON *body = cJSON_CreateObject();
        cJSON_AddNumberToObject(body, "rows", (double)u->n);
        cJSON_AddNumberToObject(body, "days_rejudged", (double)u->changed_days);
        api_reply_json(u->r, 200, body);
    } else if (rc == 1) {
        cJSON *extra = cJSON_CreateObject();
        cJSON_AddItemToObject(extra, "problems", csv_problems_json(&u->problems));
        api_reply_error_ex(u->r, "schedule_invalid", extra, 0);
    } else {
        api_reply_error(u->r, "internal_error");
    }
    csv_problems_free(&u->problems);
    free(u->rows);
    free(u);
}

void schedule_upload(struct gy_req *r)
{
    struct sched_upload *u = gy_calloc(1, sizeof *u);

    u->r = r;
    writer_submit(sched_unit, sched_done, u);
}

/* GET ?employee_no=&from=&to=: the shift of each date, as pinned by its day
 * row when it has one, else as the schedule says now. */
void schedule_get(struct gy_req *r)
{
    struct db_conn *c = db_reader();
    const char *q = api_query(r, "employee_no");
    char no[64], from_s[16], to_s[16], dept[200] = "";
    int32_t from, to;
    int64_t emp = 0;
    sqlite3_stmt *st;
    cJSON *body, *days;

    if (!q || !*q || strlen(q) >= sizeof no) {
        api_reply_bad_field(r, "employee_no", q && *q ? "too_long" : "missing");
        return;
    }
    snprintf(no, sizeof no, "%s", q);   /* api_query's buffer is reused below */
    st = db_stmt(c, &shifts_sql, Q_EMP_BY_NO);
    sqlite3_bind_text(st, 1, no, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) == SQLITE_ROW) {
        emp = sqlite3_column_int64(st, 0);
        snprintf(dept, sizeof dept, "%s", (const char *)sqlite3_column_text(st, 1));
    }
    db_done(st, 0);
    if (!emp) {
        api_reply_error(r, "employee_not_found");
        return;
    }
    snprintf(from_s, sizeof from_s, "%s", api_query(r, "from") ? api_query(r, "from") : "");
    snprintf(to_s, sizeof to_s, "%s", api_query(r, "to") ? api_query(r, "to") : "");
    if (att_parse_date(from_s, &from) != 0 || att_parse_date(to_s, &to) != 0 || to < from ||
        to - from > 62) {
        api_reply_bad_field(r, "from", "want_from_to_dates_at_most_62_days_apart");
        return;
    }
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "employee_no", no);
    days = cJSON_AddArrayToObject(body, "days");
    for (int32_t d = from; d <= to; d++) {
        cJSON *o = cJSON_CreateObject();
        char date[11], code[ATT_CODE_LEN] = "";
        bool pinned = false;

        st = db_stmt(c, &shifts_sql, Q_DAY_VERSION);
        sqlite3_bind_int64(st, 1, emp);
        sqlite3_bind_int(st, 2, d);
        if (sqlite3_step(st) == SQLITE_ROW) {
            pinned = true;
            if (sqlite3_column_type(st, 0) != SQLITE_NULL)
                snprintf(code, sizeof code, "%s", (const char *)sqlite3_column_text(st, 0));
        }
        db_done(st, 0);
        if (!pinned)
            shifts_resolve(c, emp, dept, d, code);
        att_format_date(d, date);
        cJSON_AddStringToObject(o, "date", date);
        if (code[0])
            cJSON_AddStringToObject(o, "shift_code", code);
        else
            cJSON_AddNullToObject(o, "shift_code");
        cJSON_AddBoolToObject(o, "pinned", pinned);
        cJSON_AddItemToArray(days, o);
    }
    api_reply_json(r, 200, body);
}
