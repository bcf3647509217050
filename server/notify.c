/*
 * notify.c - what to send, to whom: notification kinds from the config
 * (template, page, which fields fill which template keys, robot lines and
 * routes), checked at start so a bad mapping fails then and not at 3 a.m.;
 * notify_enqueue(), the one call a feature makes inside its own writer
 * unit so a change and its notifications commit together; and HR's list.
 * Delivery is deliver.c's; the consent ledger is consent.c's.
 */
#include "gongyou.h"
#include "wx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { Q_INSERT, Q_EMPLOYEE, Q_LIST, Q_LIST_STATUS, Q_ATTEMPTS, Q_TESTING_EVENT, Q_FOLD_DUE };
static const char *const sql[] = {
    [Q_INSERT] =
        "INSERT INTO notifications (kind, channel, employee_no, robot, fold_key, fields, status, "
        "next_attempt_at, deadline_at, created_at, updated_at, errmsg) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11) RETURNING id",
    [Q_EMPLOYEE] = "SELECT department FROM employees WHERE employee_no = ?1",
    /* Two statements, so a filter on the status can use its index. */
    [Q_LIST] =
        "SELECT id, kind, channel, employee_no, robot, fields, status, attempts, next_attempt_at, "
        "created_at, sent_at, errcode, errmsg, msgid, routed_to FROM notifications "
        "WHERE (?2 = '' OR kind = ?2) AND created_at >= ?3 AND id < ?4 "
        "ORDER BY id DESC LIMIT ?5",
    [Q_LIST_STATUS] =
        "SELECT id, kind, channel, employee_no, robot, fields, status, attempts, next_attempt_at, "
        "created_at, sent_at, errcode, errmsg, msgid, routed_to FROM notifications "
        "WHERE status = ?1 AND (?2 = '' OR kind = ?2) AND created_at >= ?3 AND id < ?4 "
        "ORDER BY id DESC LIMIT ?5",
    [Q_ATTEMPTS] =
        "SELECT at, errcode, errmsg FROM notification_attempts WHERE notification_id = ?1 ORDER BY id",
    [Q_TESTING_EVENT] = "INSERT INTO testing_events (kind, created_at) VALUES (?1, ?2)",
    [Q_FOLD_DUE] =
        "SELECT min(next_attempt_at) FROM notifications WHERE fold_key = ?1 AND status = 'pending'",
};
const struct db_sqlset notify_sql = { "notify", sql, GY_ARRAY_LEN(sql) };

static struct {
    struct notify_kind *kinds;
    size_t nkinds;
    const struct gy_config *cfg;
} N;

/* ==== the kinds, from the config ==== */

static void kind_free(struct notify_kind *k)
{
    free(k->name);
    free(k->template_id);
    free(k->page);
    for (size_t i = 0; i < k->ndata; i++) {
        free(k->data[i].key);
        free(k->data[i].field);
    }
    free(k->data);
    free(k->robot_title);
    free(k->robot_line);
}

