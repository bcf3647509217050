/*
 * config.c - the JSON configuration file. Every key lives in one table
 * with its type, bounds and default; the file's nested objects are read
 * as dotted keys ("wechat.appid"). Unknown keys and bad values are refused
 * with one line naming the key. Secrets may come from the environment
 * instead of the file (see env_overrides).
 */
#include "gongyou.h"
#include "wx.h"
#include "attendance.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C_OBJECT and C_ARRAY keep a JSON subtree that its module checks at start. */
enum ctype { C_STR, C_BOOL, C_INT, C_LONG, C_LISTEN, C_OBJECT, C_ARRAY };

struct ckey {
    const char *key;
    enum ctype type;
    size_t off;
    const char *def;        /* default, as text */
    long long min, max;     /* for numbers; string length for strings */
};

#define OFF(f) offsetof(struct gy_config, f)

/* Every key of the config file; docs/config.md describes each one. */
static const struct ckey keys[] = {
    { "listen", C_LISTEN, 0, "127.0.0.1:8080", 0, 0 },
    { "data_dir", C_STR, OFF(data_dir), "./data", 1, 4096 },
    { "timezone", C_STR, OFF(timezone), "Asia/Shanghai", 1, 64 },
    { "testing.clock", C_BOOL, OFF(testing_clock), "false", 0, 0 },
    { "log_level", C_STR, OFF(log_level), "info", 1, 8 },
    { "wechat.appid", C_STR, OFF(wechat.appid), "wxdemo0000000001", 1, 64 },
    { "wechat.secret", C_STR, OFF(wechat.secret), "demosecret0000000000000000000001", 1, 128 },
    { "wechat.api_base", C_STR, OFF(wechat.api_base), "https://api.weixin.qq.com", 8, 512 },
    { "wechat.connect_timeout_ms", C_LONG, OFF(wechat.connect_timeout_ms), "2000", 50, 60000 },
    { "wechat.timeout_ms", C_LONG, OFF(wechat.timeout_ms), "5000", 100, 120000 },
    { "wechat.max_retries", C_INT, OFF(wechat.max_retries), "2", 0, 10 },
    { "wechat.retry_base_ms", C_LONG, OFF(wechat.retry_base_ms), "200", 1, 60000 },
    { "wechat.token_api", C_STR, OFF(wechat.token_api), "stable_token", 5, 12 },
    { "wechat.token_margin_s", C_LONG, OFF(wechat.token_margin_s), "300", 30, 3600 },
    { "wechat.push_path", C_STR, OFF(wechat.push_path), "/wx/push", 2, 128 },
    { "wechat.push_token", C_STR, OFF(wechat.push_token), "", 0, 32 },
    { "wechat.push_aes_key", C_STR, OFF(wechat.push_aes_key), "", 0, 43 },
    { "wechat.push_appid", C_STR, OFF(wechat.push_appid), "", 0, 64 },
    { "wechat.push_max_skew_s", C_LONG, OFF(wechat.push_max_skew_s), "300", 0, 86400 },
    { "session.ttl_s", C_LONG, OFF(session.ttl_s), "604800", 60, 31536000 },
    { "session.touch_interval_s", C_LONG, OFF(session.touch_interval_s), "60", 1, 86400 },
    { "session.login_replay_s", C_LONG, OFF(session.login_replay_s), "300", 0, 3600 },
    { "db.synchronous", C_STR, OFF(db.synchronous), "FULL", 4, 6 },
    { "db.busy_timeout_ms", C_LONG, OFF(db.busy_timeout_ms), "5000", 0, 600000 },
    { "db.checkpoint_kib", C_INT, OFF(db.checkpoint_kib), "32768", 64, 1048576 },
    { "db.wal_reserve_mib", C_INT, OFF(db.wal_reserve_mib), "1024", 0, 65536 },
    { "writer.max_batch", C_INT, OFF(writer.max_batch), "512", 1, 100000 },
    { "writer.sync_thread", C_BOOL, OFF(writer.sync_thread), "false", 0, 0 },
    { "http.max_body", C_LONG, OFF(http.max_body), "65536", 256, 16777216 },
    { "http.max_csv_body", C_LONG, OFF(http.max_csv_body), "8388608", 1024, 268435456 },
    { "http.timeout_s", C_LONG, OFF(http.timeout_s), "60", 1, 3600 },
    { "bind.max_failures", C_INT, OFF(bind.max_failures), "5", 1, 1000 },
    { "bind.window_s", C_LONG, OFF(bind.window_s), "3600", 1, 604800 },
    { "shutdown_timeout_s", C_LONG, OFF(shutdown_timeout_s), "10", 1, 600 },
    { "notify.kinds", C_OBJECT, OFF(notify.kinds), "{}", 0, 0 },
    { "notify.robots", C_OBJECT, OFF(notify.robots), "{}", 0, 0 },
    { "notify.routes", C_ARRAY, OFF(notify.routes), "[]", 0, 0 },
    { "notify.deadline_s", C_LONG, OFF(notify.deadline_s), "86400", 60, 2592000 },
    { "notify.retry_base_s", C_LONG, OFF(notify.retry_base_s), "15", 1, 3600 },
    { "notify.poll_ms", C_LONG, OFF(notify.poll_ms), "1000", 20, 60000 },
    { "notify.batch", C_INT, OFF(notify.batch), "50", 1, 1000 },
    { "notify.robot_fold_s", C_LONG, OFF(notify.robot_fold_s), "60", 0, 3600 },
    { "notify.robot_per_minute", C_INT, OFF(notify.robot_per_minute), "20", 1, 20 },
    { "notify.miniprogram_state", C_STR, OFF(notify.miniprogram_state), "formal", 5, 9 },
    { "attendance.max_accuracy_m", C_LONG, OFF(attendance.max_accuracy_m), "100", 5, 5000 },
    { "attendance.offline_max_age_s", C_LONG, OFF(attendance.offline_max_age_s), "86400", 0, 604800 },
    { "attendance.repeat_window_s", C_LONG, OFF(attendance.repeat_window_s), "60", 0, 3600 },
    { "attendance.tick_s", C_LONG, OFF(attendance.tick_s), "30", 1, 3600 },
    { "attendance.digest_after_min", C_LONG, OFF(attendance.digest_after_min), "30", 0, 720 },
    { "attendance.quiet_hours", C_STR, OFF(attendance.quiet_hours), "", 0, 11 },
    { "attendance.remind_before_min", C_LONG, OFF(attendance.remind_before_min), "0", 0, 720 },
    { "attendance.late_allowance", C_INT, OFF(attendance.late_allowance), "0", 0, 31 },
    { "attendance.late_allowance_within_min", C_LONG, OFF(attendance.late_allowance_within_min), "10", 0, 720 },
    { "attendance.makeups_per_month", C_INT, OFF(attendance.makeups_per_month), "3", 0, 31 },
    { "attendance.makeup_deadline_days", C_LONG, OFF(attendance.makeup_deadline_days), "7", 0, 366 },
    { "reports.threads", C_INT, OFF(reports.threads), "2", 1, 16 },
};

