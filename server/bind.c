/*
 * bind.c - who a WeChat user is in the roster: binding by employee number,
 * name and the last four digits of the phone, or by the phone number
 * WeChat vouches for; /me; HR's unbind when a worker changes phone. Every
 * check and the binding itself run in one writer unit, so two people
 * cannot take the same employee at once.
 */
#include "gongyou.h"
#include "wx.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    Q_EMP_BY_NO, Q_EMP_BY_ID, Q_FAILURES, Q_ATTEMPT, Q_EMP_OF_USER, Q_BIND, Q_UNBIND,
    Q_DROP_SESSIONS, Q_EMP_BY_PHONE, Q_SESSION_KEY,
};
static const char *const sql[] = {
    [Q_EMP_BY_NO] =
        "SELECT id, name, department, phone, site, roles, supervisor_no, active, wx_user_id "
        "FROM employees WHERE employee_no = ?1",
    [Q_EMP_BY_ID] =
        "SELECT employee_no, name, department, phone, site, roles, supervisor_no, bound_at "
        "FROM employees WHERE id = ?1",
    [Q_FAILURES] =
        "SELECT count(*), min(at) FROM bind_attempts WHERE user_id = ?1 AND ok = 0 AND at > ?2",
    [Q_ATTEMPT] = "INSERT INTO bind_attempts (user_id, at, ok, employee_no) VALUES (?1, ?2, ?3, ?4)",
    [Q_EMP_OF_USER] = "SELECT id, employee_no, active FROM employees WHERE wx_user_id = ?1",
    [Q_BIND] = "UPDATE employees SET wx_user_id = ?2, bound_at = ?3, updated_at = ?3 WHERE id = ?1",
    [Q_UNBIND] =
        "UPDATE employees SET wx_user_id = NULL, bound_at = NULL, updated_at = ?2 "
        "WHERE id = ?1 AND wx_user_id IS NOT NULL",
    [Q_DROP_SESSIONS] = "DELETE FROM sessions WHERE user_id = ?1",
    [Q_EMP_BY_PHONE] =
        "SELECT id, employee_no, wx_user_id FROM employees "
        "WHERE active = 1 AND phone IN (?1, ?2, ?3) LIMIT 2",
    [Q_SESSION_KEY] = "SELECT session_key FROM wx_users WHERE id = ?1",
};
const struct db_sqlset bind_sql = { "bind", sql, GY_ARRAY_LEN(sql) };

/* Wipe a secret string before it is freed. */
static void wipe(char *s)
{
    OPENSSL_cleanse(s, strlen(s));
}

static bool all_digits(const char *s)
{
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* ==== employee JSON ==== */

cJSON *bind_employee_json(struct db_conn *c, int64_t id)
{
    sqlite3_stmt *st = db_stmt(c, &bind_sql, Q_EMP_BY_ID);
    cJSON *o, *roles;
    const char *phone;
    char masked[32], rtext[64];
    size_t plen;

    sqlite3_bind_int64(st, 1, id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        db_done(st, 0);
        return cJSON_CreateNull();
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "employee_no", (const char *)sqlite3_column_text(st, 0));
    cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddStringToObject(o, "department", (const char *)sqlite3_column_text(st, 2));
    /* Only the last four digits leave the server. */
    phone = (const char *)sqlite3_column_text(st, 3);
    plen = strlen(phone);
    snprintf(masked, sizeof masked, "*******%s", plen >= 4 ? phone + plen - 4 : phone);
    cJSON_AddStringToObject(o, "phone_masked", masked);
    cJSON_AddStringToObject(o, "site", (const char *)sqlite3_column_text(st, 4));
    snprintf(rtext, sizeof rtext, "%s", (const char *)sqlite3_column_text(st, 5));
    roles = cJSON_AddArrayToObject(o, "roles");
    for (char *save = NULL, *t = strtok_r(rtext, "|", &save); t; t = strtok_r(NULL, "|", &save))
        cJSON_AddItemToArray(roles, cJSON_CreateString(t));
    if (sqlite3_column_type(st, 6) == SQLITE_NULL)
        cJSON_AddNullToObject(o, "supervisor_no");
    else
        cJSON_AddStringToObject(o, "supervisor_no", (const char *)sqlite3_column_text(st, 6));
    if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
        char when[32];
        clock_format(sqlite3_column_int64(st, 7), when);
        cJSON_AddStringToObject(o, "bound_at", when);
    }
    db_done(st, 0);
    return o;
}

