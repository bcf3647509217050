/* Unit tests for config.c: defaults, keys, bad values, environment overrides. */
#include "gongyou.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

static int load_text(struct gy_config *cfg, const char *json, char *err, size_t errsz)
{
    FILE *f = fopen(path, "w");

    fputs(json, f);
    fclose(f);
    return config_load(cfg, path, err, errsz);
}

static void defaults(void)
{
    struct gy_config cfg;
    char err[256];

    CHECK(config_load(&cfg, NULL, err, sizeof err) == GY_OK);
    CHECK_STR(cfg.listen_host, "127.0.0.1");
    CHECK(cfg.listen_port == 8080);
    CHECK_STR(cfg.timezone, "Asia/Shanghai");
    CHECK_STR(cfg.wechat.api_base, "https://api.weixin.qq.com");
    CHECK(cfg.session.ttl_s == 7 * 86400);
    CHECK(!cfg.testing_clock);
    CHECK_STR(cfg.db.synchronous, "FULL");
    config_free(&cfg);
}

static void nested_keys(void)
{
    struct gy_config cfg;
    char err[256];

    CHECK(load_text(&cfg, "{\"listen\":\"0.0.0.0:0\",\"wechat\":{\"appid\":\"wx1\",\"api_base\":\"http://127.0.0.1:9/\"},"
                          "\"testing\":{\"clock\":true},\"session\":{\"ttl_s\":3600}}", err, sizeof err) == GY_OK);
    CHECK_STR(cfg.listen_host, "0.0.0.0");
    CHECK(cfg.listen_port == 0);
    CHECK_STR(cfg.wechat.appid, "wx1");
    CHECK_STR(cfg.wechat.api_base, "http://127.0.0.1:9");   /* trailing slash dropped */
    CHECK(cfg.testing_clock);
    CHECK(cfg.session.ttl_s == 3600);
    config_free(&cfg);
}

static void refused(void)
{
    static const struct { const char *json, *names; } cases[] = {
        { "{\"lisen\":\"x\"}", "lisen" },
        { "{\"wechat\":{\"apid\":\"x\"}}", "wechat.apid" },
        { "{\"listen\":\"nope\"}", "listen" },
        { "{\"listen\":\"h:70000\"}", "listen" },
        { "{\"session\":{\"ttl_s\":\"7d\"}}", "session.ttl_s" },
        { "{\"session\":{\"ttl_s\":1.5}}", "session.ttl_s" },
        { "{\"session\":{\"ttl_s\":5}}", "session.ttl_s" },
        { "{\"testing\":{\"clock\":1}}", "testing.clock" },
        { "{\"db\":{\"synchronous\":\"OFF\"}}", "db.synchronous" },
        { "{\"timezone\":\"Mars/Olympus\"}", "timezone" },
        { "{\"wechat\":{\"api_base\":\"ftp://x\"}}", "wechat.api_base" },
        { "{\"log_level\":\"loud\"}", "log_level" },
        { "[1]", "not a JSON object" },
        { "{", "not a JSON object" },
    };
    struct gy_config cfg;
    char err[256];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        err[0] = '\0';
        CHECK(load_text(&cfg, cases[i].json, err, sizeof err) == GY_ERR);
        if (!strstr(err, cases[i].names))
            fprintf(stderr, "case %zu: \"%s\" does not name %s\n", i, err, cases[i].names);
        CHECK(strstr(err, cases[i].names) != NULL);
        CHECK(strchr(err, '\n') == NULL);
    }
    CHECK(config_load(&cfg, "/nonexistent/gongyou.json", err, sizeof err) == GY_ERR);
    CHECK(strstr(err, "/nonexistent/gongyou.json") != NULL);
}

static void env_overrides(void)
{
    struct gy_config cfg;
    char err[256];

    setenv("GONGYOU_WX_SECRET", "from-env", 1);
    CHECK(load_text(&cfg, "{\"wechat\":{\"secret\":\"from-file\"}}", err, sizeof err) == GY_OK);
    CHECK_STR(cfg.wechat.secret, "from-env");
    config_free(&cfg);
    unsetenv("GONGYOU_WX_SECRET");
    CHECK(load_text(&cfg, "{\"wechat\":{\"secret\":\"from-file\"}}", err, sizeof err) == GY_OK);
    CHECK_STR(cfg.wechat.secret, "from-file");
    config_free(&cfg);
}

static const struct unit_test tests[] = {
    { "defaults", defaults },
    { "nested_keys", nested_keys },
    { "refused", refused },
    { "env_overrides", env_overrides },
};

int main(void)
{
    int rc;

    gy_json_hooks_init();
    snprintf(path, sizeof path, "/tmp/gy-config-test-%d.json", (int)getpid());
    rc = RUN_TESTS(tests);
    unlink(path);
    return rc;
}
