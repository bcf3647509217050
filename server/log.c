/*
 * log.c - JSON-lines logging to stderr: one object per line with ts, level
 * and msg, plus whatever fields the caller adds (req_id, method, path,
 * status, ms, user). Callers must never pass a secret; tokens appear only
 * as hashes. Safe from any thread: each line is written with one call.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static int min_level = LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(int level)
{
    min_level = level;
}

bool gy_log_enabled(int level)
{
    return level >= min_level;
}

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < GY_ARRAY_LEN(level_names); i++)
        if (strcmp(name, level_names[i]) == 0)
            return (int)i;
    return -1;
}

static void timestamp(char out[40])
{
    struct timeval tv;
    struct tm tm;
    char base[24];

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%03dZ", base, (int)(tv.tv_usec / 1000));
}

void gy_log_json(int level, const char *msg, const cJSON *fields)
{
    char ts[40];
    cJSON *o;
    char *line;

    if (level < min_level)
        return;
    timestamp(ts);
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "level", level_names[level]);
    cJSON_AddStringToObject(o, "msg", msg);
    if (fields)
        for (const cJSON *f = fields->child; f; f = f->next)
            cJSON_AddItemToObject(o, f->string, cJSON_Duplicate(f, true));
    line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    size_t n = strlen(line);
    line[n] = '\n';   /* replaced NUL; length known */
    fwrite(line, 1, n + 1, stderr);
    free(line);
}

void gy_log(int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level < min_level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    gy_log_json(level, msg, NULL);
}
