/*
 * push.c - WeChat's message push (服务器推送) at wechat.push_path: the GET
 * URL verification, and POSTed events in plaintext, compatible and safe
 * mode, as JSON or XML. Every push, accepted or refused, goes into the
 * journal (wx_events) that HR lists at GET /api/v1/admin/wechat/events.
 *
 * Checks, in order: the push is configured; timestamp within
 * wechat.push_max_skew_s; signature (plain) or msg_signature (safe and
 * compatible; constant-time); decryption with the appid tail checked; a
 * body we can read. Then the event is normalised (XML and JSON alike, List
 * always an array, every leaf a string, MsgID kept exact) and stored with a
 * dedupe key (MsgId, else FromUserName|CreateTime|Event), so WeChat's
 * retries of one push are journalled as duplicates, not handled twice. The
 * reply "success" goes out once the journal row is durable: milliseconds,
 * well inside WeChat's 5 s. What an event means (the consent ledger) is
 * for the notification module, which reads the journal.
 */
#include "gongyou.h"
#include "wx.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <openssl/crypto.h>

enum { Q_INSERT, Q_LIST, Q_LIST_VERDICT };
static const char *const sql[] = {
    [Q_INSERT] =
        "INSERT INTO wx_events (received_at, dedupe_key, event, openid, mode, format, verdict, payload) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(dedupe_key) DO NOTHING RETURNING id",
    /* Two statements, so a filter on the verdict can use its index. */
    [Q_LIST] =
        "SELECT id, received_at, event, openid, mode, format, verdict, payload FROM wx_events "
        "WHERE id < ?1 ORDER BY id DESC LIMIT ?3",
    [Q_LIST_VERDICT] =
        "SELECT id, received_at, event, openid, mode, format, verdict, payload FROM wx_events "
        "WHERE id < ?1 AND verdict = ?2 ORDER BY id DESC LIMIT ?3",
};
const struct db_sqlset push_sql = { "push", sql, GY_ARRAY_LEN(sql) };

/* One push on its way to the journal. */
struct push {
    struct gy_req *r;
    const char *mode;         /* plain | compat | safe */
    const char *format;       /* json | xml */
    const char *verdict;      /* accepted, or why it was refused */
    const char *error;        /* the error code to answer, NULL for "success" */
    char dedupe[300];
    char event[64];
    char openid[130];
    char *payload;            /* normalised JSON text */
};

static void push_free(struct push *p)
{
    free(p->payload);
    free(p);
}

/* ---- signatures ---- */

static bool signature_ok(const char *token, const char *ts, const char *nonce,
                         const char *encrypt, const char *given)
{
    const char *parts[4] = { token, ts, nonce, encrypt };
    char want[41];

    wx_push_signature(parts, encrypt ? 4 : 3, want);
    return given && wx_sig_equal(want, given);
}

static bool fresh(const char *ts)
{
    long long t, skew = http_config()->wechat.push_max_skew_s, d;

    if (skew == 0)
        return true;   /* no check; the signature still covers the timestamp */
    if (gy_parse_ll(ts, 0, 99999999999LL, &t) != GY_OK)
        return false;
    d = (long long)clock_now() - t;
    return d <= skew && -d <= skew;
}

/* ---- reading the body ---- */

static bool looks_xml(struct gy_req *r)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
    const char *b = r->body;

    if (ct && (strncasecmp(ct, "text/xml", 8) == 0 || strncasecmp(ct, "application/xml", 15) == 0))
        return true;
    while (b && *b && isspace((unsigned char)*b))
        b++;
    return b && *b == '<';
}

