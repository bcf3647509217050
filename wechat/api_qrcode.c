/*
 * api_qrcode.c - getwxacodeunlimit: a PNG QR code whose scene tells the
 * mini-program where it was scanned (a canteen, a dorm room, a site).
 * Success is the image itself; an error is JSON. The transport tells them
 * apart by Content-Type prefix and by a leading '{' (WX_CALL_BINARY),
 * since WeChat's error replies come with varying content types.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "wx.h"
#include "wx_internal.h"

struct qr {
    wx_qrcode_cb *cb;
    void *arg;
};

int wx_qrcode_scene_ok(const char *scene)
{
    static const char extra[] = "!#$&'()*+,/:;=?@-._~";
    size_t n = 0;

    if (!scene)
        return 0;
    for (; scene[n]; n++) {
        unsigned char ch = (unsigned char)scene[n];
        if (n >= 32)
            return 0;
        if (!((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
              strchr(extra, ch)))
            return 0;
    }
    return n > 0;
}

static int page_ok(const char *page)
{
    return !page || (page[0] && page[0] != '/' && !strchr(page, '?') && strlen(page) < 256);
}

static void qr_done(void *arg, const struct wx_result *r, const cJSON *body,
                    const struct wx_raw *raw)
{
    struct qr *q = arg;
    struct wx_result bad;
    static const unsigned char png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

    if (r->status != WX_OK) {
        q->cb(q->arg, r, NULL, 0);
        return;
    }
    if (body || !raw || raw->len < 8 || memcmp(raw->data, png_sig, 8) != 0) {
        /* {"errcode":0} or something that is not a PNG is no QR code */
        bad = *r;
        bad.status = WX_BADREPLY;
        bad.errmsg = "reply is not a PNG image";
        q->cb(q->arg, &bad, NULL, 0);
        return;
    }
    q->cb(q->arg, r, raw->data, raw->len);
}

static void qr_refused(void *arg, const struct wx_result *r, const cJSON *body,
                       const struct wx_raw *raw)
{
    struct qr *q = arg;

    q->cb(q->arg, r, NULL, 0);
}

int wx_qrcode_unlimited(struct wx_client *c, const struct wx_qrcode *req, wx_qrcode_cb *cb, void *arg)
{
    const char *env = req && req->env_version ? req->env_version : "release";
    struct qr *q;
    cJSON *body;
    char *text;
    int rc, width;

    if (!c || !req || !cb)
        return -1;
    q = malloc(sizeof *q);
    if (!q)
        return -1;
    q->cb = cb;
    q->arg = arg;
    if (!wx_qrcode_scene_ok(req->scene) || !page_ok(req->page) ||
        (strcmp(env, "release") && strcmp(env, "trial") && strcmp(env, "develop")))
        return wx_fail_later(c, WX_INVALID,
                             !wx_qrcode_scene_ok(req->scene) ? "scene must be 1 to 32 of [0-9A-Za-z!#$&'()*+,/:;=?@-._~]"
                             : !page_ok(req->page) ? "page must not start with '/' or carry a query"
                             : "env_version must be release, trial or develop",
                             qr_refused, q, free);
    width = req->width ? req->width : 430;
    width = width < 280 ? 280 : width > 1280 ? 1280 : width;
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "scene", req->scene);
    if (req->page)
        cJSON_AddStringToObject(body, "page", req->page);
    cJSON_AddBoolToObject(body, "check_path", req->check_path != 0);
    cJSON_AddStringToObject(body, "env_version", env);
    cJSON_AddNumberToObject(body, "width", width);
    text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) {
        free(q);
        return -1;
    }
    rc = wx_call_authed(c, "getwxacodeunlimit", "/wxa/getwxacodeunlimit", NULL, 0, text,
                        WX_CALL_BINARY, qr_done, q);
    free(text);
    return rc;
}