/* ==== HTTP: bind, me, unbind ==== */

struct bind {
    struct gy_req *r;
    bool by_phone;            /* WeChat vouched for the phone: no guessing */
    char employee_no[64], name[128], last4[8];
    char phone[3][40];        /* by_phone: the forms the roster may hold */
    enum { B_OK, B_MISMATCH, B_LIMITED, B_TAKEN, B_USER_TAKEN, B_NO_PHONE, B_SHARED_PHONE } result;
    int64_t employee_id;
    long failures;            /* failures in the window, this one included */
    long retry_after;         /* B_LIMITED: seconds until the oldest failure ages out */
};

static int record_attempt(struct db_conn *c, struct bind *b, bool ok)
{
    sqlite3_stmt *st = db_stmt(c, &bind_sql, Q_ATTEMPT);

    sqlite3_bind_int64(st, 1, b->r->auth.user_id);
    sqlite3_bind_int64(st, 2, clock_now());
    sqlite3_bind_int(st, 3, ok);
    sqlite3_bind_text(st, 4, b->employee_no, -1, SQLITE_STATIC);
    return db_exec_stmt(st);
}

static bool details_match(sqlite3_stmt *emp, const struct bind *b)
{
    const char *name = (const char *)sqlite3_column_text(emp, 1);
    const char *phone = (const char *)sqlite3_column_text(emp, 3);
    size_t n = strlen(phone);

    return sqlite3_column_int(emp, 7) == 1 && strcmp(name, b->name) == 0 && n >= 4 &&
           strcmp(phone + n - 4, b->last4) == 0;
}

/* By number, name and last four: a guess, rate-limited. Sets employee_id
 * and *HOLDER, or the result. Returns -1 to go on, else the unit's rc. */
static int find_by_details(struct db_conn *c, struct bind *b, int64_t *holder)
{
    const struct gy_config *cfg = http_config();
    sqlite3_stmt *st = db_stmt(c, &bind_sql, Q_FAILURES);
    bool match;

    sqlite3_bind_int64(st, 1, b->r->auth.user_id);
    sqlite3_bind_int64(st, 2, clock_now() - cfg->bind.window_s);
    if (sqlite3_step(st) == SQLITE_ROW) {
        b->failures = sqlite3_column_int64(st, 0);
        b->retry_after = sqlite3_column_int64(st, 1) + cfg->bind.window_s - clock_now();
    }
    db_done(st, 0);
    if (b->failures >= cfg->bind.max_failures) {
        b->result = B_LIMITED;
        if (b->retry_after < 1)
            b->retry_after = 1;
        return 1;
    }
    st = db_stmt(c, &bind_sql, Q_EMP_BY_NO);
    sqlite3_bind_text(st, 1, b->employee_no, -1, SQLITE_STATIC);
    match = sqlite3_step(st) == SQLITE_ROW && details_match(st, b);
    if (match) {
        b->employee_id = sqlite3_column_int64(st, 0);
        *holder = sqlite3_column_type(st, 8) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 8);
    }
    db_done(st, 0);
    if (match)
        return -1;
    /* A failed guess is kept (the unit returns 0): it counts toward the limit. */
    b->result = B_MISMATCH;
    b->failures++;
    return record_attempt(c, b, false);
}