/* Environment variables that override a key (secrets need not sit in the file). */
static const struct { const char *env, *key; } env_keys[] = {
    { "GONGYOU_WX_SECRET", "wechat.secret" },
    { "GONGYOU_WX_APPID", "wechat.appid" },
    { "GONGYOU_WX_API_BASE", "wechat.api_base" },
    { "GONGYOU_DATA_DIR", "data_dir" },
    { "GONGYOU_LISTEN", "listen" },
    { "GONGYOU_WX_PUSH_TOKEN", "wechat.push_token" },
    { "GONGYOU_WX_PUSH_AES_KEY", "wechat.push_aes_key" },
};

static const struct ckey *find_key(const char *name)
{
    for (size_t i = 0; i < GY_ARRAY_LEN(keys); i++)
        if (strcmp(keys[i].key, name) == 0)
            return &keys[i];
    return NULL;
}

static int set_listen(struct gy_config *cfg, const char *v)
{
    const char *colon = strrchr(v, ':');
    long long port;

    if (!colon || colon == v || colon - v > 255)
        return GY_ERR;
    if (gy_parse_ll(colon + 1, 0, 65535, &port) != GY_OK)
        return GY_ERR;
    free(cfg->listen_host);
    cfg->listen_host = gy_strndup(v, (size_t)(colon - v));
    cfg->listen_port = (int)port;
    return GY_OK;
}

/* Set K from text V (defaults and environment). */
static int set_text(struct gy_config *cfg, const struct ckey *k, const char *v)
{
    char *base = (char *)cfg;
    long long n;

    switch (k->type) {
    case C_LISTEN:
        return set_listen(cfg, v);
    case C_STR: {
        size_t len = strlen(v);
        if ((long long)len < k->min || (long long)len > k->max)
            return GY_ERR;
        char **slot = (char **)(base + k->off);
        free(*slot);
        *slot = gy_strdup(v);
        return GY_OK;
    }
    case C_OBJECT:
    case C_ARRAY: {
        cJSON **slot = (cJSON **)(base + k->off), *j = cJSON_Parse(v);
        if (k->type == C_OBJECT ? !cJSON_IsObject(j) : !cJSON_IsArray(j)) {
            cJSON_Delete(j);
            return GY_ERR;
        }
        cJSON_Delete(*slot);
        *slot = j;
        return GY_OK;
    }
    case C_BOOL:
        if (strcmp(v, "true") && strcmp(v, "false"))
            return GY_ERR;
        *(bool *)(base + k->off) = strcmp(v, "true") == 0;
        return GY_OK;
    case C_INT:
    case C_LONG:
        if (gy_parse_ll(v, k->min, k->max, &n) != GY_OK)
            return GY_ERR;
        if (k->type == C_INT)
            *(int *)(base + k->off) = (int)n;
        else
            *(long *)(base + k->off) = (long)n;
        return GY_OK;
    }
    return GY_ERR;
}

