/*
 * deliver.c - the delivery worker: takes due notifications from the
 * outbox, sends them (subscribe messages through wechat/, supervisor
 * alerts through a WeCom group robot) and records what happened.
 *
 * A row goes pending -> sending in its own commit before anything leaves,
 * and to sent / failed / skipped / pending-again (back-off) after WeChat
 * answers. A crash between the two leaves it "sending"; the next start
 * puts such rows back to pending, so delivery is at least once, and a
 * duplicate needs a crash in the milliseconds between WeChat's answer and
 * our commit. Transient failures retry with back-off until the row's
 * deadline; a row without consent (or whose worker is not bound) is
 * skipped and, where the kind says so, routed to the robot.
 *
 * Robot rows of one kind and robot that fall due together (they wait
 * notify.robot_fold_s after being queued) go out as one message: 40 late
 * workers become one list. Each robot gets at most notify.robot_per_minute
 * messages a minute (WeCom's limit is 20).
 */
#include "gongyou.h"
#include "wx.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

enum {
    Q_DUE, Q_CLAIM, Q_OPENID, Q_RESULT, Q_ATTEMPT, Q_ROUTED, Q_DEFER, Q_RECOVER,
};
static const char *const sql[] = {
    [Q_DUE] =
        "SELECT id, kind, channel, employee_no, robot, fold_key, fields, attempts, deadline_at, "
        "coalesce(errcode, 0) FROM notifications WHERE status = 'pending' AND next_attempt_at <= ?1 "
        "ORDER BY next_attempt_at, id LIMIT ?2",
    [Q_CLAIM] =
        "UPDATE notifications SET status = 'sending', attempts = attempts + 1, updated_at = ?2 "
        "WHERE id = ?1 AND status = 'pending'",
    [Q_OPENID] =
        "SELECT u.openid FROM employees e JOIN wx_users u ON u.id = e.wx_user_id "
        "WHERE e.employee_no = ?1 AND e.active = 1",
    [Q_RESULT] =
        "UPDATE notifications SET status = ?2, next_attempt_at = ?3, errcode = ?4, errmsg = ?5, "
        "msgid = coalesce(?6, msgid), sent_at = CASE WHEN ?2 = 'sent' THEN ?7 ELSE sent_at END, "
        "updated_at = ?7 WHERE id = ?1",
    [Q_ATTEMPT] =
        "INSERT INTO notification_attempts (notification_id, at, errcode, errmsg) VALUES (?1, ?2, ?3, ?4)",
    [Q_ROUTED] = "UPDATE notifications SET routed_to = ?2 WHERE id = ?1",
    [Q_DEFER] =
        "UPDATE notifications SET status = 'pending', attempts = attempts - 1, next_attempt_at = ?2, "
        "errmsg = 'waiting for the robot''s next minute', updated_at = ?3 WHERE id = ?1",
    [Q_RECOVER] =
        "UPDATE notifications SET status = 'pending', updated_at = ?1 WHERE status = 'sending'",
};
const struct db_sqlset deliver_sql = { "deliver", sql, GY_ARRAY_LEN(sql) };

/* One row taken from the outbox. */
struct job {
    int64_t id;
    const struct notify_kind *kind;
    bool robot;
    char employee_no[64], robot_name[64], fold_key[300];
    cJSON *fields;
    int attempts;              /* including this one */
    int64_t deadline;
    long prev_errcode;         /* the last attempt's errcode (-2: outcome unknown) */
    int record_tries;          /* commits of the outcome that failed so far */
    char openid[130];          /* wechat: resolved when claimed */
    bool claimed;
    /* the outcome, set by the finish unit */
    const char *status;
    long errcode;
    char errmsg[200];
    char msgid[32];
    int64_t next_at;
    struct job *next;          /* in its batch or robot group */
};

/* A batch being claimed, or a group of jobs sent as one. */
struct batch {
    struct job *jobs;
    int64_t defer_until;       /* robot over its limit: back to pending, uncounted */
    struct wx_result res;      /* copy of the send's outcome */
    char errmsg[200];
    char msgid[32];
};

#define MAX_ROBOTS 32
#define UNKNOWN_OUTCOME (-2)   /* errcode recorded when a send timed out after leaving */

