/*
 * jsonout.c - JSON text written straight into one growing buffer.
 *
 * The hot replies (a punch: some forty members) are built on the writer
 * thread; as a cJSON tree that is a hundred-odd small allocations made on
 * one thread and freed on another, then printed into a second buffer.
 * Here the text is appended as it is produced: one buffer, handed to
 * evhttp without a copy. Member names are our own literals and are not
 * escaped; string values are.
 */
#include "gongyou.h"

#include <stdlib.h>
#include <string.h>

static void reserve(struct jout *j, size_t more)
{
    if (j->len + more <= j->cap)
        return;
    while (j->cap < j->len + more)
        j->cap = j->cap ? j->cap * 2 : 512;
    j->p = gy_realloc(j->p, j->cap);
}

static void put(struct jout *j, const char *s, size_t n)
{
    reserve(j, n);
    memcpy(j->p + j->len, s, n);
    j->len += n;
}

/* The separator and "name": before a value. */
static void member(struct jout *j, const char *name)
{
    if (j->more)
        put(j, ",", 1);
    j->more = true;
    if (name) {
        put(j, "\"", 1);
        put(j, name, strlen(name));
        put(j, "\":", 2);
    }
}

void jout_open(struct jout *j, const char *name)
{
    member(j, name);
    put(j, "{", 1);
    j->more = false;
}

void jout_close(struct jout *j)
{
    put(j, "}", 1);
    j->more = true;
}

void jout_str(struct jout *j, const char *name, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    if (!s) {
        jout_null(j, name);
        return;
    }
    member(j, name);
    put(j, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char esc[6] = { '\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15] };
        if (*c == '"' || *c == '\\') {
            esc[1] = (char)*c;
            put(j, esc, 2);
        } else if (*c < 0x20) {
            put(j, esc, 6);
        } else {
            reserve(j, 1);
            j->p[j->len++] = (char)*c;
        }
    }
    put(j, "\"", 1);
}

void jout_int(struct jout *j, const char *name, int64_t v)
{
    char num[24], *p = num + sizeof num;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;

    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    member(j, name);
    put(j, p, (size_t)(num + sizeof num - p));
}

void jout_bool(struct jout *j, const char *name, bool v)
{
    member(j, name);
    put(j, v ? "true" : "false", v ? 4 : 5);
}

void jout_null(struct jout *j, const char *name)
{
    member(j, name);
    put(j, "null", 4);
}

void jout_time(struct jout *j, const char *name, int64_t t)
{
    char when[32];

    if (!t) {
        jout_null(j, name);
        return;
    }
    clock_format(t, when);
    jout_str(j, name, when);
}

char *jout_take(struct jout *j, size_t *len)
{
    char *p;

    reserve(j, 1);
    j->p[j->len] = '\0';
    p = j->p;
    *len = j->len;
    memset(j, 0, sizeof *j);
    return p;
}
