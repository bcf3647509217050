/*
 * router.c - matching request paths against the route table's patterns.
 * Pure functions, no I/O: "/api/v1/admin/employees/:no/binding" matches
 * "/api/v1/admin/employees/E001/binding" with no = "E001". Parameters are
 * percent-decoded; one that decodes to a NUL, a '/' or too long a value
 * makes the path not match (so it is answered 404).
 */
#include "gongyou.h"

#include <ctype.h>
#include <string.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Decode the segment S[0..n) into OUT; GY_ERR when invalid or too long. */
static int decode_segment(const char *s, size_t n, char *out, size_t outsz)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                return GY_ERR;
            hi = hexval((unsigned char)s[i + 1]);
            lo = hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return GY_ERR;
            c = hi << 4 | lo;
            if (c == 0 || c == '/')
                return GY_ERR;
            i += 2;
        }
        if (o + 1 >= outsz)
            return GY_ERR;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return o ? GY_OK : GY_ERR;
}

bool router_match_path(const char *pattern, const char *path, struct route_params *p)
{
    p->n = 0;
    while (*pattern && *path) {
        const char *pe, *se;
        size_t plen, slen;

        if (*pattern != '/' || *path != '/')
            return false;
        pattern++;
        path++;
        pe = strchr(pattern, '/');
        se = strchr(path, '/');
        plen = pe ? (size_t)(pe - pattern) : strlen(pattern);
        slen = se ? (size_t)(se - path) : strlen(path);
        if (*pattern == ':') {
            if (p->n >= ROUTE_MAX_PARAMS || plen - 1 >= sizeof p->name[0])
                return false;
            memcpy(p->name[p->n], pattern + 1, plen - 1);
            p->name[p->n][plen - 1] = '\0';
            if (decode_segment(path, slen, p->value[p->n], sizeof p->value[0]) != GY_OK)
                return false;
            p->n++;
        } else if (plen != slen || memcmp(pattern, path, plen) != 0) {
            return false;
        }
        pattern += plen;
        path += slen;
    }
    return *pattern == '\0' && *path == '\0';
}
