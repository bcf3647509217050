/*
 * fields.c - subscribe-message template data: the rule a key's prefix
 * picks ("thing3" -> thing) and wx_field_fit(), which makes a value obey
 * it or refuses it, so WeChat never answers 47003. Pure functions over
 * libc; values are worked on as arrays of code points, so a cut can never
 * split a UTF-8 sequence. Sending is api_msg.c's business, not this file's.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wx.h"

#define ELLIPSIS 0x2026u        /* "…", ends a value that was cut */

/*==== Characters ====*/

/*
 * Every code point falls in exactly one class. "Chinese" (C_HAN) means
 * the CJK Unified Ideographs (basic block, Extensions A to H) and the
 * compatibility ideographs, plus 〇; CJK and full-width punctuation are
 * symbols, not Chinese. Letters and digits are ASCII ones only. C1
 * controls, line/paragraph separators, zero-width space, bidi controls and
 * the BOM count as control characters. Kana, Hangul, accented Latin and
 * the rest are C_OTHER: allowed in free text only.
 */
enum {
    C_CTL = 1 << 0,     /* control and invisible formatting characters */
    C_SPACE = 1 << 1,   /* the ASCII space */
    C_WIDE = 1 << 2,    /* other spaces: NBSP, U+2000-U+200A, ideographic space ... */
    C_DIGIT = 1 << 3,   /* 0-9 */
    C_LETTER = 1 << 4,  /* A-Z a-z */
    C_PUNCT = 1 << 5,   /* ASCII symbols: ! " # ... ~ */
    C_SYMBOL = 1 << 6,  /* other symbols: ¥ × — … 、。【】 ★ → emoji ... */
    C_HAN = 1 << 7,     /* Chinese characters */
    C_OTHER = 1 << 8,   /* everything else */
    C_TEXT = (1 << 9) - 1 - C_CTL   /* whatever free text may hold */
};

static const struct span {
    uint32_t lo, hi;
    unsigned cls;
} spans[] = {                   /* sorted, disjoint; gaps are C_OTHER */
    { 0x0000, 0x001f, C_CTL },    { 0x0020, 0x0020, C_SPACE },  { 0x0021, 0x002f, C_PUNCT },
    { 0x0030, 0x0039, C_DIGIT },  { 0x003a, 0x0040, C_PUNCT },  { 0x0041, 0x005a, C_LETTER },
    { 0x005b, 0x0060, C_PUNCT },  { 0x0061, 0x007a, C_LETTER }, { 0x007b, 0x007e, C_PUNCT },
    { 0x007f, 0x009f, C_CTL },    { 0x00a0, 0x00a0, C_WIDE },   { 0x00a1, 0x00bf, C_SYMBOL },
    { 0x00d7, 0x00d7, C_SYMBOL }, { 0x00f7, 0x00f7, C_SYMBOL }, { 0x2000, 0x200a, C_WIDE },
    { 0x200b, 0x200b, C_CTL },    { 0x200e, 0x200f, C_CTL },    { 0x2010, 0x2027, C_SYMBOL },
    { 0x2028, 0x202e, C_CTL },    { 0x202f, 0x202f, C_WIDE },   { 0x2030, 0x205e, C_SYMBOL },
    { 0x205f, 0x205f, C_WIDE },   { 0x2060, 0x206f, C_CTL },    { 0x20a0, 0x20cf, C_SYMBOL },
    { 0x2100, 0x27bf, C_SYMBOL }, { 0x2900, 0x2bff, C_SYMBOL }, { 0x3000, 0x3000, C_WIDE },
    { 0x3001, 0x3004, C_SYMBOL }, { 0x3007, 0x3007, C_HAN },    { 0x3008, 0x3020, C_SYMBOL },
    { 0x3030, 0x3030, C_SYMBOL }, { 0x303d, 0x303d, C_SYMBOL }, { 0x3400, 0x4dbf, C_HAN },
    { 0x4e00, 0x9fff, C_HAN },    { 0xf900, 0xfaff, C_HAN },    { 0xfe10, 0xfe1f, C_SYMBOL },
    { 0xfe30, 0xfe6f, C_SYMBOL }, { 0xfeff, 0xfeff, C_CTL },    { 0xff01, 0xff0f, C_SYMBOL },
    { 0xff1a, 0xff20, C_SYMBOL }, { 0xff3b, 0xff40, C_SYMBOL }, { 0xff5b, 0xff65, C_SYMBOL },
    { 0xffe0, 0xffee, C_SYMBOL }, { 0x1f000, 0x1faff, C_SYMBOL }, { 0x20000, 0x2fa1f, C_HAN },
    { 0x30000, 0x323af, C_HAN },
};