static cJSON *parse_body(const char *text, size_t len, bool xml)
{
    char err[128], *quoted;
    cJSON *j;

    if (memchr(text, '\0', len))
        return NULL;
    if (xml)
        return xml_to_json(text, len, err, sizeof err);
    quoted = json_quote_big_ints(text, len);
    j = cJSON_Parse(quoted);
    free(quoted);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

/* Every number becomes its text; List (JSON: object or array; XML: under
 * SubscribeMsg*Event) becomes a top-level array. */
static void stringify(cJSON *j)
{
    cJSON *it = j ? j->child : NULL;

    while (it) {
        cJSON *next = it->next;

        if (cJSON_IsNumber(it)) {
            char num[48];
            double d = it->valuedouble;
            cJSON *s;

            if (d == (double)(long long)d)
                snprintf(num, sizeof num, "%lld", (long long)d);
            else
                snprintf(num, sizeof num, "%.17g", d);
            s = cJSON_CreateString(num);
            if (cJSON_IsObject(j))
                cJSON_ReplaceItemInObjectCaseSensitive(j, it->string, s);
            else
                cJSON_ReplaceItemViaPointer(j, it, s);
        } else if (cJSON_IsObject(it) || cJSON_IsArray(it)) {
            stringify(it);
        }
        it = next;
    }
}

static void normalise(cJSON *ev)
{
    static const char *const holders[] = {
        "SubscribeMsgPopupEvent", "SubscribeMsgChangeEvent", "SubscribeMsgSentEvent",
    };
    cJSON *list = cJSON_DetachItemFromObjectCaseSensitive(ev, "List");

    for (size_t i = 0; !list && i < GY_ARRAY_LEN(holders); i++) {
        cJSON *h = cJSON_GetObjectItemCaseSensitive(ev, holders[i]);
        if (cJSON_IsObject(h)) {
            list = cJSON_DetachItemFromObjectCaseSensitive(h, "List");
            cJSON_DeleteItemFromObjectCaseSensitive(ev, holders[i]);
        }
    }
    if (list && !cJSON_IsArray(list)) {
        cJSON *arr = cJSON_CreateArray();
        cJSON_AddItemToArray(arr, list);
        list = arr;
    }
    if (list)
        cJSON_AddItemToObject(ev, "List", list);
    stringify(ev);
}

static const char *text_of(const cJSON *ev, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev, key);

    return cJSON_IsString(v) ? v->valuestring : "";
}

static void describe(struct push *p, cJSON *ev)
{
    const char *event = text_of(ev, "Event"), *msgid = text_of(ev, "MsgId");

    snprintf(p->event, sizeof p->event, "%s", *event ? event : text_of(ev, "MsgType"));
    snprintf(p->openid, sizeof p->openid, "%s", text_of(ev, "FromUserName"));
    if (*msgid)
        snprintf(p->dedupe, sizeof p->dedupe, "msg:%s", msgid);
    else
        snprintf(p->dedupe, sizeof p->dedupe, "ev:%s|%s|%s", p->openid, text_of(ev, "CreateTime"),
                 p->event);
    p->payload = cJSON_PrintUnformatted(ev);
}

/* Decrypt the Encrypt field of OUTER into the event. */
static cJSON *open_encrypted(struct push *p, const cJSON *outer, bool xml)
{
    const struct gy_config *cfg = http_config();
    const char *appid = cfg->wechat.push_appid[0] ? cfg->wechat.push_appid : cfg->wechat.appid;
    const cJSON *enc = cJSON_GetObjectItemCaseSensitive(outer, "Encrypt");
    struct wx_push_key key;
    char *plain = NULL;
    size_t len = 0;
    cJSON *ev = NULL;
    int rc;

    if (wx_push_key_parse(cfg->wechat.push_aes_key, &key) != 0) {
        p->verdict = "no_aes_key";
        p->error = "push_not_configured";
        return NULL;
    }
    rc = wx_push_decrypt(&key, enc->valuestring, appid, &plain, &len);
    OPENSSL_cleanse(&key, sizeof key);
    if (rc != WX_CRYPTO_OK) {
        p->verdict = rc == WX_CRYPTO_APPID ? "wrong_appid" : "decrypt_failed";
        p->error = "push_bad_signature";
        return NULL;
    }
    ev = parse_body(plain, len, xml);
    free(plain);
    if (!ev) {
        p->verdict = "bad_body";
        p->error = "push_bad_body";
    }
    return ev;
}

