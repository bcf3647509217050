/*
 * reports.c - report threads, and the attendance reports that run on them.
 *
 * A report may scan a month of a whole factory, so it never runs on the
 * loop (which would stall every punch) nor on the writer: reports.threads
 * threads each own a read-only connection (WAL lets them read while the
 * writer commits). The handler queues a job; the thread builds the whole
 * reply body (JSON or CSV); the loop only sends it.
 */
#include "gongyou.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

/* ==== the pool ==== */

struct job {
    struct handoff_item link;      /* first: the queue's */
    report_fn *fn;
    report_done_fn *done;
    void *arg;
};

static struct {
    pthread_t *threads;
    struct db_conn **conns;
    int n;
    struct handoff q;
} P;

static void *report_main(void *arg)
{
    struct db_conn *c = arg;
    struct job *j;
    long n;

    gy_thread_name("gy-report");
    while ((j = (struct job *)handoff_take(&P.q, 1, -1, &n))) {
        j->fn(c, j->arg);
        /* A month's report sorts and groups in memory: give the freed
         * pages back, so a report does not raise the daemon's RSS for good. */
        malloc_trim(0);
        handoff_finished(&P.q, &j->link);
    }
    return NULL;
}

static void on_done(evutil_socket_t fd, short what, void *arg)
{
    struct handoff_item *it = handoff_done(&P.q);

    (void)fd, (void)what, (void)arg;
    while (it) {
        struct job *j = (struct job *)it;
        it = it->next;
        j->done(j->arg);
        free(j);
    }
}

int reports_start(struct event_base *base, const struct gy_config *cfg, char *err, size_t errsz)
{
    char *path = config_db_path(cfg);

    P.n = cfg->reports.threads;
    P.threads = gy_calloc((size_t)P.n, sizeof *P.threads);
    P.conns = gy_calloc((size_t)P.n, sizeof *P.conns);
    if (handoff_init(&P.q, base, on_done, NULL) != GY_OK) {
        snprintf(err, errsz, "reports: cannot create the completion event");
        free(path);
        return GY_ERR;
    }
    for (int i = 0; i < P.n; i++) {
        if (!(P.conns[i] = db_open(path, true, cfg, err, errsz))) {
            free(path);
            return GY_ERR;
        }
        if (pthread_create(&P.threads[i], NULL, report_main, P.conns[i]) != 0) {
            snprintf(err, errsz, "reports: cannot start thread");
            free(path);
            return GY_ERR;
        }
    }
    free(path);
    return GY_OK;
}

void report_submit(report_fn *fn, report_done_fn *done, void *arg)
{
    struct job *j = gy_calloc(1, sizeof *j);

    j->fn = fn;
    j->done = done;
    j->arg = arg;
    handoff_push(&P.q, &j->link);
}

void reports_stop(void)
{
    if (!P.threads)
        return;
    handoff_stop(&P.q);
    for (int i = 0; i < P.n; i++) {
        if (P.threads[i])
            pthread_join(P.threads[i], NULL);
        db_close(P.conns[i]);
    }
    on_done(-1, 0, NULL);
    handoff_destroy(&P.q);
    free(P.threads);
    free(P.conns);
    memset(&P, 0, sizeof P);
}

/* ==== attendance reports ==== */

/* Employees first, then each one's dates by att_days' key: a seek and a
 * short run per employee, so the cost follows the range asked for. By the
 * att_date index instead, every day row is a random lookup into att_days:
 * a month of 20 000 workers took 1.6 s that way, 0.4 s this way (CROSS
 * JOIN keeps SQLite to this order). */
#define REPORT_WHERE \
    "FROM employees e CROSS JOIN att_days d ON d.employee_id = e.id " \
    "AND d.att_date >= ?1 AND d.att_date <= ?2 WHERE d.shift_version_id IS NOT NULL " \
    "AND d.start_at <= ?3 AND (?4 = '' OR e.department = ?4) AND (?5 = '' OR e.supervisor_no = ?5) "
#define REPORT_SUMS \
    "count(*) AS c1, sum(d.first_in IS NOT NULL OR d.last_out IS NOT NULL) AS c2, " \
    "sum(d.status IN ('late', 'late_and_early')) AS c3, " \
    "sum(d.tier = 2 AND d.status IN ('late', 'late_and_early')) AS c4, sum(d.excused) AS c5, " \
    "sum(d.status IN ('early_leave', 'late_and_early')) AS c6, sum(d.status = 'absent') AS c7, " \
    "sum(d.status IN ('missing_in', 'missing_out')) AS c8, sum(d.status = 'field_pending') AS c9, " \
    "sum(d.worked_min) AS c10 "

