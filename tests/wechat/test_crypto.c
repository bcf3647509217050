/*
 * test_crypto.c - wechat/crypto.c against WeChat's official vectors V1-V6
 * (WECHAT.md) bit for bit, then against forged and tampered input: the
 * test encrypts its own plaintexts with OpenSSL directly (no padding, its
 * own pad bytes) so that every refusal path is reached on purpose.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "wx.h"
#include "wxtest.h"


/*==== Vectors (WECHAT.md "Test vectors") ====*/

#define TOKEN "AAAAA"
#define AESKEY43 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define V3_APPID "wxba5fad812f8e6fb9"
#define V3_TS "1714112445"
#define V3_NONCE "415670741"
#define V3_ENC "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus" \
    "8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMu" \
    "FUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb" \
    "6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04="
#define V3_MSG "{\"ToUserName\":\"gh_97417a04a28d\",\"FromUserName\":\"o9AgO5Kd5ggOC-bXrbNODIiE3bGY\"," \
    "\"CreateTime\":1714112445,\"MsgType\":\"event\",\"Event\":\"debug_demo\",\"debug_str\":\"hello world\"}"
#define V4_ENC "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="

#define V5_APPID "wx4f4bc4dec97d474b"
#define V5_KEY "tiihtNczf5v6AKRyjwEUhQ=="
#define V5_IV "r7BXXKkLb8qrSNn05n0qiA=="
#define V5_DATA "CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC" \
    "+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnE" \
    "tpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FR" \
    "AUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6" \
    "nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85" \
    "IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew=="
#define V5_PLAIN "{\"openId\":\"oGZUI0egBJY1zhBYw2KhdUfwVJJE\",\"nickName\":\"Band\",\"gender\":1," \
    "\"language\":\"zh_CN\",\"city\":\"Guangzhou\",\"province\":\"Guangdong\",\"country\":\"CN\"," \
    "\"avatarUrl\":\"http://wx.qlogo.cn/mmopen/vi_32/aSKcBBPpibyKNicHNTMM0qJVh8Kjgiak2AHWr8MHM4Wg" \
    "MEm7GFhsf8OYrySdbvAMvTsw3mo8ibKicsnfN5pRjl1p8HQ/0\",\"unionId\":\"ocMvos6NjeKLIBqg5Mr9QjxrP1FA\"," \
    "\"watermark\":{\"timestamp\":1477314187,\"appid\":\"wx4f4bc4dec97d474b\"}}"

/*==== Helpers: the test's own base64 and raw AES, independent of crypto.c ====*/

/* malloc'd base64 of N bytes at P. */
static char *b64enc(const unsigned char *p, size_t n)
{
    char *s = malloc(4 * ((n + 2) / 3) + 1);

    if (s)
        EVP_EncodeBlock((unsigned char *)s, p, (int)n);
    return s;
}

/* malloc'd bytes of canonical base64 S (no whitespace); *N its length. */
static unsigned char *b64dec(const char *s, size_t *n)
{
    size_t len = strlen(s);
    unsigned char *p = malloc(len / 4 * 3 + 1);
    int got;

    *n = 0;
    if (!p)
        return NULL;
    got = EVP_DecodeBlock(p, (const unsigned char *)s, (int)len);
    if (got < 0) {
        free(p);
        return NULL;
    }
    *n = (size_t)got - (len && s[len - 1] == '=') - (len > 1 && s[len - 2] == '=');
    return p;
}

/* Raw AES-CBC, no padding, of N (a multiple of 16) bytes. */
static int raw_aes(const EVP_CIPHER *c, const unsigned char *key, const unsigned char *iv, int enc,
                   const unsigned char *in, size_t n, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int l1 = 0, l2 = 0, ok;

    ok = ctx && EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
         EVP_CipherUpdate(ctx, out, &l1, in, (int)n) == 1 &&
         EVP_CipherFinal_ex(ctx, out + l1, &l2) == 1 && (size_t)(l1 + l2) == n;
    EVP_CIPHER_CTX_free(ctx);
    return ok ? 0 : -1;
}

static const unsigned char zero32[32];   /* the AES key of AESKEY43; its IV too */

/* base64 of the push ciphertext of plaintext PT (N bytes, already padded). */
static char *forge_push(const unsigned char *pt, size_t n)
{
    unsigned char *ct = malloc(n ? n : 1);
    char *s = NULL;

    if (ct && raw_aes(EVP_aes_256_cbc(), zero32, zero32, 1, pt, n, ct) == 0)
        s = b64enc(ct, n);
    free(ct);
    return s;
}

/*
 * Lay out random16 | LENFIELD (big-endian) | MSG | TAIL in BUF and return
 * the length. The caller adds the padding.
 */
static size_t push_body(unsigned char *buf, uint32_t lenfield, const char *msg, const char *tail)
{
    size_t ml = strlen(msg), tl = strlen(tail);

    memcpy(buf, "0123456789abcdef", 16);
    buf[16] = (unsigned char)(lenfield >> 24);
    buf[17] = (unsigned char)(lenfield >> 16);
    buf[18] = (unsigned char)(lenfield >> 8);
    buf[19] = (unsigned char)lenfield;
    memcpy(buf + 20, msg, ml);
    memcpy(buf + 20 + ml, tail, tl);
    return 20 + ml + tl;
}

/* Append COUNT bytes of VALUE; returns the new length. */
static size_t add_pad(unsigned char *buf, size_t n, size_t count, int value)
{
    memset(buf + n, value, count);
    return n + count;
}

