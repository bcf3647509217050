/*
 * roster.c - the roster: HR's CSV import of employees, through
 * `gongyoud roster import` and POST /api/v1/admin/roster. Binding a
 * WeChat user to an employee is bind.c's.
 *
 * The import is all or nothing. roster_parse() reads the file with libcsv
 * and checks every field without touching the database; roster_apply()
 * checks what needs the database (supervisors) and then writes, inside
 * one writer unit or one CLI transaction, so one bad row changes nothing.
 */
#include "gongyou.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

enum {
    Q_EMP_BY_NO, Q_EMP_INSERT, Q_EMP_UPDATE, Q_EMP_ACTIVE_NOS, Q_EMP_DEACTIVATE, Q_IMPORT_LOG,
    Q_FORGET_DAYS, Q_FORGET_PLANS,
};
static const char *const sql[] = {
    [Q_EMP_BY_NO] =
        "SELECT id, name, department, phone, site, roles, supervisor_no, active "
        "FROM employees WHERE employee_no = ?1",
    [Q_EMP_INSERT] =
        "INSERT INTO employees (employee_no, name, department, phone, site, roles, supervisor_no, "
        "active, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)",
    [Q_EMP_UPDATE] =
        "UPDATE employees SET name = ?2, department = ?3, phone = ?4, site = ?5, roles = ?6, "
        "supervisor_no = ?7, active = 1, updated_at = ?8 WHERE employee_no = ?1",
    [Q_EMP_ACTIVE_NOS] = "SELECT employee_no FROM employees WHERE active = 1",
    [Q_EMP_DEACTIVATE] = "UPDATE employees SET active = 0, updated_at = ?2 WHERE employee_no = ?1",
    [Q_IMPORT_LOG] =
        "INSERT INTO roster_imports (at, source, rows, added, updated, deactivated, unchanged) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    /* Attendance days not begun are planned again (a new department may
     * have another pattern; a new employee needs rows at all). */
    [Q_FORGET_DAYS] =
        "DELETE FROM att_days WHERE punches = 0 AND (shift_version_id IS NULL OR start_at > ?1)",
    [Q_FORGET_PLANS] = "DELETE FROM att_plans WHERE att_date >= ?1",
};
const struct db_sqlset roster_sql = { "roster", sql, GY_ARRAY_LEN(sql) };

/* ==== parsing the CSV (pure) ==== */

enum { C_NO, C_NAME, C_DEPT, C_PHONE, C_SITE, C_ROLES, C_SUPERVISOR, NCOLS };

static const struct csv_column columns[NCOLS] = {
    [C_NO] = { "employee_no", true, 32 },
    [C_NAME] = { "name", true, 40 },
    [C_DEPT] = { "department", false, 64 },
    [C_PHONE] = { "phone", true, 20 },
    [C_SITE] = { "site", false, 64 },
    [C_ROLES] = { "roles", true, 64 },
    [C_SUPERVISOR] = { "supervisor_no", false, 32 },
};

/* Phone: digits, optionally with a leading + and spaces or dashes, which
 * are dropped. 5 to 20 digits. Normalised in place. */
static bool normalise_phone(char *s)
{
    size_t o = 0, digits = 0;

    for (size_t i = 0; s[i]; i++) {
        if (s[i] == ' ' || s[i] == '-')
            continue;
        if (s[i] == '+' && o == 0) {
            s[o++] = '+';
            continue;
        }
        if (!isdigit((unsigned char)s[i]))
            return false;
        s[o++] = s[i];
        digits++;
    }
    s[o] = '\0';
    return digits >= 5 && digits <= 20;
}

static bool employee_no_ok(const char *s)
{
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_')
            return false;
    return true;
}

/* The checks of one cell that csv_read does not know; false (with a
 * problem added) if it is bad. */
static bool check_field(struct roster_file *f, long row, int c, char *v, unsigned *roles)
{
    const char *col = columns[c].name;
    bool ok;

    if (!*v)
        return true;
    switch (c) {
    case C_NO:
    case C_SUPERVISOR:
        if (!employee_no_ok(v)) {
            csv_problem_add(&f->problems, row, col, "工号“%s”只能包含字母、数字、- 和 _", v);
            return false;
        }
        break;
    case C_PHONE:
        if (!normalise_phone(v)) {
            csv_problem_add(&f->problems, row, col, "手机号“%s”不对：应为 5 到 20 位数字", v);
            return false;
        }
        break;
    case C_ROLES:
        *roles = roles_parse(v, &ok);
        if (!ok || !*roles) {
            csv_problem_add(&f->problems, row, col, "角色“%s”不对：可选 worker、technician、supervisor、hr，多个用 | 分开", v);
            return false;
        }
        break;
    }
    return true;
}