/* By department or employee: summed per employee first (the employees
 * come in id order, so that grouping needs no sort), then per group. */
#define PER_EMPLOYEE \
    "FROM (SELECT e.department AS dept, e.employee_no AS eno, e.name AS ename, " REPORT_SUMS \
    REPORT_WHERE "GROUP BY e.id) x "
#define PER_EMPLOYEE_SUMS \
    "sum(x.c1), sum(x.c2), sum(x.c3), sum(x.c4), sum(x.c5), sum(x.c6), sum(x.c7), sum(x.c8), " \
    "sum(x.c9), sum(x.c10) "

enum { Q_BY_DAY, Q_BY_MONTH, Q_BY_DEPT, Q_BY_EMP, Q_ME_DAYS, Q_ME_MAKEUPS };
static const char *const sql[] = {
    [Q_BY_DAY] = "SELECT date(d.att_date * 86400, 'unixepoch'), '', " REPORT_SUMS REPORT_WHERE
                 "GROUP BY d.att_date ORDER BY d.att_date",
    [Q_BY_MONTH] = "SELECT strftime('%Y-%m', d.att_date * 86400, 'unixepoch') AS k, '', " REPORT_SUMS
                   REPORT_WHERE "GROUP BY k ORDER BY k",
    [Q_BY_DEPT] = "SELECT x.dept, '', " PER_EMPLOYEE_SUMS PER_EMPLOYEE "GROUP BY x.dept ORDER BY x.dept",
    [Q_BY_EMP] = "SELECT x.eno, max(x.ename) || ' · ' || max(x.dept), " PER_EMPLOYEE_SUMS PER_EMPLOYEE
                 "GROUP BY x.eno ORDER BY x.eno",
    [Q_ME_DAYS] =
        "SELECT d.att_date, d.shift_version_id, d.start_at, d.end_at, d.open_at, d.close_at, d.status, "
        "d.first_in, d.last_out, d.late_min, d.early_min, d.worked_min, d.tier, d.half_day, d.excused, "
        "d.final, v.code, v.name FROM att_days d LEFT JOIN shift_versions v ON v.id = d.shift_version_id "
        "WHERE d.employee_id = ?1 AND d.att_date >= ?2 AND d.att_date < ?3 ORDER BY d.att_date",
    [Q_ME_MAKEUPS] =
        "SELECT count(*) FROM makeups WHERE employee_id = ?1 AND att_date >= ?2 AND att_date < ?3 "
        "AND status <> 'rejected'",
};
const struct db_sqlset reports_sql = { "reports", sql, GY_ARRAY_LEN(sql) };

/* The figures of one group, in the order of the SUMS columns. */
enum { F_SCHEDULED, F_PRESENT, F_LATE, F_SEVERE, F_EXCUSED, F_EARLY, F_ABSENT, F_MISSING,
       F_FIELD, NFIG };
struct figures {
    long v[NFIG];
    double worked_h;
};

static const char *const figure_names[] = {
    "scheduled", "present", "late", "severe_late", "excused_late", "early_leave", "absent",
    "missing_punch", "field_pending",
};
static const char *const figure_titles[] = {
    "应出勤(班次)", "实出勤", "迟到", "严重迟到", "迟到豁免", "早退", "旷工", "缺卡", "外勤待审",
};

static double late_rate(const struct figures *f)
{
    return f->v[F_SCHEDULED] ? (double)f->v[F_LATE] / (double)f->v[F_SCHEDULED] : 0;
}

static void figures_json(cJSON *o, const struct figures *f)
{
    for (size_t i = 0; i < NFIG; i++)
        cJSON_AddNumberToObject(o, figure_names[i], (double)f->v[i]);
    cJSON_AddNumberToObject(o, "late_rate", late_rate(f));
    cJSON_AddNumberToObject(o, "worked_hours", f->worked_h);
}

static void figures_csv(struct csv_out *out, const struct figures *f)
{
    for (size_t i = 0; i < NFIG; i++)
        csv_out_num(out, (double)f->v[i]);
    csv_out_num(out, (double)(long)(10000.0 * late_rate(f) + 0.5) / 10000.0);
    csv_out_num(out, f->worked_h);
}

