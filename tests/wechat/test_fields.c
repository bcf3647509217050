/*
 * test_fields.c - wechat/fields.c: which rule a template key picks, and
 * how wx_field_fit() fits or refuses values of every type. Lengths are
 * checked in code points with a UTF-8 reader of the test's own, and every
 * accepted value must come back valid, free of control characters and
 * unchanged when fitted a second time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wx.h"
#include "wxtest.h"


/* FIT: KEY's VALUE must come out as WANT. REFUSE: it must be refused for
 * WHY ("" = any reason). Both report the caller's line. */
#define FIT(key, value, want) fit_at(__FILE__, __LINE__, key, value, want, NULL)
#define REFUSE(key, value, why) fit_at(__FILE__, __LINE__, key, value, NULL, why)

#define ELL "\xe2\x80\xa6"      /* … */
#define GRIN "\xf0\x9f\x98\x80" /* 😀 U+1F600 */
#define EXTB "\xf0\xa0\x80\x80" /* 𠀀 U+20000 */

/* Code points in S, or -1 when S is not strict UTF-8 or holds a control
 * character (U+0000-U+001F, U+007F). Written apart from fields.c's own. */
static long cp_count(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    long n = 0;

    while (*p) {
        uint32_t c;
        int more;
        if (*p < 0x20 || *p == 0x7f)
            return -1;
        more = *p < 0x80 ? 0 : *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 : *p >= 0xc2 ? 1 : -1;
        if (more < 0 || *p > 0xf4)
            return -1;
        c = more ? *p & (0x3f >> more) : *p;
        for (int i = 1; i <= more; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return -1;
            c = c << 6 | (p[i] & 0x3f);
        }
        if ((more == 2 && c < 0x800) || (more == 3 && c < 0x10000) || c > 0x10ffff ||
            (c >= 0xd800 && c <= 0xdfff))
            return -1;
        p += 1 + more;
        n++;
    }
    return n;
}

static void fit_at(const char *file, int line, const char *key, const char *value,
                   const char *want, const char *want_why)
{
    char *out = (char *)&out;   /* must be overwritten either way */
    const char *why = "unset";
    int rc = wx_field_fit(key, value, &out, &why);

    if (want && (rc != 0 || !out || strcmp(out, want) != 0)) {
        fprintf(stderr, "%s:%d: %s \"%s\": got %d \"%s\" (%s), want \"%s\"\n", file, line, key,
                value, rc, rc == 0 && out ? out : "(null)", rc ? why : "ok", want);
        wxt_failures++;
    } else if (want && (why != NULL || cp_count(out) < 1)) {
        fprintf(stderr, "%s:%d: %s \"%s\": why set or bad output\n", file, line, key, value);
        wxt_failures++;
    } else if (!want && (rc != -1 || out != NULL || !why || !*why ||
                         (*want_why && strcmp(why, want_why) != 0))) {
        fprintf(stderr, "%s:%d: %s \"%s\": got %d \"%s\" (%s), want refused (%s)\n", file, line,
                key, value, rc, rc == 0 && out ? out : "(null)", why ? why : "NULL", want_why);
        wxt_failures++;
    }
    if (rc == 0)
        free(out);
}

/* N copies of S in BUF (of SIZE bytes). */
static char *rep(char *buf, size_t size, const char *s, int n)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        strncat(buf, s, size - strlen(buf) - 1);
    return buf;
}

/* A malloc'd fitted copy of VALUE, or NULL. */
static char *fitted(const char *key, const char *value)
{
    char *out = NULL;
    const char *why;

    return wx_field_fit(key, value, &out, &why) == 0 ? out : NULL;
}

/* VALUE fitted as thing1 is valid, at most 20 code points, and ends in
 * "…" exactly when CUT. */
static void thing_ok(const char *value, int cut)
{
    char *out = fitted("thing1", value);
    long n = out ? cp_count(out) : -1;

    EXPECT(out != NULL);
    EXPECT(n >= 1 && n <= 20);
    if (out && n > 0) {
        size_t len = strlen(out);
        EXPECT((len >= 3 && strcmp(out + len - 3, ELL) == 0) == cut);
        EXPECT(!cut || n == 20 || out[len - 4] != ' ');
    }
    free(out);
}

