/*
 * clockin.c - POST /api/v1/clockins, the shift-change hot path, and the
 * supervisor's review of field (外勤) punches.
 *
 * The loop thread checks the body's shape (and sends a field reason to
 * msg_sec_check); everything that needs the database runs in one writer
 * unit: the replay check, the location against the sites, the shift
 * instance the punch belongs to, IN or OUT, the punch row and the day's
 * new result. Deciding on the writer thread means two punches of one
 * person can never both be "the first IN". The reply is built there too,
 * and sent once the commit is durable.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    Q_EMP, Q_WINDOW, Q_PUNCH, Q_INSERT, Q_FIELD_GET, Q_FIELD_SET,
    Q_FIELD_LIST, Q_FIELD_LIST_ALL,
};
#define PUNCH_COLS \
    "id, at, received_at, client_time, source, att_date, shift_version_id, dir, verdict_min, " \
    "distance_m, site_code, location, field_status, employee_id"
static const char *const sql[] = {
    [Q_EMP] = "SELECT department, site, IFNULL(supervisor_no, '') FROM employees WHERE id = ?1",
    /* The worker's punches of the attendance dates ?2..?3, by punches_day
     * in the order they were stored: read once for the replay and repeat
     * checks and the punches of the day the new one joins (scan_window). */
    [Q_WINDOW] =
        "SELECT id, att_date, request_id, received_at, source = 'makeup', at, fixed_dir, dir = 'in', "
        "IFNULL(field_status, '') FROM punches WHERE employee_id = ?1 AND att_date BETWEEN ?2 AND ?3",
    [Q_PUNCH] = "SELECT " PUNCH_COLS " FROM punches WHERE id = ?1",
    [Q_INSERT] =
        "INSERT INTO punches (employee_id, request_id, at, received_at, client_time, source, att_date, "
        "shift_version_id, dir, fixed_dir, verdict_min, lat, lng, accuracy, distance_m, site_code, "
        "wifi_bssid, location, field_status, moderation_id, makeup_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
        "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
    [Q_FIELD_GET] =
        "SELECT p.employee_id, p.att_date, p.field_status, IFNULL(e.supervisor_no, ''), e.employee_no "
        "FROM punches p JOIN employees e ON e.id = p.employee_id WHERE p.id = ?1",
    [Q_FIELD_SET] = "UPDATE punches SET field_status = ?2 WHERE id = ?1",
    [Q_FIELD_LIST] =
        "SELECT p.id, p.at, e.employee_no, e.name, e.department, p.field_status, p.distance_m, "
        "m.text, m.status FROM punches p JOIN employees e ON e.id = p.employee_id "
        "LEFT JOIN moderation m ON m.id = p.moderation_id "
        "WHERE p.source = 'field' AND e.supervisor_no = ?1 AND (?2 = '' OR p.field_status = ?2) "
        "AND p.id < ?3 ORDER BY p.id DESC LIMIT ?4",
    [Q_FIELD_LIST_ALL] =
        "SELECT p.id, p.at, e.employee_no, e.name, e.department, p.field_status, p.distance_m, "
        "m.text, m.status FROM punches p JOIN employees e ON e.id = p.employee_id "
        "LEFT JOIN moderation m ON m.id = p.moderation_id "
        "WHERE p.source = 'field' AND (?2 = '' OR p.field_status = ?2) "
        "AND p.id < ?3 ORDER BY p.id DESC LIMIT ?4",
};
const struct db_sqlset clockin_sql = { "clockin", sql, GY_ARRAY_LEN(sql) };

/* What the writer unit refuses with (beyond GY_ERR). */
enum { E_OUTSIDE = 1, E_FIELD_REASON, E_INACCURATE, E_NOT_OPEN, E_NO_SHIFT };

struct punch_req {
    struct gy_req *r;
    int64_t employee_id;
    char request_id[65];
    double lat, lng, accuracy;
    char bssid[18];            /* "" if none */
    int64_t client_time;       /* 0 if none */
    bool has_reason;
    int64_t moderation_id;
    /* results */
    char *reply;               /* JSON text, built on the writer thread */
    size_t reply_len;
    bool replayed;
    double distance_m;
    int64_t opens_at;
};