/* By the phone WeChat gave: exactly one active employee must hold it. */
static int find_by_phone(struct db_conn *c, struct bind *b, int64_t *holder)
{
    sqlite3_stmt *st = db_stmt(c, &bind_sql, Q_EMP_BY_PHONE);
    int found = 0;

    for (int i = 0; i < 3; i++)
        sqlite3_bind_text(st, i + 1, b->phone[i], -1, SQLITE_STATIC);
    while (sqlite3_step(st) == SQLITE_ROW) {
        if (found++)
            break;
        b->employee_id = sqlite3_column_int64(st, 0);
        snprintf(b->employee_no, sizeof b->employee_no, "%s", (const char *)sqlite3_column_text(st, 1));
        *holder = sqlite3_column_type(st, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 2);
    }
    db_done(st, 0);
    if (found == 1)
        return -1;
    b->result = found ? B_SHARED_PHONE : B_NO_PHONE;
    return 1;
}

/* Runs in the writer, so the checks and the binding cannot race. Refusals
 * that are not guesses write nothing (return 1). */
static int bind_unit(struct db_conn *c, void *arg)
{
    struct bind *b = arg;
    int64_t holder = 0;
    sqlite3_stmt *st;
    int rc;

    rc = b->by_phone ? find_by_phone(c, b, &holder) : find_by_details(c, b, &holder);
    if (rc != -1)
        return rc;
    if (holder == b->r->auth.user_id) {
        b->result = B_OK;   /* already bound to this user: answer as before */
        return 1;
    }
    if (holder) {
        b->result = B_TAKEN;
        return 1;
    }
    /* One WeChat user, one employee. A binding to an employee who has left
     * (inactive) is let go, so a worker who comes back under a new number
     * can bind again. */
    st = db_stmt(c, &bind_sql, Q_EMP_OF_USER);
    sqlite3_bind_int64(st, 1, b->r->auth.user_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t old = sqlite3_column_int64(st, 0);
        bool active = sqlite3_column_int(st, 2) == 1;
        db_done(st, 0);
        if (active) {
            b->result = B_USER_TAKEN;
            return 1;
        }
        st = db_stmt(c, &bind_sql, Q_UNBIND);
        sqlite3_bind_int64(st, 1, old);
        sqlite3_bind_int64(st, 2, clock_now());
        if (db_exec_stmt(st) != GY_OK)
            return GY_ERR;
    } else {
        db_done(st, 0);
    }
    sesscache_stale();
    st = db_stmt(c, &bind_sql, Q_BIND);
    sqlite3_bind_int64(st, 1, b->employee_id);
    sqlite3_bind_int64(st, 2, b->r->auth.user_id);
    sqlite3_bind_int64(st, 3, clock_now());
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    b->result = B_OK;
    return record_attempt(c, b, true);
}

static void bind_done(void *arg, int rc)
{
    struct bind *b = arg;
    struct gy_req *r = b->r;
    const struct gy_config *cfg = http_config();
    static const char *const refusals[] = {
        [B_TAKEN] = "employee_already_bound", [B_USER_TAKEN] = "user_already_bound",
        [B_NO_PHONE] = "phone_not_in_roster", [B_SHARED_PHONE] = "phone_shared",
    };
    cJSON *body, *extra;

    if (rc == GY_ERR) {
        api_reply_error(r, "internal_error");
    } else if (b->result == B_OK) {
        body = cJSON_CreateObject();
        cJSON_AddBoolToObject(body, "bound", true);
        cJSON_AddItemToObject(body, "employee", bind_employee_json(db_reader(), b->employee_id));
        snprintf(r->auth.employee_no, sizeof r->auth.employee_no, "%s", b->employee_no);
        api_reply_json(r, 200, body);
    } else if (b->result == B_MISMATCH) {
        extra = cJSON_CreateObject();
        long left = cfg->bind.max_failures - b->failures;
        cJSON_AddNumberToObject(extra, "attempts_left", (double)(left > 0 ? left : 0));
        api_reply_error_ex(r, "bind_mismatch", extra, 0);
    } else if (b->result == B_LIMITED) {
        api_reply_error_ex(r, "bind_rate_limited", NULL, (int)b->retry_after);
    } else {
        api_reply_error(r, refusals[b->result]);
    }
    free(b);
}