static struct {
    const struct gy_config *cfg;
    struct event_base *base;
    struct event *timer;
    bool scanning;             /* a look or a claim is under way */
    bool stopping;
    int inflight;              /* rows being sent */
    atomic_int kick;           /* rows were queued: look again after their commit */
    struct {
        char name[64];
        int64_t sent[20];      /* times of the last messages, a ring */
        int next;
    } rate[MAX_ROBOTS];
} D;

int deliver_inflight(void)
{
    return D.inflight;
}

static void job_free(struct job *j)
{
    while (j) {
        struct job *n = j->next;
        cJSON_Delete(j->fields);
        free(j);
        j = n;
    }
}

static void batch_free(struct batch *b)
{
    job_free(b->jobs);
    free(b);
}

/* ==== recording outcomes (writer thread) ==== */

static int record(struct db_conn *c, struct job *j)
{
    int64_t now = clock_now();
    sqlite3_stmt *st = db_stmt(c, &deliver_sql, Q_ATTEMPT);

    sqlite3_bind_int64(st, 1, j->id);
    sqlite3_bind_int64(st, 2, now);
    sqlite3_bind_int64(st, 3, j->errcode);
    sqlite3_bind_text(st, 4, j->errmsg, -1, SQLITE_STATIC);
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    st = db_stmt(c, &deliver_sql, Q_RESULT);
    sqlite3_bind_int64(st, 1, j->id);
    sqlite3_bind_text(st, 2, j->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, j->next_at ? j->next_at : now);
    sqlite3_bind_int64(st, 4, j->errcode);
    db_bind_text(st, 5, j->errmsg[0] ? j->errmsg : NULL);
    db_bind_text(st, 6, j->msgid[0] ? j->msgid : NULL);
    sqlite3_bind_int64(st, 7, now);
    return db_exec_stmt(st);
}

/* Skipped: no consent, or nobody to send to. Route it to the robot if the
 * kind says so. */
static int skip(struct db_conn *c, struct job *j, long errcode, const char *why)
{
    int64_t robot_id = 0;
    char *text;
    int rc;

    j->status = "skipped";
    j->errcode = errcode;
    snprintf(j->errmsg, sizeof j->errmsg, "%s", why);
    if (record(c, j) != GY_OK)
        return GY_ERR;
    if (!j->kind || !j->kind->fallback_robot)
        return GY_OK;
    text = cJSON_PrintUnformatted(j->fields);
    rc = notify_enqueue_robot(c, j->kind, j->employee_no, text, &robot_id);
    free(text);
    if (rc != GY_OK)
        return GY_ERR;
    atomic_store(&D.kick, 1);
    sqlite3_stmt *st = db_stmt(c, &deliver_sql, Q_ROUTED);
    sqlite3_bind_int64(st, 1, j->id);
    sqlite3_bind_int64(st, 2, robot_id);
    return db_exec_stmt(st);
}

/* Back-off: retry_base_s * 2^(attempts-1), at most an hour, or give up
 * when that would pass the deadline. */
static void retry_or_fail(struct job *j, long errcode, const char *why)
{
    long long wait = D.cfg->notify.retry_base_s;
    int64_t now = clock_now();

    for (int i = 1; i < j->attempts && wait < 3600; i++)
        wait *= 2;
    if (wait > 3600)
        wait = 3600;
    j->errcode = errcode;
    if (now + wait > j->deadline) {
        j->status = "failed";
        snprintf(j->errmsg, sizeof j->errmsg, "gave up at the deadline: %s", why);
    } else {
        j->status = "pending";
        j->next_at = now + wait;
        snprintf(j->errmsg, sizeof j->errmsg, "%s", why);
    }
}

/* ==== looking for due rows and claiming them ==== */

static void claimed(void *arg, int rc);
static void send_wechat(struct job *j);
static void send_robot_group(struct job *group);
static int group_unit(struct db_conn *c, void *arg);
static void group_done(void *arg, int rc);

static void record_group_later(evutil_socket_t fd, short what, void *arg)
{
    writer_submit(group_unit, group_done, arg);
}

static struct job *job_from_row(sqlite3_stmt *st)
{
    struct job *j = gy_calloc(1, sizeof *j);

