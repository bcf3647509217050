/*
 * wx.h - the whole public API of Gongyou's WeChat client library.
 *
 * The library talks to api.weixin.qq.com (or wxsim) through one libcurl
 * multi handle driven by the caller's libevent loop: no call here ever
 * blocks. It knows nothing of server/: results go back through callbacks,
 * and what a daemon wants to count or log comes out through an observer.
 *
 * Threading: every function must be called on the thread that runs the
 * event_base given to wx_client_new(); callbacks run on that thread too.
 */
#ifndef GY_WX_H
#define GY_WX_H

#include <stddef.h>

struct event_base;
struct wx_client;

/* Settings of one client; strings are copied by wx_client_new(). */
struct wx_config {
    const char *appid;
    const char *secret;          /* never logged, never passed to the observer */
    const char *api_base;        /* "https://api.weixin.qq.com" or wxsim's URL, no trailing '/' */
    long connect_timeout_ms;     /* per attempt */
    long timeout_ms;             /* per attempt, whole transfer */
    int max_retries;             /* extra attempts on -1, transport errors, HTTP 5xx */
    long retry_base_ms;          /* first back-off; doubles each retry, +/-25% jitter */
    int token_classic;           /* 1: access token from /cgi-bin/token; 0: stable_token */
    long token_margin_s;         /* refresh this long before expiry (0 means 300) */
};

/* How a call ended. */
enum wx_status {
    WX_OK = 0,       /* HTTP 200, JSON body, errcode absent or 0 */
    WX_ERRCODE,      /* HTTP 200, JSON body with a non-zero errcode */
    WX_TRANSPORT,    /* DNS, connect, TLS, timeout, connection reset */
    WX_HTTP,         /* HTTP status other than 200 */
    WX_BADREPLY,     /* 200 but the body is not the JSON we expect */
    WX_INVALID       /* refused before sending: WeChat would refuse it too */
};

/* The outcome of one call, after any retries. Valid only during the callback. */
struct wx_result {
    enum wx_status status;
    long errcode;          /* WeChat's errcode; 0 when absent; -1 also stands for "busy" */
    long http_status;      /* 0 when no HTTP response was received */
    int attempts;          /* 1 + retries made */
    const char *errmsg;    /* WeChat's errmsg, or a description of the failure; never NULL */
    const char *rid;       /* WeChat's "rid: ..." taken from errmsg; "" when none */
};

/* What code2Session returns on success. */
struct wx_session {
    const char *openid;
    const char *unionid;     /* NULL when WeChat sent none */
    const char *session_key; /* secret: store server-side only, never log */
};

/*
 * Observer: called once per HTTP attempt (retries included) with the API's
 * short name ("jscode2session"), the errcode seen (0 on success, -1 for
 * transport errors and HTTP failures), the HTTP status (0 if none), the
 * time taken in milliseconds and WeChat's rid ("" if none). It never sees
 * a secret. May be NULL.
 */
typedef void wx_observer_fn(void *arg, const char *api, long errcode,
                            long http_status, double ms, const char *rid);

/*
 * Create a client on BASE. Returns NULL (and sets nothing) if curl cannot
 * be initialised. The caller frees it with wx_client_free().
 */
struct wx_client *wx_client_new(struct event_base *base, const struct wx_config *cfg);

/* Set the observer (see wx_observer_fn). */
void wx_client_set_observer(struct wx_client *c, wx_observer_fn *fn, void *arg);

/*
 * Abort every call in flight without calling its callback, and free the
 * client. Safe with NULL.
 */
void wx_client_free(struct wx_client *c);

/* Number of calls in flight (including ones waiting to retry). */
int wx_client_pending(const struct wx_client *c);

/*
 * True when this result is a transient failure that a later try might
 * cure: errcode -1, a transport error, HTTP 5xx. Pure function.
 */
int wx_result_is_transient(const struct wx_result *r);

