/*
 * api_sec.c - msg_sec_check v2: is a text fit to show to other people?
 * POST /wxa/msg_sec_check?access_token=… {"content","version":2,"scene",
 * "openid"}. The verdict is result.suggest: pass, review or risky.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "wx.h"
#include "wx_internal.h"

#define MAX_CONTENT 2500   /* characters */

struct sec {
    wx_seccheck_cb *cb;
    void *arg;
};

static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

static void sec_done(void *arg, const struct wx_result *r, const cJSON *body,
                     const struct wx_raw *raw)
{
    struct sec *s = arg;
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(body, "result");
    const cJSON *suggest = cJSON_GetObjectItemCaseSensitive(result, "suggest");
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(result, "label");
    const cJSON *trace = cJSON_GetObjectItemCaseSensitive(body, "trace_id");
    struct wx_seccheck v = { WX_SUGGEST_PASS, 100, "" };
    struct wx_result bad;

    if (r->status != WX_OK) {
        s->cb(s->arg, r, NULL);
        return;
    }
    if (!cJSON_IsString(suggest)) {
        bad = *r;
        bad.status = WX_BADREPLY;
        bad.errmsg = "reply lacks result.suggest";
        s->cb(s->arg, &bad, NULL);
        return;
    }
    if (strcmp(suggest->valuestring, "risky") == 0)
        v.suggest = WX_SUGGEST_RISKY;
    else if (strcmp(suggest->valuestring, "pass") != 0)
        v.suggest = WX_SUGGEST_REVIEW;   /* "review", or anything new: hold for a human */
    if (cJSON_IsNumber(label))
        v.label = (long)label->valuedouble;
    if (cJSON_IsString(trace))
        v.trace_id = trace->valuestring;
    s->cb(s->arg, r, &v);
}

/* A local refusal goes through the loop like any result. */
static void sec_refused(void *arg, const struct wx_result *r, const cJSON *body,
                        const struct wx_raw *raw)
{
    struct sec *s = arg;

    s->cb(s->arg, r, NULL);
}

int wx_msg_sec_check(struct wx_client *c, const char *openid, int scene, const char *content,
                     wx_seccheck_cb *cb, void *arg)
{
    struct sec *s;
    cJSON *body;
    char *text;
    size_t n;
    int rc;

    if (!c || !openid || !content || !cb)
        return -1;
    s = malloc(sizeof *s);
    if (!s)
        return -1;
    s->cb = cb;
    s->arg = arg;
    n = utf8_chars(content);
    if (n == 0 || n > MAX_CONTENT || scene < 1 || scene > 4 || !*openid)
        return wx_fail_later(c, WX_INVALID,
                             n == 0 ? "content is empty" : n > MAX_CONTENT ? "content is over 2500 characters"
                             : !*openid ? "openid is empty" : "scene must be 1 to 4",
                             sec_refused, s, free);
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "content", content);
    cJSON_AddNumberToObject(body, "version", 2);
    cJSON_AddNumberToObject(body, "scene", scene);
    cJSON_AddStringToObject(body, "openid", openid);
    text = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    if (!text) {
        free(s);
        return -1;
    }
    rc = wx_call_authed(c, "msg_sec_check", "/wxa/msg_sec_check", NULL, 0, text, 0, sec_done, s);
    free(text);
    return rc;
}
