/* Unit tests for util.c: token hashing, base64url, UTF-8, numbers, JSON field checks. */
#include "gongyou.h"
#include "unit.h"

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static void sha256_vectors(void)
{
    char hex[65];

    gy_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    gy_sha256_hex("abc", 3, hex);
    CHECK_STR(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void b64url(void)
{
    char out[16];

    gy_b64url_encode((const unsigned char *)"", 0, out);
    CHECK_STR(out, "");
    gy_b64url_encode((const unsigned char *)"f", 1, out);
    CHECK_STR(out, "Zg");
    gy_b64url_encode((const unsigned char *)"fo", 2, out);
    CHECK_STR(out, "Zm8");
    gy_b64url_encode((const unsigned char *)"foo", 3, out);
    CHECK_STR(out, "Zm9v");
    gy_b64url_encode((const unsigned char *)"\xfb\xff\xbf", 3, out);
    CHECK_STR(out, "-_-_");
}

static void tokens(void)
{
    char a[44], b[44], ha[65], hb[65];

    gy_token_new(a);
    gy_token_new(b);
    CHECK(strlen(a) == 43);
    CHECK(strcmp(a, b) != 0);
    for (const char *c = a; *c; c++)
        CHECK((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_');
    gy_sha256_hex(a, strlen(a), ha);
    gy_sha256_hex(b, strlen(b), hb);
    CHECK(strcmp(ha, hb) != 0);
    CHECK(strstr(ha, a) == NULL);
    CHECK(gy_ct_equal("abcd", "abcd", 4));
    CHECK(!gy_ct_equal("abcd", "abce", 4));
}

static void utf8(void)
{
    CHECK(gy_utf8_valid("张三 abc", strlen("张三 abc"), UTF8_NO_CTL));
    CHECK(!gy_utf8_valid("\xd5\xc5\xc8\xfd", 4, UTF8_NO_CTL));         /* GBK 张三 */
    CHECK(!gy_utf8_valid("\xc0\xaf", 2, UTF8_NO_CTL));                 /* overlong */
    CHECK(!gy_utf8_valid("\xed\xa0\x80", 3, UTF8_NO_CTL));             /* surrogate */
    CHECK(!gy_utf8_valid("\xe5\xbc", 2, UTF8_NO_CTL));                 /* truncated */
    CHECK(!gy_utf8_valid("a\nb", 3, UTF8_NO_CTL));
    CHECK(gy_utf8_valid("a\r\nb", 4, UTF8_NL));
    CHECK(!gy_utf8_valid("a\x01", 2, UTF8_NL));
    CHECK(gy_utf8_valid("a\x01", 2, UTF8_ANY_CTL));
    CHECK(!gy_utf8_valid("\xff\x01", 2, UTF8_ANY_CTL));
    CHECK(gy_utf8_len("张三ab") == 4);
}

static void numbers(void)
{
    long long v;

    CHECK(gy_parse_ll("42", 0, 100, &v) == GY_OK && v == 42);
    CHECK(gy_parse_ll("-1", 0, 100, &v) == GY_ERR);
    CHECK(gy_parse_ll("101", 0, 100, &v) == GY_ERR);
    CHECK(gy_parse_ll("4x", 0, 100, &v) == GY_ERR);
    CHECK(gy_parse_ll("", 0, 100, &v) == GY_ERR);
    CHECK(gy_parse_ll(" 4", 0, 100, &v) == GY_ERR);
    CHECK(gy_parse_ll("99999999999999999999", 0, 100, &v) == GY_ERR);
}

static void trim(void)
{
    char a[] = "  x y \t\n", b[] = "", c[] = "   ";

    CHECK_STR(gy_trim(a), "x y");
    CHECK_STR(gy_trim(b), "");
    CHECK_STR(gy_trim(c), "");
}

static void json_fields(void)
{
    cJSON *o = cJSON_Parse("{\"s\":\"张三\",\"n\":1,\"z\":null,\"e\":\"\",\"nl\":\"a\\nb\",\"long\":\"abcdef\"}");

    CHECK(json_str_problem(cJSON_GetObjectItem(o, "s"), 1, 10) == NULL);
    CHECK_STR(json_str_problem(cJSON_GetObjectItem(o, "missing"), 1, 10), "missing");
    CHECK_STR(json_str_problem(cJSON_GetObjectItem(o, "z"), 1, 10), "missing");
    CHECK_STR(json_str_problem(cJSON_GetObjectItem(o, "n"), 1, 10), "not_a_string");
    CHECK_STR(json_str_problem(cJSON_GetObjectItem(o, "e"), 1, 10), "empty");
    CHECK_STR(json_str_problem(cJSON_GetObjectItem(o, "nl"), 1, 10), "bad_characters");
    CHECK_STR(json_str_problem(cJSON_GetObjectItem(o, "long"), 1, 5), "too_long");
    CHECK_STR(json_str_problem(cJSON_GetObjectItem(o, "s"), 3, 5), "too_short");
    /* Characters, not bytes: 张三 is 6 bytes but 2 characters. */
    CHECK(json_str_problem(cJSON_GetObjectItem(o, "s"), 2, 2) == NULL);
    cJSON_Delete(o);
}

static void clock_format_zone(void)
{
    char out[32];

    CHECK(clock_set_timezone("Asia/Shanghai") == GY_OK);
    clock_format(0, out);
    CHECK_STR(out, "1970-01-01T08:00:00+08:00");
    CHECK(clock_set_timezone("Nowhere/Atlantis") == GY_ERR);
    CHECK(clock_set_timezone("../etc/passwd") == GY_ERR);
    CHECK(clock_set_timezone("UTC") == GY_OK);
    clock_format(86400, out);
    CHECK_STR(out, "1970-01-02T00:00:00+00:00");
}

/* clock_format does its own arithmetic with a per-thread offset cache:
 * check it against strftime across DST changes, including a zone whose
 * offset moves by half an hour (Lord Howe). */
static void clock_format_dst(void)
{
    static const char *const zones[] = { "America/New_York", "Australia/Lord_Howe", "Asia/Shanghai" };

    for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
        CHECK(clock_set_timezone(zones[z]) == GY_OK);
        /* Every 7 minutes 13 seconds through 2026, and some far dates. */
        for (int64_t t = 1767225600; t < 1798761600; t += 433) {
            char got[32], want[40], zone[8];
            time_t tt = (time_t)t;
            struct tm tm;

            clock_format(t, got);
            localtime_r(&tt, &tm);
            strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%S", &tm);
            strftime(zone, sizeof zone, "%z", &tm);
            snprintf(want + strlen(want), sizeof want - strlen(want), "%.3s:%.2s", zone, zone + 3);
            if (strcmp(got, want) != 0) {
                CHECK_STR(got, want);
                break;
            }
        }
    }
    CHECK(clock_set_timezone("Asia/Shanghai") == GY_OK);
}

static void jout_text(void)
{
    struct jout j = { 0 };
    size_t len;
    char *text;

    jout_open(&j, NULL);
    jout_str(&j, "s", "a\"b\\c\n\x01张");
    jout_int(&j, "n", -42);
    jout_open(&j, "o");
    jout_null(&j, "z");
    jout_bool(&j, "t", true);
    jout_str(&j, "none", NULL);
    jout_close(&j);
    jout_time(&j, "never", 0);
    jout_open(&j, "empty");
    jout_close(&j);
    jout_close(&j);
    text = jout_take(&j, &len);
    CHECK_STR(text, "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001张\",\"n\":-42,"
                    "\"o\":{\"z\":null,\"t\":true,\"none\":null},\"never\":null,\"empty\":{}}");
    CHECK(len == strlen(text));
    free(text);

    jout_open(&j, NULL);
    jout_int(&j, "zero", 0);
    jout_int(&j, "min", INT64_MIN);
    jout_int(&j, "max", INT64_MAX);
    jout_close(&j);
    text = jout_take(&j, &len);
    CHECK_STR(text, "{\"zero\":0,\"min\":-9223372036854775808,\"max\":9223372036854775807}");
    free(text);
}

static void clock_parse_iso(void)
{
    int64_t t;

    CHECK(clock_parse("1970-01-01T08:00:00+08:00", &t) == GY_OK && t == 0);
    CHECK(clock_parse("1970-01-01T00:00:00Z", &t) == GY_OK && t == 0);
    CHECK(clock_parse("2026-11-23T08:03+08:00", &t) == GY_OK && t == 1795392180);
    CHECK(clock_parse("2026-11-23T00:03:00-05:30", &t) == GY_OK && t == 1795411980);
    CHECK(clock_parse("2026-11-23T08:03:00", &t) == GY_ERR);          /* no offset */
    CHECK(clock_parse("2026-13-23T08:03:00+08:00", &t) == GY_ERR);
    CHECK(clock_parse("2026-11-23T08:03:00+08:00junk", &t) == GY_ERR);
    CHECK(clock_parse("", &t) == GY_ERR);
}

static const struct unit_test tests[] = {
    { "clock_parse_iso", clock_parse_iso },
    { "sha256_vectors", sha256_vectors },
    { "b64url", b64url },
    { "tokens", tokens },
    { "utf8", utf8 },
    { "numbers", numbers },
    { "trim", trim },
    { "json_fields", json_fields },
    { "clock_format_zone", clock_format_zone },
    { "clock_format_dst", clock_format_dst },
    { "jout_text", jout_text },
};

int main(void)
{
    gy_json_hooks_init();
    return RUN_TESTS(tests);
}