/* API keys have no WeChat user to bind. */
static bool has_user(struct gy_req *r)
{
    if (r->auth.user_id)
        return true;
    api_reply_error(r, "forbidden");   /* frees R */
    return false;
}

void bind_post(struct gy_req *r)
{
    const char *no, *name, *last4;
    struct bind *b;

    if (!has_user(r))
        return;
    if (!(no = api_str(r, "employee_no", 1, 32)) || !(name = api_str(r, "name", 1, 40)) ||
        !(last4 = api_str(r, "phone_last4", 4, 4)))
        return;
    if (!all_digits(last4)) {
        api_reply_bad_field(r, "phone_last4", "not_digits");
        return;
    }
    b = gy_calloc(1, sizeof *b);
    b->r = r;
    snprintf(b->employee_no, sizeof b->employee_no, "%s", no);
    snprintf(b->name, sizeof b->name, "%s", name);
    gy_trim(b->employee_no);
    gy_trim(b->name);
    snprintf(b->last4, sizeof b->last4, "%s", last4);
    writer_submit(bind_unit, bind_done, b);
}

/* ---- binding by phone ---- */

/* The roster keeps phones as digits with an optional leading '+' (see
 * roster.c). WeChat gives the pure number and the country code: accept
 * "13800001234", "+8613800001234" and "8613800001234". */
static int set_phone(struct bind *b, const char *pure, const char *cc)
{
    if (!*pure || strlen(pure) > 20 || !all_digits(pure) || strlen(cc) > 4 || !all_digits(cc))
        return GY_ERR;
    snprintf(b->phone[0], sizeof b->phone[0], "%s", pure);
    snprintf(b->phone[1], sizeof b->phone[1], "+%s%s", cc, pure);
    snprintf(b->phone[2], sizeof b->phone[2], "%s%s", cc, pure);
    return GY_OK;
}

static void phone_got(void *arg, const struct wx_result *res, const char *phone, const char *cc)
{
    struct bind *b = arg;

    b->r->cleanup = NULL;

    if (res->status == WX_OK && set_phone(b, phone, *cc ? cc : "86") == GY_OK) {
        writer_submit(bind_unit, bind_done, b);
        return;
    }
    if (res->status == WX_ERRCODE && (res->errcode == 40029 || res->errcode == 40163))
        api_reply_error(b->r, "phone_code_invalid");
    else if (wx_result_is_transient(res))
        api_reply_error_ex(b->r, "wechat_unavailable", NULL, 5);
    else
        api_reply_error(b->r, "wechat_error");
    free(b);
}

/* Older clients send {"encryptedData","iv"}: decrypt with the session_key
 * kept from login, checking the watermark's appid. */
static void bind_by_encrypted(struct gy_req *r, struct bind *b, const char *data, const char *iv)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &bind_sql, Q_SESSION_KEY);
    cJSON *json = NULL;
    char *plain = NULL, *key = NULL;
    const cJSON *pure, *cc;

    sqlite3_bind_int64(st, 1, r->auth.user_id);
    if (sqlite3_step(st) == SQLITE_ROW)
        key = gy_strdup((const char *)sqlite3_column_text(st, 0));
    db_done(st, 0);
    if (!key || wx_open_data_decrypt(key, iv, data, http_config()->wechat.appid, &plain) != 0) {
        api_reply_error(r, "phone_decrypt_failed");
        goto out;
    }
    json = cJSON_Parse(plain);
    pure = cJSON_GetObjectItemCaseSensitive(json, "purePhoneNumber");
    cc = cJSON_GetObjectItemCaseSensitive(json, "countryCode");
    if (!cJSON_IsString(pure) ||
        set_phone(b, pure->valuestring, cJSON_IsString(cc) && *cc->valuestring ? cc->valuestring : "86") != GY_OK) {
        api_reply_error(r, "phone_decrypt_failed");
        goto out;
    }
    writer_submit(bind_unit, bind_done, b);
    b = NULL;