/* Decrypt forged plaintext PT/N through wx_push_decrypt with APPID. */
static int try_push(const unsigned char *pt, size_t n, const char *appid, char **msg, size_t *len)
{
    struct wx_push_key k;
    char *enc = forge_push(pt, n);
    int rc;

    *msg = NULL;
    if (!enc || wx_push_key_parse(AESKEY43, &k) != 0) {
        free(enc);
        return 99;
    }
    rc = wx_push_decrypt(&k, enc, appid, msg, len);
    free(enc);
    return rc;
}

/* Like try_push but expects refusal RC, and that *MSG stays NULL. */
static int refused(const unsigned char *pt, size_t n, const char *appid)
{
    char *msg = (char *)1;
    size_t len = 7;
    int rc = try_push(pt, n, appid, &msg, &len);

    if (msg || len != 0) {
        free(msg);
        return 98;
    }
    return rc;
}

/*==== Vectors ====*/

static void test_v1_get_signature(void)
{
    const char *parts[] = {TOKEN, "1714036504", "1514711492"};
    char sig[41];

    wx_push_signature(parts, 3, sig);
    EXPECT(strcmp(sig, "f464b24fc39322e44b38aa78f5edd27bd1441696") == 0);
    EXPECT(wx_sig_equal(sig, "f464b24fc39322e44b38aa78f5edd27bd1441696"));
}

static void test_v2_post_signature(void)
{
    const char *parts[] = {TOKEN, "1714037059", "486452656"};
    char sig[41];

    wx_push_signature(parts, 3, sig);
    EXPECT(strcmp(sig, "899cf89e464efb63f54ddac96b0a0a235f53aa78") == 0);
}

static void test_v3_signatures(void)
{
    const char *p3[] = {TOKEN, V3_TS, V3_NONCE};
    const char *p4[] = {TOKEN, V3_TS, V3_NONCE, V3_ENC};
    char sig[41];

    wx_push_signature(p3, 3, sig);
    EXPECT(strcmp(sig, "6c5c811b55cc85e0e1b54100749188c20beb3f5d") == 0);
    wx_push_signature(p4, 4, sig);
    EXPECT(strcmp(sig, "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3") == 0);
}

static void test_v3_decrypt(void)
{
    struct wx_push_key k;
    char *msg = NULL, *wrapped;
    size_t len = 0, i, j, n = strlen(V3_ENC);

    EXPECT(wx_push_key_parse(AESKEY43, &k) == WX_CRYPTO_OK);
    EXPECT(memcmp(k.aes, zero32, 32) == 0);
    EXPECT(wx_push_decrypt(&k, V3_ENC, V3_APPID, &msg, &len) == WX_CRYPTO_OK);
    EXPECT(msg && len == 167 && strlen(V3_MSG) == 167);
    EXPECT(msg && strcmp(msg, V3_MSG) == 0);
    free(msg);

    /* LEN may be NULL. */
    msg = NULL;
    EXPECT(wx_push_decrypt(&k, V3_ENC, V3_APPID, &msg, NULL) == WX_CRYPTO_OK);
    EXPECT(msg && strcmp(msg, V3_MSG) == 0);
    free(msg);

    /* Whitespace anywhere in the base64 is stripped (documented choice). */
    wrapped = malloc(2 * n + 8);
    EXPECT(wrapped != NULL);
    if (!wrapped)
        return;
    j = 0;
    wrapped[j++] = ' ';
    for (i = 0; i < n; i++) {
        wrapped[j++] = V3_ENC[i];
        if (i % 20 == 19)
            wrapped[j++] = "\n \t\r\v\f"[i % 6];
    }
    wrapped[j++] = '\n';
    wrapped[j] = '\0';
    msg = NULL;
    EXPECT(wx_push_decrypt(&k, wrapped, V3_APPID, &msg, &len) == WX_CRYPTO_OK);
    EXPECT(msg && len == 167 && strcmp(msg, V3_MSG) == 0);
    free(msg);
    free(wrapped);

    /* The right message under another appid is refused. */
    msg = (char *)1;
    EXPECT(wx_push_decrypt(&k, V3_ENC, "wxba5fad812f8e6fb8", &msg, &len) == WX_CRYPTO_APPID);
    EXPECT(msg == NULL && len == 0);
}

static void test_v4_encrypt(void)
{
    struct wx_push_key k;
    const char *msg = "{\"demo_resp\":\"good luck\"}";
    const char *parts[4] = {TOKEN, "1713424427", "415670741", NULL};
    char *b64 = NULL, *back = NULL, sig[41];
    size_t len = 0;

    EXPECT(wx_push_key_parse(AESKEY43, &k) == 0);
    EXPECT(wx_push_encrypt(&k, msg, strlen(msg), V3_APPID,
                          (const unsigned char *)"707722b803182950", &b64) == WX_CRYPTO_OK);
    EXPECT(b64 && strcmp(b64, V4_ENC) == 0);
    parts[3] = b64 ? b64 : "";
    wx_push_signature(parts, 4, sig);
    EXPECT(strcmp(sig, "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1") == 0);
    EXPECT(wx_push_decrypt(&k, V4_ENC, V3_APPID, &back, &len) == WX_CRYPTO_OK);
    EXPECT(back && len == 25 && strcmp(back, msg) == 0);
    free(back);
    free(b64);
}

