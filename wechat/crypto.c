/*
 * crypto.c - the cryptography of message push and open data: the push
 * signatures, the WXBizMsgCrypt AES-256-CBC envelope of safe-mode pushes
 * (both ways), open-data (encryptedData) decryption with its watermark
 * check, and the rawData signature. Pure functions over OpenSSL 3 EVP and
 * cJSON: no I/O, no state, plain malloc/free. It does not parse push
 * bodies or judge timestamps; callers do (WECHAT.md section d, V1-V6).
 *
 * Decisions:
 * - Base64 input: ASCII whitespace (space \t \n \v \f \r) anywhere in it
 *   is stripped before decoding, because a test source wraps base64 with
 *   spaces. What is left must be a multiple of 4 long, of [A-Za-z0-9+/]
 *   only, with at most two '=' and only at the end, else
 *   WX_CRYPTO_BASE64. Unused low bits of the last symbol are ignored, as
 *   common decoders do; console-made EncodingAESKeys rely on that.
 * - PKCS#7: every pad byte is checked, with no early exit. Push pads are
 *   1..32 (WXBizMsgCrypt pads to 32 bytes, not AES's 16); open data 1..16.
 * - Push plaintext random16 | len32be | msg | appid: msg_len is checked
 *   against the bytes that follow it before anything is sliced
 *   (WX_CRYPTO_LENGTH); the rest must then be exactly APPID, no longer
 *   and no shorter (WX_CRYPTO_APPID).
 * - Buffers that held keys, base64 keys or plaintext are wiped with
 *   OPENSSL_cleanse() before free().
 * - Out of memory is reported as WX_CRYPTO_CIPHER. A signature function
 *   that fails writes "", and wx_sig_equal() never matches "", so a
 *   failure can never verify.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "wx.h"

#define AES_BLOCK 16
#define PUSH_BLOCK 32                 /* push pads to 32 bytes */
#define PUSH_HEAD 20                  /* random16 | len32be */
#define SHA1_LEN 20
#define DATA_MAX ((size_t)1 << 28)    /* longest base64 text or push message taken */

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_alnum(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static int is_b64(unsigned char c)
{
    return is_alnum(c) || c == '+' || c == '/';
}

/* Wipe N bytes at P and free P; safe with NULL. */
static void free_secret(void *p, size_t n)
{
    if (p) {
        OPENSSL_cleanse(p, n);
        free(p);
    }
}

/* Lower-case hex of a SHA-1 digest into OUT (41 bytes with the NUL). */
static void hex_sha1(const unsigned char md[SHA1_LEN], char out[41])
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < SHA1_LEN; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0x0f];
    }
    out[2 * SHA1_LEN] = '\0';
}

/*
 * Decode base64 IN (rules at the top of the file) into *OUT, a malloc'd
 * buffer of *OUTLEN bytes (never NULL on success, even when empty). The
 * caller wipes and frees it with free_secret(*OUT, *OUTLEN); the bytes
 * past *OUTLEN are already wiped. Returns 0, WX_CRYPTO_BASE64,
 * WX_CRYPTO_LENGTH (text over DATA_MAX) or WX_CRYPTO_CIPHER (no memory);
 * *OUT is NULL and *OUTLEN 0 on failure.
 */
