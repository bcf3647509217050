/*
 * util.c - small helpers every module uses: allocators that abort on
 * out-of-memory, random tokens, base64url, SHA-256, bounded integer
 * parsing and UTF-8 checks. Nothing here touches the network or SQLite.
 */
#include "gongyou.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

static void oom(size_t n)
{
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"out of memory allocating %zu bytes\"}\n", n);
    abort();
}

void *gy_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *gy_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        oom(count * n);
    return p;
}

void *gy_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *gy_strdup(const char *s)
{
    return gy_strndup(s, strlen(s));
}

char *gy_strndup(const char *s, size_t n)
{
    char *p = gy_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void gy_thread_name(const char *name)
{
    prctl(PR_SET_NAME, name, 0, 0, 0);   /* at most 15 bytes are kept */
}

void gy_json_hooks_init(void)
{
    cJSON_Hooks hooks = { .malloc_fn = gy_malloc, .free_fn = free };
    cJSON_InitHooks(&hooks);
}

void gy_random_bytes(unsigned char *buf, size_t n)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        fprintf(stderr, "{\"level\":\"error\",\"msg\":\"random number generator failed\"}\n");
        abort();
    }
}

void gy_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
        out[o++] = tab[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = tab[v >> 18 & 63];
        out[o++] = tab[v >> 12 & 63];
        out[o++] = tab[v >> 6 & 63];
    }
    out[o] = '\0';
}

/* SHA-256 fetched from the provider once: EVP_sha256() would be looked up
 * by name at every digest (OpenSSL 3), a lock and a search per request. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void gy_sha256_hex(const void *in, size_t n, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[32];
    unsigned int mdlen = 0;

    pthread_once(&sha256_once, sha256_fetch);
    if (!sha256_md || EVP_Digest(in, n, md, &mdlen, sha256_md, NULL) != 1 || mdlen != 32)
        abort();
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

void gy_token_new(char out[44])
{
    unsigned char raw[32];

    gy_random_bytes(raw, sizeof raw);
    gy_b64url_encode(raw, sizeof raw, out);
}

int gy_ct_equal(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    unsigned char d = 0;

    for (size_t i = 0; i < n; i++)
        d |= x[i] ^ y[i];
    return d == 0;
}

int gy_parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (!s || !*s || isspace((unsigned char)*s))
        return GY_ERR;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return GY_ERR;
    *out = v;
    return GY_OK;
}

bool gy_utf8_valid(const char *s, size_t n, int ctl)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    while (p < end) {
        unsigned c = *p;
        size_t len;
        unsigned cp;

        if (c < 0x80) {
            if ((c < 0x20 || c == 0x7f) && ctl != UTF8_ANY_CTL &&
                !(ctl == UTF8_NL && (c == '\n' || c == '\r' || c == '\t')))
                return false;
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if ((size_t)(end - p) < len)
            return false;
        for (size_t i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        p += len;
    }
    return true;
}

size_t gy_utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

char *gy_trim(char *s)
{
    size_t n = strlen(s);
    char *p = s;

    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    while (*p && isspace((unsigned char)*p))
        p++;
    if (p != s)
        memmove(s, p, strlen(p) + 1);
    return s;
}

const char *json_str_problem(const cJSON *v, size_t min_chars, size_t max_chars)
{
    size_t n;

    if (!v || cJSON_IsNull(v))
        return "missing";
    if (!cJSON_IsString(v))
        return "not_a_string";
    if (!gy_utf8_valid(v->valuestring, strlen(v->valuestring), UTF8_NO_CTL))
        return "bad_characters";
    n = gy_utf8_len(v->valuestring);
    if (n < min_chars)
        return n == 0 ? "empty" : "too_short";
    if (n > max_chars)
        return "too_long";
    return NULL;
}

char *json_quote_big_ints(const char *text, size_t len)
{
    char *out = gy_malloc(len * 3 + 1);   /* a big int gains only 2 quotes */
    size_t o = 0, i = 0;
    bool in_str = false;

    while (i < len) {
        char ch = text[i];

        if (in_str) {
            out[o++] = ch;
            if (ch == '\\' && i + 1 < len)
                out[o++] = text[++i];
            else if (ch == '"')
                in_str = false;
            i++;
            continue;
        }
        if (ch == '"') {
            in_str = true;
            out[o++] = ch;
            i++;
            continue;
        }
        if (ch == '-' || (ch >= '0' && ch <= '9')) {
            size_t j = i + (ch == '-'), digits = 0;
            bool integer = true;
            while (j < len && text[j] && strchr("0123456789.eE+-", text[j])) {
                if (text[j] >= '0' && text[j] <= '9')
                    digits++;
                else
                    integer = false;
                j++;
            }
            if (integer && digits > 15) {
                out[o++] = '"';
                memcpy(out + o, text + i, j - i);
                o += j - i;
                out[o++] = '"';
            } else {
                memcpy(out + o, text + i, j - i);
                o += j - i;
            }
            i = j;
            continue;
        }
        out[o++] = ch;
        i++;
    }
    out[o] = '\0';
    return out;
}
