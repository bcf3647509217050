/* Unit tests for router.c (path patterns), routes.c (table and roles) and errors.c. */
#include "gongyou.h"
#include "unit.h"

static void exact_paths(void)
{
    struct route_params p;

    CHECK(router_match_path("/healthz", "/healthz", &p));
    CHECK(p.n == 0);
    CHECK(!router_match_path("/healthz", "/healthz/", &p));
    CHECK(!router_match_path("/healthz", "/health", &p));
    CHECK(!router_match_path("/api/v1/me", "/api/v1/me/x", &p));
    CHECK(!router_match_path("/api/v1/me", "/api/v1", &p));
    CHECK(!router_match_path("/a", "", &p));
}

static void params(void)
{
    struct route_params p;

    CHECK(router_match_path("/api/v1/admin/employees/:no/binding",
                            "/api/v1/admin/employees/E001/binding", &p));
    CHECK(p.n == 1);
    CHECK_STR(p.name[0], "no");
    CHECK_STR(p.value[0], "E001");
    CHECK(router_match_path("/x/:a/y/:b", "/x/1/y/%E5%BC%A0", &p));
    CHECK(p.n == 2);
    CHECK_STR(p.value[1], "张");
    /* An empty segment, an encoded slash or NUL, or bad escapes do not match. */
    CHECK(!router_match_path("/x/:a/b", "/x//b", &p));
    CHECK(!router_match_path("/x/:a", "/x/a%2Fb", &p));
    CHECK(!router_match_path("/x/:a", "/x/a%00", &p));
    CHECK(!router_match_path("/x/:a", "/x/%G1", &p));
    CHECK(!router_match_path("/x/:a", "/x/%4", &p));
}

static void long_param_refused(void)
{
    struct route_params p;
    char path[400] = "/x/";

    memset(path + 3, 'a', 300);
    path[303] = '\0';
    CHECK(!router_match_path("/x/:a", path, &p));
}

static void table_is_sound(void)
{
    char err[256];
    size_t n;
    const struct route *t = routes_table(&n);

    CHECK(routes_check("/wx/push", err, sizeof err) == GY_OK);
    CHECK(routes_check("/api/v1/me", err, sizeof err) == GY_ERR);
    CHECK(strstr(err, "wechat.push_path") != NULL);
    CHECK(n > 5);
    /* No two lines share a method and pattern. */
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(!(strcmp(t[i].method, t[j].method) == 0 && strcmp(t[i].pattern, t[j].pattern) == 0));
}

static void roles(void)
{
    bool ok;
    char out[64];

    CHECK(roles_parse("worker", &ok) == R_WORKER && ok);
    CHECK(roles_parse("worker|technician", &ok) == (R_WORKER | R_TECH) && ok);
    CHECK(roles_parse(" hr | supervisor ", &ok) == (R_HR | R_SUPERVISOR) && ok);
    roles_parse("boss", &ok);
    CHECK(!ok);
    roles_parse("worker||hr", &ok);
    CHECK(!ok);
    roles_format(R_HR | R_WORKER, out, sizeof out);
    CHECK_STR(out, "worker|hr");
    roles_format(0, out, sizeof out);
    CHECK_STR(out, "");
}

static void error_table(void)
{
    size_t n;
    const struct gy_error *t = errors_table(&n);

    for (size_t i = 0; i < n; i++) {
        CHECK(t[i].status >= 400 && t[i].status <= 599);
        CHECK(t[i].message[0] != '\0');
        for (const char *c = t[i].code; *c; c++)
            CHECK((*c >= 'a' && *c <= 'z') || *c == '_');
        for (size_t j = i + 1; j < n; j++)
            CHECK(strcmp(t[i].code, t[j].code) != 0);
    }
    CHECK(errors_find("wx_code_invalid")->status == 401);
    CHECK(errors_find("body_too_large")->status == 413);
}

static const struct unit_test tests[] = {
    { "exact_paths", exact_paths },
    { "params", params },
    { "long_param_refused", long_param_refused },
    { "table_is_sound", table_is_sound },
    { "roles", roles },
    { "error_table", error_table },
};

int main(void)
{
    return RUN_TESTS(tests);
}