    j->id = sqlite3_column_int64(st, 0);
    j->kind = notify_kind((const char *)sqlite3_column_text(st, 1));
    j->robot = strcmp((const char *)sqlite3_column_text(st, 2), "robot") == 0;
    snprintf(j->employee_no, sizeof j->employee_no, "%s", (const char *)sqlite3_column_text(st, 3));
    snprintf(j->robot_name, sizeof j->robot_name, "%s", (const char *)sqlite3_column_text(st, 4));
    snprintf(j->fold_key, sizeof j->fold_key, "%s", (const char *)sqlite3_column_text(st, 5));
    j->fields = cJSON_Parse((const char *)sqlite3_column_text(st, 6));
    if (!j->fields)
        j->fields = cJSON_CreateObject();
    j->attempts = sqlite3_column_int(st, 7) + 1;
    j->deadline = sqlite3_column_int64(st, 8);
    j->prev_errcode = (long)sqlite3_column_int64(st, 9);
    return j;
}

/* Claim each row (pending -> sending); settle at once the ones that cannot
 * be sent (unknown kind, not bound, no consent). */
static int claim_unit(struct db_conn *c, void *arg)
{
    struct batch *b = arg;

    for (struct job *j = b->jobs; j; j = j->next) {
        sqlite3_stmt *st = db_stmt(c, &deliver_sql, Q_CLAIM);
        sqlite3_bind_int64(st, 1, j->id);
        sqlite3_bind_int64(st, 2, clock_now());
        if (db_exec_stmt(st) != GY_OK)
            return GY_ERR;
        j->claimed = sqlite3_changes(db_handle(c)) == 1;
        if (!j->claimed)
            continue;
        if (clock_now() > j->deadline) {   /* waited out a backlog or downtime: too late now */
            j->status = "failed";
            snprintf(j->errmsg, sizeof j->errmsg, "deadline passed before it could be sent");
            if (record(c, j) != GY_OK)
                return GY_ERR;
            continue;
        }
        if (j->robot)
            continue;
        if (!j->kind) {
            j->status = "failed";
            snprintf(j->errmsg, sizeof j->errmsg, "kind is no longer in notify.kinds");
            if (record(c, j) != GY_OK)
                return GY_ERR;
            continue;
        }
        st = db_stmt(c, &deliver_sql, Q_OPENID);
        sqlite3_bind_text(st, 1, j->employee_no, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            snprintf(j->openid, sizeof j->openid, "%s", (const char *)sqlite3_column_text(st, 0));
        db_done(st, 0);
        if (!j->openid[0]) {
            if (skip(c, j, 0, "the employee has not bound WeChat") != GY_OK)
                return GY_ERR;
        } else if (consent_credits(c, j->openid, j->kind->template_id) <= 0) {
            if (skip(c, j, 0, "no subscription credit: the worker has not accepted this message") != GY_OK)
                return GY_ERR;
        }
    }
    return GY_OK;
}

static void look(evutil_socket_t fd, short what, void *arg)
{
    sqlite3_stmt *st;
    struct batch *b;
    struct job **tail;

    if (D.scanning || D.stopping)
        return;
    atomic_store(&D.kick, 0);
    b = gy_calloc(1, sizeof *b);
    tail = &b->jobs;
    st = db_stmt(db_reader(), &deliver_sql, Q_DUE);
    sqlite3_bind_int64(st, 1, clock_now());
    sqlite3_bind_int(st, 2, D.cfg->notify.batch);
    while (sqlite3_step(st) == SQLITE_ROW) {
        *tail = job_from_row(st);
        tail = &(*tail)->next;
    }
    db_done(st, 0);
    if (!b->jobs) {
        batch_free(b);
        return;
    }
    D.scanning = true;
    writer_submit(claim_unit, claimed, b);
}

/* Loop thread, after the claim's commit: send what is left to send. */
static void claimed(void *arg, int rc)
{
    struct batch *b = arg;
    struct job *j = b->jobs, *robots = NULL, **rtail = &robots;

    D.scanning = false;
    b->jobs = NULL;
    while (j) {
        struct job *next = j->next;
        j->next = NULL;
        if (rc != GY_OK || !j->claimed) {
            job_free(j);
        } else if (j->status) {               /* settled in the claim */
            metrics_notify(j->kind ? j->kind->name : "unknown", j->status);
            job_free(j);
        } else if (j->robot) {
            *rtail = j;   /* in order, so the message lists them as they came */
            rtail = &j->next;
        } else {
            metrics_notify(j->kind->name, "sending");
            send_wechat(j);
        }
        j = next;
    }
    /* Robot rows: one message per fold key. */
    while (robots) {
        struct job *group = robots, **pp, *gtail = robots;
        robots = robots->next;
        group->next = NULL;
        pp = &robots;
        while (*pp) {
            if (strcmp((*pp)->fold_key, group->fold_key) == 0) {
                struct job *m = *pp;
                *pp = m->next;
                m->next = NULL;
                gtail->next = m;
                gtail = m;
            } else {
                pp = &(*pp)->next;
            }
        }
        send_robot_group(group);
    }
    free(b);
    if (rc == GY_OK && atomic_load(&D.kick))
        look(-1, 0, NULL);
}

/* ==== WeChat subscribe messages ==== */

static int finish_unit(struct db_conn *c, void *arg)
{
    struct job *j = arg;

    if (!strcmp(j->status, "sent") || !strcmp(j->status, "exhausted")) {
        bool exhausted = !strcmp(j->status, "exhausted");
        if (consent_spend(c, j->openid, j->kind->template_id, exhausted) != GY_OK)
            return GY_ERR;
        if (exhausted)
            return skip(c, j, 43101, "WeChat 43101: no subscription credit left");
    }
    return record(c, j);
}

static void finished(void *arg, int rc);

/* The outcome is known but its commit failed (the database was busy, say):
 * keep it and commit it again shortly, rather than send again. */
static void record_later(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;

    writer_submit(finish_unit, finished, j);
}

static bool retry_record(struct job *j, writer_done_fn *done_again, void *arg)
{
    struct timeval wait = { 1 << (j->record_tries < 5 ? j->record_tries : 5), 0 };

    if (++j->record_tries > 10 || D.stopping || !D.base)
        return false;
    gy_log(LOG_WARN, "notify: cannot record the outcome of notification %lld; trying again in %ld s",
           (long long)j->id, (long)wait.tv_sec);
    event_base_once(D.base, -1, EV_TIMEOUT, done_again == finished ? record_later : record_group_later,
                    arg, &wait);
    return true;
}

static void finished(void *arg, int rc)
{
    struct job *j = arg;

    if (rc != GY_OK && retry_record(j, finished, j))
        return;
    D.inflight--;
    if (rc != GY_OK)
        gy_log(LOG_ERROR, "notify: gave up recording notification %lld; it is sent again after a restart",
               (long long)j->id);
    else
        metrics_notify(j->kind ? j->kind->name : "robot", j->status);
    job_free(j);
}

/* The text of field NAME ("" when absent: the field rules refuse it, naming
 * the template key). Caller frees. */
static char *field_text(const cJSON *fields, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(fields, name);
    char num[32];

    if (cJSON_IsString(v))
        return gy_strdup(v->valuestring);
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.15g", v->valuedouble);
        return gy_strdup(num);
    }
    return gy_strdup("");
}