static unsigned cls(uint32_t c)
{
    for (size_t i = 0; i < sizeof spans / sizeof spans[0] && spans[i].lo <= c; i++)
        if (c <= spans[i].hi)
            return spans[i].cls;
    return C_OTHER;
}

/*==== Text as code points ====*/

struct text {
    uint32_t *cp;           /* malloc'd, room for at least N */
    size_t n;
};

/* One code point from *P, advancing it; -1 on anything not strict UTF-8
 * (stray or missing continuation bytes, overlong forms, surrogates,
 * beyond U+10FFFF). The terminating NUL is never read past. */
static int next_cp(const unsigned char **p, uint32_t *out)
{
    const unsigned char *s = *p;
    uint32_t c, min;
    int more;

    if (s[0] < 0x80) {
        c = s[0], more = 0, min = 0;
    } else if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        c = s[0] & 0x1f, more = 1, min = 0x80;
    } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
        c = s[0] & 0x0f, more = 2, min = 0x800;
    } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        c = s[0] & 0x07, more = 3, min = 0x10000;
    } else {
        return -1;
    }
    for (int i = 1; i <= more; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return -1;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return -1;
    *p = s + 1 + more;
    *out = c;
    return 0;
}

/* Decode S into T (T->cp malloc'd even when -1 is returned). */
static int decode(const char *s, struct text *t)
{
    const unsigned char *p = (const unsigned char *)s;

    t->n = 0;
    t->cp = malloc((strlen(s) + 1) * sizeof *t->cp);
    if (!t->cp)
        return -1;
    while (*p)
        if (next_cp(&p, &t->cp[t->n++]) != 0)
            return -1;
    return 0;
}

/* A malloc'd UTF-8 copy of T, or NULL when out of memory. */
static char *encode(const struct text *t)
{
    char *s = malloc(t->n * 4 + 1), *p = s;

    if (!s)
        return NULL;
    for (size_t i = 0; i < t->n; i++) {
        uint32_t c = t->cp[i];
        if (c < 0x80) {
            *p++ = (char)c;
        } else if (c < 0x800) {
            *p++ = (char)(0xc0 | c >> 6);
            *p++ = (char)(0x80 | (c & 0x3f));
        } else if (c < 0x10000) {
            *p++ = (char)(0xe0 | c >> 12);
            *p++ = (char)(0x80 | (c >> 6 & 0x3f));
            *p++ = (char)(0x80 | (c & 0x3f));
        } else {
            *p++ = (char)(0xf0 | c >> 18);
            *p++ = (char)(0x80 | (c >> 12 & 0x3f));
            *p++ = (char)(0x80 | (c >> 6 & 0x3f));
            *p++ = (char)(0x80 | (c & 0x3f));
        }
    }
    *p = '\0';
    return s;
}

static int all_in(const struct text *t, unsigned allow)
{
    for (size_t i = 0; i < t->n; i++)
        if (!(cls(t->cp[i]) & allow))
            return 0;
    return 1;
}

/* Drop control characters and spaces at both ends. */
static void trim(struct text *t)
{
    size_t a = 0;

    while (t->n > 0 && (cls(t->cp[t->n - 1]) & (C_CTL | C_SPACE | C_WIDE)))
        t->n--;
    while (a < t->n && (cls(t->cp[a]) & (C_CTL | C_SPACE | C_WIDE)))
        a++;
    memmove(t->cp, t->cp + a, (t->n - a) * sizeof *t->cp);
    t->n -= a;
}

/* Free text: control characters and any spaces become one ASCII space. */
static void tidy(struct text *t)
{
    size_t n = 0;

    for (size_t i = 0; i < t->n; i++) {
        int blank = (cls(t->cp[i]) & (C_CTL | C_SPACE | C_WIDE)) != 0;
        if (!blank)
            t->cp[n++] = t->cp[i];
        else if (n > 0 && t->cp[n - 1] != ' ')
            t->cp[n++] = ' ';
    }
    t->n = n;
    trim(t);
}