out:
    if (key) {
        wipe(key);
        free(key);
    }
    if (plain) {
        wipe(plain);
        free(plain);
    }
    cJSON_Delete(json);
    free(b);
}

void bind_phone(struct gy_req *r)
{
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(r->json, "encryptedData");
    const char *code, *data, *iv;
    struct bind *b;

    if (!has_user(r))
        return;
    b = gy_calloc(1, sizeof *b);
    b->r = r;
    b->by_phone = true;
    if (enc) {
        if (!(data = api_str(r, "encryptedData", 1, 4096)) || !(iv = api_str(r, "iv", 1, 64))) {
            free(b);
            return;
        }
        bind_by_encrypted(r, b, data, iv);
        return;
    }
    if (!(code = api_str(r, "code", 1, 128))) {
        free(b);
        return;
    }
    if (wx_phone_number(wxlink_client(), code, phone_got, b) != 0) {
        api_reply_error_ex(r, "wechat_unavailable", NULL, 5);
        free(b);
        return;
    }
    r->cleanup = free;   /* a forced shutdown cancels the call without a callback */
    r->cleanup_arg = b;
}

void bind_me(struct gy_req *r)
{
    cJSON *body = cJSON_CreateObject(), *roles;
    char rtext[64];

    if (!r->auth.user_id) {
        cJSON_Delete(body);
        api_reply_error(r, "forbidden");
        return;
    }
    cJSON_AddBoolToObject(body, "bound", r->auth.employee_id != 0);
    cJSON_AddItemToObject(body, "employee", r->auth.employee_id
                                                ? bind_employee_json(db_reader(), r->auth.employee_id)
                                                : cJSON_CreateNull());
    roles = cJSON_AddArrayToObject(body, "roles");
    roles_format(r->auth.roles, rtext, sizeof rtext);
    for (char *save = NULL, *t = strtok_r(rtext, "|", &save); t; t = strtok_r(NULL, "|", &save))
        cJSON_AddItemToArray(roles, cJSON_CreateString(t));
    api_reply_json(r, 200, body);
}

struct unbind {
    struct gy_req *r;
    bool found, was_bound;
};

static int unbind_unit(struct db_conn *c, void *arg)
{
    struct unbind *u = arg;
    sqlite3_stmt *st = db_stmt(c, &bind_sql, Q_EMP_BY_NO);
    int64_t id = 0, user = 0;

    sqlite3_bind_text(st, 1, u->r->params.value[0], -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        u->found = true;
        id = sqlite3_column_int64(st, 0);
        user = sqlite3_column_int64(st, 8);
    }
    db_done(st, 0);
    if (!u->found || !user)
        return 1;
    u->was_bound = true;
    sesscache_stale();
    st = db_stmt(c, &bind_sql, Q_UNBIND);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, clock_now());
    if (db_exec_stmt(st) != GY_OK)
        return GY_ERR;
    /* The old phone's sessions end with the binding. */
    st = db_stmt(c, &bind_sql, Q_DROP_SESSIONS);
    sqlite3_bind_int64(st, 1, user);
    return db_exec_stmt(st);
}

static void unbind_done(void *arg, int rc)
{
    struct unbind *u = arg;
    cJSON *body;

    if (rc == GY_ERR) {
        api_reply_error(u->r, "internal_error");
    } else if (!u->found) {
        api_reply_error(u->r, "employee_not_found");
    } else {
        body = cJSON_CreateObject();
        cJSON_AddStringToObject(body, "employee_no", u->r->params.value[0]);
        cJSON_AddBoolToObject(body, "unbound", u->was_bound);
        api_reply_json(u->r, 200, body);
    }
    free(u);
}

void bind_unbind(struct gy_req *r)
{
    struct unbind *u = gy_calloc(1, sizeof *u);

    u->r = r;
    writer_submit(unbind_unit, unbind_done, u);
}