static void sent(void *arg, const struct wx_result *r, const char *msgid)
{
    struct job *j = arg;

    if (r->status == WX_OK) {
        j->status = "sent";
        snprintf(j->msgid, sizeof j->msgid, "%s", msgid);
    } else if (r->status == WX_ERRCODE && r->errcode == 43101 && j->prev_errcode == UNKNOWN_OUTCOME) {
        /* The last attempt timed out after sending and spent the credit:
         * it was almost surely delivered. */
        j->status = "sent";
        snprintf(j->errmsg, sizeof j->errmsg, "43101 after an attempt whose outcome was unknown: delivered then");
    } else if (r->status == WX_ERRCODE && r->errcode == 43101) {
        j->status = "exhausted";   /* finish_unit: credits to zero, skipped, maybe the robot */
    } else if (r->status == WX_TRANSPORT || (r->status == WX_HTTP && r->http_status >= 500)) {
        /* Timed out or 5xx after sending: WeChat may have delivered it. Try
         * again after the back-off (at least once), never at once. */
        retry_or_fail(j, UNKNOWN_OUTCOME, r->errmsg);
    } else if (wx_result_is_transient(r) ||
               (r->status == WX_ERRCODE && (r->errcode == 43108 || r->errcode == 45009))) {
        retry_or_fail(j, r->errcode ? r->errcode : -1, r->errmsg);
    } else {
        j->status = "failed";
        j->errcode = r->status == WX_INVALID ? 0 : r->errcode;
        snprintf(j->errmsg, sizeof j->errmsg, "%s", r->errmsg);
        if (r->status == WX_INVALID)
            gy_log(LOG_ERROR, "notify: %s %lld not sendable: %s", j->kind->name, (long long)j->id, r->errmsg);
    }
    if (j->status != NULL && strcmp(j->status, "sent") == 0 && j->prev_errcode != UNKNOWN_OUTCOME)
        j->errmsg[0] = '\0';
    writer_submit(finish_unit, finished, j);
}

