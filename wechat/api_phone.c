/*
 * api_phone.c - getuserphonenumber: the phone number behind a code from
 * the mini-program's getPhoneNumber button. POST
 * /wxa/business/getuserphonenumber?access_token=… {"code":…}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "wx.h"
#include "wx_internal.h"

struct phone {
    wx_phone_cb *cb;
    void *arg;
};

static void phone_done(void *arg, const struct wx_result *r, const cJSON *body,
                       const struct wx_raw *raw)
{
    struct phone *p = arg;
    const cJSON *info = cJSON_GetObjectItemCaseSensitive(body, "phone_info");
    const cJSON *pure = cJSON_GetObjectItemCaseSensitive(info, "purePhoneNumber");
    const cJSON *cc = cJSON_GetObjectItemCaseSensitive(info, "countryCode");
    struct wx_result bad;

    if (r->status != WX_OK) {
        p->cb(p->arg, r, NULL, NULL);
        return;
    }
    if (!cJSON_IsString(pure) || !pure->valuestring[0]) {
        bad = *r;
        bad.status = WX_BADREPLY;
        bad.errmsg = "reply lacks phone_info.purePhoneNumber";
        p->cb(p->arg, &bad, NULL, NULL);
        return;
    }
    if (cJSON_IsNumber(cc)) {   /* WeChat's own example sends it as a number */
        char num[16];
        snprintf(num, sizeof num, "%d", cc->valueint);
        p->cb(p->arg, r, pure->valuestring, num);
        return;
    }
    p->cb(p->arg, r, pure->valuestring, cJSON_IsString(cc) ? cc->valuestring : "");
}

int wx_phone_number(struct wx_client *c, const char *code, wx_phone_cb *cb, void *arg)
{
    struct phone *p;
    cJSON *body;
    char *text;
    int rc;

    if (!c || !code || !*code || !cb)
        return -1;
    p = malloc(sizeof *p);
    if (!p)
        return -1;
    p->cb = cb;
    p->arg = arg;
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "code", code);
    text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) {
        free(p);
        return -1;
    }
    rc = wx_call_authed(c, "getuserphonenumber", "/wxa/business/getuserphonenumber", NULL, 0,
                        text, 0, phone_done, p);
    free(text);
    return rc;
}