/* Verify and read the push; fills P (verdict, error, event). */
static void read_push(struct push *p)
{
    struct gy_req *r = p->r;
    const struct gy_config *cfg = http_config();
    const char *ts = api_query(r, "timestamp");
    char ts_buf[32], nonce[80], sig[64], msig[64], etype[16];
    const char *q;
    cJSON *outer = NULL, *ev = NULL;
    const cJSON *enc;
    bool xml = looks_xml(r);

    /* api_query() reuses one buffer: copy each value out. */
    snprintf(ts_buf, sizeof ts_buf, "%s", ts ? ts : "");
    snprintf(nonce, sizeof nonce, "%s", (q = api_query(r, "nonce")) ? q : "");
    snprintf(sig, sizeof sig, "%s", (q = api_query(r, "signature")) ? q : "");
    snprintf(msig, sizeof msig, "%s", (q = api_query(r, "msg_signature")) ? q : "");
    snprintf(etype, sizeof etype, "%s", (q = api_query(r, "encrypt_type")) ? q : "");
    p->format = xml ? "xml" : "json";
    p->mode = strcmp(etype, "aes") == 0 ? "safe" : "plain";

    if (!fresh(ts_buf)) {
        p->verdict = "stale";
        p->error = "push_stale";
        return;
    }
    if (strcmp(etype, "aes") != 0) {
        /* With an EncodingAESKey set, the console is in compatible or safe
         * mode and every real push is encrypted: a plain one is forged. */
        if (cfg->wechat.push_aes_key[0]) {
            p->verdict = "plaintext_refused";
            p->error = "push_bad_signature";
            return;
        }
        if (!signature_ok(cfg->wechat.push_token, ts_buf, nonce, NULL, sig)) {
            p->verdict = "bad_signature";
            p->error = "push_bad_signature";
            return;
        }
    }
    outer = r->body ? parse_body(r->body, r->body_len, xml) : NULL;
    if (!outer) {
        p->verdict = "bad_body";
        p->error = "push_bad_body";
        goto out;
    }
    enc = cJSON_GetObjectItemCaseSensitive(outer, "Encrypt");
    if (strcmp(etype, "aes") == 0) {
        if (!cJSON_IsString(enc) || !signature_ok(cfg->wechat.push_token, ts_buf, nonce,
                                                  enc->valuestring, msig)) {
            p->verdict = "bad_signature";
            p->error = "push_bad_signature";
            goto out;
        }
        /* Compatible mode carries the plaintext fields beside Encrypt. */
        if (cJSON_GetArraySize(outer) > 2)
            p->mode = "compat";
        if (!(ev = open_encrypted(p, outer, xml)))
            goto out;
    } else {
        ev = outer;   /* signature checked above */
        outer = NULL;
    }
    normalise(ev);
    describe(p, ev);
    p->verdict = "accepted";
out:
    cJSON_Delete(outer);
    cJSON_Delete(ev);
}

/* ---- the journal ---- */

/* Subscribe events move the consent ledger, in the journal's transaction. */
static int consent_from_payload(struct db_conn *c, struct push *p)
{
    cJSON *ev;
    int rc;

    if (strncmp(p->event, "subscribe_msg_", 14) != 0)
        return GY_OK;
    ev = cJSON_Parse(p->payload);
    rc = consent_from_push(c, p->openid, ev);
    cJSON_Delete(ev);
    return rc;
}

/* One journal row; KEY NULL for rows that must not dedupe (a NULL never
 * conflicts). Returns SQLITE_ROW when inserted, SQLITE_DONE when KEY was
 * already there, else the error. */
static int insert_event(struct db_conn *c, const struct push *p, const char *key, const char *payload)
{
    sqlite3_stmt *st = db_stmt(c, &push_sql, Q_INSERT);

    sqlite3_bind_int64(st, 1, clock_now());
    db_bind_text(st, 2, key);
    sqlite3_bind_text(st, 3, p->event, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, p->openid, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, p->mode, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, p->format, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 7, p->verdict, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, payload, -1, SQLITE_STATIC);
    return db_done(st, sqlite3_step(st));
}

static int journal(struct db_conn *c, void *arg)
{
    struct push *p = arg;
    int rc;

    if (!p->error) {
        rc = insert_event(c, p, p->dedupe, p->payload ? p->payload : "");
        if (rc == SQLITE_ROW)
            return consent_from_payload(c, p);
        if (rc != SQLITE_DONE)
            return db_fail(c, "push: cannot journal");
        p->verdict = "duplicate";   /* WeChat's retry of one we have */
    }
    /* Refused and duplicate pushes are journalled without a key. A refused
     * push's body is not kept: it is not known to come from WeChat. */
    rc = insert_event(c, p, NULL, p->error ? "" : p->payload);
    return rc == SQLITE_ROW ? GY_OK : db_fail(c, "push: cannot journal");
}