/* ==== the reply ==== */

/* "正常" / "迟到 6 分钟" / "早退 10 分钟" for a punch, as "verdict" into J. */
static void verdict_jout(struct jout *j, const struct att_shift_def *s, bool in, int minutes,
                         char *text, size_t textsz)
{
    const char *code = "on_time";

    if (in && minutes > s->grace_min) {
        code = "late";
        snprintf(text, textsz, "迟到 %d 分钟", minutes);
    } else if (!in && minutes > s->early_grace_min) {
        code = "early";
        snprintf(text, textsz, "早退 %d 分钟", minutes);
    } else {
        snprintf(text, textsz, "正常");
    }
    jout_open(j, "verdict");
    jout_str(j, "code", code);
    jout_int(j, "minutes", (code[0] == 'o') ? 0 : minutes);
    jout_str(j, "text", text);
    jout_close(j);
}

/* A punch as its reply shows it. */
struct punch_view {
    int64_t id, at, received_at, client_time;   /* client_time 0 if none */
    bool in;
    int verdict_min;
    const char *source, *location, *field;      /* field NULL if not a field punch */
    long distance_m;                            /* -1 if unknown */
    const char *site;                           /* NULL if none */
    const struct shift_version *v;
    const struct att_day *day;
};

/* What a punch's JSON is for: a new punch, a replay, a supervisor's
 * decision (no message to the worker, no "replayed"). */
enum punch_answer { ANSWER_NEW, ANSWER_REPLAY, ANSWER_DECIDED };

/* The JSON text of a punch (caller frees), its length in *LEN. */
static char *punch_json(const struct punch_view *pv, enum punch_answer kind, size_t *len)
{
    struct jout j = { 0 };
    char msg[160], vtext[64], hhmm[32], date[11];

    jout_open(&j, NULL);
    jout_open(&j, "punch");
    jout_int(&j, "id", pv->id);
    jout_str(&j, "kind", pv->in ? "in" : "out");
    jout_time(&j, "at", pv->at);
    jout_time(&j, "received_at", pv->received_at);
    jout_time(&j, "client_time", pv->client_time);
    jout_str(&j, "source", pv->source);
    jout_str(&j, "location", pv->location);
    if (pv->distance_m < 0)
        jout_null(&j, "distance_m");
    else
        jout_int(&j, "distance_m", pv->distance_m);
    jout_str(&j, "site", pv->site);
    jout_str(&j, "field_status", pv->field);
    jout_close(&j);
    verdict_jout(&j, &pv->v->def, pv->in, pv->verdict_min, vtext, sizeof vtext);
    clock_format(pv->at, hhmm);
    snprintf(msg, sizeof msg, "%s打卡成功 %.5s · %s%s%s%s", pv->in ? "上班" : "下班", hhmm + 11, vtext,
             !strcmp(pv->source, "offline") ? " · 离线补传" : "",
             pv->field ? " · 外勤待审核" : "", !strcmp(pv->location, "flag") ? " · 位置异常" : "");
    if (kind != ANSWER_DECIDED)
        jout_str(&j, "message", msg);
    attday_shift_jout(&j, pv->day, pv->v);
    att_format_date(pv->day->date, date);
    jout_str(&j, "attendance_date", date);
    attday_jout(&j, "day", pv->day, pv->v, false);
    if (kind != ANSWER_DECIDED)
        jout_bool(&j, "replayed", kind == ANSWER_REPLAY);
    jout_close(&j);
    return jout_take(&j, len);
}

/* The answer for stored punch ID, as first given (a replay gives it again,
 * with the day as it is now). */
