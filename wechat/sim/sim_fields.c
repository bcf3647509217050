/*
 * sim_fields.c: wxsim's own check of subscribe-message data values, the
 * rule picked by the key's prefix ("thing3" -> thing), following the table
 * of WECHAT.md section c. It is the oracle the client library's fitting
 * (wechat/fields.c) is tested against, so it shares no code with it and
 * stays simple: it only says yes or no, never repairs a value.
 *
 * Lengths count code points. Classes: ASCII digits, ASCII letters,
 * Chinese (CJK ideographs), control characters (C0, DEL, C1, U+2028/9,
 * never allowed) and symbols (everything else, spaces included).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"

enum { K_CTL, K_DIGIT, K_LETTER, K_HAN, K_SYMBOL };

enum rule {
	R_THING, R_NUMBER, R_LETTER, R_SYMBOL, R_CHARACTER_STRING, R_TIME,
	R_DATE, R_AMOUNT, R_PHONE_NUMBER, R_CAR_NUMBER, R_NAME, R_PHRASE,
	R_NONE
};

/* Prefixes in enum rule order. */
static const char *const prefixes[] = {
	"thing", "number", "letter", "symbol", "character_string", "time",
	"date", "amount", "phone_number", "car_number", "name", "phrase",
};

#define NIAN 0x5e74u             /* 年 */
#define YUE 0x6708u              /* 月 */
#define RI 0x65e5u               /* 日 */
#define YUAN 0x5143u             /* 元 */

static int
klass(uint32_t c)
{
	if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 ||
	    c == 0x2029)
		return K_CTL;
	if (c >= '0' && c <= '9')
		return K_DIGIT;
	if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))
		return K_LETTER;
	if (c == 0x3007 || (c >= 0x3400 && c <= 0x4dbf) ||
	    (c >= 0x4e00 && c <= 0x9fff) || (c >= 0xf900 && c <= 0xfaff) ||
	    (c >= 0x20000 && c <= 0x323af))
		return K_HAN;
	return K_SYMBOL;
}

/*
 * Decodes strict UTF-8 (no overlongs, surrogates or values past U+10FFFF)
 * into cp, which holds strlen(s) entries. Returns the count, or -1.
 */