/*
 * code2Session: GET /sns/jscode2session. CB is called exactly once, on
 * the loop thread, never from inside this call. On WX_OK, S is filled;
 * otherwise S is NULL. The pointers in R and S are valid only during the
 * callback: copy what you keep. JS_CODE is copied. Returns 0, or -1 if
 * the call could not be started (CB is then not called).
 */
typedef void wx_code2session_cb(void *arg, const struct wx_result *r,
                                const struct wx_session *s);
int wx_code2session(struct wx_client *c, const char *js_code,
                    wx_code2session_cb *cb, void *arg);

/*
 * Pure helpers, exposed for tests and for the server's own use.
 */

/* Copy the "rid: xxx" tail of an errmsg into OUT (empty if none). */
void wx_extract_rid(const char *errmsg, char *out, size_t outsz);

/*
 * Percent-encode S for a URL query value into OUT (RFC 3986 unreserved
 * characters kept). Returns the length, or -1 if OUTSZ is too small.
 */
int wx_url_escape(const char *s, char *out, size_t outsz);

/* ==== Access token (token.c) ====
 * One token per client, cached in memory and, through the store hooks, in
 * the caller's database, so a restart or a second process does not spend
 * quota. One refresh in flight at a time; other callers wait for it. When
 * an API answers 40001, 40014 or 42001 the token is dropped only if it is
 * still the one that failed; it is refreshed once and the call retried
 * once, never in a loop. */

struct wx_token_store {
    /* Fill TOKEN (TOKSZ bytes) and *EXPIRES_AT (Unix seconds) and return
     * 0, or return -1 when nothing is stored. Runs on the loop thread. */
    int (*load)(void *arg, char *token, size_t toksz, long long *expires_at);
    /* A fresh token was obtained: keep it (asynchronously is fine). */
    void (*save)(void *arg, const char *token, long long expires_at);
    void *arg;
};

/* Install the store (copied). Either hook may be NULL. */
void wx_client_set_token_store(struct wx_client *c, const struct wx_token_store *s);

/*
 * Get a valid access token. CB runs exactly once, from the loop, never
 * inside this call, with R->status WX_OK and TOKEN set, or with the token
 * API's failure and TOKEN NULL. TOKEN is valid only during the callback.
 * CB must not free the client. Returns 0, or -1 when it could not start
 * (CB then not called).
 */
typedef void wx_token_cb(void *arg, const struct wx_result *r, const char *token);
int wx_access_token(struct wx_client *c, wx_token_cb *cb, void *arg);

/* The token now cached (or "" if none) and its expiry, for tests and
 * /metrics; never log it. */
const char *wx_token_cached(const struct wx_client *c, long long *expires_at);

/* ==== Business APIs (api_*.c); each gets the access token itself ==== */

/* getuserphonenumber: the phone behind a code from the mini-program's
 * getPhoneNumber button. PHONE is the pure number ("13800001234"). */
typedef void wx_phone_cb(void *arg, const struct wx_result *r, const char *phone,
                         const char *country_code);
int wx_phone_number(struct wx_client *c, const char *code, wx_phone_cb *cb, void *arg);

/* msg_sec_check v2: is this text fit to show to others? */
enum wx_suggest { WX_SUGGEST_PASS = 0, WX_SUGGEST_REVIEW, WX_SUGGEST_RISKY };
struct wx_seccheck {
    enum wx_suggest suggest;
    long label;              /* 100 = normal; 20001 politics, 20002 porn ... */
    const char *trace_id;
};
typedef void wx_seccheck_cb(void *arg, const struct wx_result *r, const struct wx_seccheck *s);
/* SCENE: 1 profile, 2 comment, 3 forum, 4 social log. CONTENT is 1 to
 * 2500 characters (else WX_INVALID, no call made). */
int wx_msg_sec_check(struct wx_client *c, const char *openid, int scene, const char *content,
                     wx_seccheck_cb *cb, void *arg);