static void test_v5_open_data(void)
{
    char *out = NULL, *wrapped;
    size_t i, j, n = strlen(V5_DATA);

    EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, V5_DATA, V5_APPID, &out) == WX_CRYPTO_OK);
    EXPECT(out && strcmp(out, V5_PLAIN) == 0);
    free(out);

    out = NULL;
    EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, V5_DATA, NULL, &out) == WX_CRYPTO_OK);
    EXPECT(out && strcmp(out, V5_PLAIN) == 0);
    free(out);

    out = (char *)1;
    EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, V5_DATA, "wx4f4bc4dec97d474c", &out) == WX_CRYPTO_APPID);
    EXPECT(out == NULL);
    out = (char *)1;
    EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, V5_DATA, "", &out) == WX_CRYPTO_APPID);
    EXPECT(out == NULL);
    out = (char *)1;
    EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, V5_DATA, "wx4f4bc4dec97d474", &out) == WX_CRYPTO_APPID);
    EXPECT(out == NULL);

    /* Wrapped like the easywechat test file: newline plus leading spaces. */
    wrapped = malloc(2 * n + 8);
    EXPECT(wrapped != NULL);
    if (!wrapped)
        return;
    j = 0;
    for (i = 0; i < n; i++) {
        if (i % 64 == 0) {
            wrapped[j++] = '\n';
            memcpy(wrapped + j, "        ", 8);
            j += 8;
        }
        wrapped[j++] = V5_DATA[i];
    }
    wrapped[j] = '\0';
    out = NULL;
    EXPECT(wx_open_data_decrypt(" " V5_KEY "\n", V5_IV, wrapped, V5_APPID, &out) == WX_CRYPTO_OK);
    EXPECT(out && strcmp(out, V5_PLAIN) == 0);
    free(out);
    free(wrapped);
}

static void test_v6_raw_signature(void)
{
    char sig[41];

    wx_raw_signature("{\"nickName\":\"Band\",\"gender\":1,\"language\":\"zh_CN\",\"city\":\"Guangzhou\","
                     "\"province\":\"Guangdong\",\"country\":\"CN\",\"avatarUrl\":\"http://wx.qlogo.cn/"
                     "mmopen/vi_32/1vZvI39NWFQ9XM4LtQpFrQJ1xlgZxx3w7bQxKARol6503Iuswjjn6nIGBiaycAjAtpu"
                     "jxyzYsrztuuICqIM5ibXQ/0\"}",
                     "HyVFkGl5F5OQWJZZaNzBBg==", sig);
    EXPECT(strcmp(sig, "75e81ceda165f4ffa64f4068af58c64b8f54b88c") == 0);
}

/*==== Tampering ====*/

/* Flip bytes of V3's last three ciphertext blocks (they hold the appid
 * tail and the pad): every result must be refused, none may crash. */
static void test_v3_tampered(void)
{
    static const unsigned char masks[] = {0x01, 0x80, 0xff};
    struct wx_push_key k;
    unsigned char *ct;
    size_t n = 0, pos, m;
    int bad = 0, tries = 0;

    EXPECT(wx_push_key_parse(AESKEY43, &k) == 0);
    ct = b64dec(V3_ENC, &n);
    EXPECT(ct && n == 224);
    if (!ct || n != 224) {
        free(ct);
        return;
    }
    for (pos = n - 48; pos < n; pos++) {
        for (m = 0; m < sizeof masks; m++) {
            char *enc, *msg = (char *)1;
            size_t len = 7;
            int rc;

            ct[pos] ^= masks[m];
            enc = b64enc(ct, n);
            ct[pos] ^= masks[m];
            if (!enc) {
                bad++;
                continue;
            }
            rc = wx_push_decrypt(&k, enc, V3_APPID, &msg, &len);
            tries++;
            if (!(rc == WX_CRYPTO_PADDING || rc == WX_CRYPTO_LENGTH || rc == WX_CRYPTO_APPID) ||
                msg != NULL || len != 0) {
                fprintf(stderr, "flip 0x%02x at %zu: rc %d accepted\n", masks[m], pos, rc);
                bad++;
                if (msg != (char *)1)
                    free(msg);
            }
            free(enc);
        }
    }
    EXPECT(tries == 48 * 3);
    EXPECT(bad == 0);
    free(ct);
}

static void test_forged_padding(void)
{
    unsigned char buf[256];
    char *msg = NULL;
    size_t n, body, len = 0, i;

    /* Sanity: the forge itself decrypts: body 20+5+18 = 43, pad 21. */
    body = push_body(buf, 5, "hello", V3_APPID);
    n = add_pad(buf, body, 21, 21);
    EXPECT(n == 64);
    EXPECT(try_push(buf, n, V3_APPID, &msg, &len) == WX_CRYPTO_OK);
    EXPECT(msg && len == 5 && strcmp(msg, "hello") == 0);
    free(msg);

    /* Each pad byte in turn differs from the pad value. */
    for (i = 0; i < 21; i++) {
        buf[body + i] ^= 0x40;
        EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_PADDING);
        buf[body + i] ^= 0x40;
    }
    /* Off by one in value. All 21 bytes 20 is a valid 20-byte pad that
     * leaves a stray byte after the appid; 22 reaches into the appid. */
    add_pad(buf, body, 21, 20);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_APPID);
    add_pad(buf, body, 21, 22);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_PADDING);

    /* Pad value 0. */
    add_pad(buf, body, 21, 0);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_PADDING);

    /* Pad value 33: 33 bytes of 33, the rest a valid message. */
    body = push_body(buf, 11, "hello world", V3_APPID);   /* 49 */
    n = add_pad(buf, body, 47, 33);                        /* 96 */
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_PADDING);
    /* Pad value 255 and 16 < pad 17..32 accepted (32-byte pads are legal). */
    n = add_pad(buf, body, 47, 255);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_PADDING);

    /* A 32-byte pad of a 64-byte message: the largest legal one. */
    body = push_body(buf, 26, "abcdefghijklmnopqrstuvwxyz", V3_APPID);   /* 64 */
    n = add_pad(buf, body, 32, 32);
    msg = NULL;
    EXPECT(try_push(buf, n, V3_APPID, &msg, &len) == WX_CRYPTO_OK);
    EXPECT(msg && len == 26 && strcmp(msg, "abcdefghijklmnopqrstuvwxyz") == 0);
    free(msg);

    /* Pad value larger than the whole plaintext: 32 bytes, all 32 would be
     * fine as pad but leaves nothing; 16 bytes of 32 is a bad pad. */
    memset(buf, 32, 32);
    EXPECT(refused(buf, 32, V3_APPID) == WX_CRYPTO_LENGTH);
    memset(buf, 32, 16);
    EXPECT(refused(buf, 16, V3_APPID) == WX_CRYPTO_PADDING);
}