static void send_wechat(struct job *j)
{
    const struct notify_kind *k = j->kind;
    struct wx_data_item *items = gy_calloc(k->ndata, sizeof *items);
    char **values = gy_calloc(k->ndata, sizeof *values);
    char *page = k->page ? notify_render(k->page, j->fields) : NULL;
    struct wx_subscribe m = {
        .touser = j->openid, .template_id = k->template_id, .page = page,
        .state = D.cfg->notify.miniprogram_state, .data = items, .ndata = k->ndata,
    };

    for (size_t i = 0; i < k->ndata; i++) {
        values[i] = field_text(j->fields, k->data[i].field);
        items[i].key = k->data[i].key;
        items[i].value = values[i];
    }
    D.inflight++;
    if (wx_subscribe_send(wxlink_client(), &m, sent, j) != 0) {
        struct wx_result r = { .status = WX_TRANSPORT, .errcode = -1, .errmsg = "cannot start", .rid = "" };
        sent(j, &r, "");
    }
    for (size_t i = 0; i < k->ndata; i++)
        free(values[i]);
    free(items);
    free(values);
    free(page);
}

/* ==== the robot ==== */

/* Room under the robot's per-minute limit? If not, when there will be. */
static int64_t robot_wait(const char *name)
{
    int64_t now = clock_now();
    int slot = -1, limit = D.cfg->notify.robot_per_minute, in_minute = 0;
    int64_t oldest = now;

    for (int i = 0; i < MAX_ROBOTS && slot < 0; i++)
        if (!strcmp(D.rate[i].name, name) || !D.rate[i].name[0])
            slot = i;
    if (slot < 0)
        return 0;
    if (!D.rate[slot].name[0])
        snprintf(D.rate[slot].name, sizeof D.rate[slot].name, "%s", name);
    for (int i = 0; i < 20; i++) {
        int64_t t = D.rate[slot].sent[i];
        if (t && now - t < 60) {
            in_minute++;
            if (t < oldest)
                oldest = t;
        }
    }
    if (in_minute < limit) {
        D.rate[slot].sent[D.rate[slot].next] = now;
        D.rate[slot].next = (D.rate[slot].next + 1) % 20;
        return 0;
    }
    return oldest + 60;
}

static int defer_unit(struct db_conn *c, void *arg)
{
    struct batch *b = arg;

    for (struct job *j = b->jobs; j; j = j->next) {
        sqlite3_stmt *st = db_stmt(c, &deliver_sql, Q_DEFER);
        sqlite3_bind_int64(st, 1, j->id);
        sqlite3_bind_int64(st, 2, b->defer_until);
        sqlite3_bind_int64(st, 3, clock_now());
        if (db_exec_stmt(st) != GY_OK)
            return GY_ERR;
        j->status = "pending";
    }
    return GY_OK;
}

static int group_unit(struct db_conn *c, void *arg)
{
    struct batch *b = arg;

    for (struct job *j = b->jobs; j; j = j->next)
        if (record(c, j) != GY_OK)
            return GY_ERR;
    return GY_OK;
}

static void group_done(void *arg, int rc)
{
    struct batch *b = arg;

    if (rc != GY_OK && retry_record(b->jobs, group_done, b))
        return;
    for (struct job *j = b->jobs; j; j = j->next) {
        D.inflight--;
        if (rc == GY_OK)
            metrics_notify(j->kind ? j->kind->name : "robot", j->status);
    }
    batch_free(b);
}

/* Give every job of B the same outcome and record it. */
static void settle_group(struct batch *b, const char *status, long errcode, const char *why, int64_t next_at)
{
    for (struct job *j = b->jobs; j; j = j->next) {
        if (!strcmp(status, "retry")) {
            retry_or_fail(j, errcode, why);
        } else {
            j->status = status;
            j->errcode = errcode;
            j->next_at = next_at;
            snprintf(j->errmsg, sizeof j->errmsg, "%s", why);
        }
    }
    writer_submit(group_unit, group_done, b);
}