static int b64_decode(const char *in, unsigned char **out, size_t *outlen)
{
    char *text = NULL;
    unsigned char *bin = NULL;
    size_t inlen, n = 0, pads = 0, cap = 0, i;
    int rc;

    *out = NULL;
    *outlen = 0;
    inlen = strlen(in);
    if (inlen > DATA_MAX) {
        rc = WX_CRYPTO_LENGTH;
        goto out;
    }
    text = malloc(inlen + 1);
    if (!text) {
        rc = WX_CRYPTO_CIPHER;
        goto out;
    }
    for (i = 0; i < inlen; i++)
        if (!is_space((unsigned char)in[i]))
            text[n++] = in[i];
    text[n] = '\0';

    rc = WX_CRYPTO_BASE64;
    if (n % 4 != 0)
        goto out;
    if (n > 0 && text[n - 1] == '=') {
        pads = 1;
        if (text[n - 2] == '=')
            pads = 2;
    }
    for (i = 0; i < n - pads; i++)
        if (!is_b64((unsigned char)text[i]))
            goto out;

    cap = n / 4 * 3;
    bin = malloc(cap ? cap : 1);
    if (!bin) {
        rc = WX_CRYPTO_CIPHER;
        goto out;
    }
    /* EVP_DecodeBlock turns each '=' into a zero byte; drop those below. */
    if (n > 0 && EVP_DecodeBlock(bin, (const unsigned char *)text, (int)n) != (int)cap)
        goto out;
    OPENSSL_cleanse(bin + cap - pads, pads);
    *out = bin;
    *outlen = cap - pads;
    bin = NULL;
    rc = WX_CRYPTO_OK;
out:
    free_secret(bin, cap);
    free_secret(text, inlen + 1);
    return rc;
}

/*
 * AES-CBC of N bytes (a multiple of 16) from IN to OUT, without OpenSSL's
 * padding: the callers pad and unpad themselves. ENC is 1 to encrypt, 0
 * to decrypt. Returns 0, WX_CRYPTO_LENGTH or WX_CRYPTO_CIPHER.
 */
static int aes_cbc(const EVP_CIPHER *cipher, const unsigned char *key, const unsigned char *iv,
                   int enc, const unsigned char *in, size_t n, unsigned char *out)
{
    EVP_CIPHER_CTX *ctx = NULL;
    int l1 = 0, l2 = 0;
    int rc = WX_CRYPTO_LENGTH;

    if (n == 0 || n % AES_BLOCK != 0 || n > INT_MAX)
        goto out;
    rc = WX_CRYPTO_CIPHER;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx)
        goto out;
    if (EVP_CipherInit_ex(ctx, cipher, NULL, key, iv, enc) != 1)
        goto out;
    if (EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
        goto out;
    if (EVP_CipherUpdate(ctx, out, &l1, in, (int)n) != 1)
        goto out;
    if (EVP_CipherFinal_ex(ctx, out + l1, &l2) != 1)
        goto out;
    if ((size_t)l1 + (size_t)l2 != n)
        goto out;
    rc = WX_CRYPTO_OK;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/*
 * Check the PKCS#7 padding of BUF (N > 0 bytes) to blocks of BLOCK bytes:
 * the pad value is 1..BLOCK and at most N, and every pad byte equals it
 * (all compared, no early exit). Sets *PLAIN to N minus the pad. Returns
 * 0 or WX_CRYPTO_PADDING.
 */
static int unpad(const unsigned char *buf, size_t n, unsigned block, size_t *plain)
{
    unsigned pad = buf[n - 1], diff = 0;
    size_t i;
    int rc = WX_CRYPTO_PADDING;

    if (pad < 1 || pad > block || pad > n)
        goto out;
    for (i = 1; i <= pad; i++)
        diff |= buf[n - i] ^ pad;
    if (diff != 0)
        goto out;
    *plain = n - pad;
    rc = WX_CRYPTO_OK;
out:
    return rc;
}

static int cmp_part(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorting is bytewise: strcmp compares as unsigned char. */
void wx_push_signature(const char *const *parts, size_t n, char out[41])
{
    const char **sorted = NULL;
    EVP_MD_CTX *ctx = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    size_t i;

    out[0] = '\0';
    if (!parts && n > 0)
        goto out;
    if (n > SIZE_MAX / sizeof *sorted)
        goto out;
    sorted = malloc(n ? n * sizeof *sorted : 1);
    if (!sorted)
        goto out;
    for (i = 0; i < n; i++) {
        if (!parts[i])
            goto out;
        sorted[i] = parts[i];
    }
    if (n > 1)
        qsort(sorted, n, sizeof *sorted, cmp_part);
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1)
        goto out;
    for (i = 0; i < n; i++)
        if (EVP_DigestUpdate(ctx, sorted[i], strlen(sorted[i])) != 1)
            goto out;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != SHA1_LEN)
        goto out;
    hex_sha1(md, out);
out:
    EVP_MD_CTX_free(ctx);
    free(sorted);
}