/* subscribeMessage.send. */
struct wx_data_item {
    const char *key;         /* "thing1", "time3" ... */
    const char *value;
};
struct wx_subscribe {
    const char *touser;      /* openid */
    const char *template_id;
    const char *page;        /* NULL: the card opens nothing */
    const char *state;       /* "developer" | "trial" | "formal"; NULL = formal */
    const char *lang;        /* NULL = zh_CN */
    const struct wx_data_item *data;
    size_t ndata;
};
/*
 * Every value is fitted with wx_field_fit() first; one that cannot be made
 * valid fails the send at once with WX_INVALID and an errmsg naming the
 * key (no 47003 from WeChat). Sends to one openid are serialised: a send
 * waits while another to the same openid is in flight (43108). MSGID is
 * WeChat's message id as text (it exceeds 2^53), "" when none came back.
 */
typedef void wx_send_cb(void *arg, const struct wx_result *r, const char *msgid);
int wx_subscribe_send(struct wx_client *c, const struct wx_subscribe *m, wx_send_cb *cb, void *arg);

/* getwxacodeunlimit: a PNG QR code whose scene tells the page where it was scanned. */
struct wx_qrcode {
    const char *scene;       /* 1..32 of [0-9A-Za-z!#$&'()*+,/:;=?@-._~] */
    const char *page;        /* no leading '/', no query; NULL = home page */
    int check_path;          /* 1: the page must exist in the released version */
    const char *env_version; /* "release" | "trial" | "develop"; NULL = release */
    int width;               /* 280..1280; 0 = 430 */
};
typedef void wx_qrcode_cb(void *arg, const struct wx_result *r, const unsigned char *png, size_t len);
int wx_qrcode_unlimited(struct wx_client *c, const struct wx_qrcode *q, wx_qrcode_cb *cb, void *arg);

/* True when SCENE is a valid QR scene (pure). */
int wx_qrcode_scene_ok(const char *scene);

/*
 * WeCom (企业微信) group robot: POST a markdown message to WEBHOOK, a full
 * URL such as https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY
 * (its key is a secret: never logged or passed to the observer). Errors:
 * 93000 bad webhook key, 45009 over the robot's 20 messages a minute (not
 * retried here: the caller waits for the next minute), -1 busy (retried).
 * MARKDOWN is 1..4096 bytes of UTF-8 (else WX_INVALID, no call made).
 * Observer api name "robot_send".
 */
typedef void wx_robot_cb(void *arg, const struct wx_result *r);
int wx_robot_send(struct wx_client *c, const char *webhook, const char *markdown,
                  wx_robot_cb *cb, void *arg);

/* ==== Message push and open data: signatures and encryption (crypto.c) ====
 * Pure functions over OpenSSL; see WECHAT.md section d and vectors V1-V6. */

enum wx_crypto_err {
    WX_CRYPTO_OK = 0,
    WX_CRYPTO_BASE64 = -1,   /* input is not valid base64 */
    WX_CRYPTO_LENGTH = -2,   /* ciphertext or embedded length is impossible */
    WX_CRYPTO_PADDING = -3,  /* a PKCS#7 pad byte is wrong */
    WX_CRYPTO_APPID = -4,    /* the appid tail / watermark does not match */
    WX_CRYPTO_CIPHER = -5,   /* OpenSSL refused */
    WX_CRYPTO_KEY = -6       /* the key (EncodingAESKey, session_key, iv) is malformed */
};

/* hex(sha1(concatenation of the N PARTS sorted bytewise)) into OUT (41
 * bytes with the NUL): the push "signature" over (token, timestamp, nonce)
 * and "msg_signature" over (token, timestamp, nonce, Encrypt). */
void wx_push_signature(const char *const *parts, size_t n, char out[41]);

/* Constant-time comparison of two NUL-terminated strings: 1 when equal. */
int wx_sig_equal(const char *a, const char *b);

