/*
 * clock.c - the one source of time. clock_now() is the wall clock, shifted
 * by an offset that only a daemon started with testing.clock may set, so
 * end-to-end tests can expire tokens without waiting. Formatting uses the
 * configured IANA time zone (Asia/Shanghai by default).
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdatomic.h>

static atomic_llong offset;   /* seconds added to the real clock */
static bool testing;
static atomic_int zone_gen;   /* bumped when the zone changes: per-thread caches drop */

int64_t clock_now(void)
{
    return (int64_t)time(NULL) + atomic_load(&offset);
}

double clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void clock_enable_testing(bool on)
{
    testing = on;
}

bool clock_testing(void)
{
    return testing;
}

void clock_set(int64_t now)
{
    if (testing)
        atomic_store(&offset, now - (int64_t)time(NULL));
}

int clock_set_timezone(const char *name)
{
    char path[512];

    /* Refuse names that could walk out of the zoneinfo tree. */
    if (!name[0] || name[0] == '/' || strstr(name, ".."))
        return GY_ERR;
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", name);
    if (access(path, R_OK) != 0)
        return GY_ERR;
    setenv("TZ", name, 1);
    tzset();
    atomic_fetch_add(&zone_gen, 1);
    return GY_OK;
}

int clock_parse(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, n = 0;
    char sign = 0;
    struct tm tm = { 0 };

    /* 2026-11-23T08:03:00+08:00, 2026-11-23T08:03+08:00, or ...Z */
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d%n", &y, &mo, &d, &h, &mi, &n) != 5)
        return GY_ERR;
    s += n;
    if (*s == ':') {
        if (sscanf(s, ":%2d%n", &sec, &n) != 1)
            return GY_ERR;
        s += n;
    }
    if (*s == 'Z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s;
        if (sscanf(s + 1, "%2d:%2d%n", &oh, &om, &n) != 2)
            return GY_ERR;
        s += 1 + n;
    } else {
        return GY_ERR;   /* an offset is required: no guessing the zone */
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || oh > 14 || om > 59)
        return GY_ERR;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - (sign == '-' ? -1 : 1) * (oh * 3600 + om * 60);
    return GY_OK;
}

/* The zone's offset is remembered per thread for the quarter hours T is in
 * (zone changes fall on quarter hours): localtime_r takes a process-wide
 * lock and re-reads TZ on every call, and a punch's reply has a dozen
 * times in it, from the shift's opening to its close: OFFSET_SLOTS quarter
 * hours, so those each keep their own slot. */
#define OFFSET_SLOTS 64

int clock_utc_offset(int64_t t)
{
    static _Thread_local struct {
        int64_t quarter;
        int offset, gen;
    } slot[OFFSET_SLOTS];
    int g = atomic_load(&zone_gen) + 1;   /* 0: a slot never filled */
    int64_t q = t >= 0 ? t / 900 : (t - 899) / 900;
    unsigned i = (unsigned)((uint64_t)q % OFFSET_SLOTS);
    time_t tt = (time_t)t;
    struct tm tm;

    if (slot[i].gen == g && slot[i].quarter == q)
        return slot[i].offset;
    localtime_r(&tt, &tm);
    slot[i].quarter = q;
    slot[i].gen = g;
    slot[i].offset = (int)tm.tm_gmtoff;
    return slot[i].offset;
}

void clock_civil(int32_t days, int *y, int *m, int *d)
{
    int era, doe, yoe, doy, mp;

    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}

/* Two digits of V at P. */
static char *two(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

/* Written digit by digit: a punch's reply has a dozen times, and snprintf
 * was a tenth of the writer's time. */
void clock_format(int64_t t, char out[32])
{
    int off = clock_utc_offset(t), aoff = off < 0 ? -off : off;
    int64_t local = t + off, days = local >= 0 ? local / 86400 : (local - 86399) / 86400;
    unsigned sec = (unsigned)(local - days * 86400);
    int y, m, d;
    char *p = out;

    clock_civil((int32_t)days, &y, &m, &d);
    p = two(p, (unsigned)y / 100 % 100);
    p = two(p, (unsigned)y % 100);
    *p++ = '-';
    p = two(p, (unsigned)m);
    *p++ = '-';
    p = two(p, (unsigned)d);
    *p++ = 'T';
    p = two(p, sec / 3600);
    *p++ = ':';
    p = two(p, sec / 60 % 60);
    *p++ = ':';
    p = two(p, sec % 60);
    *p++ = off < 0 ? '-' : '+';
    p = two(p, (unsigned)aoff / 3600);
    *p++ = ':';
    p = two(p, (unsigned)aoff / 60 % 60);
    *p = '\0';
}

void clock_format_minute(int64_t t, char out[20])
{
    time_t tt = (time_t)t;
    struct tm tm;

    localtime_r(&tt, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M", &tm);
}
