/*
 * sites.c - places where punching counts: fences (centre and radius) and
 * Wi-Fi BSSIDs, with the policy for a punch outside all of them (refuse,
 * field, flag) as WeCom has it. HR manages them; the writer keeps a parsed
 * copy for the punch path, dropped whenever a site changes.
 */
#include "gongyou.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


enum { Q_LIST, Q_UPSERT, Q_DELETE };
static const char *const sql[] = {
    [Q_LIST] = "SELECT code, name, fences, wifi, out_of_range, updated_at FROM sites ORDER BY code",
    [Q_UPSERT] =
        "INSERT INTO sites (code, name, fences, wifi, out_of_range, updated_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(code) DO UPDATE SET name = ?2, fences = ?3, "
        "wifi = ?4, out_of_range = ?5, updated_at = ?6",
    [Q_DELETE] = "DELETE FROM sites WHERE code = ?1",
};
const struct db_sqlset sites_sql = { "sites", sql, GY_ARRAY_LEN(sql) };

/* ==== the writer's copy ==== */

static struct site *cache;
static size_t ncache;
static bool loaded;

void sites_cache_reset(void)
{
    free(cache);
    cache = NULL;
    ncache = 0;
    loaded = false;
}

/* "AA-bb:cc..." -> "aa:bb:cc:dd:ee:ff"; false if not a BSSID. */
bool sites_bssid_norm(const char *in, char out[18])
{
    int o = 0;

    for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 2; j++, in++) {
            if (!isxdigit((unsigned char)*in))
                return false;
            out[o++] = (char)tolower((unsigned char)*in);
        }
        if (i < 5) {
            if (*in != ':' && *in != '-')
                return false;
            in++;
            out[o++] = ':';
        }
    }
    out[o] = '\0';
    return *in == '\0';
}

static int parse_fences(const cJSON *a, struct site *s)
{
    s->nfences = 0;
    if (!cJSON_IsArray(a))
        return GY_ERR;
    for (const cJSON *f = a->child; f; f = f->next) {
        const cJSON *lat = cJSON_GetObjectItemCaseSensitive(f, "lat");
        const cJSON *lng = cJSON_GetObjectItemCaseSensitive(f, "lng");
        const cJSON *rad = cJSON_GetObjectItemCaseSensitive(f, "radius_m");

        if (s->nfences == SITE_MAX_FENCES || !cJSON_IsNumber(lat) || !cJSON_IsNumber(lng) ||
            !cJSON_IsNumber(rad) || lat->valuedouble < -90 || lat->valuedouble > 90 ||
            lng->valuedouble < -180 || lng->valuedouble > 180 || rad->valuedouble < 10 ||
            rad->valuedouble > 50000)
            return GY_ERR;
        s->fences[s->nfences].lat = lat->valuedouble;
        s->fences[s->nfences].lng = lng->valuedouble;
        s->fences[s->nfences].radius_m = rad->valuedouble;
        s->nfences++;
    }
    return GY_OK;
}

static int parse_wifi(const cJSON *a, struct site *s)
{
    s->nwifi = 0;
    if (!cJSON_IsArray(a))
        return GY_ERR;
    for (const cJSON *w = a->child; w; w = w->next) {
        if (s->nwifi == SITE_MAX_WIFI || !cJSON_IsString(w) ||
            !sites_bssid_norm(w->valuestring, s->wifi[s->nwifi]))
            return GY_ERR;
        s->nwifi++;
    }
    return GY_OK;
}

static void site_from_row(sqlite3_stmt *st, struct site *s)
{
    cJSON *fences = cJSON_Parse((const char *)sqlite3_column_text(st, 2));
    cJSON *wifi = cJSON_Parse((const char *)sqlite3_column_text(st, 3));

    memset(s, 0, sizeof *s);
    snprintf(s->code, sizeof s->code, "%s", (const char *)sqlite3_column_text(st, 0));
    snprintf(s->name, sizeof s->name, "%s", (const char *)sqlite3_column_text(st, 1));
    snprintf(s->policy, sizeof s->policy, "%s", (const char *)sqlite3_column_text(st, 4));
    parse_fences(fences, s);
    parse_wifi(wifi, s);
    cJSON_Delete(fences);
    cJSON_Delete(wifi);
}