static void journalled(void *arg, int rc)
{
    struct push *p = arg;

    if (rc != 0)
        api_reply_error(p->r, "internal_error");
    else if (p->error)
        api_reply_error(p->r, p->error);
    else
        api_reply_raw(p->r, 200, "text/plain; charset=utf-8", "success", 7);
    push_free(p);
}

static bool configured(struct gy_req *r)
{
    if (!http_config()->wechat.push_token[0]) {
        api_reply_error(r, "push_not_configured");
        return false;
    }
    return true;
}

void push_post(struct gy_req *r)
{
    struct push *p;

    if (!configured(r))
        return;
    p = gy_calloc(1, sizeof *p);
    p->r = r;
    read_push(p);
    if (p->error)
        gy_log(LOG_WARN, "push refused: %s (%s, %s)", p->verdict, p->mode, p->format);
    writer_submit(journal, journalled, p);
}

/* GET: WeChat checks the URL when it is saved in the console. */
void push_verify(struct gy_req *r)
{
    char ts[32], nonce[80], sig[64], echo[256];
    const char *q;

    if (!configured(r))
        return;
    snprintf(ts, sizeof ts, "%s", (q = api_query(r, "timestamp")) ? q : "");
    snprintf(nonce, sizeof nonce, "%s", (q = api_query(r, "nonce")) ? q : "");
    snprintf(sig, sizeof sig, "%s", (q = api_query(r, "signature")) ? q : "");
    snprintf(echo, sizeof echo, "%s", (q = api_query(r, "echostr")) ? q : "");
    if (!fresh(ts)) {
        api_reply_error(r, "push_stale");
        return;
    }
    if (!signature_ok(http_config()->wechat.push_token, ts, nonce, NULL, sig)) {
        api_reply_error(r, "push_bad_signature");
        return;
    }
    api_reply_raw(r, 200, "text/plain; charset=utf-8", echo, strlen(echo));
}

/* ---- HR: the journal ---- */

void push_events_list(struct gy_req *r)
{
    const char *q;
    struct api_page page;
    char verdict[32] = "";
    sqlite3_stmt *st;
    cJSON *body, *list;

    if (api_page_params(r, 50, &page) != GY_OK)
        return;
    if ((q = api_query(r, "verdict")))
        snprintf(verdict, sizeof verdict, "%s", q);
    body = cJSON_CreateObject();
    list = cJSON_AddArrayToObject(body, "events");
    st = db_stmt(db_reader(), &push_sql, verdict[0] ? Q_LIST_VERDICT : Q_LIST);
    sqlite3_bind_int64(st, 1, page.before);
    if (verdict[0])
        sqlite3_bind_text(st, 2, verdict, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, page.limit);
    while (sqlite3_step(st) == SQLITE_ROW) {
        cJSON *o = cJSON_CreateObject();
        char when[32];
        const char *payload = (const char *)sqlite3_column_text(st, 7);

        page.last = sqlite3_column_int64(st, 0);
        clock_format(sqlite3_column_int64(st, 1), when);
        cJSON_AddNumberToObject(o, "id", (double)page.last);
        cJSON_AddStringToObject(o, "received_at", when);
        cJSON_AddStringToObject(o, "event", (const char *)sqlite3_column_text(st, 2));
        cJSON_AddStringToObject(o, "openid", (const char *)sqlite3_column_text(st, 3));
        cJSON_AddStringToObject(o, "mode", (const char *)sqlite3_column_text(st, 4));
        cJSON_AddStringToObject(o, "format", (const char *)sqlite3_column_text(st, 5));
        cJSON_AddStringToObject(o, "verdict", (const char *)sqlite3_column_text(st, 6));
        cJSON_AddItemToObject(o, "payload", *payload ? cJSON_Parse(payload) : cJSON_CreateNull());
        cJSON_AddItemToArray(list, o);
    }
    db_done(st, 0);
    api_reply_page(r, body, list, &page);
}