static void read_row(void *ctx, long row, char **val, const bool *cell_ok)
{
    struct roster_file *f = ctx;
    struct roster_row rr = { .row = row };
    bool ok = true;

    for (int c = 0; c < NCOLS; c++)
        ok &= cell_ok[c] && check_field(f, row, c, val[c], &rr.roles);
    if (ok && *val[C_SUPERVISOR] && strcmp(val[C_SUPERVISOR], val[C_NO]) == 0) {
        csv_problem_add(&f->problems, row, "supervisor_no", "主管不能是本人");
        ok = false;
    }
    if (!ok)
        return;
    rr.employee_no = gy_strdup(val[C_NO]);
    rr.name = gy_strdup(val[C_NAME]);
    rr.department = gy_strdup(val[C_DEPT]);
    rr.phone = gy_strdup(val[C_PHONE]);
    rr.site = gy_strdup(val[C_SITE]);
    rr.supervisor_no = *val[C_SUPERVISOR] ? gy_strdup(val[C_SUPERVISOR]) : NULL;
    f->rows = gy_realloc(f->rows, (f->n + 1) * sizeof *f->rows);
    f->rows[f->n++] = rr;
}

static int cmp_rows(const void *a, const void *b)
{
    const struct roster_row *x = *(struct roster_row *const *)a, *y = *(struct roster_row *const *)b;
    int d = strcmp(x->employee_no, y->employee_no);

    return d ? d : (x->row > y->row) - (x->row < y->row);
}

static void find_duplicates(struct roster_file *f)
{
    struct roster_row **by_no = gy_malloc((f->n ? f->n : 1) * sizeof *by_no);

    for (size_t i = 0; i < f->n; i++)
        by_no[i] = &f->rows[i];
    qsort(by_no, f->n, sizeof *by_no, cmp_rows);
    for (size_t i = 1; i < f->n; i++)
        if (strcmp(by_no[i]->employee_no, by_no[i - 1]->employee_no) == 0)
            csv_problem_add(&f->problems, by_no[i]->row, "employee_no", "工号“%s”与第 %ld 行重复",
                        by_no[i]->employee_no, by_no[i - 1]->row);
    free(by_no);
}

int roster_parse(const char *data, size_t len, struct roster_file *f)
{
    memset(f, 0, sizeof *f);
    if (csv_read(data, len, columns, NCOLS, "员工", read_row, f, &f->problems) != GY_OK)
        return GY_ERR;
    find_duplicates(f);   /* among the rows that passed their own checks */
    return GY_OK;
}

void roster_file_free(struct roster_file *f)
{
    for (size_t i = 0; i < f->n; i++) {
        struct roster_row *r = &f->rows[i];
        free(r->employee_no);
        free(r->name);
        free(r->department);
        free(r->phone);
        free(r->site);
        free(r->supervisor_no);
    }
    free(f->rows);
    csv_problems_free(&f->problems);
    memset(f, 0, sizeof *f);
}

/* ==== applying it ==== */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted employee numbers of the file, for membership tests; caller frees the array. */
static char **file_numbers(const struct roster_file *f)
{
    char **nos = gy_malloc((f->n ? f->n : 1) * sizeof *nos);

    for (size_t i = 0; i < f->n; i++)
        nos[i] = f->rows[i].employee_no;
    qsort(nos, f->n, sizeof *nos, cmp_str);
    return nos;
}

static bool in_file(char **nos, size_t n, const char *no)
{
    return bsearch(&no, nos, n, sizeof *nos, cmp_str) != NULL;
}

/* Supervisors named in the file must be in the file or active in the table
 * (and, with deactivate_missing, in the file). */
static int check_supervisors(struct db_conn *c, struct roster_file *f, char **nos, bool deactivate)
{
    for (size_t i = 0; i < f->n; i++) {
        const char *sup = f->rows[i].supervisor_no;
        sqlite3_stmt *st;
        bool known;

        if (!sup || in_file(nos, f->n, sup))
            continue;
        st = db_stmt(c, &roster_sql, Q_EMP_BY_NO);
        sqlite3_bind_text(st, 1, sup, -1, SQLITE_STATIC);
        known = !deactivate && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 7) == 1;
        db_done(st, 0);
        if (!known)
            csv_problem_add(&f->problems, f->rows[i].row, "supervisor_no",
                        "主管工号“%s”既不在这个文件里，也不是在职员工", sup);
    }
    return f->problems.n ? 1 : GY_OK;
}