static const char *opt_str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Check one kind's settings; fills K. */
static int parse_kind(const cJSON *o, struct notify_kind *k, char *err, size_t errsz)
{
    static const char *const allowed[] = { "template_id", "page", "data", "fallback", "channel",
                                           "robot_title", "robot_line" };
    const char *name = o->string, *channel = opt_str(o, "channel"), *fallback = opt_str(o, "fallback");
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(o, "data");

    k->name = gy_strdup(name);
    if (!cJSON_IsObject(o)) {
        snprintf(err, errsz, "config: bad value for notify.kinds.%s: want a JSON object", name);
        return GY_ERR;
    }
    for (const cJSON *it = o->child; it; it = it->next) {
        bool known = false;
        for (size_t i = 0; i < GY_ARRAY_LEN(allowed); i++)
            known |= strcmp(it->string, allowed[i]) == 0;
        if (!known || (strcmp(it->string, "data") && !cJSON_IsString(it))) {
            snprintf(err, errsz, "config: %s key notify.kinds.%s.%s", known ? "bad value for" : "unknown",
                     name, it->string);
            return GY_ERR;
        }
    }
    if (channel && strcmp(channel, "robot") && strcmp(channel, "wechat")) {
        snprintf(err, errsz, "config: bad value for notify.kinds.%s.channel: want wechat or robot", name);
        return GY_ERR;
    }
    if (fallback && strcmp(fallback, "robot") && strcmp(fallback, "none")) {
        snprintf(err, errsz, "config: bad value for notify.kinds.%s.fallback: want robot or none", name);
        return GY_ERR;
    }
    k->robot_only = channel && strcmp(channel, "robot") == 0;
    k->fallback_robot = fallback && strcmp(fallback, "robot") == 0;
    k->robot_title = gy_strdup(opt_str(o, "robot_title") ? opt_str(o, "robot_title") : name);
    k->robot_line = opt_str(o, "robot_line") ? gy_strdup(opt_str(o, "robot_line")) : NULL;
    if ((k->robot_only || k->fallback_robot) && !k->robot_line) {
        snprintf(err, errsz, "config: notify.kinds.%s.robot_line is needed to send it to a robot", name);
        return GY_ERR;
    }
    if (k->robot_only)
        return GY_OK;
    if (!opt_str(o, "template_id") || !*opt_str(o, "template_id")) {
        snprintf(err, errsz, "config: notify.kinds.%s.template_id is missing", name);
        return GY_ERR;
    }
    k->template_id = gy_strdup(opt_str(o, "template_id"));
    k->page = opt_str(o, "page") ? gy_strdup(opt_str(o, "page")) : NULL;
    if (!cJSON_IsObject(data) || !data->child) {
        snprintf(err, errsz, "config: notify.kinds.%s.data must map template keys to fields, "
                 "e.g. {\"thing1\": \"title\"}", name);
        return GY_ERR;
    }
    for (const cJSON *it = data->child; it; it = it->next) {
        if (wx_field_type_of(it->string) == WX_F_UNKNOWN) {
            snprintf(err, errsz, "config: notify.kinds.%s.data.%s: not a template key WeChat knows "
                     "(thing1, time2, phrase3 ...)", name, it->string);
            return GY_ERR;
        }
        if (!cJSON_IsString(it) || !*it->valuestring) {
            snprintf(err, errsz, "config: bad value for notify.kinds.%s.data.%s: want a field name", name,
                     it->string);
            return GY_ERR;
        }
        k->data = gy_realloc(k->data, (k->ndata + 1) * sizeof *k->data);
        k->data[k->ndata].key = gy_strdup(it->string);
        k->data[k->ndata].field = gy_strdup(it->valuestring);
        k->ndata++;
    }
    return GY_OK;
}

static bool url_ok(const char *u)
{
    return strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0;
}

static int check_routes(const struct gy_config *cfg, char *err, size_t errsz)
{
    const char *state = cfg->notify.miniprogram_state;
    int i = 0;

    if (strcmp(state, "formal") && strcmp(state, "trial") && strcmp(state, "developer")) {
        snprintf(err, errsz, "config: bad value for notify.miniprogram_state: want formal, trial or developer");
        return GY_ERR;
    }
    for (const cJSON *r = cfg->notify.robots->child; r; r = r->next) {
        if (!cJSON_IsString(r) || !url_ok(r->valuestring)) {
            snprintf(err, errsz, "config: bad value for notify.robots.%s: want the robot's webhook URL", r->string);
            return GY_ERR;
        }
    }
    for (const cJSON *r = cfg->notify.routes->child; r; r = r->next, i++) {
        const char *robot = opt_str(r, "robot"), *kind = opt_str(r, "kind");
        for (const cJSON *m = cJSON_IsObject(r) ? r->child : NULL; m; m = m->next) {
            if ((strcmp(m->string, "kind") && strcmp(m->string, "department") && strcmp(m->string, "robot")) ||
                !cJSON_IsString(m)) {
                snprintf(err, errsz, "config: bad key notify.routes[%d].%s: a route has kind, department "
                         "and robot, all strings", i, m->string);
                return GY_ERR;
            }
        }
        if (!cJSON_IsObject(r) || !robot || !cJSON_GetObjectItemCaseSensitive(cfg->notify.robots, robot)) {
            snprintf(err, errsz, "config: notify.routes[%d].robot must name one of notify.robots", i);
            return GY_ERR;
        }
        if (kind && strcmp(kind, "*") && !notify_kind(kind)) {
            snprintf(err, errsz, "config: notify.routes[%d].kind %s is not in notify.kinds", i, kind);
            return GY_ERR;
        }
    }
    return GY_OK;
}