static const char *type_name(enum ctype t)
{
    switch (t) {
    case C_STR: return "a string";
    case C_LISTEN: return "\"HOST:PORT\"";
    case C_BOOL: return "true or false";
    case C_OBJECT: return "a JSON object";
    case C_ARRAY: return "a JSON array";
    default: return "a whole number";
    }
}

/* Set K from a JSON value. */
static int set_json(struct gy_config *cfg, const struct ckey *k, const cJSON *v)
{
    char num[32];

    switch (k->type) {
    case C_STR:
    case C_LISTEN:
        return cJSON_IsString(v) ? set_text(cfg, k, v->valuestring) : GY_ERR;
    case C_BOOL:
        return cJSON_IsBool(v) ? set_text(cfg, k, cJSON_IsTrue(v) ? "true" : "false") : GY_ERR;
    case C_OBJECT:
    case C_ARRAY:
        if (k->type == C_OBJECT ? !cJSON_IsObject(v) : !cJSON_IsArray(v))
            return GY_ERR;
        cJSON_Delete(*(cJSON **)((char *)cfg + k->off));
        *(cJSON **)((char *)cfg + k->off) = cJSON_Duplicate(v, true);
        return GY_OK;
    default:
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble)
            return GY_ERR;
        snprintf(num, sizeof num, "%lld", (long long)v->valuedouble);
        return set_text(cfg, k, num);
    }
}

static int walk(struct gy_config *cfg, const cJSON *obj, const char *prefix,
                char *err, size_t errsz)
{
    for (const cJSON *it = obj->child; it; it = it->next) {
        char name[128];
        const struct ckey *k;

        snprintf(name, sizeof name, "%s%s", prefix, it->string);
        k = find_key(name);
        if (cJSON_IsObject(it) && !(k && k->type == C_OBJECT)) {
            char sub[130];
            snprintf(sub, sizeof sub, "%s.", name);
            if (walk(cfg, it, sub, err, errsz) != GY_OK)
                return GY_ERR;
            continue;
        }
        if (!k) {
            snprintf(err, errsz, "config: unknown key %s", name);
            return GY_ERR;
        }
        if (set_json(cfg, k, it) != GY_OK) {
            if (k->type == C_STR)
                snprintf(err, errsz, "config: bad value for %s: want a string of %lld to %lld bytes",
                         name, k->min, k->max);
            else if (k->type == C_INT || k->type == C_LONG)
                snprintf(err, errsz, "config: bad value for %s: want a whole number from %lld to %lld",
                         name, k->min, k->max);
            else
                snprintf(err, errsz, "config: bad value for %s: want %s", name, type_name(k->type));
            return GY_ERR;
        }
    }
    return GY_OK;
}

static char *read_file(const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0;

    if (!f) {
        snprintf(err, errsz, "config: cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (1u << 20)) {
                snprintf(err, errsz, "config: %s is larger than 1 MiB", path);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = gy_realloc(buf, cap);
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    buf[len] = '\0';
    fclose(f);
    return buf;
}

/* WeChat's console takes a Token of 3 to 32 letters and digits; "" = off. */
static bool push_token_ok(const char *t)
{
    size_t n = strlen(t);

    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]))
            return false;
    return n == 0 || n >= 3;
}

int quiet_hours_parse(const char *s, int *from, int *to)
{
    char a[6], b[6];
    int f, t;

    if (!s[0]) {
        f = t = 0;   /* an empty range: never quiet */
    } else {
        if (strlen(s) != 11 || s[5] != '-')
            return GY_ERR;
        memcpy(a, s, 5);
        a[5] = '\0';
        memcpy(b, s + 6, 5);
        b[5] = '\0';
        if (att_parse_hhmm(a, &f) != 0 || att_parse_hhmm(b, &t) != 0)
            return GY_ERR;
    }
    if (from)
        *from = f;
    if (to)
        *to = t;
    return GY_OK;
}