/* Full-width ASCII (Ａ１：～, as a Chinese IME in full-width mode types
 * them) and wide spaces become plain ASCII. */
static void fold(struct text *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->cp[i] >= 0xff01 && t->cp[i] <= 0xff5e)
            t->cp[i] -= 0xfee0;
        else if (cls(t->cp[i]) == C_WIDE)
            t->cp[i] = ' ';
    }
}

/* Keep MAX - 1 characters (less any space or joiner left dangling at
 * the end) and add "…": MAX characters at most. T is tidied, so it does
 * not start with a space. */
static void cut(struct text *t, size_t max)
{
    size_t n = max - 1;

    while (n > 0 && (t->cp[n - 1] == ' ' || t->cp[n - 1] == 0x200d))
        n--;
    t->cp[n++] = ELLIPSIS;
    t->n = n;
}

/*==== Dates and times ====*/

/* A cursor over code points, for the small parsers below. */
struct cursor {
    const uint32_t *cp;
    size_t i, n;
};

static int lit(struct cursor *c, uint32_t ch)
{
    if (c->i < c->n && c->cp[c->i] == ch) {
        c->i++;
        return 1;
    }
    return 0;
}

/* MIN to MAX ASCII digits; their value into *V when V is not NULL
 * (callers pass V only with MAX <= 4). */
static int digits(struct cursor *c, size_t min, size_t max, int *v)
{
    size_t k = 0;
    int val = 0;

    for (; k < max && c->i < c->n && c->cp[c->i] >= '0' && c->cp[c->i] <= '9'; k++, c->i++)
        if (v)
            val = val * 10 + (int)(c->cp[c->i] - '0');
    if (v)
        *v = val;
    return k >= min;
}

/* Any number of ASCII spaces; 1 when there was at least one. */
static int spaces(struct cursor *c)
{
    size_t at = c->i;

    while (lit(c, ' '))
        ;
    return c->i > at;
}

#define NIAN 0x5e74u    /* 年 */
#define YUE 0x6708u     /* 月 */
#define RI 0x65e5u      /* 日 */

enum date_form { D_NONE, D_CN, D_YMD, D_YM, D_MD };

/* A date and/or a time of day, as parsed. */
struct point {
    enum date_form form;
    char sep;                   /* '-', '/' or '.' (D_YMD) */
    int y, mo, d;               /* y 0 for D_MD: any year, so 29 February passes */
    int has_clock, h, mi, s;    /* s < 0: no seconds */
};

/* The date forms: YYYY年M月D日, YYYY-MM-DD (also / and .), YYYY-MM, MM-DD.
 * Months and days may have one digit. */
static int date_cn(struct cursor *c, struct point *p)
{
    p->form = D_CN;
    return digits(c, 4, 4, &p->y) && lit(c, NIAN) && digits(c, 1, 2, &p->mo) && lit(c, YUE) &&
           digits(c, 1, 2, &p->d) && lit(c, RI);
}

static int date_ymd(struct cursor *c, struct point *p)
{
    uint32_t sep;

    p->form = D_YMD;
    if (!digits(c, 4, 4, &p->y) || c->i >= c->n)
        return 0;
    sep = c->cp[c->i++];
    if (sep != '-' && sep != '/' && sep != '.')
        return 0;
    p->sep = (char)sep;
    return digits(c, 1, 2, &p->mo) && lit(c, (uint32_t)p->sep) && digits(c, 1, 2, &p->d);
}

static int date_ym(struct cursor *c, struct point *p)
{
    p->form = D_YM;
    p->d = 1;
    return digits(c, 4, 4, &p->y) && lit(c, '-') && digits(c, 1, 2, &p->mo);
}

static int date_md(struct cursor *c, struct point *p)
{
    p->form = D_MD;
    p->y = 0;
    return digits(c, 1, 2, &p->mo) && lit(c, '-') && digits(c, 1, 2, &p->d);
}

static int days_in(int y, int mo)
{
    static const int days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = y == 0 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));

    return mo == 2 && !leap ? 28 : days[mo - 1];
}

