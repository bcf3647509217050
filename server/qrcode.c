/*
 * qrcode.c - QR codes that send a worker who scans them to the right page
 * (a canteen's rating, a dorm room's repair form, a site's clock-in):
 * POST /api/v1/admin/qrcodes {"scene","page","width"} answers the PNG.
 * WeChat's getwxacodeunlimit makes it; each (scene, page, width) is kept in
 * SQLite once made, so reprinting a poster costs no WeChat call.
 */
#include "gongyou.h"
#include "wx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { Q_GET, Q_PUT };
static const char *const sql[] = {
    [Q_GET] = "SELECT png FROM qrcodes WHERE scene = ?1 AND page = ?2 AND width = ?3",
    [Q_PUT] =
        "INSERT INTO qrcodes (scene, page, width, png, created_at) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT(scene, page, width) DO UPDATE SET png = excluded.png, created_at = excluded.created_at",
};
const struct db_sqlset qrcode_sql = { "qrcode", sql, GY_ARRAY_LEN(sql) };

struct qr {
    struct gy_req *r;
    char scene[40], page[140];
    int width;
    bool keep;                 /* a release code: stored for reprints */
    unsigned char *png;
    size_t len;
};

static void reply_png(struct gy_req *r, const void *png, size_t len)
{
    api_reply_raw(r, 200, "image/png", png, len);
}

static int store(struct db_conn *c, void *arg)
{
    struct qr *q = arg;
    sqlite3_stmt *st = db_stmt(c, &qrcode_sql, Q_PUT);

    sqlite3_bind_text(st, 1, q->scene, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->page, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, q->width);
    sqlite3_bind_blob(st, 4, q->png, (int)q->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, clock_now());
    return db_exec_stmt(st);
}

static void stored(void *arg, int rc)
{
    struct qr *q = arg;

    /* The image is good even if keeping it failed: hand it out anyway. */
    if (rc != 0)
        gy_log(LOG_WARN, "cannot keep the QR code for scene %s", q->scene);
    reply_png(q->r, q->png, q->len);
    free(q->png);
    free(q);
}

static void made(void *arg, const struct wx_result *res, const unsigned char *png, size_t len)
{
    struct qr *q = arg;

    q->r->cleanup = NULL;

    if (res->status == WX_OK && !q->keep) {
        reply_png(q->r, png, len);
        free(q);
        return;
    }
    if (res->status == WX_OK) {
        q->png = gy_malloc(len);
        memcpy(q->png, png, len);
        q->len = len;
        writer_submit(store, stored, q);
        return;
    }
    if (res->status == WX_INVALID)
        api_reply_bad_field(q->r, "scene", "bad_characters");
    else if (res->status == WX_ERRCODE && res->errcode == 41030)
        api_reply_error(q->r, "qrcode_page_invalid");
    else if (res->status == WX_ERRCODE && res->errcode == 40169)
        api_reply_bad_field(q->r, "scene", "bad_characters");
    else if (wx_result_is_transient(res))
        api_reply_error_ex(q->r, "wechat_unavailable", NULL, 5);
    else
        api_reply_error(q->r, "wechat_error");
    free(q);
}

static bool page_ok(const char *p)
{
    return p[0] != '/' && !strchr(p, '?') && gy_utf8_valid(p, strlen(p), UTF8_NO_CTL);
}

void qrcode_create(struct gy_req *r)
{
    const cJSON *page = cJSON_GetObjectItemCaseSensitive(r->json, "page");
    const cJSON *width = cJSON_GetObjectItemCaseSensitive(r->json, "width");
    const cJSON *check = cJSON_GetObjectItemCaseSensitive(r->json, "check_path");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(r->json, "env_version");
    const char *scene = api_str(r, "scene", 1, 32);
    struct wx_qrcode req = { 0 };
    sqlite3_stmt *st;
    struct qr *q;

    if (!scene)
        return;
    if (!wx_qrcode_scene_ok(scene)) {
        api_reply_bad_field(r, "scene", "bad_characters");
        return;
    }
    if (page && (!cJSON_IsString(page) || strlen(page->valuestring) > 128 || !page_ok(page->valuestring))) {
        api_reply_bad_field(r, "page", "bad_page");
        return;
    }
    if (width && (!cJSON_IsNumber(width) || width->valuedouble < 280 || width->valuedouble > 1280)) {
        api_reply_bad_field(r, "width", "out_of_range");
        return;
    }
    if (check && !cJSON_IsBool(check)) {
        api_reply_bad_field(r, "check_path", "not_a_boolean");
        return;
    }
    if (env && (!cJSON_IsString(env) || (strcmp(env->valuestring, "release") &&
                                         strcmp(env->valuestring, "trial") &&
                                         strcmp(env->valuestring, "develop")))) {
        api_reply_bad_field(r, "env_version", "bad_value");
        return;
    }

    q = gy_calloc(1, sizeof *q);
    q->r = r;
    snprintf(q->scene, sizeof q->scene, "%s", scene);
    snprintf(q->page, sizeof q->page, "%s", page ? page->valuestring : "");
    q->width = width ? (int)width->valuedouble : 430;

    /* Only codes for the released mini-program (checked pages) are kept:
     * trial and develop codes are for testing and must not reach a poster. */
    q->keep = (!env || !strcmp(env->valuestring, "release")) && (!check || cJSON_IsTrue(check));
    st = db_stmt(db_reader(), &qrcode_sql, Q_GET);
    sqlite3_bind_text(st, 1, q->scene, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, q->page, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, q->width);
    if (q->keep && sqlite3_step(st) == SQLITE_ROW) {
        reply_png(r, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
        db_done(st, 0);
        free(q);
        return;
    }
    db_done(st, 0);
    req.scene = q->scene;
    req.page = q->page[0] ? q->page : NULL;
    req.check_path = check ? cJSON_IsTrue(check) : 1;
    req.env_version = env ? env->valuestring : "release";
    req.width = q->width;
    if (wx_qrcode_unlimited(wxlink_client(), &req, made, q) != 0) {
        api_reply_error_ex(r, "wechat_unavailable", NULL, 5);
        free(q);
        return;
    }
    r->cleanup = free;   /* a forced shutdown cancels the call without a callback */
    r->cleanup_arg = q;
}