static char *punch_reply(struct db_conn *c, int64_t id, enum punch_answer kind, size_t *len)
{
    sqlite3_stmt *st = db_stmt(c, &clockin_sql, Q_PUNCH);
    struct punch_view pv = { .id = id };
    struct att_day day;
    char *text = NULL;

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return db_done(st, 0), NULL;
    pv.at = sqlite3_column_int64(st, 1);
    pv.received_at = sqlite3_column_int64(st, 2);
    pv.client_time = sqlite3_column_type(st, 3) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 3);
    pv.source = (const char *)sqlite3_column_text(st, 4);
    pv.v = shifts_version(c, sqlite3_column_int64(st, 6));
    pv.in = strcmp((const char *)sqlite3_column_text(st, 7), "in") == 0;
    pv.verdict_min = sqlite3_column_int(st, 8);
    pv.distance_m = sqlite3_column_type(st, 9) == SQLITE_NULL ? -1 : sqlite3_column_int(st, 9);
    pv.site = (const char *)sqlite3_column_text(st, 10);
    pv.location = (const char *)sqlite3_column_text(st, 11);
    pv.field = (const char *)sqlite3_column_text(st, 12);
    pv.day = &day;
    if (pv.v && attday_get(c, sqlite3_column_int64(st, 13), sqlite3_column_int(st, 5), &day) == 1)
        text = punch_json(&pv, kind, len);
    db_done(st, 0);
    return text;
}

/* ==== the writer unit ==== */

/* What a punch needs from the worker's earlier punches, in one pass over
 * the dates around now: an earlier punch with the same request_id (a
 * replay), the latest one received since REPEAT_SINCE (a repeat; 0: not
 * looked for), and the punches that count on each of the days D0 - 1 ..
 * D0 + 1 that the new punch can join. Replays and repeats are looked for
 * over the dates a punch sent now can have (offline punches reach back
 * attendance.offline_max_age_s); make-ups are neither. */
struct punch_window {
    int32_t first;                                  /* D0 - 1 */
    struct att_punch day[ATTDAY_MAX_SPAN][ATTDAY_MAX_PUNCHES];
    size_t n[ATTDAY_MAX_SPAN];
    int64_t replay_id, repeat_id;
};

static int scan_window(struct db_conn *c, const struct punch_req *p, int32_t d0, int64_t repeat_since,
                       struct punch_window *w)
{
    sqlite3_stmt *st = db_stmt(c, &clockin_sql, Q_WINDOW);
    int32_t today = attday_today();
    int32_t lo = today - (int32_t)(http_config()->attendance.offline_max_age_s / 86400) - 2, hi = today + 1;
    int64_t repeat_at = 0;
    int rc;

    memset(w->n, 0, sizeof w->n);
    w->first = d0 - 1;
    w->replay_id = w->repeat_id = 0;
    sqlite3_bind_int64(st, 1, p->employee_id);
    sqlite3_bind_int(st, 2, lo < w->first ? lo : w->first);
    sqlite3_bind_int(st, 3, hi > d0 + 1 ? hi : d0 + 1);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), received = sqlite3_column_int64(st, 3);
        int32_t date = sqlite3_column_int(st, 1);
        const char *rid = (const char *)sqlite3_column_text(st, 2), *fs;
        bool makeup = sqlite3_column_int(st, 4) != 0, in_checks = date >= lo && date <= hi;
        size_t k = (size_t)(date - w->first);

        if (!makeup && in_checks && !w->replay_id && rid && strcmp(rid, p->request_id) == 0)
            w->replay_id = id;
        if (!makeup && in_checks && repeat_since && received >= repeat_since &&
            (received > repeat_at || (received == repeat_at && id > w->repeat_id))) {
            repeat_at = received;
            w->repeat_id = id;
        }
        fs = (const char *)sqlite3_column_text(st, 8);
        if (date < w->first || k >= ATTDAY_MAX_SPAN || strcmp(fs, "rejected") == 0)
            continue;
        attday_punch_add(w->day[k], &w->n[k], sqlite3_column_int64(st, 5),
                         sqlite3_column_int(st, 6) ? (sqlite3_column_int(st, 7) ? ATT_IN : ATT_OUT) : ATT_NONE,
                         strcmp(fs, "pending") == 0);
    }
    db_done(st, 0);
    return rc == SQLITE_DONE ? GY_OK : db_fail(c, "punch window");
}