/* Checks that involve more than one key or a fixed set of words. */
static int check_values(const struct gy_config *cfg, char *err, size_t errsz)
{
    const char *s = cfg->db.synchronous;

    if (strcmp(s, "FULL") && strcmp(s, "NORMAL") && strcmp(s, "EXTRA")) {
        snprintf(err, errsz, "config: bad value for db.synchronous: want FULL, NORMAL or EXTRA");
        return GY_ERR;
    }
    if (cfg->writer.sync_thread && strcmp(s, "FULL") != 0) {
        snprintf(err, errsz, "config: writer.sync_thread needs db.synchronous FULL");
        return GY_ERR;
    }
    if (strcmp(cfg->wechat.token_api, "stable_token") && strcmp(cfg->wechat.token_api, "token")) {
        snprintf(err, errsz, "config: bad value for wechat.token_api: want stable_token or token");
        return GY_ERR;
    }
    if (cfg->wechat.push_path[0] != '/' || strchr(cfg->wechat.push_path, '?') ||
        strchr(cfg->wechat.push_path, ':') || strstr(cfg->wechat.push_path, "//")) {
        snprintf(err, errsz, "config: bad value for wechat.push_path: want a path such as /wx/push");
        return GY_ERR;
    }
    if (!push_token_ok(cfg->wechat.push_token)) {
        snprintf(err, errsz, "config: bad value for wechat.push_token: want 3 to 32 letters or digits, as WeChat's console asks");
        return GY_ERR;
    }
    if (cfg->wechat.push_aes_key[0]) {
        struct wx_push_key k;
        if (wx_push_key_parse(cfg->wechat.push_aes_key, &k) != 0) {
            snprintf(err, errsz, "config: bad value for wechat.push_aes_key: want the 43-character EncodingAESKey");
            return GY_ERR;
        }
    }
    if (log_level_parse(cfg->log_level) < 0) {
        snprintf(err, errsz, "config: bad value for log_level: want debug, info, warn or error");
        return GY_ERR;
    }
    if (strncmp(cfg->wechat.api_base, "http://", 7) && strncmp(cfg->wechat.api_base, "https://", 8)) {
        snprintf(err, errsz, "config: bad value for wechat.api_base: want an http:// or https:// URL");
        return GY_ERR;
    }
    if (quiet_hours_parse(cfg->attendance.quiet_hours, NULL, NULL) != GY_OK) {
        snprintf(err, errsz, "config: bad value for attendance.quiet_hours: want \"HH:MM-HH:MM\" or \"\"");
        return GY_ERR;
    }
    if (clock_set_timezone(cfg->timezone) != GY_OK) {
        snprintf(err, errsz, "config: bad value for timezone: unknown time zone %s", cfg->timezone);
        return GY_ERR;
    }
    return GY_OK;
}

int config_load(struct gy_config *cfg, const char *file, char *err, size_t errsz)
{
    cJSON *root = NULL;
    char *text = NULL;
    int rc = GY_ERR;

    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < GY_ARRAY_LEN(keys); i++)
        if (set_text(cfg, &keys[i], keys[i].def) != GY_OK)
            abort();   /* a bad default is our bug */

    if (file) {
        if (!(text = read_file(file, err, errsz)))
            goto out;
        root = cJSON_Parse(text);
        if (!cJSON_IsObject(root)) {
            snprintf(err, errsz, "config: %s is not a JSON object", file);
            goto out;
        }
        if (walk(cfg, root, "", err, errsz) != GY_OK)
            goto out;
    }
    for (size_t i = 0; i < GY_ARRAY_LEN(env_keys); i++) {
        const char *v = getenv(env_keys[i].env);
        if (v && *v && set_text(cfg, find_key(env_keys[i].key), v) != GY_OK) {
            snprintf(err, errsz, "config: bad value in %s for %s", env_keys[i].env, env_keys[i].key);
            goto out;
        }
    }
    /* Trailing slashes would double up in URLs. */
    for (size_t n = strlen(cfg->wechat.api_base); n > 8 && cfg->wechat.api_base[n - 1] == '/'; n--)
        cfg->wechat.api_base[n - 1] = '\0';
    rc = check_values(cfg, err, errsz);
out:
    cJSON_Delete(root);
    free(text);
    if (rc != GY_OK)
        config_free(cfg);
    return rc;
}

void config_free(struct gy_config *cfg)
{
    char *base = (char *)cfg;

    free(cfg->listen_host);
    for (size_t i = 0; i < GY_ARRAY_LEN(keys); i++)
        if (keys[i].type == C_STR)
            free(*(char **)(base + keys[i].off));
        else if (keys[i].type == C_OBJECT || keys[i].type == C_ARRAY)
            cJSON_Delete(*(cJSON **)(base + keys[i].off));
    memset(cfg, 0, sizeof *cfg);
}

char *config_db_path(const struct gy_config *cfg)
{
    size_t n = strlen(cfg->data_dir) + sizeof "/gongyou.db";
    char *p = gy_malloc(n);

    snprintf(p, n, "%s/gongyou.db", cfg->data_dir);
    return p;
}