int notify_config_check(const struct gy_config *cfg, char *err, size_t errsz)
{
    notify_config_free();
    N.cfg = cfg;
    for (const cJSON *o = cfg->notify.kinds->child; o; o = o->next) {
        N.kinds = gy_realloc(N.kinds, (N.nkinds + 1) * sizeof *N.kinds);
        memset(&N.kinds[N.nkinds], 0, sizeof N.kinds[0]);
        if (parse_kind(o, &N.kinds[N.nkinds++], err, errsz) != GY_OK)
            return GY_ERR;
    }
    return check_routes(cfg, err, errsz);
}

void notify_config_free(void)
{
    for (size_t i = 0; i < N.nkinds; i++)
        kind_free(&N.kinds[i]);
    free(N.kinds);
    N.kinds = NULL;
    N.nkinds = 0;
}

const struct notify_kind *notify_kind(const char *name)
{
    for (size_t i = 0; i < N.nkinds; i++)
        if (strcmp(N.kinds[i].name, name) == 0)
            return &N.kinds[i];
    return NULL;
}

const struct notify_kind *notify_kinds(size_t *n)
{
    *n = N.nkinds;
    return N.kinds;
}

const char *notify_route(const char *kind, const char *department)
{
    for (const cJSON *r = N.cfg->notify.routes->child; r; r = r->next) {
        const char *k = opt_str(r, "kind"), *d = opt_str(r, "department");
        if ((!k || strcmp(k, "*") == 0 || strcmp(k, kind) == 0) && (!d || strcmp(d, department) == 0))
            return opt_str(r, "robot");
    }
    return NULL;
}

const char *notify_robot_url(const char *robot)
{
    return opt_str(N.cfg->notify.robots, robot);
}

/* "{title} 在 {place}" with FIELDS' values; unknown names stay as they are. */
char *notify_render(const char *tmpl, const cJSON *fields)
{
    size_t cap = strlen(tmpl) + 64, n = 0;
    char *out = gy_malloc(cap);

    for (const char *p = tmpl; *p;) {
        const char *close = *p == '{' ? strchr(p, '}') : NULL;
        char name[64], num[32];
        const char *val = NULL;
        size_t len;

        if (close && (size_t)(close - p - 1) < sizeof name) {
            const cJSON *v;
            memcpy(name, p + 1, (size_t)(close - p - 1));
            name[close - p - 1] = '\0';
            v = cJSON_GetObjectItemCaseSensitive(fields, name);
            if (cJSON_IsString(v)) {
                val = v->valuestring;
            } else if (cJSON_IsNumber(v)) {
                snprintf(num, sizeof num, "%.15g", v->valuedouble);
                val = num;
            }
        }
        if (val) {
            len = strlen(val);
            p = close + 1;
        } else {
            val = p;
            len = 1;
            p++;
        }
        if (n + len + 1 > cap)
            out = gy_realloc(out, cap = (n + len + 1) * 2);
        memcpy(out + n, val, len);
        n += len;
    }
    out[n] = '\0';
    return out;
}

/* ==== the one call a feature makes ==== */

static int insert(struct db_conn *c, const char *kind, const char *channel, const char *employee_no,
                  const char *robot, const char *fold_key, const char *fields, const char *status,
                  int64_t due, const char *why, int64_t *id)
{
    sqlite3_stmt *st = db_stmt(c, &notify_sql, Q_INSERT);
    int64_t now = clock_now();
    int rc;

    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, employee_no, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, robot, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, fold_key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, fields, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, due);
    sqlite3_bind_int64(st, 9, now + N.cfg->notify.deadline_s);
    sqlite3_bind_int64(st, 10, now);
    db_bind_text(st, 11, why);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && id)
        *id = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    if (rc != SQLITE_ROW)
        return db_fail(c, "notify: cannot queue");
    metrics_notify(kind, status);
    return GY_OK;
}

static void department_of(struct db_conn *c, const char *employee_no, char *out, size_t outsz)
{
    sqlite3_stmt *st = db_stmt(c, &notify_sql, Q_EMPLOYEE);

    out[0] = '\0';
    sqlite3_bind_text(st, 1, employee_no, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, outsz, "%s", (const char *)sqlite3_column_text(st, 0));
    db_done(st, 0);
}