/* Which instance AT belongs to, among the days around D0 (AT's local
 * day). -1 if none, with *OPENS_AT the next opening after AT, if any. */
static int pick_day(struct db_conn *c, int64_t emp, const char *dept, int64_t at, int32_t d0,
                    struct att_day days[3], struct att_cand cand[3], size_t *ncand,
                    int64_t *opens_at)
{
    struct att_day span[ATTDAY_MAX_SPAN];   /* the day before, the day, the day after */
    size_t n = 0;
    int k;

    *opens_at = 0;
    if (attday_ensure_span(c, emp, dept, d0 - 1, ATTDAY_MAX_SPAN, span) != GY_OK)
        return -2;
    for (size_t i = 0; i < ATTDAY_MAX_SPAN; i++) {
        const struct att_day *day = &span[i];
        const struct shift_version *v;

        if (!(v = shifts_version(c, day->version_id)))
            continue;
        days[n] = *day;
        memset(&cand[n], 0, sizeof cand[n]);
        cand[n].def = &v->def;
        cand[n].local_day = day->date;
        cand[n].w = day->w;
        cand[n].has_in = day->first_in != 0;
        cand[n].has_out = day->last_out != 0;
        if (day->w.open > at && (!*opens_at || day->w.open < *opens_at))
            *opens_at = day->w.open;
        n++;
    }
    *ncand = n;
    k = att_pick(cand, n, at);
    return k;
}

/* Where the punch was; 0 to go on, or E_... */
static int locate(struct db_conn *c, struct punch_req *p, const char *home, struct site_fix *fix,
                  const char **location)
{
    sites_locate(c, home, p->lat, p->lng, p->bssid[0] ? p->bssid : NULL, fix);
    p->distance_m = fix->distance_m;
    if (!fix->any_site) {
        *location = "none";   /* no sites set up: nothing to check against */
        return 0;
    }
    if (fix->wifi) {
        *location = "wifi";
        return 0;
    }
    if (p->accuracy > (double)http_config()->attendance.max_accuracy_m)
        return E_INACCURATE;
    if (fix->inside) {
        *location = "fence";
        return 0;
    }
    if (!strcmp(fix->site->policy, "flag")) {
        *location = "flag";
        return 0;
    }
    if (!strcmp(fix->site->policy, "field")) {
        *location = "field";
        return p->has_reason ? 0 : E_FIELD_REASON;
    }
    return E_OUTSIDE;
}

static void bind_opt_int(sqlite3_stmt *st, int idx, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, idx, v);
}