static void test_forged_length(void)
{
    unsigned char buf[256];
    char *msg = NULL;
    size_t n, body, len = 0;

    /* msg "hello" (5), tail appid (18): body 43, pad 21. */
    body = push_body(buf, 6, "hello", V3_APPID);
    n = add_pad(buf, body, 21, 21);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_APPID);  /* tail one short */
    push_body(buf, 5 + 18 + 1, "hello", V3_APPID);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_LENGTH); /* one past the data */
    push_body(buf, 1000, "hello", V3_APPID);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_LENGTH);
    push_body(buf, 0xffffffffu, "hello", V3_APPID);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_LENGTH);
    push_body(buf, 0x80000005u, "hello", V3_APPID);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_LENGTH);

    /* Exactly at the boundary: msg_len = total - 20 - appid_len. */
    push_body(buf, 5, "hello", V3_APPID);
    msg = NULL;
    EXPECT(try_push(buf, n, V3_APPID, &msg, &len) == WX_CRYPTO_OK);
    EXPECT(msg && len == 5 && memcmp(msg, "hello", 6) == 0);
    free(msg);

    /* With an empty appid the boundary is total - 20: the whole rest. */
    push_body(buf, 5 + 18, "hello", V3_APPID);
    msg = NULL;
    EXPECT(try_push(buf, n, "", &msg, &len) == WX_CRYPTO_OK);
    EXPECT(msg && len == 23 && strcmp(msg, "hello" V3_APPID) == 0);
    free(msg);

    /* Empty message, exact boundary. */
    body = push_body(buf, 0, "", V3_APPID);               /* 38 */
    n = add_pad(buf, body, 26, 26);
    msg = NULL;
    EXPECT(try_push(buf, n, V3_APPID, &msg, &len) == WX_CRYPTO_OK);
    EXPECT(msg && len == 0 && msg[0] == '\0');
    free(msg);

    /* Fewer than 20 bytes left after the pad. */
    memset(buf, 'x', 19);
    n = add_pad(buf, 19, 13, 13);
    EXPECT(refused(buf, n, "") == WX_CRYPTO_LENGTH);
}

static void test_forged_appid(void)
{
    static const char *tails[] = {
        "wxba5fad812f8e6fb8",      /* last char differs */
        "xxba5fad812f8e6fb9",      /* first char differs */
        "WXBA5FAD812F8E6FB9",      /* case differs */
        "wxba5fad812f8e6fb9x",     /* longer */
        "wxba5fad812f8e6fb",       /* shorter */
        "",                        /* empty */
    };
    unsigned char buf[256];
    size_t i, body, n;

    for (i = 0; i < sizeof tails / sizeof tails[0]; i++) {
        body = push_body(buf, 5, "hello", tails[i]);
        n = add_pad(buf, body, 32 - body % 32, (int)(32 - body % 32));
        EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_APPID);
    }
    /* A NUL inside the tail is not the appid either. */
    body = push_body(buf, 5, "hello", V3_APPID);
    buf[body - 1] = '\0';
    n = add_pad(buf, body, 21, 21);
    EXPECT(refused(buf, n, V3_APPID) == WX_CRYPTO_APPID);
    /* The empty appid wants an empty tail. */
    body = push_body(buf, 5, "hello", V3_APPID);
    n = add_pad(buf, body, 21, 21);
    EXPECT(refused(buf, n, "") == WX_CRYPTO_APPID);
}

