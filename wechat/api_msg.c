/*
 * api_msg.c - subscribeMessage.send: fit every data value to its key's
 * rule (fields.c) before anything leaves, so a bad value is our error with
 * the key named, not a 47003; and serialise sends to one openid, since
 * WeChat refuses concurrent ones (43108). Each openid has a lane: one send
 * in flight, the rest queued in order.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "wx.h"
#include "wx_internal.h"

struct send {
    struct wx_client *c;
    char openid[129];
    char *json;                 /* the request body */
    wx_send_cb *cb;
    void *arg;
    struct send *next;          /* in its lane's queue */
};

struct lane {
    char openid[129];
    struct send *head, *tail;   /* waiting behind the one in flight */
    struct lane *next;
};

struct wx_sendq {
    struct lane *lanes;
};

static void send_free(void *p)
{
    struct send *s = p;

    if (s) {
        free(s->json);
        free(s);
    }
}

void wx_sendq_free(struct wx_sendq *q)
{
    if (!q)
        return;
    while (q->lanes) {
        struct lane *l = q->lanes;
        q->lanes = l->next;
        while (l->head) {
            struct send *s = l->head;
            l->head = s->next;
            send_free(s);
        }
        free(l);
    }
    free(q);
}

static struct lane **find_lane(struct wx_sendq *q, const char *openid)
{
    struct lane **pp = &q->lanes;

    while (*pp && strcmp((*pp)->openid, openid) != 0)
        pp = &(*pp)->next;
    return pp;
}

/* The msgid as text: it exceeds 2^53, so read it from the reply's bytes. */
static void extract_msgid(const struct wx_raw *raw, char *out, size_t outsz)
{
    const char *p, *end;
    size_t n = 0;

    out[0] = '\0';
    if (!raw || !raw->len)
        return;
    p = (const char *)raw->data;
    end = p + raw->len;
    for (; p + 7 <= end; p++)
        if (memcmp(p, "\"msgid\"", 7) == 0)
            break;
    if (p + 7 > end)
        return;
    for (p += 7; p < end && (*p == ' ' || *p == ':' || *p == '"'); p++)
        ;
    while (p < end && isdigit((unsigned char)*p) && n + 1 < outsz)
        out[n++] = *p++;
    out[n] = '\0';
}

static int start_send(struct send *s);

static void send_done(void *arg, const struct wx_result *r, const cJSON *body,
                      const struct wx_raw *raw)
{
    struct send *s = arg;
    struct wx_client *c = s->c;
    struct wx_sendq *q;
    struct lane **pp, *l;
    struct send *next;
    char msgid[32];

    extract_msgid(r->status == WX_OK ? raw : NULL, msgid, sizeof msgid);
    s->cb(s->arg, r, msgid);
    /* The callback may have freed the client: look everything up afresh. */
    q = *wx_client_sendq_slot(c);
    if (!q)
        return;
    pp = find_lane(q, s->openid);
    l = *pp;
    if (!l)
        return;
    /* Start the next in line; one that cannot start (out of memory) is
     * told so at once (we are in a callback) and the lane moves on. */
    while ((next = l->head)) {
        l->head = next->next;
        if (!l->head)
            l->tail = NULL;
        next->next = NULL;
        wx_send_cb *cb = next->cb;
        void *cb_arg = next->arg;
        if (start_send(next) == 0)
            return;
        struct wx_result f = { .status = WX_TRANSPORT, .errcode = -1,
                               .errmsg = "cannot start the request", .rid = "" };
        cb(cb_arg, &f, "");
        if (!*wx_client_sendq_slot(c))
            return;
        pp = find_lane(*wx_client_sendq_slot(c), s->openid);
        if (!(l = *pp))
            return;
    }
    *pp = l->next;
    free(l);
}

/* Hand S to the transport, which owns it from here (freed on every path). */
static int start_send(struct send *s)
{
    char *json = s->json;
    int rc;

    s->json = NULL;   /* wx_call_authed copies the body; S itself is freed with free() */
    rc = wx_call_authed(s->c, "subscribe_send", "/cgi-bin/message/subscribe/send", NULL, 0, json,
                        WX_CALL_ONCE, send_done, s);
    free(json);
    return rc;
}

/* Build the body, fitting every value; NULL with WHY/KEY set on a bad value. */
static char *build_body(const struct wx_subscribe *m, char *why, size_t whysz)
{
    cJSON *body = cJSON_CreateObject(), *data;
    char *text = NULL;

    cJSON_AddStringToObject(body, "touser", m->touser);
    cJSON_AddStringToObject(body, "template_id", m->template_id);
    if (m->page)
        cJSON_AddStringToObject(body, "page", m->page);
    cJSON_AddStringToObject(body, "miniprogram_state", m->state ? m->state : "formal");
    cJSON_AddStringToObject(body, "lang", m->lang ? m->lang : "zh_CN");
    data = cJSON_AddObjectToObject(body, "data");
    for (size_t i = 0; i < m->ndata; i++) {
        const char *reason = NULL;
        char *fitted = NULL;
        cJSON *item;

        if (!m->data[i].key || !m->data[i].value ||
            wx_field_fit(m->data[i].key, m->data[i].value, &fitted, &reason) != 0) {
            snprintf(why, whysz, "data.%s: %s", m->data[i].key ? m->data[i].key : "(null)",
                     reason ? reason : "missing");
            goto out;
        }
        item = cJSON_AddObjectToObject(data, m->data[i].key);
        cJSON_AddStringToObject(item, "value", fitted);
        free(fitted);
    }
    text = cJSON_PrintUnformatted(body);
out:
    cJSON_Delete(body);
    return text;
}

static void send_refused(void *arg, const struct wx_result *r, const cJSON *body,
                         const struct wx_raw *raw)
{
    struct send *s = arg;

    s->cb(s->arg, r, "");
}

int wx_subscribe_send(struct wx_client *c, const struct wx_subscribe *m, wx_send_cb *cb, void *arg)
{
    struct wx_sendq **slot, *q;
    struct send *s;
    struct lane **pp;
    char why[160];

    if (!c || !m || !cb || !m->touser || !m->template_id)
        return -1;
    s = calloc(1, sizeof *s);
    if (!s)
        return -1;
    s->c = c;
    s->cb = cb;
    s->arg = arg;
    snprintf(s->openid, sizeof s->openid, "%s", m->touser);
    if (!m->touser[0] || strlen(m->touser) >= sizeof s->openid || !m->template_id[0] || m->ndata == 0)
        return wx_fail_later(c, WX_INVALID, !m->ndata ? "no data" : "touser or template_id missing",
                             send_refused, s, send_free);
    s->json = build_body(m, why, sizeof why);
    if (!s->json)
        return wx_fail_later(c, WX_INVALID, why, send_refused, s, send_free);

    slot = wx_client_sendq_slot(c);
    if (!*slot && !(*slot = calloc(1, sizeof **slot))) {
        send_free(s);
        return -1;
    }
    q = *slot;
    pp = find_lane(q, s->openid);
    if (*pp) {   /* a send to this openid is in flight: queue behind it */
        if ((*pp)->tail)
            (*pp)->tail->next = s;
        else
            (*pp)->head = s;
        (*pp)->tail = s;
        return 0;
    }
    *pp = calloc(1, sizeof **pp);
    if (!*pp) {
        send_free(s);
        return -1;
    }
    snprintf((*pp)->openid, sizeof (*pp)->openid, "%s", s->openid);
    if (start_send(s) != 0) {
        struct lane *l = *pp;
        *pp = l->next;
        free(l);
        return -1;
    }
    return 0;
}