static int64_t fold_due(struct db_conn *c, const char *fold)
{
    sqlite3_stmt *st = db_stmt(c, &notify_sql, Q_FOLD_DUE);
    int64_t due = clock_now() + N.cfg->notify.robot_fold_s;

    sqlite3_bind_text(st, 1, fold, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        due = sqlite3_column_int64(st, 0);
    db_done(st, 0);
    return due;
}

int notify_enqueue_robot(struct db_conn *c, const struct notify_kind *k, const char *employee_no,
                         const char *fields, int64_t *id)
{
    char dept[128], fold[300];
    const char *robot;

    department_of(c, employee_no, dept, sizeof dept);
    robot = notify_route(k->name, dept);
    if (!robot) {
        gy_log(LOG_WARN, "notify: no robot route for %s (department %s)", k->name, dept);
        return insert(c, k->name, "robot", employee_no, "", "", fields, "skipped", clock_now(),
                      "no robot route in notify.routes", id);
    }
    /* Alerts of one kind to one robot go out as one message: the first
     * waits robot_fold_s, and those that come while it waits join it. */
    snprintf(fold, sizeof fold, "%s|%s", k->name, robot);
    return insert(c, k->name, "robot", employee_no, robot, fold, fields, "pending",
                  fold_due(c, fold), NULL, id);
}

int notify_enqueue(struct db_conn *c, const char *kind, const char *employee_no, const cJSON *fields)
{
    const struct notify_kind *k = notify_kind(kind);
    char *text;
    int rc;

    if (!k) {
        gy_log(LOG_ERROR, "notify: kind %s is not configured in notify.kinds; nothing queued", kind);
        return GY_OK;   /* a missing kind must not undo the business change */
    }
    text = cJSON_PrintUnformatted(fields);
    if (k->robot_only)
        rc = notify_enqueue_robot(c, k, employee_no, text, NULL);
    else
        rc = insert(c, kind, "wechat", employee_no, "", "", text, "pending", clock_now(), NULL, NULL);
    free(text);
    deliver_kick();
    return rc;
}

/* ==== HR: the list ==== */

static cJSON *attempts_json(int64_t id)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &notify_sql, Q_ATTEMPTS);
    cJSON *a = cJSON_CreateArray();

    sqlite3_bind_int64(st, 1, id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        char when[32];
        clock_format(sqlite3_column_int64(st, 0), when);
        cJSON_AddStringToObject(o, "at", when);
        cJSON_AddNumberToObject(o, "errcode", (double)sqlite3_column_int64(st, 1));
        cJSON_AddStringToObject(o, "errmsg", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddItemToArray(a, o);
    }
    db_done(st, 0);
    return a;
}

static cJSON *row_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    int64_t id = sqlite3_column_int64(st, 0);

    cJSON_AddNumberToObject(o, "id", (double)id);
    cJSON_AddStringToObject(o, "kind", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddStringToObject(o, "channel", (const char *)sqlite3_column_text(st, 2));
    cJSON_AddStringToObject(o, "employee_no", (const char *)sqlite3_column_text(st, 3));
    cJSON_AddStringToObject(o, "robot", (const char *)sqlite3_column_text(st, 4));
    cJSON_AddItemToObject(o, "fields", cJSON_Parse((const char *)sqlite3_column_text(st, 5)));
    cJSON_AddStringToObject(o, "status", (const char *)sqlite3_column_text(st, 6));
    cJSON_AddNumberToObject(o, "attempts", sqlite3_column_int(st, 7));
    api_add_time_col(o, "next_attempt_at", st, 8);
    api_add_time_col(o, "created_at", st, 9);
    api_add_time_col(o, "sent_at", st, 10);
    if (sqlite3_column_type(st, 11) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "errcode");
    else
        cJSON_AddNumberToObject(o, "errcode", (double)sqlite3_column_int64(st, 11));
    if (sqlite3_column_type(st, 12) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "errmsg");
    else
        cJSON_AddStringToObject(o, "errmsg", (const char *)sqlite3_column_text(st, 12));
    if (sqlite3_column_type(st, 13) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "msgid");
    else
        cJSON_AddStringToObject(o, "msgid", (const char *)sqlite3_column_text(st, 13));
    if (sqlite3_column_type(st, 14) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "routed_to");
    else
        cJSON_AddNumberToObject(o, "routed_to", (double)sqlite3_column_int64(st, 14));
    return o;
}