static void figures_add(struct figures *sum, const struct figures *f)
{
    for (size_t i = 0; i < NFIG; i++)
        sum->v[i] += f->v[i];
    sum->worked_h += f->worked_h;
}

struct report {
    struct gy_req *r;
    bool csv;
    int q;
    char group_by[16];
    int32_t from, to;
    char department[200];
    char supervisor[64];      /* "" for HR: everyone */
    int64_t employee_id;      /* me/attendance */
    char month[8];
    /* results */
    cJSON *json;
    struct csv_out out;
    bool failed;
};

static void report_free(struct report *rep)
{
    cJSON_Delete(rep->json);
    csv_out_free(&rep->out);
    free(rep);
}

static void report_reply(void *arg)
{
    struct report *rep = arg;

    if (rep->failed) {
        api_reply_error(rep->r, "internal_error");
    } else if (rep->csv) {
        char disp[96];
        snprintf(disp, sizeof disp, "attachment; filename=\"attendance-%s.csv\"",
                 rep->month[0] ? rep->month : rep->group_by);
        evhttp_add_header(evhttp_request_get_output_headers(rep->r->ev), "Content-Disposition", disp);
        api_reply_raw(rep->r, 200, "text/csv; charset=utf-8", rep->out.buf, rep->out.len);
    } else {
        api_reply_json(rep->r, 200, rep->json);
        rep->json = NULL;
    }
    report_free(rep);
}

static void run_report(struct db_conn *c, void *arg)
{
    struct report *rep = arg;
    sqlite3_stmt *st = db_stmt(c, &reports_sql, rep->q);
    struct figures total = { 0 };
    char from[11], to[11];
    cJSON *rows = NULL;
    int rc;

    att_format_date(rep->from, from);
    att_format_date(rep->to, to);
    if (rep->csv) {
        csv_out_init(&rep->out);
        csv_out_text(&rep->out, rep->q == Q_BY_DAY ? "日期" : rep->q == Q_BY_MONTH ? "月份" :
                                rep->q == Q_BY_DEPT ? "部门" : "工号");
        csv_out_text(&rep->out, rep->q == Q_BY_EMP ? "姓名 · 部门" : "");
        for (size_t i = 0; i < GY_ARRAY_LEN(figure_titles); i++)
            csv_out_text(&rep->out, figure_titles[i]);
        csv_out_text(&rep->out, "迟到率");
        csv_out_text(&rep->out, "工时(小时)");
        csv_out_end_row(&rep->out);
    } else {
        rep->json = cJSON_CreateObject();
        cJSON_AddStringToObject(rep->json, "from", from);
        cJSON_AddStringToObject(rep->json, "to", to);
        cJSON_AddStringToObject(rep->json, "group_by", rep->group_by);
        if (rep->department[0])
            cJSON_AddStringToObject(rep->json, "department", rep->department);
        rows = cJSON_AddArrayToObject(rep->json, "rows");
    }
    sqlite3_bind_int(st, 1, rep->from);
    sqlite3_bind_int(st, 2, rep->to);
    sqlite3_bind_int64(st, 3, clock_now());
    sqlite3_bind_text(st, 4, rep->department, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, rep->supervisor, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct figures f;
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *label = (const char *)sqlite3_column_text(st, 1);

        for (size_t i = 0; i < NFIG; i++)
            f.v[i] = (long)sqlite3_column_int64(st, 2 + (int)i);
        f.worked_h = (double)sqlite3_column_int64(st, 11) / 60.0;
        figures_add(&total, &f);
        if (rep->csv) {
            csv_out_text(&rep->out, key);
            csv_out_text(&rep->out, label);
            figures_csv(&rep->out, &f);
            csv_out_end_row(&rep->out);
        } else {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "key", key);
            if (label[0])
                cJSON_AddStringToObject(o, "label", label);
            figures_json(o, &f);
            cJSON_AddItemToArray(rows, o);
        }
    }
    db_done(st, 0);
    if (rc != SQLITE_DONE) {
        gy_log(LOG_ERROR, "reports: attendance query failed: %s", sqlite3_errmsg(db_handle(c)));
        rep->failed = true;
        return;
    }
    if (rep->csv) {
        csv_out_text(&rep->out, "合计");
        csv_out_text(&rep->out, "");
        figures_csv(&rep->out, &total);
        csv_out_end_row(&rep->out);
    } else {
        figures_json(cJSON_AddObjectToObject(rep->json, "total"), &total);
    }
}

