/*
 * routes.c - the route table: every endpoint of gongyoud on one line.
 *
 * Columns: method, path pattern (":name" segments become r->params),
 * handler, flags, body limit in bytes (0 = http.max_body from the config,
 * -1 = http.max_csv_body).
 * Flags:
 *   R_PUBLIC   no authentication at all
 *   R_AUTH     a valid session token or API key (else 401)
 *   R_BOUND    ... and the user is bound to an active employee (else 403)
 *   R_JSON     body must be application/json; parsed into r->json (415/400)
 *   R_CSV      body must be text/csv; kept raw in r->body (415)
 *   R_WORKER, R_TECH, R_SUPERVISOR, R_HR
 *              roles, any one of them is enough (else 403); implies R_AUTH
 *   R_TESTING  the route exists only when testing.clock is true
 *   R_RAW      body kept raw in r->body whatever its content type
 *   R_PUSHPATH the path is the config's wechat.push_path (the pattern
 *              column is only its default and the metrics label)
 * The dispatcher in http.c does all of these checks before the handler
 * runs; a new endpoint is a handler, a line here and an openapi.yaml entry.
 */
#include "gongyou.h"

#include <stdio.h>
#include <string.h>

static const struct route table[] = {
    { "GET",    "/healthz",                              health_get,        R_PUBLIC, 0, NULL },
    { "GET",    "/metrics",                              metrics_get,       R_PUBLIC, 0, NULL },
    { "POST",   "/api/v1/login",                         auth_login,        R_PUBLIC | R_JSON, 4096, NULL },
    { "POST",   "/api/v1/logout",                        auth_logout,       R_AUTH, 0, NULL },
    { "GET",    "/api/v1/me",                            bind_me,           R_AUTH, 0, NULL },
    { "POST",   "/api/v1/bind",                          bind_post,         R_AUTH | R_JSON, 4096, NULL },
    { "POST",   "/api/v1/bind/phone",                    bind_phone,        R_AUTH | R_JSON, 8192, NULL },
    { "POST",   "/api/v1/admin/roster",                  roster_upload,     R_HR | R_CSV, -1, NULL },
    { "DELETE", "/api/v1/admin/employees/:no/binding",   bind_unbind,       R_HR, 0, NULL },
    { "GET",    "/wx/push",                              push_verify,       R_PUBLIC | R_PUSHPATH, 0, NULL },
    { "POST",   "/wx/push",                              push_post,         R_PUBLIC | R_PUSHPATH | R_RAW, 0, NULL },
    { "GET",    "/api/v1/admin/wechat/events",           push_events_list,  R_HR, 0, NULL },
    { "POST",   "/api/v1/admin/qrcodes",                 qrcode_create,     R_HR | R_JSON, 4096, NULL },
    { "GET",    "/api/v1/subscriptions",                 consent_get,       R_AUTH, 0, NULL },
    { "POST",   "/api/v1/subscriptions",                 consent_post,      R_AUTH | R_JSON, 8192, NULL },
    { "GET",    "/api/v1/admin/notifications",           notify_list,       R_HR, 0, NULL },
    { "GET",    "/api/v1/admin/moderation",              moderation_list,   R_HR, 0, NULL },
    { "POST",   "/api/v1/admin/moderation/:id/release",  moderation_release, R_HR, 0, NULL },
    { "POST",   "/api/v1/admin/moderation/:id/reject",   moderation_reject, R_HR, 0, NULL },
    { "GET",    "/api/v1/admin/sites",                   sites_list,        R_HR, 0, NULL },
    { "PUT",    "/api/v1/admin/sites/:code",             sites_put,         R_HR | R_JSON, 16384, NULL },
    { "DELETE", "/api/v1/admin/sites/:code",             sites_delete,      R_HR, 0, NULL },
    { "GET",    "/api/v1/admin/shifts",                  shifts_list,       R_HR | R_SUPERVISOR, 0, NULL },
    { "PUT",    "/api/v1/admin/shifts/:code",            shifts_put,        R_HR | R_JSON, 4096, NULL },
    { "GET",    "/api/v1/admin/patterns",                patterns_list,     R_HR | R_SUPERVISOR, 0, NULL },
    { "PUT",    "/api/v1/admin/patterns/:department",    patterns_put,      R_HR | R_JSON, 4096, NULL },
    { "POST",   "/api/v1/admin/schedule",                schedule_upload,   R_HR | R_CSV, -1, NULL },
    { "GET",    "/api/v1/admin/schedule",                schedule_get,      R_HR | R_SUPERVISOR, 0, NULL },
    { "POST",   "/api/v1/clockins",                      clockin_post,      R_AUTH | R_BOUND | R_JSON, 2048, NULL },
    { "GET",    "/api/v1/attendance/field",              field_list,        R_SUPERVISOR | R_HR, 0, NULL },
    { "POST",   "/api/v1/attendance/field/:id/decision", field_decide,      R_SUPERVISOR | R_HR | R_JSON, 1024, NULL },
    { "POST",   "/api/v1/attendance/makeups",            makeup_post,       R_AUTH | R_BOUND | R_JSON, 4096, NULL },
    { "GET",    "/api/v1/attendance/makeups",            makeup_list,       R_AUTH, 0, NULL },
    { "POST",   "/api/v1/attendance/makeups/:id/decision", makeup_decide,   R_SUPERVISOR | R_HR | R_JSON, 1024, NULL },
    { "GET",    "/api/v1/reports/attendance",            reports_attendance, R_SUPERVISOR | R_HR, 0, NULL },
    { "GET",    "/api/v1/me/attendance",                 reports_me_attendance, R_AUTH | R_BOUND, 0, NULL },
    { "POST",   "/testing/moderate",                     moderation_testing, R_AUTH | R_JSON | R_TESTING, 16384, NULL },
    { "POST",   "/testing/notify",                       notify_testing,    R_PUBLIC | R_JSON | R_TESTING, 65536, NULL },
    { "POST",   "/testing/clock",                        testing_clock_set, R_PUBLIC | R_JSON | R_TESTING, 1024, NULL },
    { "POST",   "/api/v1/test/clock",                    testing_clock_set, R_PUBLIC | R_JSON | R_TESTING, 1024, NULL },
};

