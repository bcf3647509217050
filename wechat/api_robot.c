/*
 * api_robot.c - the WeCom (企业微信) group robot: POST a markdown message
 * {"msgtype":"markdown","markdown":{"content":…}} to the robot's webhook,
 * a whole URL whose ?key= is the secret. No access token. The URL goes to
 * the transport as is and is never quoted in an errmsg; retries are the
 * transport's (-1, transport errors, 5xx), so 45009 and 93000 are not.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "wx.h"
#include "wx_internal.h"

#define MAX_MARKDOWN 4096   /* bytes of UTF-8, WeCom's limit */

struct robot {
    wx_robot_cb *cb;
    void *arg;
};

/*
 * True when the LEN bytes at S are well-formed UTF-8: no stray or missing
 * continuation bytes, no overlong forms, no surrogates, nothing above
 * U+10FFFF.
 */
static int utf8_valid(const unsigned char *s, size_t len)
{
    size_t i = 0, n, k;
    unsigned long cp;

    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (s[i] >= 0xc2 && s[i] <= 0xdf) {
            n = 1;
            cp = s[i] & 0x1fu;
        } else if (s[i] >= 0xe0 && s[i] <= 0xef) {
            n = 2;
            cp = s[i] & 0x0fu;
        } else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
            n = 3;
            cp = s[i] & 0x07u;
        } else {
            return 0;
        }
        if (len - i <= n)
            return 0;
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3fu);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += n + 1;
    }
    return 1;
}

/*
 * True when WEBHOOK is an http:// or https:// URL curl can take as is:
 * a host follows the scheme, and every byte is printable ASCII.
 */
static int webhook_ok(const char *webhook)
{
    const char *p;

    if (strncmp(webhook, "https://", 8) == 0)
        p = webhook + 8;
    else if (strncmp(webhook, "http://", 7) == 0)
        p = webhook + 7;
    else
        return 0;
    if (*p == '\0' || *p == '/' || *p == '?' || *p == '#')
        return 0;
    for (p = webhook; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return 0;
    return 1;
}

/* The reply, or a local refusal: either way R says it all. */
static void robot_done(void *arg, const struct wx_result *r, const cJSON *body,
                       const struct wx_raw *raw)
{
    struct robot *rb = arg;

    rb->cb(rb->arg, r);
}

/*
 * Send MARKDOWN to the robot at WEBHOOK (see wx.h). A bad WEBHOOK or
 * MARKDOWN ends in WX_INVALID from the loop, with no request made and an
 * errmsg that never quotes the URL. Returns 0, or -1 when an argument is
 * NULL or memory ran out (CB then not called).
 */
int wx_robot_send(struct wx_client *c, const char *webhook, const char *markdown,
                  wx_robot_cb *cb, void *arg)
{
    const char *why = NULL;
    struct robot *rb;
    cJSON *body, *md;
    char *text;
    size_t n;
    int rc;

    if (!c || !webhook || !markdown || !cb)
        return -1;
    rb = malloc(sizeof *rb);
    if (!rb)
        return -1;
    rb->cb = cb;
    rb->arg = arg;
    n = strlen(markdown);
    if (!webhook_ok(webhook))
        why = "webhook must be an http:// or https:// URL";
    else if (n == 0)
        why = "markdown is empty";
    else if (n > MAX_MARKDOWN)
        why = "markdown is over 4096 bytes";
    else if (!utf8_valid((const unsigned char *)markdown, n))
        why = "markdown is not valid UTF-8";
    if (why)
        return wx_fail_later(c, WX_INVALID, why, robot_done, rb, free);

    /* each cJSON_Add* is a no-op returning NULL when given NULL */
    body = cJSON_CreateObject();
    md = cJSON_AddStringToObject(body, "msgtype", "markdown")
         ? cJSON_AddObjectToObject(body, "markdown") : NULL;
    text = cJSON_AddStringToObject(md, "content", markdown) ? cJSON_PrintUnformatted(body) : NULL;
    cJSON_Delete(body);
    if (!text) {
        free(rb);
        return -1;
    }
    /* the transport owns RB from here, failure included */
    rc = wx_call_start_ex(c, "robot_send", webhook, NULL, 0, text, WX_CALL_ONCE, robot_done, rb, free);
    cJSON_free(text);
    return rc;
}