static int punch_unit(struct db_conn *c, void *arg)
{
    struct punch_req *p = arg;
    const struct gy_config *cfg = http_config();
    int64_t now = clock_now(), at, id, opens_at;
    char dept[200], home[64];
    struct att_day days[3];
    struct att_cand cand[3];
    struct site_fix fix;
    const char *location = "none", *source;
    struct att_punch punches[ATTDAY_MAX_PUNCHES + 1];
    int64_t prior[ATTDAY_MAX_PUNCHES];
    size_t ncand, npunch;
    enum att_dir dir;
    int k, rc, minutes;
    int32_t d0;
    bool offline;
    sqlite3_stmt *st;
    struct punch_window win;

    /* A client_time more than a minute old is an offline punch: judged at
     * the phone's time (its age was checked on the loop). A second tap
     * within the repeat window gets the first answer; a punch queued
     * offline is its own punch, whenever it arrives. */
    offline = p->client_time && now - p->client_time > 60;
    at = offline ? p->client_time : now;
    d0 = att_local_day(at, clock_utc_offset(at));
    if (scan_window(c, p, d0, !offline && cfg->attendance.repeat_window_s ?
                    now - cfg->attendance.repeat_window_s : 0, &win) != GY_OK)
        return GY_ERR;
    if ((id = win.replay_id ? win.replay_id : win.repeat_id)) {
        p->replayed = true;
        p->reply = punch_reply(c, id, ANSWER_REPLAY, &p->reply_len);
        return p->reply ? GY_OK : GY_ERR;
    }
    st = db_stmt(c, &clockin_sql, Q_EMP);
    sqlite3_bind_int64(st, 1, p->employee_id);
    if (sqlite3_step(st) != SQLITE_ROW)
        return db_done(st, 0), GY_ERR;
    snprintf(dept, sizeof dept, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(home, sizeof home, "%s", (const char *)sqlite3_column_text(st, 1));
    db_done(st, 0);
    if ((rc = locate(c, p, home, &fix, &location)) != 0)
        return rc;
    source = !strcmp(location, "field") ? "field" : at != now ? "offline" : "online";
    k = pick_day(c, p->employee_id, dept, at, d0, days, cand, &ncand, &opens_at);
    if (k == -2)
        return GY_ERR;
    if (k < 0) {
        p->opens_at = opens_at;
        return opens_at && opens_at - at <= 12 * 3600 ? E_NOT_OPEN : E_NO_SHIFT;
    }
    npunch = win.n[cand[k].local_day - win.first];
    memcpy(punches, win.day[cand[k].local_day - win.first], npunch * sizeof punches[0]);
    for (size_t i = 0; i < npunch; i++)
        prior[i] = punches[i].at;
    dir = att_decide(cand[k].def, &cand[k].w, prior, npunch, at);
    if (dir == ATT_IN)
        minutes = at > cand[k].w.start ? (int)((at - cand[k].w.start + 59) / 60) : 0;
    else
        minutes = at < cand[k].w.end ? (int)((cand[k].w.end - at + 59) / 60) : 0;

    st = db_stmt(c, &clockin_sql, Q_INSERT);
    sqlite3_bind_int64(st, 1, p->employee_id);
    sqlite3_bind_text(st, 2, p->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, at);
    sqlite3_bind_int64(st, 4, now);
    bind_opt_int(st, 5, p->client_time);
    sqlite3_bind_text(st, 6, source, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, cand[k].local_day);
    sqlite3_bind_int64(st, 8, days[k].version_id);
    sqlite3_bind_text(st, 9, dir == ATT_IN ? "in" : "out", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, 0);
    sqlite3_bind_int(st, 11, minutes);
    sqlite3_bind_double(st, 12, p->lat);
    sqlite3_bind_double(st, 13, p->lng);
    sqlite3_bind_double(st, 14, p->accuracy);
    if (fix.distance_m >= 0)
        sqlite3_bind_int64(st, 15, (int64_t)(fix.distance_m + 0.5));
    if (fix.site)
        sqlite3_bind_text(st, 16, fix.site->code, -1, SQLITE_STATIC);
    if (p->bssid[0])
        sqlite3_bind_text(st, 17, p->bssid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 18, location, -1, SQLITE_STATIC);
    if (!strcmp(location, "field"))
        sqlite3_bind_text(st, 19, "pending", -1, SQLITE_STATIC);
    bind_opt_int(st, 20, !strcmp(location, "field") ? p->moderation_id : 0);
    /* No RETURNING: SQLite would open a temporary b-tree for it on every
     * punch. The writer is the only connection that inserts. */
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_done(st, 0), db_fail(c, "punch insert");
    id = sqlite3_last_insert_rowid(db_handle(c));
    db_done(st, 0);
    /* Judge the day with the new punch: no need to read back what we know. */
    punches[npunch].at = at;
    punches[npunch].dir = ATT_NONE;
    punches[npunch].field_pending = !strcmp(location, "field");
    if (attday_judge(c, &days[k], punches, npunch + 1) != GY_OK)
        return GY_ERR;
    {
        struct punch_view pv = {
            .id = id, .at = at, .received_at = now, .client_time = p->client_time,
            .in = dir == ATT_IN, .verdict_min = minutes, .source = source, .location = location,
            .field = !strcmp(location, "field") ? "pending" : NULL,
            .distance_m = fix.distance_m >= 0 ? (long)(fix.distance_m + 0.5) : -1,
            .site = fix.site ? fix.site->code : NULL,
            .v = shifts_version(c, days[k].version_id), .day = &days[k],
        };
        p->reply = punch_json(&pv, ANSWER_NEW, &p->reply_len);
    }
    return GY_OK;
}

int clockin_insert_makeup(struct db_conn *c, int64_t emp, int32_t date, int64_t version, bool in,
                          int64_t at, int64_t makeup_id, int64_t *punch_id)
{
    sqlite3_stmt *st = db_stmt(c, &clockin_sql, Q_INSERT);
    char rid[32];

    snprintf(rid, sizeof rid, "makeup-%lld", (long long)makeup_id);
    sqlite3_bind_int64(st, 1, emp);
    sqlite3_bind_text(st, 2, rid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 3, at);
    sqlite3_bind_int64(st, 4, clock_now());
    sqlite3_bind_text(st, 6, "makeup", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 7, date);
    sqlite3_bind_int64(st, 8, version);
    sqlite3_bind_text(st, 9, in ? "in" : "out", -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, 1);
    sqlite3_bind_int(st, 11, 0);
    sqlite3_bind_text(st, 18, "none", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 21, makeup_id);
    if (sqlite3_step(st) != SQLITE_DONE)
        return db_done(st, 0), db_fail(c, "make-up punch insert");
    *punch_id = sqlite3_last_insert_rowid(db_handle(c));
    db_done(st, 0);
    return GY_OK;
}

static void punch_done(void *arg, int rc)
{
    struct punch_req *p = arg;
    cJSON *extra = NULL;
    char when[32];

    switch (rc) {
    case GY_OK:
        api_reply_text(p->r, p->replayed ? 200 : 201, p->reply, p->reply_len);
        p->reply = NULL;
        break;
    case E_OUTSIDE:
    case E_FIELD_REASON:
        extra = cJSON_CreateObject();
        if (p->distance_m < 0)
            cJSON_AddNullToObject(extra, "distance_m");   /* a site with Wi-Fi only */
        else
            cJSON_AddNumberToObject(extra, "distance_m", (double)(int64_t)(p->distance_m + 0.5));
        api_reply_error_ex(p->r, rc == E_OUTSIDE ? "outside_site" : "field_reason_required", extra, 0);
        break;
    case E_INACCURATE:
        extra = cJSON_CreateObject();
        cJSON_AddNumberToObject(extra, "accuracy_m", p->accuracy);
        cJSON_AddNumberToObject(extra, "max_accuracy_m", (double)http_config()->attendance.max_accuracy_m);
        api_reply_error_ex(p->r, "location_inaccurate", extra, 0);
        break;
    case E_NOT_OPEN:
        extra = cJSON_CreateObject();
        clock_format(p->opens_at, when);
        cJSON_AddStringToObject(extra, "opens_at", when);
        api_reply_error_ex(p->r, "window_not_open", extra, 0);
        break;
    case E_NO_SHIFT:
        extra = cJSON_CreateObject();
        if (p->opens_at) {
            clock_format(p->opens_at, when);
            cJSON_AddStringToObject(extra, "opens_at", when);
        }
        api_reply_error_ex(p->r, "no_shift", extra, 0);
        break;
    default:
        api_reply_error(p->r, "internal_error");
    }
    free(p->reply);
    free(p);
}

static void reason_checked(struct gy_req *r, void *arg, int64_t id, bool held)
{
    struct punch_req *p = arg;

    (void)r, (void)held;
    p->moderation_id = id;
    writer_submit(punch_unit, punch_done, p);
}

/* Validate the body on the loop; NULL after a 4xx reply. */
static struct punch_req *punch_parse(struct gy_req *r)
{
    const struct gy_config *cfg = http_config();
    struct punch_req *p = gy_calloc(1, sizeof *p);
    const char *rid, *bssid, *ct, *reason;
    bool bad = false;

    p->r = r;
    p->employee_id = r->auth.employee_id;
    if (api_num(r, r->json, "lat", -90, 90, true, &p->lat) != GY_OK ||
        api_num(r, r->json, "lng", -180, 180, true, &p->lng) != GY_OK ||
        api_num(r, r->json, "accuracy", 0, 1e6, true, &p->accuracy) != GY_OK ||
        !(rid = api_str(r, "request_id", 1, 64)))
        goto bad;
    snprintf(p->request_id, sizeof p->request_id, "%s", rid);
    bssid = api_opt_str(r, "wifi_bssid", 1, 32, &bad);
    if (bad)
        goto bad;
    if (bssid && !sites_bssid_norm(bssid, p->bssid)) {
        api_reply_bad_field(r, "wifi_bssid", "want_aa_bb_cc_dd_ee_ff");
        goto bad;
    }
    ct = api_opt_str(r, "client_time", 1, 40, &bad);
    if (bad)
        goto bad;
    if (ct) {
        int64_t now = clock_now();
        if (clock_parse(ct, &p->client_time) != GY_OK) {
            api_reply_bad_field(r, "client_time", "want_iso8601_with_offset");
            goto bad;
        }
        if (p->client_time > now + 300) {
            api_reply_bad_field(r, "client_time", "in_the_future");
            goto bad;
        }
        if (now - p->client_time > 60 && now - p->client_time > cfg->attendance.offline_max_age_s) {
            api_reply_error(r, "offline_too_old");
            free(p);
            return NULL;
        }
    }
    reason = api_opt_str(r, "field_reason", 2, 200, &bad);
    if (bad)
        goto bad;
    p->has_reason = reason != NULL;
    return p;
bad:
    free(p);
    return NULL;
}

void clockin_post(struct gy_req *r)
{
    struct punch_req *p = punch_parse(r);
    const cJSON *reason;

    if (!p)
        return;
    if (!p->has_reason) {
        writer_submit(punch_unit, punch_done, p);
        return;
    }
    /* A field reason is shown to the supervisor: it goes through
     * msg_sec_check first (risky text is refused there with 422). */
    reason = cJSON_GetObjectItemCaseSensitive(r->json, "field_reason");
    moderation_submit(r, "field_reason", reason->valuestring, 2, reason_checked, p, free);
}

/* ==== field punches: the supervisor's review ==== */

/* Can the caller decide for an employee whose supervisor is SUP? */
bool attendance_may_decide(const struct gy_req *r, const char *sup, const char *employee_no)
{
    if (r->auth.roles & R_HR)
        return true;
    return (r->auth.roles & R_SUPERVISOR) && r->auth.employee_no[0] &&
           strcmp(sup, r->auth.employee_no) == 0 && strcmp(employee_no, r->auth.employee_no) != 0;
}

struct field_dec {
    struct gy_req *r;
    int64_t id;
    bool approve;
    char *reply;
    size_t reply_len;
};

enum { E_NOT_FOUND = 1, E_DECIDED, E_FORBIDDEN };

static int field_unit(struct db_conn *c, void *arg)
{
    struct field_dec *fd = arg;
    sqlite3_stmt *st = db_stmt(c, &clockin_sql, Q_FIELD_GET);
    int64_t emp;
    int32_t date;
    bool pending, allowed;

    sqlite3_bind_int64(st, 1, fd->id);
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_type(st, 2) == SQLITE_NULL)
        return db_done(st, 0), E_NOT_FOUND;
    emp = sqlite3_column_int64(st, 0);
    date = sqlite3_column_int(st, 1);
    pending = strcmp((const char *)sqlite3_column_text(st, 2), "pending") == 0;
    allowed = attendance_may_decide(fd->r, (const char *)sqlite3_column_text(st, 3),
                                    (const char *)sqlite3_column_text(st, 4));
    db_done(st, 0);
    if (!allowed)
        return E_FORBIDDEN;
    if (!pending)
        return E_DECIDED;
    st = db_stmt(c, &clockin_sql, Q_FIELD_SET);
    sqlite3_bind_int64(st, 1, fd->id);
    sqlite3_bind_text(st, 2, fd->approve ? "approved" : "rejected", -1, SQLITE_STATIC);
    if (db_exec_stmt(st) != GY_OK || attday_settle(c, emp, date, NULL) != GY_OK)
        return GY_ERR;
    fd->reply = punch_reply(c, fd->id, ANSWER_DECIDED, &fd->reply_len);
    return fd->reply ? GY_OK : GY_ERR;
}