static bool same_text(sqlite3_stmt *st, int col, const char *v)
{
    const char *have = (const char *)sqlite3_column_text(st, col);

    if (!have || !v)
        return !have && (!v || !*v);
    return strcmp(have, v) == 0;
}

static int upsert_row(struct db_conn *c, const struct roster_row *rr, int64_t now,
                      struct roster_counts *out)
{
    sqlite3_stmt *st = db_stmt(c, &roster_sql, Q_EMP_BY_NO);
    char roles[64];
    int found, q;

    roles_format(rr->roles, roles, sizeof roles);
    sqlite3_bind_text(st, 1, rr->employee_no, -1, SQLITE_STATIC);
    found = sqlite3_step(st);
    if (found == SQLITE_ROW && same_text(st, 1, rr->name) && same_text(st, 2, rr->department) &&
        same_text(st, 3, rr->phone) && same_text(st, 4, rr->site) && same_text(st, 5, roles) &&
        same_text(st, 6, rr->supervisor_no) && sqlite3_column_int(st, 7) == 1) {
        db_done(st, 0);
        out->unchanged++;
        return GY_OK;
    }
    db_done(st, 0);
    if (found != SQLITE_ROW && found != SQLITE_DONE)
        return db_fail(c, "roster: cannot read employee");
    q = found == SQLITE_ROW ? Q_EMP_UPDATE : Q_EMP_INSERT;
    st = db_stmt(c, &roster_sql, q);
    sqlite3_bind_text(st, 1, rr->employee_no, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, rr->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, rr->department, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, rr->phone, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, rr->site, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, roles, -1, SQLITE_STATIC);
    db_bind_text(st, 7, rr->supervisor_no);
    sqlite3_bind_int64(st, 8, now);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    if (q == Q_EMP_UPDATE)
        out->updated++;
    else
        out->added++;
    return GY_OK;
}

static int deactivate_missing(struct db_conn *c, char **nos, size_t n, int64_t now,
                              struct roster_counts *out)
{
    sqlite3_stmt *st = db_stmt(c, &roster_sql, Q_EMP_ACTIVE_NOS);
    char **gone = NULL;
    size_t ngone = 0;
    int rc = GY_OK, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *no = (const char *)sqlite3_column_text(st, 0);
        if (!in_file(nos, n, no)) {
            gone = gy_realloc(gone, (ngone + 1) * sizeof *gone);
            gone[ngone++] = gy_strdup(no);
        }
    }
    db_done(st, 0);
    if (step != SQLITE_DONE)
        rc = db_fail(c, "roster: cannot list employees");
    for (size_t i = 0; i < ngone; i++) {
        if (rc == GY_OK) {
            st = db_stmt(c, &roster_sql, Q_EMP_DEACTIVATE);
            sqlite3_bind_text(st, 1, gone[i], -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, now);
            rc = db_exec_stmt(st);
            out->deactivated++;
        }
        free(gone[i]);
    }
    free(gone);
    return rc;
}

static int log_import(struct db_conn *c, const char *source, size_t rows, const struct roster_counts *n)
{
    sqlite3_stmt *st = db_stmt(c, &roster_sql, Q_IMPORT_LOG);

    sqlite3_bind_int64(st, 1, clock_now());
    sqlite3_bind_text(st, 2, source, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)rows);
    sqlite3_bind_int64(st, 4, n->added);
    sqlite3_bind_int64(st, 5, n->updated);
    sqlite3_bind_int64(st, 6, n->deactivated);
    sqlite3_bind_int64(st, 7, n->unchanged);
    return db_exec_stmt(st);
}

static int forget_attendance_plans(struct db_conn *c, int64_t now)
{
    sqlite3_stmt *st = db_stmt(c, &roster_sql, Q_FORGET_DAYS);

    sqlite3_bind_int64(st, 1, now);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    st = db_stmt(c, &roster_sql, Q_FORGET_PLANS);
    sqlite3_bind_int(st, 1, att_local_day(now, clock_utc_offset(now)) - 1);
    return db_exec_stmt(st);
}

static int apply(struct db_conn *c, struct roster_file *f, bool deactivate, const char *source,
                 struct roster_counts *out)
{
    char **nos = file_numbers(f);
    int64_t now = clock_now();
    int rc;

    memset(out, 0, sizeof *out);
    sesscache_stale();   /* roles, numbers and active flags may change */
    rc = check_supervisors(c, f, nos, deactivate);
    for (size_t i = 0; rc == GY_OK && i < f->n; i++)
        rc = upsert_row(c, &f->rows[i], now, out);
    if (rc == GY_OK && deactivate)
        rc = deactivate_missing(c, nos, f->n, now, out);
    if (rc == GY_OK)
        rc = log_import(c, source, f->n, out);
    if (rc == GY_OK)
        rc = forget_attendance_plans(c, now);
    free(nos);
    return rc;
}