/* The first date form that matches at C, with month and day checked;
 * 0 (C and P as they were) when none does. */
static int parse_date(struct cursor *c, struct point *p)
{
    static int (*const forms[])(struct cursor *, struct point *) = {
        date_cn, date_ymd, date_ym, date_md
    };
    size_t at = c->i;

    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        if (forms[i](c, p))
            return p->mo >= 1 && p->mo <= 12 && p->d >= 1 && p->d <= days_in(p->y, p->mo);
        c->i = at;
        memset(p, 0, sizeof *p);
    }
    return 0;
}

/* H:MM, HH:MM or HH:MM:SS, 24-hour. */
static int parse_clock(struct cursor *c, struct point *p)
{
    p->s = -1;
    if (!digits(c, 1, 2, &p->h) || !lit(c, ':') || !digits(c, 2, 2, &p->mi))
        return 0;
    if (lit(c, ':') && !digits(c, 2, 2, &p->s))
        return 0;
    p->has_clock = 1;
    return p->h <= 23 && p->mi <= 59 && p->s <= 59;
}

/* A date, then optionally spaces and a time (IS_DATE); or a time,
 * optionally after a date and spaces. */
static int parse_point(struct cursor *c, struct point *p, int is_date)
{
    size_t at = c->i;

    memset(p, 0, sizeof *p);
    if (parse_date(c, p)) {
        size_t end = c->i;
        if (spaces(c) && parse_clock(c, p))
            return 1;
        c->i = end;
        p->has_clock = 0;
        return is_date;
    }
    c->i = at;
    memset(p, 0, sizeof *p);
    return !is_date && parse_clock(c, p);
}

/* P written back in its own form, zero-padded ("2018-01-05 09:30"),
 * at BUF + *LEN; BUF has room for two points and a '~'. */
static void print_point(char *buf, size_t *len, size_t size, const struct point *p)
{
    char *b = buf + *len;
    size_t room = size - *len;
    int n = 0;

    if (p->form == D_CN)
        n = snprintf(b, room, "%04d年%d月%d日", p->y, p->mo, p->d);
    else if (p->form == D_YMD)
        n = snprintf(b, room, "%04d%c%02d%c%02d", p->y, p->sep, p->mo, p->sep, p->d);
    else if (p->form == D_YM)
        n = snprintf(b, room, "%04d-%02d", p->y, p->mo);
    else if (p->form == D_MD)
        n = snprintf(b, room, "%02d-%02d", p->mo, p->d);
    if (p->has_clock)
        n += snprintf(b + n, room - (size_t)n, "%s%02d:%02d", n ? " " : "", p->h, p->mi);
    if (p->has_clock && p->s >= 0)
        n += snprintf(b + n, room - (size_t)n, ":%02d", p->s);
    *len += (size_t)n;
}

/* POINT, or POINT~POINT (spaces around '~' dropped), rewritten padded. */
static int fit_moment(struct text *t, const char **why, int is_date)
{
    struct cursor c = { t->cp, 0, t->n };
    struct point a, b;
    char buf[96];               /* a point takes at most 26 bytes */
    size_t len = 0;
    int range = 0;

    if (!parse_point(&c, &a, is_date))
        goto bad;
    spaces(&c);
    if (lit(&c, '~')) {
        range = 1;
        spaces(&c);
        if (!parse_point(&c, &b, is_date))
            goto bad;
    }
    if (c.i != c.n)
        goto bad;
    print_point(buf, &len, sizeof buf, &a);
    if (range) {
        buf[len++] = '~';
        print_point(buf, &len, sizeof buf, &b);
    }
    free(t->cp);
    if (decode(buf, t) == 0)
        return 0;
    *why = "out of memory";     /* BUF is valid UTF-8: only malloc can fail */
    return -1;
bad:
    *why = is_date ? "not a date" : "not a time";
    return -1;
}

/*==== Rules ====*/

static int fit_time(struct text *t, const char **why)
{
    return fit_moment(t, why, 0);
}

static int fit_date(struct text *t, const char **why)
{
    return fit_moment(t, why, 1);
}