/*==== Keys ====*/

static void type_of(void)
{
    static const struct {
        const char *key;
        enum wx_field_type t;
    } cases[] = {
        { "thing1", WX_F_THING }, { "thing12", WX_F_THING }, { "thing01", WX_F_THING },
        { "number2", WX_F_NUMBER }, { "letter3", WX_F_LETTER }, { "symbol4", WX_F_SYMBOL },
        { "character_string5", WX_F_CHARACTER_STRING }, { "time6", WX_F_TIME },
        { "date7", WX_F_DATE }, { "amount8", WX_F_AMOUNT },
        { "phone_number9", WX_F_PHONE_NUMBER }, { "car_number10", WX_F_CAR_NUMBER },
        { "name11", WX_F_NAME }, { "phrase12", WX_F_PHRASE },
        { "thing", WX_F_UNKNOWN }, { "things1", WX_F_UNKNOWN }, { "thing1a", WX_F_UNKNOWN },
        { "Thing1", WX_F_UNKNOWN }, { "THING1", WX_F_UNKNOWN }, { " thing1", WX_F_UNKNOWN },
        { "thing1 ", WX_F_UNKNOWN }, { "thing-1", WX_F_UNKNOWN }, { "thing_1", WX_F_UNKNOWN },
        { "thing\xef\xbc\x91", WX_F_UNKNOWN }, { "", WX_F_UNKNOWN }, { "1", WX_F_UNKNOWN },
        { "character1", WX_F_UNKNOWN }, { "string1", WX_F_UNKNOWN }, { "phone1", WX_F_UNKNOWN },
        { "car1", WX_F_UNKNOWN }, { "number", WX_F_UNKNOWN }, { "phone_number", WX_F_UNKNOWN },
        { "enum1", WX_F_ENUM }, { "enum", WX_F_UNKNOWN }, { "names1", WX_F_UNKNOWN }, { "time1:", WX_F_UNKNOWN },
        { "date1\n", WX_F_UNKNOWN }, { "phrase", WX_F_UNKNOWN }, { "amount1.5", WX_F_UNKNOWN },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (wx_field_type_of(cases[i].key) != cases[i].t) {
            fprintf(stderr, "%s:%d: type of \"%s\" is %d, want %d\n", __FILE__, __LINE__,
                    cases[i].key, (int)wx_field_type_of(cases[i].key), (int)cases[i].t);
            wxt_failures++;
        }
    EXPECT(wx_field_type_of(NULL) == WX_F_UNKNOWN);
}

static void type_name(void)
{
    static const char *const names[] = {
        "thing", "number", "letter", "symbol", "character_string", "time", "date", "amount",
        "phone_number", "car_number", "name", "phrase"
    };
    char key[64];

    for (int t = WX_F_THING; t <= WX_F_PHRASE; t++) {
        EXPECT(strcmp(wx_field_type_name((enum wx_field_type)t), names[t]) == 0);
        snprintf(key, sizeof key, "%s%d", names[t], t + 1);
        EXPECT(wx_field_type_of(key) == (enum wx_field_type)t);
    }
    EXPECT(strcmp(wx_field_type_name(WX_F_UNKNOWN), "unknown") == 0);
    EXPECT(strcmp(wx_field_type_name((enum wx_field_type)99), "unknown") == 0);
}

static void bad_calls(void)
{
    char *out = (char *)&out;
    const char *why = NULL;

    REFUSE("enums1", "x", "unknown field type");
    FIT("enum1", " 已完成 ", "已完成");            /* enum: basic checks only */
    REFUSE("enum2", "a\x01" "b", "control character");
    REFUSE("thing", "x", "unknown field type");
    REFUSE(NULL, "x", "missing");
    REFUSE("thing1", NULL, "missing");
    EXPECT(wx_field_fit("thing1", "x", NULL, &why) == -1 && strcmp(why, "missing") == 0);
    EXPECT(wx_field_fit("thing1", "x", &out, NULL) == 0 && strcmp(out, "x") == 0);
    free(out);
    EXPECT(wx_field_fit("number1", "x", &out, NULL) == -1 && out == NULL);
}

/*==== Free text ====*/

static void thing_lengths(void)
{
    char v[256], w[256];

    FIT("thing1", rep(v, sizeof v, "中", 19), rep(w, sizeof w, "中", 19));
    FIT("thing1", rep(v, sizeof v, "中", 20), rep(w, sizeof w, "中", 20));
    FIT("thing1", rep(v, sizeof v, "中", 21), strcat(rep(w, sizeof w, "中", 19), ELL));
    FIT("thing1", rep(v, sizeof v, "a", 19), rep(w, sizeof w, "a", 19));
    FIT("thing1", rep(v, sizeof v, "a", 20), rep(w, sizeof w, "a", 20));
    FIT("thing1", rep(v, sizeof v, "a", 21), strcat(rep(w, sizeof w, "a", 19), ELL));
    FIT("thing1", rep(v, sizeof v, "a", 200), strcat(rep(w, sizeof w, "a", 19), ELL));
    FIT("thing1", rep(v, sizeof v, "中a", 10), rep(w, sizeof w, "中a", 10));
    FIT("thing1", strcat(rep(v, sizeof v, "中a", 10), "!"),
        strcat(strcat(rep(w, sizeof w, "中a", 9), "中"), ELL));
    FIT("thing1", "维修单已受理：3号楼2单元", "维修单已受理：3号楼2单元");
    thing_ok(rep(v, sizeof v, "中", 21), 1);
    thing_ok(rep(v, sizeof v, "中a", 11), 1);
    thing_ok(rep(v, sizeof v, "x", 20), 0);
}

/* 4-byte sequences at and around the cut point stay whole. */
static void thing_four_byte(void)
{
    char v[256], w[256];

    FIT("thing1", rep(v, sizeof v, GRIN, 20), rep(w, sizeof w, GRIN, 20));
    FIT("thing1", rep(v, sizeof v, GRIN, 21), strcat(rep(w, sizeof w, GRIN, 19), ELL));
    FIT("thing1", rep(v, sizeof v, EXTB, 21), strcat(rep(w, sizeof w, EXTB, 19), ELL));
    /* emoji as the 19th character: kept, then "…" */
    FIT("thing1", strcat(rep(v, sizeof v, "a", 18), GRIN "bb"),
        strcat(rep(w, sizeof w, "a", 18), GRIN ELL));
    /* emoji as the 20th character of 21: dropped whole */
    FIT("thing1", strcat(rep(v, sizeof v, "a", 19), GRIN "b"),
        strcat(rep(w, sizeof w, "a", 19), ELL));
    /* exactly 20 with the emoji last: untouched */
    FIT("thing1", strcat(rep(v, sizeof v, "a", 19), EXTB), strcat(rep(w, sizeof w, "a", 19), EXTB));
    thing_ok(strcat(rep(v, sizeof v, "中", 18), EXTB GRIN EXTB), 1);
    thing_ok(strcat(rep(v, sizeof v, EXTB "a", 10), GRIN), 1);
}

static void thing_spaces(void)
{
    char v[256], w[256];

    FIT("thing1", "第一行\n第二行", "第一行 第二行");
    FIT("thing1", "a\r\n\tb", "a b");
    FIT("thing1", "  a   b  ", "a b");
    FIT("thing1", "\x01x\x7fy\x1f", "x y");
    FIT("thing1", "a\xc2\x85" "b", "a b");                 /* U+0085 NEL */
    FIT("thing1", "a\xe2\x80\xa8" "b", "a b");             /* U+2028 */
    FIT("thing1", "\xef\xbb\xbf" "a", "a");                /* BOM */
    FIT("thing1", "甲\xe3\x80\x80\xe3\x80\x80乙", "甲 乙");   /* ideographic spaces */
    FIT("thing1", "a\xc2\xa0" "b", "a b");                 /* NBSP */
    REFUSE("thing1", "", "empty");
    REFUSE("thing1", "   ", "empty");
    REFUSE("thing1", " \n\t\r\x0b\x0c ", "empty");
    REFUSE("thing1", "\xe3\x80\x80", "empty");
    /* spaces collapse before counting: 14 + 1 + 5 = 20 */
    FIT("thing1", strcat(rep(v, sizeof v, "a", 14), "\n\n\n\t  bbbbb"),
        strcat(rep(w, sizeof w, "a", 14), " bbbbb"));
    /* no space left before the ellipsis */
    FIT("thing1", strcat(rep(v, sizeof v, "a", 18), " bbbb"),
        strcat(rep(w, sizeof w, "a", 18), ELL));
}

static void name(void)
{
    char v[256], w[256];

    FIT("name1", "张三", "张三");
    FIT("name1", rep(v, sizeof v, "张", 10), rep(w, sizeof w, "张", 10));
    FIT("name1", rep(v, sizeof v, "张", 11), strcat(rep(w, sizeof w, "张", 9), ELL));
    FIT("name1", rep(v, sizeof v, "a", 20), rep(w, sizeof w, "a", 20));
    FIT("name1", rep(v, sizeof v, "a", 21), strcat(rep(w, sizeof w, "a", 19), ELL));
    FIT("name1", "John Smith", "John Smith");
    FIT("name1", "O'Brien-Smith", "O'Brien-Smith");
    FIT("name1", "张三abcdefg", "张三abcdefg");         /* mixed, 9 */
    FIT("name1", "张三abcdefghi", "张三abcdefg" ELL);   /* mixed, 11: counts as Chinese */
    FIT("name1", "John\nSmith", "John Smith");
    FIT("name1", "李\t四\x01", "李 四");
    FIT("name1", "  王五  ", "王五");
    FIT("name1", "Zo\xc3\xab", "Zo\xc3\xab");
    REFUSE("name1", "", "empty");
    REFUSE("name1", " \n ", "empty");
    REFUSE("name1", "张三2", "digits in a name");
    REFUSE("name1", "Agent 007", "digits in a name");
}

/*==== Strict types ====*/

static void number(void)
{
    char v[64];

    FIT("number1", "12.5", "12.5");
    FIT("number1", "0", "0");
    FIT("number1", "007", "007");
    FIT("number1", " 42\n", "42");
    FIT("number1", "\xef\xbc\x91\xef\xbc\x92", "12");  /* full-width １２ */
    FIT("number1", rep(v, sizeof v, "9", 32), v);
    REFUSE("number1", rep(v, sizeof v, "9", 33), "too long");
    REFUSE("number1", strcat(rep(v, sizeof v, "9", 31), ".5"), "too long");
    REFUSE("number1", "1.2.3", "not a number");
    REFUSE("number1", "12a", "not a number");
    REFUSE("number1", "", "empty");
    REFUSE("number1", " ", "empty");
    REFUSE("number1", "-1", "not a number");
    REFUSE("number1", "+1", "not a number");
    REFUSE("number1", ".5", "not a number");
    REFUSE("number1", "5.", "not a number");
    REFUSE("number1", "1 000", "not a number");
    REFUSE("number1", "1,000", "not a number");
    REFUSE("number1", "1\n2", "control character");
    REFUSE("number1", "一", "not a number");
}

static void letter(void)
{
    char v[64];

    FIT("letter1", "abcXYZ", "abcXYZ");
    FIT("letter1", "\xef\xbd\x81\xef\xbd\x82", "ab");  /* ａｂ */
    FIT("letter1", rep(v, sizeof v, "z", 32), v);
    REFUSE("letter1", rep(v, sizeof v, "z", 33), "too long");
    REFUSE("letter1", "abc1", "not letters");
    REFUSE("letter1", "ab c", "not letters");
    REFUSE("letter1", "ab-c", "not letters");
    REFUSE("letter1", "中", "not letters");
    REFUSE("letter1", "\xc3\xa9", "not letters");
    REFUSE("letter1", "", "empty");
}

static void symbol(void)
{
    FIT("symbol1", "!", "!");
    FIT("symbol1", "!?#$%", "!?#$%");
    FIT("symbol1", "\xe2\x98\x85\xe2\x98\x85", "\xe2\x98\x85\xe2\x98\x85"); /* ★★ */
    FIT("symbol1", "。！", "。！");
    FIT("symbol1", " ~ ", "~");
    REFUSE("symbol1", "!?#$%^", "too long");
    REFUSE("symbol1", "a!", "not symbols");
    REFUSE("symbol1", "1", "not symbols");
    REFUSE("symbol1", "中", "not symbols");
    REFUSE("symbol1", "! !", "not symbols");
    REFUSE("symbol1", "!\t!", "control character");
    REFUSE("symbol1", "", "empty");
}

static void character_string(void)
{
    char v[64];

    FIT("character_string1", "ORD-2024-0001", "ORD-2024-0001");
    FIT("character_string1", "a_b.c/d#1", "a_b.c/d#1");
    FIT("character_string1", rep(v, sizeof v, "A1", 16), v);
    REFUSE("character_string1", strcat(rep(v, sizeof v, "A1", 16), "x"), "too long");
    REFUSE("character_string1", "abc中", "not a character string");
    REFUSE("character_string1", "订单123", "not a character string");
    REFUSE("character_string1", "a b", "not a character string");
    REFUSE("character_string1", "caf\xc3\xa9", "not a character string");
    REFUSE("character_string1", "i\x7f" "d", "control character");
    REFUSE("character_string1", "", "empty");
}

static void time_values(void)
{
    FIT("time1", "15:01", "15:01");
    FIT("time1", "00:00", "00:00");
    FIT("time1", "23:59:59", "23:59:59");
    FIT("time1", "9:05", "09:05");
    FIT("time1", "2019年10月1日 15:01", "2019年10月1日 15:01");
    FIT("time1", "2019-10-01 15:01:02", "2019-10-01 15:01:02");
    FIT("time1", "2019/10/01 15:01", "2019/10/01 15:01");
    FIT("time1", "10-01 08:30", "10-01 08:30");
    FIT("time1", "15:01~16:00", "15:01~16:00");
    FIT("time1", "15:01 ~ 16:00", "15:01~16:00");
    FIT("time1", "15\xef\xbc\x9a" "01\xef\xbd\x9e" "16:00", "15:01~16:00"); /* ：～ */
    FIT("time1", "2019年10月1日 15:01~2019年10月1日 17:00",
        "2019年10月1日 15:01~2019年10月1日 17:00");
    FIT("time1", "2019-10-01 22:00~06:00", "2019-10-01 22:00~06:00");
    FIT("time1", " 15:01\n", "15:01");
    REFUSE("time1", "25:00", "not a time");
    REFUSE("time1", "24:00", "not a time");
    REFUSE("time1", "15:60", "not a time");
    REFUSE("time1", "15:01:60", "not a time");
    REFUSE("time1", "15:1", "not a time");
    REFUSE("time1", "15", "not a time");
    REFUSE("time1", "123:00", "not a time");
    REFUSE("time1", "15:01:", "not a time");
    REFUSE("time1", "15:01~", "not a time");
    REFUSE("time1", "~15:01", "not a time");
    REFUSE("time1", "15:01~16:00~17:00", "not a time");
    REFUSE("time1", "2019年10月1日", "not a time");
    REFUSE("time1", "2019-10-0115:01", "not a time");
    REFUSE("time1", "2019-02-30 15:01", "not a time");
    REFUSE("time1", "3pm", "not a time");
    FIT("time1", "15:01\t", "15:01");
    REFUSE("time1", "15:\t01", "control character");
    REFUSE("time1", "", "empty");
}

static void date_values(void)
{
    FIT("date1", "2019年10月1日", "2019年10月1日");
    FIT("date1", "2019年01月01日", "2019年1月1日");
    FIT("date1", "2018-01-01", "2018-01-01");
    FIT("date1", "2018/01/01", "2018/01/01");
    FIT("date1", "2018.01.01", "2018.01.01");
    FIT("date1", "2018-01", "2018-01");
    FIT("date1", "01-01", "01-01");
    FIT("date1", "2018-1-5", "2018-01-05");
    FIT("date1", "1-5", "01-05");
    FIT("date1", "2018-01-01 15:01", "2018-01-01 15:01");
    FIT("date1", "2018-01-01  9:01:02", "2018-01-01 09:01:02");
    FIT("date1", "2018-01-01~2018-01-05", "2018-01-01~2018-01-05");
    FIT("date1", "2019年10月1日 ~ 2019年10月7日", "2019年10月1日~2019年10月7日");
    FIT("date1", "2020-02-29", "2020-02-29");
    FIT("date1", "2000-02-29", "2000-02-29");
    FIT("date1", "02-29", "02-29");
    FIT("date1", "2018-12-31", "2018-12-31");
    FIT("date1", "2018-12-31 ", "2018-12-31");
    REFUSE("date1", "2018-13-01", "not a date");
    REFUSE("date1", "2018-00-10", "not a date");
    REFUSE("date1", "2018-01-00", "not a date");
    REFUSE("date1", "2018-01-32", "not a date");
    REFUSE("date1", "2018-02-30", "not a date");
    REFUSE("date1", "2018-02-29", "not a date");
    REFUSE("date1", "1900-02-29", "not a date");
    REFUSE("date1", "2018-04-31", "not a date");
    REFUSE("date1", "02-30", "not a date");
    REFUSE("date1", "2018-13", "not a date");
    REFUSE("date1", "2018/01-01", "not a date");
    REFUSE("date1", "2018/01", "not a date");
    REFUSE("date1", "18-01-01", "not a date");
    REFUSE("date1", "2018-01-01T15:01", "not a date");
    REFUSE("date1", "2018-01-01 25:01", "not a date");
    REFUSE("date1", "2018-01-01~", "not a date");
    REFUSE("date1", "15:01", "not a date");
    REFUSE("date1", "2018年1月", "not a date");
    REFUSE("date1", "10月1日", "not a date");
    REFUSE("date1", "yesterday", "not a date");
    REFUSE("date1", "", "empty");
}

static void amount(void)
{
    FIT("amount1", "\xc2\xa5" "100.00", "\xc2\xa5" "100.00");  /* ¥ */
    FIT("amount1", "\xef\xbf\xa5" "5", "\xef\xbf\xa5" "5");     /* ￥ */
    FIT("amount1", "100元", "100元");
    FIT("amount1", "100.5元", "100.5元");
    FIT("amount1", "$3.5", "$3.5");
    FIT("amount1", "\xe2\x82\xac" "1", "\xe2\x82\xac" "1");     /* € */
    FIT("amount1", "\xc2\xa3" "2.50", "\xc2\xa3" "2.50");       /* £ */
    FIT("amount1", "100", "100");
    FIT("amount1", "1234567890", "1234567890");
    FIT("amount1", " 100.00 ", "100.00");
    REFUSE("amount1", "12345678901", "not an amount");
    REFUSE("amount1", "\xc2\xa5" "12345678901", "not an amount");
    REFUSE("amount1", "1.234", "not an amount");
    REFUSE("amount1", "1.", "not an amount");
    REFUSE("amount1", "-5", "not an amount");
    REFUSE("amount1", "\xc2\xa5-5", "not an amount");
    REFUSE("amount1", "1,000", "not an amount");
    REFUSE("amount1", "\xc2\xa5 100", "not an amount");
    REFUSE("amount1", "$$1", "not an amount");
    REFUSE("amount1", "元", "not an amount");
    REFUSE("amount1", "\xc2\xa5", "not an amount");
    REFUSE("amount1", "100元元", "not an amount");
    REFUSE("amount1", "", "empty");
}

static void phone_number(void)
{
    FIT("phone_number1", "+86-0766-66888866", "+86-0766-66888866");
    FIT("phone_number1", "13800001234", "13800001234");
    FIT("phone_number1", "(0766) 6688 8866", "(0766) 6688 8866");
    FIT("phone_number1", "138\xef\xbc\x90" "0001234", "13800001234");
    REFUSE("phone_number1", "+86-0766-668888661", "too long");
    REFUSE("phone_number1", "call 110", "not a phone number");
    REFUSE("phone_number1", "---", "not a phone number");
    REFUSE("phone_number1", "一三八", "not a phone number");
    REFUSE("phone_number1", "", "empty");
}

static void car_number(void)
{
    FIT("car_number1", "粤A8Z888挂", "粤A8Z888挂");
    FIT("car_number1", "粤A12345", "粤A12345");
    FIT("car_number1", "京AD12345", "京AD12345");
    FIT("car_number1", "粤a12345", "粤A12345");
    FIT("car_number1", "粤A\xc2\xb7" "12345", "粤A12345");     /* 粤A·12345 */
    FIT("car_number1", "京A D1234-5", "京AD12345");
    FIT("car_number1", "WJ12345", "WJ12345");
    REFUSE("car_number1", "粤A8Z8888挂", "too long");
    REFUSE("car_number1", "粤A12中45", "not a car number");
    REFUSE("car_number1", "粤", "not a car number");
    REFUSE("car_number1", "粤挂", "not a car number");
    REFUSE("car_number1", "粤A_123", "not a car number");
    REFUSE("car_number1", "-", "not a car number");
    REFUSE("car_number1", "", "empty");
}

static void phrase(void)
{
    FIT("phrase1", "配送中", "配送中");
    FIT("phrase1", "已完成", "已完成");
    FIT("phrase1", "一二三四五", "一二三四五");
    FIT("phrase1", " 配送中\n", "配送中");
    REFUSE("phrase1", "配送中ab", "not chinese");
    REFUSE("phrase1", "已完成已完成", "too long");
    REFUSE("phrase1", "配送 中", "not chinese");
    REFUSE("phrase1", "配送中。", "not chinese");
    REFUSE("phrase1", "ok", "not chinese");
    REFUSE("phrase1", "", "empty");
}

/*==== Every type ====*/

static const char *const keys[] = {
    "thing1", "number1", "letter1", "symbol1", "character_string1", "time1", "date1",
    "amount1", "phone_number1", "car_number1", "name1", "phrase1"
};

static void invalid_utf8(void)
{
    static const char *const bad[] = {
        "\xff", "\xfe", "\x80", "a\x80" "b", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\xaf",
        "\xf0\x80\x80\xaf", "\xed\xa0\x80", "\xed\xbf\xbf", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
        "\xe5\xbc", "\xe4\xb8\xad\xe6", "\xf0\x9f\x98", "\xc3", "12\xc3", "15:01\xff",
        "\xe4\xb8" "a", "配送\xad",
    };
    char v[256];

    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            REFUSE(keys[k], bad[i], "invalid utf-8");
    /* far beyond the cut point still counts */
    REFUSE("thing1", strcat(rep(v, sizeof v, "a", 40), "\xff"), "invalid utf-8");
    REFUSE("name1", strcat(rep(v, sizeof v, "张", 20), "\xe5"), "invalid utf-8");
}

/* Per type, the most code points an accepted value may have. */
static const long max_len[] = { 20, 32, 32, 5, 32, 41, 41, 15, 17, 8, 20, 5 };

/* Whatever is accepted is valid, short enough, and a fixed point. */
static void check_output(size_t k, const char *value)
{
    char *out = fitted(keys[k], value), *again;
    long n;

    if (!out)
        return;
    n = cp_count(out);
    EXPECT(n >= 1 && n <= max_len[k]);
    again = fitted(keys[k], out);
    EXPECT(again && strcmp(again, out) == 0);
    if (!again || strcmp(again, out) != 0 || n < 1 || n > max_len[k])
        fprintf(stderr, "  %s \"%s\" -> \"%s\" -> \"%s\"\n", keys[k], value, out,
                again ? again : "(refused)");
    free(again);
    free(out);
}

/* Random strings from pieces that matter (controls, spaces, ASCII,
 * Chinese, 4-byte sequences, separators, broken bytes) for every type. */
static void random_values(void)
{
    static const char *const pieces[] = {
        "a", "Z", "0", "9", "1", "2", ".", "-", ":", "~", "/", " ", "  ", "\n", "\t", "\x01",
        "\x7f", "中", "年", "月", "日", "元", "挂", GRIN, EXTB, ELL, "\xc2\xa5", "\xef\xbc\x91",
        "\xe3\x80\x80", "\xc2\x85", "!", "+", "(", "\xff", "\xe4\xb8", "15:30", "2018-02-28",
        "2019年10月1日", "\xc3\xa9", "\xe2\x80\x8d", "粤A",
    };
    unsigned long seed = 12345;
    char v[512];

    for (int round = 0; round < 4000; round++) {
        int len = (int)(seed % 30);
        v[0] = '\0';
        for (int i = 0; i < len; i++) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            strncat(v, pieces[(seed >> 33) % (sizeof pieces / sizeof pieces[0])],
                    sizeof v - strlen(v) - 1);
        }
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            check_output(k, v);
    }
}