static void field_done(void *arg, int rc)
{
    struct field_dec *fd = arg;
    static const char *const codes[] = { [E_NOT_FOUND] = "not_found", [E_DECIDED] = "already_decided",
                                         [E_FORBIDDEN] = "forbidden" };

    if (rc == GY_OK) {
        api_reply_text(fd->r, 200, fd->reply, fd->reply_len);
        fd->reply = NULL;
    } else if (rc > 0 && rc <= E_FORBIDDEN) {
        api_reply_error(fd->r, codes[rc]);
    } else {
        api_reply_error(fd->r, "internal_error");
    }
    free(fd->reply);
    free(fd);
}

/* "approve" or "reject" in the body's "decision"; -1 after a 400. */
int attendance_decision(struct gy_req *r)
{
    const char *d = api_str(r, "decision", 6, 7);

    if (!d)
        return -1;
    if (strcmp(d, "approve") && strcmp(d, "reject")) {
        api_reply_bad_field(r, "decision", "want_approve_or_reject");
        return -1;
    }
    return strcmp(d, "approve") == 0;
}

void field_decide(struct gy_req *r)
{
    struct field_dec *fd;
    long long id;
    int approve;

    if (gy_parse_ll(r->params.value[0], 1, INT64_MAX, &id) != GY_OK) {
        api_reply_error(r, "not_found");
        return;
    }
    if ((approve = attendance_decision(r)) < 0)
        return;
    fd = gy_calloc(1, sizeof *fd);
    fd->r = r;
    fd->id = id;
    fd->approve = approve;
    writer_submit(field_unit, field_done, fd);
}