/* Digits with at most one decimal point between two of them. */
static int fit_number(struct text *t, const char **why)
{
    struct cursor c = { t->cp, 0, t->n };
    size_t most = t->n;         /* the length is checked later */

    if (digits(&c, 1, most, NULL) && (!lit(&c, '.') || digits(&c, 1, most, NULL)) && c.i == c.n)
        return 0;
    *why = "not a number";
    return -1;
}

/* [¥￥$€£] 1-10 digits [. 1-2 digits] [元] */
static int fit_amount(struct text *t, const char **why)
{
    static const uint32_t signs[] = { 0xa5, 0xffe5, '$', 0x20ac, 0xa3 };
    struct cursor c = { t->cp, 0, t->n };

    for (size_t i = 0; i < sizeof signs / sizeof signs[0]; i++)
        if (lit(&c, signs[i]))
            break;
    if (digits(&c, 1, 10, NULL) && (!lit(&c, '.') || digits(&c, 1, 2, NULL))) {
        lit(&c, 0x5143);        /* 元 */
        if (c.i == c.n)
            return 0;
    }
    *why = "not an amount";
    return -1;
}

static int fit_phone(struct text *t, const char **why)
{
    for (size_t i = 0; i < t->n; i++)
        if (cls(t->cp[i]) == C_DIGIT)
            return 0;
    *why = "not a phone number";
    return -1;
}

/* Separators (space, '-', '·', '•', '・') go, letters go upper-case; then
 * letters and digits, with a Chinese character allowed first and last. */
static int fit_car(struct text *t, const char **why)
{
    size_t n = 0, alnum = 0, i;

    for (i = 0; i < t->n; i++) {
        uint32_t ch = t->cp[i];
        if (ch == ' ' || ch == '-' || ch == 0xb7 || ch == 0x2022 || ch == 0x30fb)
            continue;
        t->cp[n++] = ch >= 'a' && ch <= 'z' ? ch - 32 : ch;
    }
    t->n = n;
    for (i = 0; i < n; i++) {
        unsigned k = cls(t->cp[i]);
        if (k & (C_DIGIT | C_LETTER))
            alnum++;
        else if (k != C_HAN || (i != 0 && i != n - 1))
            break;
    }
    if (i == n && alnum > 0)
        return 0;
    *why = "not a car number";
    return -1;
}

/* Up to 20 characters, or 10 once any is Chinese (or another non-Latin
 * letter); longer names are cut and end in "…". */
static int fit_name(struct text *t, const char **why)
{
    size_t max = 20;

    for (size_t i = 0; i < t->n; i++)
        if (cls(t->cp[i]) & (C_HAN | C_OTHER))
            max = 10;
    if (t->n > max)
        cut(t, max);
    return 0;
}

typedef int fit_fn(struct text *t, const char **why);

enum prep {
    TIDY,       /* free text: controls and space runs become one space, trimmed */
    TRIM,       /* spaces and controls dropped at both ends; a control inside refused */
    FOLD        /* TRIM, after full-width ASCII and wide spaces became ASCII */
};

/*
 * One line per type, in wx_field_type order. A value is decoded (invalid
 * UTF-8 refused), prepared (PREP), refused if empty, checked against
 * ALLOW (every character in one of those classes, else BAD), passed to
 * FIT, then held to MAX characters: cut to MAX with "…" at the end when
 * CUT, else refused. ALLOW 0 or MAX 0: FIT checks that itself.
 *
 * Over-long numbers, IDs, times ... are refused rather than cut, since a
 * cut would change what they say. character_string allows ASCII only (no
 * Chinese, no full-width symbols, no spaces); a number has no sign and its
 * point sits between digits; an amount has no sign either; a name holds no
 * digits; dates and times come back zero-padded ("2018-1-5 9:30" ->
 * "2018-01-05 09:30"), days are checked per month and leap year.
 */