static void test_base64_errors(void)
{
    static const char *bad[] = {
        "AAAAA",                   /* length not a multiple of 4 */
        "AAA",
        "AAAAAAAAAAAAAAAAAAAAAAA!",
        "AAAAAAAAAAAAAAAAAAAAAA-_", /* URL-safe alphabet */
        "AA=A",                    /* '=' inside */
        "A===",                    /* too many '=' */
        "====",
        "AAAA=AAA",
        "AAAAAAAAAAAAAAAAAAAAAAA\x80",
        "AAAAAAAAAAAAAAAAAAAAAA%3D",
    };
    struct wx_push_key k;
    char *msg, *out;
    size_t i, len;

    EXPECT(wx_push_key_parse(AESKEY43, &k) == 0);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg = (char *)1;
        EXPECT(wx_push_decrypt(&k, bad[i], V3_APPID, &msg, &len) == WX_CRYPTO_BASE64);
        EXPECT(msg == NULL);
        out = (char *)1;
        EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, bad[i], V5_APPID, &out) == WX_CRYPTO_BASE64);
        EXPECT(out == NULL);
    }
    /* V3 with one character replaced by '.' or with '=' mid-text. */
    {
        char enc[sizeof V3_ENC];

        memcpy(enc, V3_ENC, sizeof enc);
        enc[100] = '.';
        msg = (char *)1;
        EXPECT(wx_push_decrypt(&k, enc, V3_APPID, &msg, &len) == WX_CRYPTO_BASE64);
        EXPECT(msg == NULL);
        enc[100] = '=';
        EXPECT(wx_push_decrypt(&k, enc, V3_APPID, &msg, &len) == WX_CRYPTO_BASE64);
        /* Dropping the final '=' makes the length wrong. */
        memcpy(enc, V3_ENC, sizeof enc);
        enc[strlen(enc) - 1] = '\0';
        EXPECT(wx_push_decrypt(&k, enc, V3_APPID, &msg, &len) == WX_CRYPTO_BASE64);
    }
    /* Whitespace alone decodes to nothing: an impossible ciphertext. */
    EXPECT(wx_push_decrypt(&k, "", V3_APPID, &msg, &len) == WX_CRYPTO_LENGTH);
    EXPECT(wx_push_decrypt(&k, " \n ", V3_APPID, &msg, &len) == WX_CRYPTO_LENGTH);
}

static void test_ciphertext_length(void)
{
    static const size_t sizes[] = {1, 15, 17, 31, 33, 47, 223, 225};
    unsigned char raw[240];
    struct wx_push_key k;
    char *enc, *msg, *out;
    size_t i, len;

    memset(raw, 0x5a, sizeof raw);
    EXPECT(wx_push_key_parse(AESKEY43, &k) == 0);
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        enc = b64enc(raw, sizes[i]);
        EXPECT(enc != NULL);
        if (!enc)
            continue;
        msg = (char *)1;
        EXPECT(wx_push_decrypt(&k, enc, V3_APPID, &msg, &len) == WX_CRYPTO_LENGTH);
        EXPECT(msg == NULL);
        out = (char *)1;
        EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, enc, V5_APPID, &out) == WX_CRYPTO_LENGTH);
        EXPECT(out == NULL);
        free(enc);
    }
}

static void test_key_parse(void)
{
    static const char *bad[] = {
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",     /* 42 */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* 44 */
        "AAAAAAAAAAAAAAAAAAAA+AAAAAAAAAAAAAAAAAAAAAA",    /* '+' */
        "AAAAAAAAAAAAAAAAAAAA/AAAAAAAAAAAAAAAAAAAAAA",    /* '/' */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",    /* '=' */
        "AAAAAAAAAAAAAAAAAAAA AAAAAAAAAAAAAAAAAAAAAA",    /* space */
        " AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* 43 + space */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3", /* non-ASCII */
        "",
    };
    struct wx_push_key k;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(k.aes, 0x77, sizeof k.aes);
        EXPECT(wx_push_key_parse(bad[i], &k) == WX_CRYPTO_KEY);
        EXPECT(memcmp(k.aes, zero32, 32) == 0);     /* zeroed on failure */
    }
    EXPECT(wx_push_key_parse(NULL, &k) == WX_CRYPTO_KEY);
    EXPECT(wx_push_key_parse(AESKEY43, NULL) == WX_CRYPTO_KEY);

    /* A console-style key: the unused low bits of the last char are set
     * ('B' = 000001) and ignored, as WeChat's own samples do. */
    EXPECT(wx_push_key_parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFB", &k) == WX_CRYPTO_OK);
    {
        size_t n = 0;
        unsigned char *want = b64dec("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFA=", &n);

        EXPECT(want && n == 32 && memcmp(k.aes, want, 32) == 0);
        free(want);
    }
}

/* Messages of 0..70 bytes survive encrypt -> decrypt, and between them
 * they use every pad value 1..32 (checked on the raw plaintext). */
static void test_round_trip(void)
{
    struct wx_push_key k;
    unsigned char seen[33] = {0}, rnd[16];
    char msgbuf[80];
    size_t len, i, all = 1;

    EXPECT(wx_push_key_parse(AESKEY43, &k) == 0);
    for (len = 0; len <= 70; len++) {
        char *b64 = NULL, *back = NULL;
        size_t n = 0, got = 99, pad;
        unsigned char *ct, *pt;

        for (i = 0; i < len; i++)
            msgbuf[i] = (char)('a' + (len + i) % 26);
        if (len > 3)
            msgbuf[len / 2] = '\0';               /* binary-safe */
        memset(rnd, (int)len, sizeof rnd);
        EXPECT(wx_push_encrypt(&k, msgbuf, len, V3_APPID, rnd, &b64) == WX_CRYPTO_OK);
        if (!b64)
            continue;
        EXPECT(wx_push_decrypt(&k, b64, V3_APPID, &back, &got) == WX_CRYPTO_OK);
        EXPECT(back && got == len && memcmp(back, msgbuf, len) == 0 && back[len] == '\0');
        free(back);

        ct = b64dec(b64, &n);
        pad = 32 - (20 + len + 18) % 32;
        EXPECT(ct && n == 20 + len + 18 + pad && n % 32 == 0);
        pt = malloc(n ? n : 1);
        if (ct && pt && n && raw_aes(EVP_aes_256_cbc(), zero32, zero32, 0, ct, n, pt) == 0) {
            EXPECT(memcmp(pt, rnd, 16) == 0);
            EXPECT(pt[n - 1] == pad);
            for (i = 1; i <= pad; i++)
                EXPECT(pt[n - i] == pad);
            seen[pad] = 1;
        } else {
            EXPECT(0);
        }
        free(pt);
        free(ct);
        free(b64);
    }
    for (i = 1; i <= 32; i++)
        all &= seen[i];
    EXPECT(all);

    /* Fresh random bytes: two encryptions differ, both decrypt. */
    {
        char *a = NULL, *b = NULL, *ma = NULL, *mb = NULL;

        EXPECT(wx_push_encrypt(&k, "hi", 2, V3_APPID, NULL, &a) == WX_CRYPTO_OK);
        EXPECT(wx_push_encrypt(&k, "hi", 2, V3_APPID, NULL, &b) == WX_CRYPTO_OK);
        EXPECT(a && b && strcmp(a, b) != 0);
        EXPECT(wx_push_decrypt(&k, a ? a : "", V3_APPID, &ma, NULL) == WX_CRYPTO_OK);
        EXPECT(wx_push_decrypt(&k, b ? b : "", V3_APPID, &mb, NULL) == WX_CRYPTO_OK);
        EXPECT(ma && mb && strcmp(ma, "hi") == 0 && strcmp(mb, "hi") == 0);
        free(ma);
        free(mb);
        free(a);
        free(b);
    }
    /* NULL message of length 0 is fine. */
    {
        char *b64 = NULL, *m = NULL;

        EXPECT(wx_push_encrypt(&k, NULL, 0, V3_APPID, NULL, &b64) == WX_CRYPTO_OK);
        EXPECT(wx_push_decrypt(&k, b64 ? b64 : "", V3_APPID, &m, &len) == WX_CRYPTO_OK);
        EXPECT(m && len == 0);
        free(m);
        free(b64);
    }
}