/* CSV when asked for by ?format=csv or Accept: text/csv. -1 after a 400. */
static int wants_csv(struct gy_req *r)
{
    static const char *const formats[] = { "json", "csv" };
    const char *accept = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Accept");
    char format[8];

    if (api_query_choice(r, "format", formats, GY_ARRAY_LEN(formats), format, sizeof format) != GY_OK)
        return -1;
    if (format[0])
        return !strcmp(format, "csv");
    return accept && strstr(accept, "text/csv") != NULL;
}

static int query_date(struct gy_req *r, const char *name, int32_t *day)
{
    const char *v = api_query(r, name);

    if (!v || att_parse_date(v, day) != 0) {
        api_reply_bad_field(r, name, v ? "want_yyyy_mm_dd" : "missing");
        return GY_ERR;
    }
    return GY_OK;
}

void reports_attendance(struct gy_req *r)
{
    static const char *const groups[] = { "day", "month", "department", "employee" };
    static const int queries[] = { Q_BY_DAY, Q_BY_MONTH, Q_BY_DEPT, Q_BY_EMP };
    struct report *rep = gy_calloc(1, sizeof *rep);
    const char *dept;
    int csv;

    rep->r = r;
    if (query_date(r, "from", &rep->from) != GY_OK || query_date(r, "to", &rep->to) != GY_OK ||
        api_query_choice(r, "group_by", groups, GY_ARRAY_LEN(groups), rep->group_by,
                         sizeof rep->group_by) != GY_OK ||
        (csv = wants_csv(r)) < 0) {
        free(rep);
        return;
    }
    if (rep->to < rep->from || rep->to - rep->from > 366) {
        free(rep);
        api_reply_bad_field(r, "to", "want_to_after_from_within_366_days");
        return;
    }
    rep->csv = csv;
    if (!rep->group_by[0])
        snprintf(rep->group_by, sizeof rep->group_by, "day");
    for (size_t i = 0; i < GY_ARRAY_LEN(groups); i++)
        if (!strcmp(groups[i], rep->group_by))
            rep->q = queries[i];
    dept = api_query(r, "department");
    snprintf(rep->department, sizeof rep->department, "%s", dept ? dept : "");
    /* A supervisor sees only their own people. */
    if (!(r->auth.roles & R_HR))
        snprintf(rep->supervisor, sizeof rep->supervisor, "%s", r->auth.employee_no[0] ? r->auth.employee_no : "\x01");
    report_submit(run_report, report_reply, rep);
}

/* ==== the worker's month ==== */

