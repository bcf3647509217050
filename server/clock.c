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
    return GY_OK;
}

void clock_format(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    char zone[8];

    localtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    strftime(zone, sizeof zone, "%z", &tm);   /* +0800 */
    size_t n = strlen(out);
    snprintf(out + n, 32 - n, "%.3s:%.2s", zone, zone + 3);
}