/* The same for times and dates, from the pieces they are made of. */
static void random_moments(void)
{
    static const char *const pieces[] = {
        "0", "1", "2", "3", "9", "01", "12", "23", "29", "30", "31", "59", "60", "2019", "2020",
        "-", "-", "/", ".", ":", ":", " ", " ", "~", "年", "月", "日", "\xef\xbc\x9a", "\t",
        "15:30", "2018-02-", "2019年10月", "2018-02-28", "2020/2/29", "2019.12.31", "12-31",
        "2019年10月1日", "9:05:07", "2021-07",
    };
    unsigned long seed = 99;
    char v[256];

    for (int round = 0; round < 20000; round++) {
        int len = (int)(seed % 12) + 1;
        v[0] = '\0';
        for (int i = 0; i < len; i++) {
            seed = seed * 6364136223846793005UL + 1442695040888963407UL;
            strncat(v, pieces[(seed >> 33) % (sizeof pieces / sizeof pieces[0])],
                    sizeof v - strlen(v) - 1);
        }
        seed = seed * 6364136223846793005UL + 1442695040888963407UL;
        check_output(WX_F_TIME, v);
        check_output(WX_F_DATE, v);
    }
}

/* A long value is read whole and cut once. */
static void long_values(void)
{
    size_t n = 100000;
    char *v = malloc(n * 3 + 1), *out;

    EXPECT(v != NULL);
    if (!v)
        return;
    rep(v, n * 3 + 1, "中", (int)n);
    out = fitted("thing1", v);
    EXPECT(out && cp_count(out) == 20);
    free(out);
    REFUSE("number1", v, "not a number");
    free(v);
}

static const struct wxt_test tests[] = {
    { "type_of", NULL, type_of },
    { "type_name", NULL, type_name },
    { "bad_calls", NULL, bad_calls },
    { "thing_lengths", NULL, thing_lengths },
    { "thing_four_byte", NULL, thing_four_byte },
    { "thing_spaces", NULL, thing_spaces },
    { "name", NULL, name },
    { "number", NULL, number },
    { "letter", NULL, letter },
    { "symbol", NULL, symbol },
    { "character_string", NULL, character_string },
    { "time", NULL, time_values },
    { "date", NULL, date_values },
    { "amount", NULL, amount },
    { "phone_number", NULL, phone_number },
    { "car_number", NULL, car_number },
    { "phrase", NULL, phrase },
    { "invalid_utf8", NULL, invalid_utf8 },
    { "random_values", NULL, random_values },
    { "random_moments", NULL, random_moments },
    { "long_values", NULL, long_values },
};

int main(void)
{
    return wxt_run(tests, sizeof tests / sizeof tests[0], NULL) ? 1 : 0;
}