static void run_me(struct db_conn *c, void *arg)
{
    struct report *rep = arg;
    int32_t first, next;
    sqlite3_stmt *st;
    struct figures sum = { 0 };
    cJSON *days = NULL;
    long used = 0;

    att_parse_month(rep->month, &first, &next);
    if (rep->csv) {
        static const char *const titles[] = { "日期", "班次", "状态", "上班打卡", "下班打卡",
                                              "迟到(分钟)", "早退(分钟)", "工时(分钟)", "迟到豁免" };
        csv_out_init(&rep->out);
        for (size_t i = 0; i < GY_ARRAY_LEN(titles); i++)
            csv_out_text(&rep->out, titles[i]);
        csv_out_end_row(&rep->out);
    } else {
        rep->json = cJSON_CreateObject();
        cJSON_AddStringToObject(rep->json, "month", rep->month);
        days = cJSON_AddArrayToObject(rep->json, "days");
    }
    st = db_stmt(c, &reports_sql, Q_ME_DAYS);
    sqlite3_bind_int64(st, 1, rep->employee_id);
    sqlite3_bind_int(st, 2, first);
    sqlite3_bind_int(st, 3, next);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct att_day d = { .employee_id = rep->employee_id };
        struct shift_version v = { 0 };
        bool has_shift = sqlite3_column_type(st, 1) != SQLITE_NULL;

        d.date = sqlite3_column_int(st, 0);
        d.version_id = has_shift ? sqlite3_column_int64(st, 1) : 0;
        d.w.start = sqlite3_column_int64(st, 2);
        d.w.end = sqlite3_column_int64(st, 3);
        d.w.open = sqlite3_column_int64(st, 4);
        d.w.close = sqlite3_column_int64(st, 5);
        d.status = (enum att_status)att_status_parse((const char *)sqlite3_column_text(st, 6));
        d.first_in = sqlite3_column_int64(st, 7);
        d.last_out = sqlite3_column_int64(st, 8);
        d.late_min = sqlite3_column_int(st, 9);
        d.early_min = sqlite3_column_int(st, 10);
        d.worked_min = sqlite3_column_int(st, 11);
        d.tier = sqlite3_column_int(st, 12);
        d.half_day = sqlite3_column_int(st, 13);
        d.excused = sqlite3_column_int(st, 14);
        d.final = sqlite3_column_int(st, 15);
        if (has_shift) {
            v.id = d.version_id;
            snprintf(v.def.code, sizeof v.def.code, "%s", (const char *)sqlite3_column_text(st, 16));
            snprintf(v.name, sizeof v.name, "%s", (const char *)sqlite3_column_text(st, 17));
            if (d.w.start <= clock_now()) {
                struct figures f = { .v = { [F_SCHEDULED] = 1 } };
                f.v[F_PRESENT] = d.first_in || d.last_out;
                f.v[F_LATE] = d.status == ATT_LATE || d.status == ATT_LATE_AND_EARLY;
                f.v[F_SEVERE] = f.v[F_LATE] && d.tier == ATT_TIER_SERIOUS;
                f.v[F_EXCUSED] = d.excused;
                f.v[F_EARLY] = d.status == ATT_EARLY_LEAVE || d.status == ATT_LATE_AND_EARLY;
                f.v[F_ABSENT] = d.status == ATT_ABSENT;
                f.v[F_MISSING] = d.status == ATT_MISSING_IN || d.status == ATT_MISSING_OUT;
                f.v[F_FIELD] = d.status == ATT_FIELD_PENDING;
                f.worked_h = d.worked_min / 60.0;
                figures_add(&sum, &f);
            }
        }
        if (rep->csv) {
            char date[11], in[32] = "", out[32] = "";   /* "08:03:00" of the ISO time */
            att_format_date(d.date, date);
            if (d.first_in) {
                clock_format(d.first_in, in);
                in[19] = '\0';
            }
            if (d.last_out) {
                clock_format(d.last_out, out);
                out[19] = '\0';
            }
            csv_out_text(&rep->out, date);
            csv_out_text(&rep->out, has_shift ? v.name : "休息");
            csv_out_text(&rep->out, att_status_name(d.status));
            csv_out_text(&rep->out, in[0] ? in + 11 : "");
            csv_out_text(&rep->out, out[0] ? out + 11 : "");
            csv_out_num(&rep->out, d.late_min);
            csv_out_num(&rep->out, d.early_min);
            csv_out_num(&rep->out, d.worked_min);
            csv_out_text(&rep->out, d.excused ? "是" : "");
            csv_out_end_row(&rep->out);
        } else {
            cJSON_AddItemToArray(days, attday_json(&d, has_shift ? &v : NULL));
        }
    }
    db_done(st, 0);
    if (rep->csv)
        return;
    figures_json(cJSON_AddObjectToObject(rep->json, "summary"), &sum);
    st = db_stmt(c, &reports_sql, Q_ME_MAKEUPS);
    sqlite3_bind_int64(st, 1, rep->employee_id);
    sqlite3_bind_int(st, 2, first);
    sqlite3_bind_int(st, 3, next);
    if (sqlite3_step(st) == SQLITE_ROW)
        used = (long)sqlite3_column_int64(st, 0);
    db_done(st, 0);
    cJSON *mk = cJSON_AddObjectToObject(rep->json, "makeups");
    cJSON_AddNumberToObject(mk, "used", (double)used);
    cJSON_AddNumberToObject(mk, "per_month", http_config()->attendance.makeups_per_month);
}

void reports_me_attendance(struct gy_req *r)
{
    struct report *rep;
    const char *month = api_query(r, "month");
    int32_t first, next;
    char m[8];
    int csv;

    if (month && *month) {
        if (att_parse_month(month, &first, &next) != 0) {
            api_reply_bad_field(r, "month", "want_yyyy_mm");
            return;
        }
        snprintf(m, sizeof m, "%s", month);
    } else {
        char today[11];
        att_format_date(attday_today(), today);
        snprintf(m, sizeof m, "%.7s", today);
    }
    if ((csv = wants_csv(r)) < 0)
        return;
    rep = gy_calloc(1, sizeof *rep);
    rep->r = r;
    rep->csv = csv;
    rep->employee_id = r->auth.employee_id;
    snprintf(rep->month, sizeof rep->month, "%s", m);
    report_submit(run_me, report_reply, rep);
}