void notify_list(struct gy_req *r)
{
    static const char *const statuses[] = { "pending", "sending", "sent", "failed", "skipped" };
    const char *q;
    char status[16], kind[64] = "";
    long long since = 0;
    struct api_page page;
    sqlite3_stmt *st;
    cJSON *body, *list;

    if (api_query_choice(r, "status", statuses, GY_ARRAY_LEN(statuses), status, sizeof status) != GY_OK)
        return;
    if ((q = api_query(r, "kind")))
        snprintf(kind, sizeof kind, "%s", q);
    if ((q = api_query(r, "since")) && gy_parse_ll(q, 0, INT64_MAX, &since) != GY_OK) {
        api_reply_bad_field(r, "since", "not_unix_seconds");
        return;
    }
    if (api_page_params(r, 100, &page) != GY_OK)
        return;

    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "notifications");
    st = db_stmt(db_reader(), &notify_sql, status[0] ? Q_LIST_STATUS : Q_LIST);
    if (status[0])
        sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, since);
    sqlite3_bind_int64(st, 4, page.before);
    sqlite3_bind_int64(st, 5, page.limit);
    while (sqlite3_step(st) == SQLITE_ROW) {
        page.last = sqlite3_column_int64(st, 0);
        cJSON_AddItemToArray(list, row_json(st));
    }
    db_done(st, 0);
    /* The history of each row, after the list statement is reset. */
    for (cJSON *o = list->child; o; o = o->next)
        cJSON_AddItemToObject(o, "history", attempts_json((int64_t)cJSON_GetObjectItem(o, "id")->valuedouble));
    api_reply_page(r, body, list, &page);
}

/* ==== testing: a stand-in business change with its notifications ==== */

struct tnotify {
    struct gy_req *r;
    char kind[64], employee_no[64];
    int count;
    bool fail_after;
    int64_t event_id;
};

static int tnotify_unit(struct db_conn *c, void *arg)
{
    struct tnotify *t = arg;
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(t->r->json, "fields");
    sqlite3_stmt *st = db_stmt(c, &notify_sql, Q_TESTING_EVENT);

    sqlite3_bind_text(st, 1, t->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, clock_now());
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    t->event_id = sqlite3_last_insert_rowid(db_handle(c));
    for (int i = 0; i < t->count; i++)
        if (notify_enqueue(c, t->kind, t->employee_no, fields) != GY_OK)
            return GY_ERR;
    return t->fail_after ? 1 : GY_OK;   /* 1: a failure after the outbox write */
}

static void tnotify_done(void *arg, int rc)
{
    struct tnotify *t = arg;
    cJSON *body = cJSON_CreateObject();

    if (rc == GY_ERR) {
        cJSON_Delete(body);
        api_reply_error(t->r, "internal_error");
        free(t);
        return;
    }
    cJSON_AddBoolToObject(body, "committed", rc == GY_OK);
    if (rc == GY_OK)
        cJSON_AddNumberToObject(body, "event_id", (double)t->event_id);
    api_reply_json(t->r, 200, body);
    free(t);
}

void notify_testing(struct gy_req *r)
{
    const cJSON *fields = cJSON_GetObjectItemCaseSensitive(r->json, "fields");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(r->json, "count");
    const char *kind = api_str(r, "kind", 1, 63), *no;
    struct tnotify *t;

    if (!kind || !(no = api_str(r, "employee_no", 1, 63)))
        return;
    if (!cJSON_IsObject(fields)) {
        api_reply_bad_field(r, "fields", "not_an_object");
        return;
    }
    if (count && (!cJSON_IsNumber(count) || count->valueint < 1 || count->valueint > 1000)) {
        api_reply_bad_field(r, "count", "out_of_range");
        return;
    }
    t = gy_calloc(1, sizeof *t);
    t->r = r;
    snprintf(t->kind, sizeof t->kind, "%s", kind);
    snprintf(t->employee_no, sizeof t->employee_no, "%s", no);
    t->count = count ? count->valueint : 1;
    t->fail_after = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r->json, "fail_after_outbox"));
    writer_submit(tnotify_unit, tnotify_done, t);
}