const struct site *sites_all(struct db_conn *c, size_t *n)
{
    if (!loaded) {
        sqlite3_stmt *st = db_stmt(c, &sites_sql, Q_LIST);
        size_t cap = 0;

        sites_cache_reset();
        while (sqlite3_step(st) == SQLITE_ROW) {
            if (ncache == cap) {
                cap = cap ? cap * 2 : 8;
                cache = gy_realloc(cache, cap * sizeof *cache);
            }
            site_from_row(st, &cache[ncache++]);
        }
        db_done(st, 0);
        loaded = true;
    }
    *n = ncache;
    return cache;
}

void sites_locate(struct db_conn *c, const char *home, double lat, double lng, const char *bssid,
                  struct site_fix *fix)
{
    size_t n;
    const struct site *all = sites_all(c, &n);
    bool has_home = false;

    memset(fix, 0, sizeof *fix);
    fix->distance_m = -1;
    for (size_t i = 0; i < n; i++)
        has_home |= strcmp(all[i].code, home) == 0;
    fix->any_site = n > 0;
    for (size_t i = 0; i < n; i++) {
        const struct site *s = &all[i];
        if (has_home && strcmp(s->code, home) != 0)
            continue;   /* a worker of one site punches at that site */
        for (size_t w = 0; bssid && w < s->nwifi; w++) {
            if (strcmp(bssid, s->wifi[w]) == 0) {
                fix->site = s;
                fix->wifi = true;
            }
        }
        for (size_t f = 0; f < s->nfences; f++) {
            double d = att_distance_m(lat, lng, s->fences[f].lat, s->fences[f].lng);
            double outside = d - s->fences[f].radius_m;
            if (fix->distance_m < 0 || outside < fix->outside_m) {
                fix->distance_m = d;
                fix->outside_m = outside;
                if (!fix->wifi)
                    fix->site = s;
            }
        }
    }
    /* Sites with no fence (Wi-Fi only): their policy still decides. */
    for (size_t i = 0; !fix->site && i < n; i++)
        if (!has_home || strcmp(all[i].code, home) == 0)
            fix->site = &all[i];
    fix->inside = fix->wifi || (fix->distance_m >= 0 && fix->outside_m <= 0);
}

/* ==== HTTP ==== */

static cJSON *site_json(sqlite3_stmt *st)
{
    cJSON *o = cJSON_CreateObject();
    char when[32];

    cJSON_AddStringToObject(o, "code", (const char *)sqlite3_column_text(st, 0));
    cJSON_AddStringToObject(o, "name", (const char *)sqlite3_column_text(st, 1));
    cJSON_AddItemToObject(o, "fences", cJSON_Parse((const char *)sqlite3_column_text(st, 2)));
    cJSON_AddItemToObject(o, "wifi_bssids", cJSON_Parse((const char *)sqlite3_column_text(st, 3)));
    cJSON_AddStringToObject(o, "out_of_range", (const char *)sqlite3_column_text(st, 4));
    clock_format(sqlite3_column_int64(st, 5), when);
    cJSON_AddStringToObject(o, "updated_at", when);
    return o;
}

void sites_list(struct gy_req *r)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &sites_sql, Q_LIST);
    cJSON *body = cJSON_CreateObject();
    cJSON *list = cJSON_AddArrayToObject(body, "sites");

    while (sqlite3_step(st) == SQLITE_ROW)
        cJSON_AddItemToArray(list, site_json(st));
    db_done(st, 0);
    api_reply_json(r, 200, body);
}

struct site_put {
    struct gy_req *r;
    char code[32], name[128], policy[8];
    char *fences, *wifi;   /* JSON as stored */
    bool del;
};

static int site_unit(struct db_conn *c, void *arg)
{
    struct site_put *sp = arg;
    sqlite3_stmt *st;

    sites_cache_reset();
    if (sp->del) {
        st = db_stmt(c, &sites_sql, Q_DELETE);
        sqlite3_bind_text(st, 1, sp->code, -1, SQLITE_STATIC);
        if (db_exec_stmt(st) != GY_OK)
            return GY_ERR;
        return sqlite3_changes(db_handle(c)) ? GY_OK : 1;
    }
    st = db_stmt(c, &sites_sql, Q_UPSERT);
    sqlite3_bind_text(st, 1, sp->code, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sp->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, sp->fences, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, sp->wifi, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, sp->policy, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, clock_now());
    return db_exec_stmt(st);
}