#define KNOWN_FLAGS (R_PUBLIC | R_AUTH | R_BOUND | R_JSON | R_CSV | R_ROLES | R_TESTING | R_RAW | R_PUSHPATH)

const struct route *routes_table(size_t *n)
{
    *n = GY_ARRAY_LEN(table);
    return table;
}

/* wechat.push_path must not take another endpoint's path. */
static int check_push_path(const char *path, char *err, size_t errsz)
{
    for (size_t i = 0; i < GY_ARRAY_LEN(table); i++) {
        struct route_params p;
        if (!(table[i].flags & R_PUSHPATH) && router_match_path(table[i].pattern, path, &p)) {
            snprintf(err, errsz, "config: bad value for wechat.push_path: %s is %s %s's path", path,
                     table[i].method, table[i].pattern);
            return GY_ERR;
        }
    }
    return GY_OK;
}

int routes_check(const char *push_path, char *err, size_t errsz)
{
    static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };

    for (size_t i = 0; i < GY_ARRAY_LEN(table); i++) {
        const struct route *rt = &table[i];
        bool method_ok = false;

        for (size_t m = 0; m < GY_ARRAY_LEN(methods); m++)
            method_ok |= strcmp(rt->method, methods[m]) == 0;
        if (!method_ok || rt->pattern[0] != '/' || strstr(rt->pattern, "//") ||
            (rt->flags & ~(unsigned)KNOWN_FLAGS) ||
            !(rt->flags & (R_PUBLIC | R_AUTH | R_ROLES)) ||
            ((rt->flags & R_PUBLIC) && (rt->flags & (R_AUTH | R_BOUND | R_ROLES))) ||
            !!(rt->flags & R_JSON) + !!(rt->flags & R_CSV) + !!(rt->flags & R_RAW) > 1) {
            snprintf(err, errsz, "route table: bad line %zu: %s %s", i + 1, rt->method, rt->pattern);
            return GY_ERR;
        }
    }
    return push_path ? check_push_path(push_path, err, errsz) : GY_OK;
}

static const struct { const char *name; unsigned bit; } role_names[] = {
    { "worker", R_WORKER },
    { "technician", R_TECH },
    { "supervisor", R_SUPERVISOR },
    { "hr", R_HR },
};

unsigned roles_parse(const char *s, bool *ok)
{
    unsigned roles = 0;

    *ok = true;
    while (*s) {
        const char *bar = strchr(s, '|');
        size_t n = bar ? (size_t)(bar - s) : strlen(s);
        bool found = false;

        while (n && s[0] == ' ')
            s++, n--;
        while (n && s[n - 1] == ' ')
            n--;
        for (size_t i = 0; i < GY_ARRAY_LEN(role_names); i++) {
            if (strlen(role_names[i].name) == n && strncmp(role_names[i].name, s, n) == 0) {
                roles |= role_names[i].bit;
                found = true;
            }
        }
        if (!found)
            *ok = false;
        s += bar ? (size_t)(bar - s) + 1 : strlen(s);
    }
    return roles;
}

void roles_format(unsigned roles, char *out, size_t outsz)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < GY_ARRAY_LEN(role_names); i++) {
        if (!(roles & role_names[i].bit))
            continue;
        int w = snprintf(out + o, outsz - o, "%s%s", o ? "|" : "", role_names[i].name);
        if (w < 0 || (size_t)w >= outsz - o)
            return;
        o += (size_t)w;
    }
}