/* Strings of different lengths are unequal without looking at content;
 * an empty or NULL string never matches (see the top of the file). */
int wx_sig_equal(const char *a, const char *b)
{
    size_t la, lb;
    int eq = 0;

    if (!a || !b)
        goto out;
    la = strlen(a);
    lb = strlen(b);
    if (la == 0 || la != lb)
        goto out;
    eq = CRYPTO_memcmp(a, b, la) == 0;
out:
    return eq;
}

/* AESKey = base64_decode(EncodingAESKey + "="). On failure K is zeroed. */
int wx_push_key_parse(const char *encoding_aes_key, struct wx_push_key *k)
{
    char text[44 + 1];
    unsigned char *raw = NULL;
    size_t rawlen = 0, i;
    int rc = WX_CRYPTO_KEY;

    memset(text, 0, sizeof text);
    if (!k)
        goto out;
    OPENSSL_cleanse(k->aes, sizeof k->aes);
    if (!encoding_aes_key)
        goto out;
    for (i = 0; i < 43; i++)        /* stops at the NUL of a short key */
        if (!is_alnum((unsigned char)encoding_aes_key[i]))
            goto out;
    if (encoding_aes_key[43] != '\0')
        goto out;
    memcpy(text, encoding_aes_key, 43);
    text[43] = '=';
    if (b64_decode(text, &raw, &rawlen) != WX_CRYPTO_OK || rawlen != sizeof k->aes)
        goto out;
    memcpy(k->aes, raw, sizeof k->aes);
    rc = WX_CRYPTO_OK;
out:
    free_secret(raw, rawlen);
    OPENSSL_cleanse(text, sizeof text);
    return rc;
}

/*
 * NULL arguments: K gives WX_CRYPTO_KEY, ENCRYPT_B64 WX_CRYPTO_BASE64,
 * APPID WX_CRYPTO_APPID, MSG WX_CRYPTO_CIPHER (nowhere to put the
 * result). LEN may be NULL.
 */
int wx_push_decrypt(const struct wx_push_key *k, const char *encrypt_b64, const char *appid,
                    char **msg, size_t *len)
{
    unsigned char *ct = NULL, *pt = NULL;
    size_t n = 0, plain = 0, msg_len, tail;
    int rc;

    if (msg)
        *msg = NULL;
    if (len)
        *len = 0;
    rc = WX_CRYPTO_OK;
    if (!k)
        rc = WX_CRYPTO_KEY;
    else if (!encrypt_b64)
        rc = WX_CRYPTO_BASE64;
    else if (!appid)
        rc = WX_CRYPTO_APPID;
    else if (!msg)
        rc = WX_CRYPTO_CIPHER;
    if (rc != WX_CRYPTO_OK)
        goto out;
    rc = b64_decode(encrypt_b64, &ct, &n);
    if (rc != WX_CRYPTO_OK)
        goto out;
    rc = WX_CRYPTO_LENGTH;
    if (n == 0 || n % AES_BLOCK != 0)
        goto out;
    pt = malloc(n);
    if (!pt) {
        rc = WX_CRYPTO_CIPHER;
        goto out;
    }
    rc = aes_cbc(EVP_aes_256_cbc(), k->aes, k->aes, 0, ct, n, pt);
    if (rc != WX_CRYPTO_OK)
        goto out;
    rc = unpad(pt, n, PUSH_BLOCK, &plain);
    if (rc != WX_CRYPTO_OK)
        goto out;

    /* Length first, slicing after. */
    rc = WX_CRYPTO_LENGTH;
    if (plain < PUSH_HEAD)
        goto out;
    msg_len = (size_t)pt[16] << 24 | (size_t)pt[17] << 16 | (size_t)pt[18] << 8 | pt[19];
    if (msg_len > plain - PUSH_HEAD)
        goto out;
    tail = plain - PUSH_HEAD - msg_len;
    rc = WX_CRYPTO_APPID;
    if (tail != strlen(appid) || memcmp(pt + PUSH_HEAD + msg_len, appid, tail) != 0)
        goto out;

    *msg = malloc(msg_len + 1);
    if (!*msg) {
        rc = WX_CRYPTO_CIPHER;
        goto out;
    }
    memcpy(*msg, pt + PUSH_HEAD, msg_len);
    (*msg)[msg_len] = '\0';
    if (len)
        *len = msg_len;
    rc = WX_CRYPTO_OK;
out:
    free_secret(pt, n);
    free(ct);                     /* ciphertext: nothing to wipe */
    return rc;
}