/* The AES key of message push, from the 43-character EncodingAESKey. */
struct wx_push_key {
    unsigned char aes[32];
};
/* 0, or WX_CRYPTO_KEY when ENCODING_AES_KEY is not 43 chars of [A-Za-z0-9]
 * decoding to 32 bytes. */
int wx_push_key_parse(const char *encoding_aes_key, struct wx_push_key *k);

/*
 * Decrypt a push's "Encrypt" field (AES-256-CBC, IV = first 16 key bytes,
 * PKCS#7 padding to 32 bytes with every pad byte checked, layout
 * random16 | len32be | msg | appid). The length is checked before slicing
 * and the appid tail must equal APPID exactly. On success *MSG is a
 * malloc'd NUL-terminated copy of msg (caller frees) and *LEN its length;
 * on failure *MSG is NULL and a negative wx_crypto_err is returned.
 */
int wx_push_decrypt(const struct wx_push_key *k, const char *encrypt_b64, const char *appid,
                    char **msg, size_t *len);

/*
 * The reverse, for encrypted replies and for wxsim: RANDOM16 gives the 16
 * random bytes (NULL = fresh ones from the RNG). *B64 is malloc'd
 * (caller frees). Deterministic for a given RANDOM16 (vector V4).
 */
int wx_push_encrypt(const struct wx_push_key *k, const char *msg, size_t len, const char *appid,
                    const unsigned char *random16, char **b64);

/*
 * Open data (wx.getPhoneNumber's encryptedData of older clients):
 * AES-128-CBC with key = base64(SESSION_KEY), iv = base64(IV), PKCS#7 to
 * 16. When APPID is not NULL the plaintext must be a JSON object whose
 * watermark.appid equals it. *OUT is malloc'd plaintext (caller frees).
 */
int wx_open_data_decrypt(const char *session_key_b64, const char *iv_b64, const char *data_b64,
                         const char *appid, char **out);

/* rawData signature: hex(sha1(RAW + SESSION_KEY)) into OUT (vector V6). */
void wx_raw_signature(const char *raw, const char *session_key, char out[41]);

/* ==== Subscribe-message template data (fields.c) ====
 * WeChat checks every data value against a rule chosen by its key's
 * prefix ("thing1" -> thing, "time3" -> time ...); a value that breaks it
 * costs a 47003. We check and fit before sending instead. */

enum wx_field_type {
    WX_F_UNKNOWN = -1,
    WX_F_THING, WX_F_NUMBER, WX_F_LETTER, WX_F_SYMBOL, WX_F_CHARACTER_STRING, WX_F_TIME,
    WX_F_DATE, WX_F_AMOUNT, WX_F_PHONE_NUMBER, WX_F_CAR_NUMBER, WX_F_NAME, WX_F_PHRASE,
    WX_F_ENUM      /* must be one of the template's values: only basic checks here */
};

/* The rule of template key KEY ("thing12" -> WX_F_THING): the prefix must
 * be followed by digits only. WX_F_UNKNOWN when no rule matches. */
enum wx_field_type wx_field_type_of(const char *key);

/* The rule's name ("thing", "character_string" ...), for messages. */
const char *wx_field_type_name(enum wx_field_type t);

/*
 * Make VALUE acceptable for KEY. Lengths count characters (code points),
 * never bytes; cuts fall on code-point boundaries; where the rule allows
 * free text (thing, name) an over-long value is cut and ends in "…" so
 * the total still fits; newlines and control characters become spaces
 * where allowed. Values that cannot be made valid (empty, letters in a
 * number, an unparseable time ...) are refused.
 * Returns 0 with *OUT a malloc'd fitted value (caller frees), or -1 with
 * *OUT NULL and *WHY a static English reason ("empty", "not a number" ...).
 */
int wx_field_fit(const char *key, const char *value, char **out, const char **why);

#endif