static void robot_sent(void *arg, const struct wx_result *r)
{
    struct batch *b = arg;

    if (r->status == WX_OK)
        settle_group(b, "sent", 0, "", 0);
    else if (r->status == WX_ERRCODE && r->errcode == 45009)
        settle_group(b, "pending", 45009, "robot over its messages a minute", clock_now() + 60);
    else if (wx_result_is_transient(r))
        settle_group(b, "retry", r->errcode ? r->errcode : -1, r->errmsg, 0);
    else
        settle_group(b, "failed", r->errcode, r->errmsg, 0);
}

/* "### title" and one line per job; cut to fit WeCom's 4096 bytes. */
static char *robot_markdown(struct job *group)
{
    const struct notify_kind *k = group->kind;
    size_t cap = 4096, n = 0, count = 0, shown = 0;
    char *out = gy_malloc(cap + 1);

    for (struct job *j = group; j; j = j->next)
        count++;
    n = (size_t)snprintf(out, cap, "### %.200s\n", k ? k->robot_title : "提醒");
    for (struct job *j = group; j; j = j->next) {
        char *line = k && k->robot_line ? notify_render(k->robot_line, j->fields) : gy_strdup(j->employee_no);
        size_t len = strlen(line);
        if (n + len + 2 + 40 > cap) {   /* keep room for the "and N more" line */
            free(line);
            break;
        }
        out[n++] = '>';
        out[n++] = ' ';
        memcpy(out + n, line, len);
        n += len;
        out[n++] = '\n';
        shown++;
        free(line);
    }
    if (shown < count)
        n += (size_t)snprintf(out + n, cap - n, "……另有 %zu 条\n", count - shown);
    else if (count > 1)
        n += (size_t)snprintf(out + n, cap - n, "共 %zu 条\n", count);
    out[n] = '\0';
    return out;
}

static void send_robot_group(struct job *group)
{
    struct batch *b = gy_calloc(1, sizeof *b);
    const char *url = notify_robot_url(group->robot_name);
    int64_t wait;
    char *md;

    b->jobs = group;
    for (struct job *j = group; j; j = j->next)
        D.inflight++;
    if (!url) {
        settle_group(b, "failed", 0, "robot is no longer in notify.robots", 0);
        return;
    }
    if ((wait = robot_wait(group->robot_name)) != 0) {
        b->defer_until = wait;   /* not an attempt: nothing was sent */
        writer_submit(defer_unit, group_done, b);
        return;
    }
    md = robot_markdown(group);
    if (wx_robot_send(wxlink_client(), url, md, robot_sent, b) != 0) {
        struct wx_result r = { .status = WX_TRANSPORT, .errcode = -1, .errmsg = "cannot start", .rid = "" };
        robot_sent(b, &r);
    }
    free(md);
}

/* ==== start, kick, stop ==== */

static int recover_unit(struct db_conn *c, void *arg)
{
    sqlite3_stmt *st = db_stmt(c, &deliver_sql, Q_RECOVER);

    sqlite3_bind_int64(st, 1, clock_now());
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    *(int *)arg = sqlite3_changes(db_handle(c));
    return GY_OK;
}

static void recovered(void *arg, int rc)
{
    int *n = arg;

    if (rc == GY_OK && *n)
        gy_log(LOG_WARN, "notify: %d notifications were being sent when gongyoud stopped; sending them again",
               *n);
    free(n);
    D.scanning = false;
    look(-1, 0, NULL);
}

void deliver_kick(void)
{
    atomic_store(&D.kick, 1);
}

/* After every commit: if it queued notifications, look now rather than at
 * the next tick. */
static void after_commit(void)
{
    if (atomic_load(&D.kick) && !D.scanning && !D.stopping)
        look(-1, 0, NULL);
}

int deliver_start(struct event_base *base, const struct gy_config *cfg)
{
    struct timeval every = { cfg->notify.poll_ms / 1000, (cfg->notify.poll_ms % 1000) * 1000 };

    D.cfg = cfg;
    D.base = base;
    D.timer = event_new(base, -1, EV_PERSIST, look, NULL);
    event_add(D.timer, &every);
    writer_set_after_commit(after_commit);
    /* No look until the rows left "sending" by a crash are pending again. */
    D.scanning = true;
    writer_submit(recover_unit, recovered, gy_calloc(1, sizeof(int)));
    return GY_OK;
}

void deliver_stop(void)
{
    D.stopping = true;
    writer_set_after_commit(NULL);
    if (D.timer)
        event_free(D.timer);
    D.timer = NULL;
}