static void site_done(void *arg, int rc)
{
    struct site_put *sp = arg;

    if (rc == 1) {
        api_reply_error(sp->r, "not_found");
    } else if (rc != GY_OK) {
        api_reply_error(sp->r, "internal_error");
    } else if (sp->del) {
        api_reply_json(sp->r, 200, cJSON_CreateObject());
    } else {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "code", sp->code);
        cJSON_AddStringToObject(o, "name", sp->name);
        cJSON_AddItemToObject(o, "fences", cJSON_Parse(sp->fences));
        cJSON_AddItemToObject(o, "wifi_bssids", cJSON_Parse(sp->wifi));
        cJSON_AddStringToObject(o, "out_of_range", sp->policy);
        api_reply_json(sp->r, 200, o);
    }
    free(sp->fences);
    free(sp->wifi);
    free(sp);
}

static bool site_code_ok(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n < 32 && gy_utf8_valid(s, n, UTF8_NO_CTL) && !strchr(s, '/');
}

void sites_put(struct gy_req *r)
{
    const cJSON *fences = cJSON_GetObjectItemCaseSensitive(r->json, "fences");
    const cJSON *wifi = cJSON_GetObjectItemCaseSensitive(r->json, "wifi_bssids");
    const char *name, *policy;
    struct site check;
    struct site_put *sp;
    cJSON *norm;

    if (!site_code_ok(r->params.value[0])) {
        api_reply_bad_field(r, "code", "bad_characters");
        return;
    }
    if (!(name = api_str(r, "name", 1, 40)) || !(policy = api_str(r, "out_of_range", 4, 6)))
        return;
    if (strcmp(policy, "refuse") && strcmp(policy, "field") && strcmp(policy, "flag")) {
        api_reply_bad_field(r, "out_of_range", "want_refuse_field_or_flag");
        return;
    }
    if (parse_fences(fences, &check) != GY_OK) {
        api_reply_bad_field(r, "fences", "want_up_to_16_of_lat_lng_radius_m_10_to_50000");
        return;
    }
    if (wifi && !cJSON_IsNull(wifi) && parse_wifi(wifi, &check) != GY_OK) {
        api_reply_bad_field(r, "wifi_bssids", "want_up_to_32_bssids_like_aa_bb_cc_dd_ee_ff");
        return;
    }
    if (!wifi || cJSON_IsNull(wifi))
        check.nwifi = 0;
    if (check.nfences == 0 && check.nwifi == 0) {
        api_reply_bad_field(r, "fences", "want_a_fence_or_a_wifi_bssid");
        return;
    }
    sp = gy_calloc(1, sizeof *sp);
    sp->r = r;
    snprintf(sp->code, sizeof sp->code, "%.31s", r->params.value[0]);
    snprintf(sp->name, sizeof sp->name, "%s", name);
    snprintf(sp->policy, sizeof sp->policy, "%s", policy);
    norm = cJSON_CreateArray();
    for (size_t i = 0; i < check.nfences; i++) {
        cJSON *f = cJSON_CreateObject();
        cJSON_AddNumberToObject(f, "lat", check.fences[i].lat);
        cJSON_AddNumberToObject(f, "lng", check.fences[i].lng);
        cJSON_AddNumberToObject(f, "radius_m", check.fences[i].radius_m);
        cJSON_AddItemToArray(norm, f);
    }
    sp->fences = cJSON_PrintUnformatted(norm);
    cJSON_Delete(norm);
    norm = cJSON_CreateArray();
    for (size_t i = 0; i < check.nwifi; i++)
        cJSON_AddItemToArray(norm, cJSON_CreateString(check.wifi[i]));
    sp->wifi = cJSON_PrintUnformatted(norm);
    cJSON_Delete(norm);
    writer_submit(site_unit, site_done, sp);
}

void sites_delete(struct gy_req *r)
{
    struct site_put *sp = gy_calloc(1, sizeof *sp);

    sp->r = r;
    sp->del = true;
    snprintf(sp->code, sizeof sp->code, "%.31s", r->params.value[0]);
    writer_submit(site_unit, site_done, sp);
}