/*
 * NULL arguments: K gives WX_CRYPTO_KEY, APPID WX_CRYPTO_APPID, B64
 * WX_CRYPTO_CIPHER; MSG may be NULL only when LEN is 0. A message over
 * DATA_MAX bytes gives WX_CRYPTO_LENGTH. *B64 is NULL on failure.
 */
int wx_push_encrypt(const struct wx_push_key *k, const char *msg, size_t len, const char *appid,
                    const unsigned char *random16, char **b64)
{
    unsigned char *pt = NULL, *ct = NULL;
    char *text = NULL;
    size_t appid_len, plain, pad, n = 0, textlen;
    int rc;

    if (b64)
        *b64 = NULL;
    rc = WX_CRYPTO_OK;
    if (!k)
        rc = WX_CRYPTO_KEY;
    else if (!appid)
        rc = WX_CRYPTO_APPID;
    else if (!b64)
        rc = WX_CRYPTO_CIPHER;
    else if (!msg && len > 0)
        rc = WX_CRYPTO_LENGTH;
    if (rc != WX_CRYPTO_OK)
        goto out;
    appid_len = strlen(appid);
    rc = WX_CRYPTO_LENGTH;
    if (len > DATA_MAX || len > UINT32_MAX || appid_len > DATA_MAX)
        goto out;
    plain = PUSH_HEAD + len + appid_len;
    pad = PUSH_BLOCK - plain % PUSH_BLOCK;         /* 1..32 */
    n = plain + pad;
    textlen = 4 * ((n + 2) / 3);

    rc = WX_CRYPTO_CIPHER;
    pt = malloc(n);
    ct = malloc(n);
    text = malloc(textlen + 1);
    if (!pt || !ct || !text)
        goto out;
    if (random16)
        memcpy(pt, random16, 16);
    else if (RAND_bytes(pt, 16) != 1)
        goto out;
    pt[16] = (unsigned char)(len >> 24);
    pt[17] = (unsigned char)(len >> 16);
    pt[18] = (unsigned char)(len >> 8);
    pt[19] = (unsigned char)len;
    if (len > 0)
        memcpy(pt + PUSH_HEAD, msg, len);
    memcpy(pt + PUSH_HEAD + len, appid, appid_len);
    memset(pt + plain, (int)pad, pad);
    rc = aes_cbc(EVP_aes_256_cbc(), k->aes, k->aes, 1, pt, n, ct);
    if (rc != WX_CRYPTO_OK)
        goto out;
    rc = WX_CRYPTO_CIPHER;
    if (EVP_EncodeBlock((unsigned char *)text, ct, (int)n) != (int)textlen)
        goto out;
    *b64 = text;
    text = NULL;
    rc = WX_CRYPTO_OK;
out:
    free(text);
    free(ct);
    free_secret(pt, n);
    return rc;
}