static long
decode(const char *s, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	long n = 0;

	while (*p != '\0') {
		uint32_t c = *p, min;
		int more;

		if (c < 0x80) {
			more = 0;
			min = 0;
		} else if ((c & 0xe0) == 0xc0) {
			more = 1;
			min = 0x80;
			c &= 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			more = 2;
			min = 0x800;
			c &= 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			more = 3;
			min = 0x10000;
			c &= 0x07;
		} else {
			return -1;
		}
		p++;
		for (int i = 0; i < more; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return -1;
			c = (c << 6) | (*p & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return -1;
		cp[n++] = c;
	}
	return n;
}

/* The rule of key: a known prefix followed by digits only. */
static enum rule
rule_of(const char *key)
{
	for (size_t r = 0; r < sizeof(prefixes) / sizeof(prefixes[0]); r++) {
		size_t len = strlen(prefixes[r]);
		const char *d = key + len;

		if (strncmp(key, prefixes[r], len) != 0)
			continue;
		while (*d >= '0' && *d <= '9')
			d++;
		if (*d == '\0')
			return (enum rule)r;
	}
	return R_NONE;
}

/*==== Dates and times ====*/

struct cur {
	const uint32_t *cp;
	long i, n;
};

static int
lit(struct cur *c, uint32_t ch)
{
	if (c->i < c->n && c->cp[c->i] == ch) {
		c->i++;
		return 1;
	}
	return 0;
}

/* min..max ASCII digits into *v; 0 (cursor kept) when fewer than min. */
static int
num(struct cur *c, int min, int max, int *v)
{
	long at = c->i;
	int k = 0;

	*v = 0;
	while (k < max && c->i < c->n && klass(c->cp[c->i]) == K_DIGIT) {
		if (*v < 100000)         /* only short fields need a value */
			*v = *v * 10 + (int)(c->cp[c->i] - '0');
		c->i++;
		k++;
	}
	if (k < min) {
		c->i = at;
		return 0;
	}
	return 1;
}

static int
spaces(struct cur *c)
{
	long at = c->i;

	while (lit(c, ' '))
		;
	return c->i > at;
}

/* y 0: any year (so 29 February passes). */
static int
day_ok(int y, int mo, int d)
{
	static const int days[] = {
		31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int leap = y == 0 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));

	if (mo < 1 || mo > 12 || d < 1)
		return 0;
	return d <= (mo == 2 && !leap ? 28 : days[mo - 1]);
}

/*
 * One date: YYYY年M月D日, YYYY年M月, M月D日, YYYY-M-D (or / or .),
 * YYYY-M, M-D. *cn is set when it ends in a Chinese character (a time
 * may follow without a space). 0 with the cursor kept when none matches.
 */
static int
date(struct cur *c, int *cn)
{
	long at = c->i;
	int y, mo, d;
	uint32_t sep;

	*cn = 1;
	if (num(c, 4, 4, &y) && lit(c, NIAN) && num(c, 1, 2, &mo) &&
	    lit(c, YUE)) {
		long mid = c->i;

		if (num(c, 1, 2, &d) && lit(c, RI))
			return day_ok(y, mo, d);
		c->i = mid;
		return mo >= 1 && mo <= 12;
	}
	c->i = at;
	if (num(c, 1, 2, &mo) && lit(c, YUE) && num(c, 1, 2, &d) &&
	    lit(c, RI))
		return day_ok(0, mo, d);
	c->i = at;
	*cn = 0;
	if (num(c, 4, 4, &y) && c->i < c->n) {
		sep = c->cp[c->i];
		if ((sep == '-' || sep == '/' || sep == '.') && lit(c, sep) &&
		    num(c, 1, 2, &mo)) {
			long mid = c->i;

			if (lit(c, sep) && num(c, 1, 2, &d))
				return day_ok(y, mo, d);
			c->i = mid;
			if (sep == '-')
				return mo >= 1 && mo <= 12;
		}
	}
	c->i = at;
	if (num(c, 1, 2, &mo) && lit(c, '-') && num(c, 1, 2, &d))
		return day_ok(0, mo, d);
	c->i = at;
	return 0;
}

/* H:MM, HH:MM or HH:MM:SS, 24-hour. */
static int
clock_(struct cur *c)
{
	int h, mi, s = 0;

	if (!num(c, 1, 2, &h) || !lit(c, ':') || !num(c, 2, 2, &mi))
		return 0;
	if (lit(c, ':') && !num(c, 2, 2, &s))
		return 0;
	return h <= 23 && mi <= 59 && s <= 59;
}

/*
 * One point in time: for a date (is_date) a date with an optional time
 * after it; for a time a time with an optional date before it.
 */
static int
point(struct cur *c, int is_date)
{
	long at = c->i;
	int cn;

	if (date(c, &cn)) {
		long end = c->i;

		if ((spaces(c) || cn) && clock_(c))
			return 1;
		c->i = end;
		if (is_date)
			return 1;
	}
	c->i = at;
	return !is_date && clock_(c);
}

/* POINT or POINT~POINT ('~' or '～', spaces around it allowed). */
static int
moment(const uint32_t *cp, long n, int is_date)
{
	struct cur c = { cp, 0, n };

	if (!point(&c, is_date))
		return 0;
	spaces(&c);
	if (lit(&c, '~') || lit(&c, 0xff5e)) {
		spaces(&c);
		if (!point(&c, is_date))
			return 0;
	}
	return c.i == c.n;
}

/*==== Rules ====*/

/* Digits with at most one decimal point between digits; <= 32 digits. */
static int
number(const uint32_t *cp, long n)
{
	struct cur c = { cp, 0, n };
	long digits = 0;
	int v;

	for (long i = 0; i < n; i++)
		digits += klass(cp[i]) == K_DIGIT;
	if (digits > 32)
		return 0;
	while (num(&c, 1, 1, &v))
		;
	if (c.i == 0)
		return 0;
	if (lit(&c, '.')) {
		long at = c.i;

		while (num(&c, 1, 1, &v))
			;
		if (c.i == at)
			return 0;
	}
	return c.i == c.n;
}

/* [one currency sign] 1..10 digits [. 1..2 digits] [元] */
static int
amount(const uint32_t *cp, long n)
{
	static const uint32_t signs[] = { 0xa5, 0xffe5, '$', 0x20ac, 0xa3 };
	struct cur c = { cp, 0, n };
	int v;

	for (size_t i = 0; i < sizeof(signs) / sizeof(signs[0]); i++) {
		if (lit(&c, signs[i]))
			break;
	}
	if (!num(&c, 1, 10, &v) || (c.i < c.n && klass(cp[c.i]) == K_DIGIT))
		return 0;
	if (lit(&c, '.') && (!num(&c, 1, 2, &v) ||
	    (c.i < c.n && klass(cp[c.i]) == K_DIGIT)))
		return 0;
	lit(&c, YUAN);
	return c.i == c.n;
}

/* Every character of one of the classes in mask (1 << K_*). */
static int
all_of(const uint32_t *cp, long n, unsigned mask)
{
	for (long i = 0; i < n; i++) {
		if (!(mask & (1u << klass(cp[i]))))
			return 0;
	}
	return 1;
}

static long
count_of(const uint32_t *cp, long n, int k)
{
	long m = 0;

	for (long i = 0; i < n; i++)
		m += klass(cp[i]) == k;
	return m;
}

static int
check(enum rule r, const uint32_t *cp, long n)
{
	switch (r) {
	case R_THING:
		return n <= 20;
	case R_NUMBER:
		return number(cp, n);
	case R_LETTER:
		return n <= 32 && all_of(cp, n, 1u << K_LETTER);
	case R_SYMBOL:
		return n <= 5 && all_of(cp, n, 1u << K_SYMBOL);
	case R_CHARACTER_STRING:
		return n <= 32 && count_of(cp, n, K_HAN) == 0;
	case R_TIME:
		return moment(cp, n, 0);
	case R_DATE:
		return moment(cp, n, 1);
	case R_AMOUNT:
		return amount(cp, n);
	case R_PHONE_NUMBER:
		return n <= 17 && count_of(cp, n, K_DIGIT) > 0 &&
		    all_of(cp, n, 1u << K_DIGIT | 1u << K_SYMBOL);
	case R_CAR_NUMBER:
		if (n < 2 || n > 8 || count_of(cp, n, K_DIGIT) +
		    count_of(cp, n, K_LETTER) == 0)
			return 0;
		for (long i = 0; i < n; i++) {
			int k = klass(cp[i]);

			if (k == K_HAN && (i == 0 || i == n - 1))
				continue;
			if (k != K_DIGIT && k != K_LETTER)
				return 0;
		}
		return 1;
	case R_NAME:
		if (count_of(cp, n, K_DIGIT) > 0)
			return 0;
		return n <= (count_of(cp, n, K_HAN) > 0 ? 10 : 20);
	case R_PHRASE:
		return n <= 5 && all_of(cp, n, 1u << K_HAN);
	default:
		return 1;        /* enum and unknown prefixes: any text */
	}
}

/*
 * Checks one data value against the rule of its key. value is non-empty
 * (emptiness is the caller's 47003 "is empty"). Keys with no known prefix
 * (enum, ...) take any text. Returns 0 when WeChat would accept the
 * value, -1 when it answers 47003 "...value invalid".
 */
int
sim_field_check(const char *key, const char *value)
{
	uint32_t *cp = sim_calloc(strlen(value) + 1, sizeof(*cp));
	long n = decode(value, cp);
	int ok = 0;

	if (n > 0 && count_of(cp, n, K_CTL) == 0)
		ok = check(rule_of(key), cp, n);
	free(cp);
	return ok ? 0 : -1;
}