static void test_sig_equal(void)
{
    EXPECT(wx_sig_equal("f464b24fc39322e44b38aa78f5edd27bd1441696",
                       "f464b24fc39322e44b38aa78f5edd27bd1441696") == 1);
    EXPECT(wx_sig_equal("f464b24fc39322e44b38aa78f5edd27bd1441696",
                       "f464b24fc39322e44b38aa78f5edd27bd1441697") == 0);
    EXPECT(wx_sig_equal("0464b24fc39322e44b38aa78f5edd27bd1441696",
                       "f464b24fc39322e44b38aa78f5edd27bd1441696") == 0);
    EXPECT(wx_sig_equal("f464b24fc39322e44b38aa78f5edd27bd1441696",
                       "F464B24FC39322E44B38AA78F5EDD27BD1441696") == 0);
    EXPECT(wx_sig_equal("f464b24fc39322e44b38aa78f5edd27bd144169",
                       "f464b24fc39322e44b38aa78f5edd27bd1441696") == 0);
    EXPECT(wx_sig_equal("f464b24fc39322e44b38aa78f5edd27bd1441696",
                       "f464b24fc39322e44b38aa78f5edd27bd14416960") == 0);
    EXPECT(wx_sig_equal("abc", "") == 0);
    EXPECT(wx_sig_equal("", "") == 0);           /* empty never matches */
    EXPECT(wx_sig_equal(NULL, "abc") == 0);
    EXPECT(wx_sig_equal("abc", NULL) == 0);
    EXPECT(wx_sig_equal(NULL, NULL) == 0);
}