void field_list(struct gy_req *r)
{
    static const char *const statuses[] = { "pending", "approved", "rejected", "all" };
    bool all = (r->auth.roles & R_HR) != 0;
    struct api_page page;
    char status[16];
    sqlite3_stmt *st;
    cJSON *body, *list;

    if (api_query_status(r, statuses, GY_ARRAY_LEN(statuses), "pending", status) != GY_OK ||
        api_page_params(r, 100, &page) != GY_OK)
        return;
    st = db_stmt(db_reader(), &clockin_sql, all ? Q_FIELD_LIST_ALL : Q_FIELD_LIST);
    if (!all)
        sqlite3_bind_text(st, 1, r->auth.employee_no, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, page.before);
    sqlite3_bind_int64(st, 4, page.limit);
    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "items");
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        const char *mstatus = (const char *)sqlite3_column_text(st, 8);
        bool shown = mstatus && (!strcmp(mstatus, "visible") || !strcmp(mstatus, "released"));

        page.last = sqlite3_column_int64(st, 0);
        cJSON_AddNumberToObject(o, "id", (double)page.last);
        api_add_time(o, "at", sqlite3_column_int64(st, 1));
        cJSON_AddStringToObject(o, "employee_no", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 3));
        cJSON_AddStringToObject(o, "department", (const char *)sqlite3_column_text(st, 4));
        cJSON_AddStringToObject(o, "field_status", (const char *)sqlite3_column_text(st, 5));
        cJSON_AddNumberToObject(o, "distance_m", sqlite3_column_int(st, 6));
        if (shown)
            cJSON_AddStringToObject(o, "field_reason", (const char *)sqlite3_column_text(st, 7));
        else
            cJSON_AddNullToObject(o, "field_reason");   /* held by moderation */
        cJSON_AddItemToArray(list, o);
    }
    db_done(st, 0);
    api_reply_page(r, body, list, &page);
}