static const struct rule {
    const char *prefix;
    enum prep prep;
    unsigned allow;
    const char *bad;
    fit_fn *fit;
    size_t max;
    int cut;
} rules[] = {
    /*                          prefix              prep  allow                         bad                       fit        max  cut */
    [WX_F_THING]            = { "thing",            TIDY, C_TEXT,                       NULL,                     NULL,       20, 1 },
    [WX_F_NUMBER]           = { "number",           FOLD, 0,                            NULL,                     fit_number, 32, 0 },
    [WX_F_LETTER]           = { "letter",           FOLD, C_LETTER,                     "not letters",            NULL,       32, 0 },
    [WX_F_SYMBOL]           = { "symbol",           TRIM, C_PUNCT | C_SYMBOL,           "not symbols",            NULL,        5, 0 },
    [WX_F_CHARACTER_STRING] = { "character_string", FOLD, C_DIGIT | C_LETTER | C_PUNCT, "not a character string", NULL,       32, 0 },
    [WX_F_TIME]             = { "time",             FOLD, 0,                            NULL,                     fit_time,    0, 0 },
    [WX_F_DATE]             = { "date",             FOLD, 0,                            NULL,                     fit_date,    0, 0 },
    [WX_F_AMOUNT]           = { "amount",           FOLD, 0,                            NULL,                     fit_amount,  0, 0 },
    [WX_F_PHONE_NUMBER]     = { "phone_number",     FOLD, C_DIGIT | C_PUNCT | C_SPACE,  "not a phone number",     fit_phone,  17, 0 },
    [WX_F_CAR_NUMBER]       = { "car_number",       FOLD, 0,                            NULL,                     fit_car,     8, 0 },
    [WX_F_NAME]             = { "name",             TIDY, C_TEXT & ~C_DIGIT,            "digits in a name",       fit_name,    0, 0 },
    [WX_F_PHRASE]           = { "phrase",           TRIM, C_HAN,                        "not chinese",            NULL,        5, 0 },
    /* One of the template's own values, which only the template knows. */
    [WX_F_ENUM]             = { "enum",             TRIM, C_TEXT,                       NULL,                     NULL,       32, 0 },
};

#define NRULES (sizeof rules / sizeof rules[0])

enum wx_field_type wx_field_type_of(const char *key)
{
    for (size_t t = 0; key && t < NRULES; t++) {
        size_t len = strlen(rules[t].prefix);
        const char *d = key + len;
        if (strncmp(key, rules[t].prefix, len) != 0 || !*d)
            continue;
        while (*d >= '0' && *d <= '9')
            d++;
        if (!*d)
            return (enum wx_field_type)t;
    }
    return WX_F_UNKNOWN;
}

const char *wx_field_type_name(enum wx_field_type t)
{
    return t >= 0 && (size_t)t < NRULES ? rules[t].prefix : "unknown";
}

/* Prepare T as R says; -1 (WHY set) when a control character stays inside. */
static int prepare(const struct rule *r, struct text *t, const char **why)
{
    if (r->prep == TIDY) {
        tidy(t);
        return 0;
    }
    if (r->prep == FOLD)
        fold(t);
    trim(t);
    if (all_in(t, C_TEXT))
        return 0;
    *why = "control character";
    return -1;
}

/* Run rule R on T; 0, or -1 with WHY set. */
static int apply(const struct rule *r, struct text *t, const char **why)
{
    if (prepare(r, t, why) != 0)
        return -1;
    if (t->n == 0) {
        *why = "empty";
        return -1;
    }
    if (r->allow && !all_in(t, r->allow)) {
        *why = r->bad;
        return -1;
    }
    if (r->fit && r->fit(t, why) != 0)
        return -1;
    if (r->max && t->n > r->max) {
        if (!r->cut) {
            *why = "too long";
            return -1;
        }
        cut(t, r->max);
    }
    return 0;
}

int wx_field_fit(const char *key, const char *value, char **out, const char **why)
{
    enum wx_field_type type = wx_field_type_of(key);
    struct text t = { NULL, 0 };
    const char *reason = NULL;
    char *fitted = NULL;

    if (!key || !value || !out)
        reason = "missing";
    else if (type == WX_F_UNKNOWN)
        reason = "unknown field type";
    else if (decode(value, &t) != 0)
        reason = t.cp ? "invalid utf-8" : "out of memory";
    else if (apply(&rules[type], &t, &reason) == 0 && !(fitted = encode(&t)))
        reason = "out of memory";
    free(t.cp);
    if (out)
        *out = fitted;
    if (why)
        *why = fitted ? NULL : reason;
    return fitted ? 0 : -1;
}