/* sha1 hex of the plain concatenation of A..D (the reference). */
static void sha1_concat(const char *a, const char *b, const char *c, const char *d, char out[41])
{
    char buf[512];
    unsigned char md[20];
    unsigned mdlen = 0;
    size_t i;

    snprintf(buf, sizeof buf, "%s%s%s%s", a, b, c, d);
    EVP_Digest(buf, strlen(buf), md, &mdlen, EVP_sha1(), NULL);
    for (i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_signature_sort(void)
{
    const char *v3[4] = {TOKEN, V3_TS, V3_NONCE, V3_ENC};
    const char *perm[4];
    char sig[41], want[41];
    int a, b, c, d, count = 0, same = 0;

    /* All 24 orders of V3's four parts give its msg_signature. */
    for (a = 0; a < 4; a++)
        for (b = 0; b < 4; b++)
            for (c = 0; c < 4; c++)
                for (d = 0; d < 4; d++) {
                    if (a == b || a == c || a == d || b == c || b == d || c == d)
                        continue;
                    perm[0] = v3[a];
                    perm[1] = v3[b];
                    perm[2] = v3[c];
                    perm[3] = v3[d];
                    wx_push_signature(perm, 4, sig);
                    count++;
                    same += strcmp(sig, "046e02f8204d34f8ba5fa3b1db94908f3df2e9b3") == 0;
                }
    EXPECT(count == 24 && same == 24);

    /* Bytewise: a prefix sorts first, 'Z' < 'a', and a high byte
     * (UTF-8 "é") sorts after every ASCII byte. */
    {
        const char *p[] = {"ab", "\xc3\xa9", "a", "Z"};
        const char *q[] = {"\xc3\xa9", "Z", "ab", "a"};

        sha1_concat("Z", "a", "ab", "\xc3\xa9", want);
        wx_push_signature(p, 4, sig);
        EXPECT(strcmp(sig, want) == 0);
        wx_push_signature(q, 4, sig);
        EXPECT(strcmp(sig, want) == 0);
    }
    /* Equal parts, an empty part, no parts. */
    {
        const char *p[] = {"x", "", "x"};

        sha1_concat("", "x", "x", "", want);
        wx_push_signature(p, 3, sig);
        EXPECT(strcmp(sig, want) == 0);
        sha1_concat("", "", "", "", want);
        wx_push_signature(p, 0, sig);
        EXPECT(strcmp(sig, want) == 0);
        EXPECT(strcmp(want, "da39a3ee5e6b4b0d3255bfef95601890afd80709") == 0);
    }
    /* A NULL part fails closed: "" that never verifies. */
    {
        const char *p[] = {"x", NULL};

        wx_push_signature(p, 2, sig);
        EXPECT(sig[0] == '\0' && !wx_sig_equal(sig, ""));
        wx_raw_signature(NULL, "k", sig);
        EXPECT(sig[0] == '\0');
    }
}

/* Open data: forged plaintexts under V5's key and iv. */
static char *forge_open(const char *plain, size_t len, size_t padcount, int padval)
{
    unsigned char key[16], iv[16], buf[512], ct[512];
    size_t kn = 0, in = 0, n;
    unsigned char *k = b64dec(V5_KEY, &kn), *v = b64dec(V5_IV, &in);
    char *s = NULL;

    if (k && v && kn == 16 && in == 16 && len + padcount <= sizeof buf) {
        memcpy(key, k, 16);
        memcpy(iv, v, 16);
        memcpy(buf, plain, len);
        memset(buf + len, padval, padcount);
        n = len + padcount;
        if (n % 16 == 0 && raw_aes(EVP_aes_128_cbc(), key, iv, 1, buf, n, ct) == 0)
            s = b64enc(ct, n);
    }
    free(k);
    free(v);
    return s;
}

/* Decrypt forged open data; returns the code, frees any output. */
static int open_rc(const char *plain, size_t len, size_t padcount, int padval, const char *appid)
{
    char *enc = forge_open(plain, len, padcount, padval), *out = (char *)1;
    int rc;

    if (!enc)
        return 99;
    rc = wx_open_data_decrypt(V5_KEY, V5_IV, enc, appid, &out);
    free(enc);
    if (rc != WX_CRYPTO_OK && out != NULL)
        return 98;
    if (rc == WX_CRYPTO_OK)
        free(out);
    return rc;
}

/* open_rc() of the string PLAIN with correct padding. */
static int open_auto(const char *plain, const char *appid)
{
    size_t len = strlen(plain), pad = 16 - len % 16;

    return open_rc(plain, len, pad, (int)pad, appid);
}

static void test_open_data_errors(void)
{
    static const char nul_inside[] = "{\"watermark\":{\"appid\":\"" V5_APPID "\"}}\0xy";
    const char *good = "{\"watermark\":{\"appid\":\"" V5_APPID "\"}}";
    size_t gl = strlen(good), pad = 16 - gl % 16, i;
    char *out;

    EXPECT(open_auto(good, V5_APPID) == WX_CRYPTO_OK);
    EXPECT(open_auto("{\"a\":[1,2],\"watermark\":{\"timestamp\":1,\"appid\":\"wx1\"}}", "wx1") ==
          WX_CRYPTO_OK);
    /* A full block of pad (16) is legal; 17 and 0 are not. */
    EXPECT(open_rc("0123456789abcdef", 16, 16, 16, NULL) == WX_CRYPTO_OK);
    EXPECT(open_rc("0123456789abcde", 15, 17, 17, NULL) == WX_CRYPTO_PADDING);
    EXPECT(open_rc("0123456789abcdef", 16, 16, 0, NULL) == WX_CRYPTO_PADDING);
    EXPECT(open_rc("0123456789abcdef", 16, 16, 32, NULL) == WX_CRYPTO_PADDING);
    /* Each pad byte in turn wrong. */
    for (i = 0; i < pad; i++) {
        char buf[64];
        char *enc;

        memcpy(buf, good, gl);
        memset(buf + gl, (int)pad, pad);
        buf[gl + i] ^= 0x20;
        enc = forge_open(buf, gl + pad, 0, 0);
        out = (char *)1;
        EXPECT(enc && wx_open_data_decrypt(V5_KEY, V5_IV, enc, V5_APPID, &out) == WX_CRYPTO_PADDING);
        EXPECT(out == NULL);
        free(enc);
    }
    /* Good pad, bad JSON or watermark. */
    EXPECT(open_auto("not json at all!", V5_APPID) == WX_CRYPTO_APPID);
    EXPECT(open_auto("not json at all!", NULL) == WX_CRYPTO_OK);
    EXPECT(open_auto("{\"appid\":\"" V5_APPID "\"}", V5_APPID) == WX_CRYPTO_APPID);
    EXPECT(open_auto("{\"watermark\":\"" V5_APPID "\"}", V5_APPID) == WX_CRYPTO_APPID);
    EXPECT(open_auto("{\"watermark\":{\"appid\":1}}", V5_APPID) == WX_CRYPTO_APPID);
    EXPECT(open_auto("{\"watermark\":{\"Appid\":\"" V5_APPID "\"}}", V5_APPID) == WX_CRYPTO_APPID);
    EXPECT(open_auto("[{\"watermark\":{\"appid\":\"" V5_APPID "\"}}]", V5_APPID) == WX_CRYPTO_APPID);
    EXPECT(open_auto("{\"watermark\":{\"appid\":\"" V5_APPID "\"}} x", V5_APPID) == WX_CRYPTO_APPID);
    EXPECT(open_auto("{\"watermark\":{\"appid\":\"" V5_APPID "\"}", V5_APPID) == WX_CRYPTO_APPID);
    EXPECT(open_rc(nul_inside, sizeof nul_inside - 1, 16 - (sizeof nul_inside - 1) % 16,
                  (int)(16 - (sizeof nul_inside - 1) % 16), V5_APPID) == WX_CRYPTO_APPID);

    /* Keys and ivs that are not 16 bytes of base64. */
    out = (char *)1;
    EXPECT(wx_open_data_decrypt("tiihtNczf5v6AKRyjwEU", V5_IV, V5_DATA, NULL, &out) == WX_CRYPTO_KEY);
    EXPECT(out == NULL);
    EXPECT(wx_open_data_decrypt("tiihtNczf5v6AKRyjwEUhQ=!", V5_IV, V5_DATA, NULL, &out) == WX_CRYPTO_KEY);
    EXPECT(wx_open_data_decrypt("", V5_IV, V5_DATA, NULL, &out) == WX_CRYPTO_KEY);
    EXPECT(wx_open_data_decrypt(V5_KEY "AAAA", V5_IV, V5_DATA, NULL, &out) == WX_CRYPTO_KEY);
    EXPECT(wx_open_data_decrypt(V5_KEY, "r7BXXKkLb8qrSNn05n0q", V5_DATA, NULL, &out) == WX_CRYPTO_KEY);
    EXPECT(wx_open_data_decrypt(V5_KEY, "r7BXXKkLb8qrSNn05n0qiA", V5_DATA, NULL, &out) == WX_CRYPTO_KEY);
    EXPECT(wx_open_data_decrypt(NULL, V5_IV, V5_DATA, NULL, &out) == WX_CRYPTO_KEY);
    EXPECT(wx_open_data_decrypt(V5_KEY, NULL, V5_DATA, NULL, &out) == WX_CRYPTO_KEY);
    EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, NULL, NULL, &out) == WX_CRYPTO_BASE64);
    EXPECT(out == NULL);
    EXPECT(wx_open_data_decrypt(V5_KEY, V5_IV, V5_DATA, NULL, NULL) == WX_CRYPTO_CIPHER);

    /* Tampered V5: flip the pad byte through the previous block. */
    {
        size_t n = 0;
        unsigned char *ct = b64dec(V5_DATA, &n);
        char *enc;

        EXPECT(ct && n >= 32 && n % 16 == 0);
        if (ct && n >= 32) {
            ct[n - 17] ^= 0x01;
            enc = b64enc(ct, n);
            out = (char *)1;
            EXPECT(enc && wx_open_data_decrypt(V5_KEY, V5_IV, enc, NULL, &out) == WX_CRYPTO_PADDING);
            EXPECT(out == NULL);
            free(enc);
        }
        free(ct);
    }
    /* A different (valid) session key: refused, never accepted. */
    {
        int rc;

        out = (char *)1;
        rc = wx_open_data_decrypt("HyVFkGl5F5OQWJZZaNzBBg==", V5_IV, V5_DATA, V5_APPID, &out);
        EXPECT(rc == WX_CRYPTO_PADDING || rc == WX_CRYPTO_APPID);
        EXPECT(out == NULL);
    }
}