int roster_apply(struct db_conn *c, struct roster_file *f, bool deactivate,
                 struct roster_counts *out)
{
    return apply(c, f, deactivate, "api", out);
}

static cJSON *counts_json(const struct roster_counts *n)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "added", (double)n->added);
    cJSON_AddNumberToObject(o, "updated", (double)n->updated);
    cJSON_AddNumberToObject(o, "deactivated", (double)n->deactivated);
    cJSON_AddNumberToObject(o, "unchanged", (double)n->unchanged);
    return o;
}

int roster_import_cli(struct db_conn *c, const char *file, bool deactivate)
{
    FILE *fp = fopen(file, "rb");
    struct roster_file f;
    struct roster_counts n;
    char *data = NULL, *out;
    size_t len = 0, cap = 0, got;
    int rc = GY_ERR;
    sqlite3 *db = db_handle(c);

    if (!fp) {
        fprintf(stderr, "roster import: cannot open %s: %s\n", file, strerror(errno));
        return GY_ERR;
    }
    do {
        if (cap - len < 65536)
            data = gy_realloc(data, cap = cap ? cap * 2 : 131072);
        got = fread(data + len, 1, cap - len, fp);
        len += got;
    } while (got > 0);
    fclose(fp);
    roster_parse(data, len, &f);
    free(data);
    if (!f.problems.n) {
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            fprintf(stderr, "roster import: database busy: %s\n", sqlite3_errmsg(db));
            goto out;
        }
        rc = apply(c, &f, deactivate, "cli", &n);
        sqlite3_exec(db, rc == GY_OK ? "COMMIT" : "ROLLBACK", NULL, NULL, NULL);
        if (rc == GY_OK) {
            cJSON *o = counts_json(&n);
            cJSON_AddNumberToObject(o, "rows", (double)f.n);
            out = cJSON_PrintUnformatted(o);
            printf("%s\n", out);
            free(out);
            cJSON_Delete(o);
            goto out;
        }
        rc = GY_ERR;
    }
    if (f.problems.n) {
        cJSON *a = csv_problems_json(&f.problems);
        fprintf(stderr, "roster import: nothing applied; %zu problem(s):\n", f.problems.n);
        for (cJSON *p = a->child; p; p = p->next) {
            fprintf(stderr, "  row %d, %s: %s\n", cJSON_GetObjectItem(p, "row")->valueint,
                    cJSON_GetObjectItem(p, "column")->valuestring,
                    cJSON_GetObjectItem(p, "problem")->valuestring);
        }
        cJSON_Delete(a);
    }
out:
    roster_file_free(&f);
    return rc;
}

/* ==== HTTP: upload ==== */

struct upload {
    struct gy_req *r;
    struct roster_file f;
    bool deactivate;
    struct roster_counts n;
};

/* Parsing a large file takes tens of milliseconds: done here, on the
 * writer thread, not on the loop that answers everyone else. */
static int upload_unit(struct db_conn *c, void *arg)
{
    struct upload *u = arg;

    roster_parse(u->r->body, u->r->body_len, &u->f);
    if (u->f.problems.n)
        return 1;
    return roster_apply(c, &u->f, u->deactivate, &u->n);
}

static void upload_done(void *arg, int rc)
{
    struct upload *u = arg;

    if (rc == GY_OK) {
        cJSON *body = counts_json(&u->n);
        cJSON_AddNumberToObject(body, "rows", (double)u->f.n);
        api_reply_json(u->r, 200, body);
    } else if (rc == 1) {
        cJSON *extra = cJSON_CreateObject();
        cJSON_AddItemToObject(extra, "problems", csv_problems_json(&u->f.problems));
        api_reply_error_ex(u->r, "roster_invalid", extra, 0);
    } else {
        api_reply_error(u->r, "internal_error");
    }
    roster_file_free(&u->f);
    free(u);
}

static bool flag_true(const char *v)
{
    return v && (strcmp(v, "1") == 0 || strcmp(v, "true") == 0 || strcmp(v, "yes") == 0);
}

void roster_upload(struct gy_req *r)
{
    struct upload *u = gy_calloc(1, sizeof *u);

    u->r = r;
    u->deactivate = flag_true(api_query(r, "deactivate_missing"));
    writer_submit(upload_unit, upload_done, u);
}