/*
 * True when TEXT (LEN bytes, NUL-terminated) is exactly one JSON object
 * whose watermark.appid is the string APPID.
 */
static int watermark_ok(const char *text, size_t len, const char *appid)
{
    cJSON *root = NULL;
    const cJSON *wm, *id;
    int ok = 0;

    if (strlen(text) != len)      /* a NUL inside is not JSON text */
        goto out;
    root = cJSON_ParseWithOpts(text, NULL, 1);
    if (!cJSON_IsObject(root))
        goto out;
    wm = cJSON_GetObjectItemCaseSensitive(root, "watermark");
    if (!cJSON_IsObject(wm))
        goto out;
    id = cJSON_GetObjectItemCaseSensitive(wm, "appid");
    if (!cJSON_IsString(id) || strcmp(id->valuestring, appid) != 0)
        goto out;
    ok = 1;
out:
    cJSON_Delete(root);
    return ok;
}

/*
 * A session_key or iv that is NULL, not base64 or not 16 bytes gives
 * WX_CRYPTO_KEY; NULL DATA_B64 WX_CRYPTO_BASE64; NULL OUT
 * WX_CRYPTO_CIPHER. Plaintext that is not an object with the right
 * watermark.appid gives WX_CRYPTO_APPID. *OUT is NULL on failure.
 */
int wx_open_data_decrypt(const char *session_key_b64, const char *iv_b64, const char *data_b64,
                         const char *appid, char **out)
{
    unsigned char *key = NULL, *iv = NULL, *ct = NULL, *pt = NULL;
    size_t keylen = 0, ivlen = 0, n = 0, plain = 0;
    int rc = WX_CRYPTO_CIPHER;

    if (!out)
        goto out;
    *out = NULL;
    rc = WX_CRYPTO_KEY;
    if (!session_key_b64 || !iv_b64)
        goto out;
    if (b64_decode(session_key_b64, &key, &keylen) != WX_CRYPTO_OK || keylen != AES_BLOCK)
        goto out;
    if (b64_decode(iv_b64, &iv, &ivlen) != WX_CRYPTO_OK || ivlen != AES_BLOCK)
        goto out;
    rc = WX_CRYPTO_BASE64;
    if (!data_b64)
        goto out;
    rc = b64_decode(data_b64, &ct, &n);
    if (rc != WX_CRYPTO_OK)
        goto out;
    rc = WX_CRYPTO_LENGTH;
    if (n == 0 || n % AES_BLOCK != 0)
        goto out;
    pt = malloc(n + 1);
    if (!pt) {
        rc = WX_CRYPTO_CIPHER;
        goto out;
    }
    rc = aes_cbc(EVP_aes_128_cbc(), key, iv, 0, ct, n, pt);
    if (rc != WX_CRYPTO_OK)
        goto out;
    rc = unpad(pt, n, AES_BLOCK, &plain);
    if (rc != WX_CRYPTO_OK)
        goto out;
    pt[plain] = '\0';
    rc = WX_CRYPTO_APPID;
    if (appid && !watermark_ok((const char *)pt, plain, appid))
        goto out;
    *out = (char *)pt;
    pt = NULL;
    rc = WX_CRYPTO_OK;
out:
    free_secret(pt, n + 1);
    free(ct);
    free_secret(iv, ivlen);
    free_secret(key, keylen);
    return rc;
}

/* The session key is appended as given, not decoded (V6). */
void wx_raw_signature(const char *raw, const char *session_key, char out[41])
{
    EVP_MD_CTX *ctx = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    out[0] = '\0';
    if (!raw || !session_key)
        goto out;
    ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1)
        goto out;
    if (EVP_DigestUpdate(ctx, raw, strlen(raw)) != 1 ||
        EVP_DigestUpdate(ctx, session_key, strlen(session_key)) != 1)
        goto out;
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != SHA1_LEN)
        goto out;
    hex_sha1(md, out);
out:
    EVP_MD_CTX_free(ctx);
}