static void test_null_args(void)
{
    struct wx_push_key k;
    char *s = (char *)1;
    size_t len = 7;

    EXPECT(wx_push_key_parse(AESKEY43, &k) == 0);
    EXPECT(wx_push_decrypt(NULL, V3_ENC, V3_APPID, &s, &len) == WX_CRYPTO_KEY);
    EXPECT(s == NULL && len == 0);
    EXPECT(wx_push_decrypt(&k, NULL, V3_APPID, &s, &len) == WX_CRYPTO_BASE64);
    EXPECT(wx_push_decrypt(&k, V3_ENC, NULL, &s, &len) == WX_CRYPTO_APPID);
    EXPECT(wx_push_decrypt(&k, V3_ENC, V3_APPID, NULL, &len) == WX_CRYPTO_CIPHER);
    s = (char *)1;
    EXPECT(wx_push_encrypt(NULL, "x", 1, V3_APPID, NULL, &s) == WX_CRYPTO_KEY);
    EXPECT(s == NULL);
    EXPECT(wx_push_encrypt(&k, "x", 1, NULL, NULL, &s) == WX_CRYPTO_APPID);
    EXPECT(wx_push_encrypt(&k, NULL, 1, V3_APPID, NULL, &s) == WX_CRYPTO_LENGTH);
    EXPECT(wx_push_encrypt(&k, "x", 1, V3_APPID, NULL, NULL) == WX_CRYPTO_CIPHER);
    EXPECT(s == NULL);
}

static const struct wxt_test tests[] = {
    {"v1_get_signature", NULL, test_v1_get_signature},
    {"v2_post_signature", NULL, test_v2_post_signature},
    {"v3_signatures", NULL, test_v3_signatures},
    {"v3_decrypt", NULL, test_v3_decrypt},
    {"v4_encrypt", NULL, test_v4_encrypt},
    {"v5_open_data", NULL, test_v5_open_data},
    {"v6_raw_signature", NULL, test_v6_raw_signature},
    {"v3_tampered", NULL, test_v3_tampered},
    {"forged_padding", NULL, test_forged_padding},
    {"forged_length", NULL, test_forged_length},
    {"forged_appid", NULL, test_forged_appid},
    {"base64_errors", NULL, test_base64_errors},
    {"ciphertext_length", NULL, test_ciphertext_length},
    {"key_parse", NULL, test_key_parse},
    {"round_trip", NULL, test_round_trip},
    {"sig_equal", NULL, test_sig_equal},
    {"signature_sort", NULL, test_signature_sort},
    {"open_data_errors", NULL, test_open_data_errors},
    {"null_args", NULL, test_null_args},
};

int main(void)
{
    return wxt_run(tests, sizeof tests / sizeof tests[0], NULL) ? 1 : 0;
}
