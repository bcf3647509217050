/*
 * attendance.c - the attendance rules of issue 5, pure: shift instances and
 * windows, the IN/OUT rule, picking the instance a punch belongs to, the
 * daily judgement, schedules and the monthly late allowance. It owns no
 * state and does no I/O; storing punches and results, and reading the
 * clock, are the caller's (see attendance.h for every rule's wording).
 */
#include "attendance.h"
#include "gongyou.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S 86400
#define MIN_S 60

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static int64_t floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

/* Seconds to whole minutes, rounded up (08:05:01 is 6 minutes late). */
static int ceil_min(int64_t s)
{
    return (int)((s + MIN_S - 1) / MIN_S);
}

int32_t att_local_day(int64_t t, int utc_offset_s)
{
    return (int32_t)floor_div(t + utc_offset_s, DAY_S);
}

int att_weekday(int32_t local_day)
{
    return (int)floor_mod((int64_t)local_day + 3, 7); /* 1970-01-01: Thu */
}

void att_shift_init(struct att_shift_def *s, const char *code, int start_min, int end_min)
{
    memset(s, 0, sizeof *s);
    snprintf(s->code, sizeof s->code, "%s", code);
    s->start_min = start_min;
    s->end_min = end_min;
    s->open_before_min = 60;
    s->close_after_min = 240;
    s->grace_min = 5;
    s->late_max_min = 30;
    s->serious_max_min = 120;
}

/* Length in minutes; equal start and end count as 24 h (rejected). */
static int shift_len(const struct att_shift_def *s)
{
    int len = s->end_min - s->start_min;

    return len > 0 ? len : len + 1440;
}

int att_shift_check(const struct att_shift_def *s, char *why, size_t whylen)
{
    int len = shift_len(s);
    const struct {
        int lo, v, hi;
        const char *why;
    } rules[] = {
        {0, s->start_min, 1439, "start_min out of 0..1439"},
        {0, s->end_min, 1439, "end_min out of 0..1439"},
        {1, len, 1439, "start_min equals end_min"},
        {0, s->break_min, len - 1, "break_min not below the shift length"},
        {0, s->open_before_min, 720, "open_before_min out of 0..720"},
        {0, s->close_after_min, 720, "close_after_min out of 0..720"},
        {len, len + s->open_before_min + s->close_after_min, 1440,
         "windows of consecutive days overlap"},
        {0, s->grace_min, s->late_max_min, "need 0 <= grace_min <= late_max_min"},
        {s->late_max_min, s->serious_max_min, len,
         "need late_max_min <= serious_max_min <= shift length"},
        {0, s->early_grace_min, len, "early_grace_min out of 0..shift length"},
        {0, s->absent_below_min, s->half_day_min, "need 0 <= absent_below_min <= half_day_min"},
        {0, s->half_day_min, len - s->break_min, "half_day_min beyond the working minutes"},
    };
    const char *bad = NULL;

    if (!memchr(s->code, '\0', sizeof s->code) || !s->code[0])
        bad = "code empty or too long";
    for (size_t i = 0; !bad && i < sizeof rules / sizeof rules[0]; i++)
        if (rules[i].v < rules[i].lo || rules[i].v > rules[i].hi)
            bad = rules[i].why;
    if (bad && why && whylen)
        snprintf(why, whylen, "%s", bad);
    return bad ? -1 : 0;
}

const struct att_shift_def *att_shift_find(const struct att_shift_def *defs, size_t n,
                                           const char *code)
{
    for (size_t i = 0; code && code[0] && i < n; i++)
        if (strncmp(defs[i].code, code, ATT_CODE_LEN) == 0)
            return &defs[i];
    return NULL;
}

void att_instance(const struct att_shift_def *s, int32_t local_day, int utc_offset_s,
                  struct att_window *w)
{
    int64_t midnight = (int64_t)local_day * DAY_S - utc_offset_s;

    w->start = midnight + (int64_t)s->start_min * MIN_S;
    w->end = w->start + (int64_t)shift_len(s) * MIN_S;
    w->open = w->start - (int64_t)s->open_before_min * MIN_S;
    w->close = w->end + (int64_t)s->close_after_min * MIN_S;
}

static bool in_window(const struct att_window *w, int64_t t)
{
    return t >= w->open && t <= w->close;
}

/* The IN/OUT rule for a punch inside the window (see att_decide). */
static enum att_dir derive(const struct att_window *w, int grace_min, int64_t at, bool earlier)
{
    if (at < w->end && (!earlier || at <= w->start + (int64_t)grace_min * MIN_S))
        return ATT_IN;
    return ATT_OUT;
}

enum att_dir att_decide(const struct att_shift_def *s, const struct att_window *w,
                        const int64_t *prior, size_t n, int64_t now)
{
    bool earlier = false;

    if (now < w->open)
        return ATT_TOO_EARLY;
    if (now > w->close)
        return ATT_TOO_LATE;
    for (size_t i = 0; i < n; i++)
        earlier = earlier || (in_window(w, prior[i]) && prior[i] <= now);
    return derive(w, s->grace_min, now, earlier);
}

/* Direction of punch I among P: a make-up's, or the rule's, where ties on
 * time are broken by position. */
static enum att_dir dir_of(const struct att_shift_def *s, const struct att_window *w,
                           const struct att_punch *p, size_t n, size_t i)
{
    bool earlier = false;

    if (p[i].dir == ATT_IN || p[i].dir == ATT_OUT)
        return p[i].dir;
    for (size_t j = 0; j < n; j++)
        earlier = earlier || (j != i && in_window(w, p[j].at) &&
                              (p[j].at < p[i].at || (p[j].at == p[i].at && j < i)));
    return derive(w, s->grace_min, p[i].at, earlier);
}

/* First IN and last OUT into R; true if a counted punch awaits approval. */
static bool collect(const struct att_shift_def *s, const struct att_window *w,
                    const struct att_punch *p, size_t n, struct att_result *r)
{
    bool pending = false;

    for (size_t i = 0; i < n; i++) {
        if (!in_window(w, p[i].at))
            continue;
        pending = pending || p[i].field_pending;
        if (dir_of(s, w, p, n, i) == ATT_IN) {
            if (!r->first_in || p[i].at < r->first_in)
                r->first_in = p[i].at;
        } else if (!r->last_out || p[i].at > r->last_out) {
            r->last_out = p[i].at;
        }
    }
    return pending;
}

static enum att_late_tier tier_of(const struct att_shift_def *s, int late_min)
{
    const int limits[] = {s->grace_min, s->late_max_min, s->serious_max_min};
    size_t i = 0;

    while (i < sizeof limits / sizeof limits[0] && late_min > limits[i])
        i++;
    return (enum att_late_tier)i;
}

/* Minutes worked inside the shift; the break (whose position the def does
 * not know) is taken off only when the span covers the shift's midpoint. */
static int worked(const struct att_shift_def *s, const struct att_window *w, int64_t in,
                  int64_t out)
{
    int64_t from = in > w->start ? in : w->start;
    int64_t to = out < w->end ? out : w->end;
    int64_t mid = w->start + (w->end - w->start) / 2;
    int64_t min;

    if (to <= from)
        return 0;
    min = (to - from) / MIN_S;
    if (from <= mid && to >= mid)
        min -= s->break_min;
    return min > 0 ? (int)min : 0;
}

static void measure(const struct att_shift_def *s, const struct att_window *w,
                    struct att_result *r)
{
    if (r->first_in > w->start)
        r->late_min = ceil_min(r->first_in - w->start);
    r->tier = tier_of(s, r->late_min);
    if (r->last_out && r->last_out < w->end)
        r->early_min = ceil_min(w->end - r->last_out);
    if (r->first_in && r->last_out) {
        r->worked_min = worked(s, w, r->first_in, r->last_out);
        r->half_day = r->worked_min < s->half_day_min;
    }
}

static enum att_status late_early(const struct att_shift_def *s, const struct att_result *r,
                                  bool with_out)
{
    static const enum att_status by[2][2] = {
        {ATT_NORMAL, ATT_EARLY_LEAVE},
        {ATT_LATE, ATT_LATE_AND_EARLY},
    };
    bool late = r->tier != ATT_ON_TIME;
    bool early = with_out && r->early_min > s->early_grace_min;

    return by[late][early];
}

static enum att_status classify(const struct att_shift_def *s, const struct att_result *r,
                                bool final)
{
    bool in = r->first_in != 0, out = r->last_out != 0;

    if (!in && !out)
        return final ? ATT_ABSENT : ATT_PENDING;
    if (in && r->tier == ATT_TIER_ABSENT)
        return ATT_ABSENT;
    if (!in)
        return ATT_MISSING_IN;
    if (!out)
        return final ? ATT_MISSING_OUT : late_early(s, r, false);
    if (r->worked_min < s->absent_below_min)
        return ATT_ABSENT;
    return late_early(s, r, true);
}

void att_judge(const struct att_shift_def *s, const struct att_window *w,
               const struct att_punch *punches, size_t n, bool final, struct att_result *r)
{
    bool pending;

    memset(r, 0, sizeof *r);
    if (!s) {
        r->status = ATT_REST;
        return;
    }
    r->grace_min = s->grace_min;
    pending = collect(s, w, punches, n, r);
    measure(s, w, r);
    r->status = pending ? ATT_FIELD_PENDING : classify(s, r, final);
}

/* Should the earlier instance E take a punch at AT rather than L? */
static bool earlier_takes(const struct att_cand *e, const struct att_cand *l, int64_t at)
{
    return e->has_in && !e->has_out && !l->has_in &&
           at <= l->w.start + (int64_t)l->def->grace_min * MIN_S;
}

int att_pick(const struct att_cand *c, size_t n, int64_t at)
{
    int e = -1, l = -1; /* second-latest and latest start holding AT */

    for (size_t i = 0; i < n; i++) {
        if (!in_window(&c[i].w, at))
            continue;
        if (l < 0 || c[i].w.start > c[l].w.start) {
            e = l;
            l = (int)i;
        } else if (e < 0 || c[i].w.start > c[e].w.start) {
            e = (int)i;
        }
    }
    if (e >= 0 && earlier_takes(&c[e], &c[l], at))
        return e;
    return l;
}

size_t att_candidates(const struct att_schedule *sch, int64_t at, int utc_offset_s,
                      struct att_cand out[3])
{
    int32_t day = att_local_day(at, utc_offset_s);
    size_t n = 0;

    for (int32_t d = day - 1; d <= day + 1; d++) {
        const char *code = att_shift_for_day(sch->pattern, sch->ovr, sch->novr, d);
        const struct att_shift_def *s = att_shift_find(sch->defs, sch->ndefs, code);

        if (!s)
            continue;
        memset(&out[n], 0, sizeof out[n]);
        out[n].def = s;
        out[n].local_day = d;
        att_instance(s, d, utc_offset_s, &out[n].w);
        n++;
    }
    return n;
}

const char *att_shift_for_day(const struct att_pattern *p, const struct att_override *ovr,
                              size_t novr, int32_t local_day)
{
    int64_t monday0, week;

    for (size_t i = novr; i-- > 0;)
        if (ovr[i].local_day == local_day)
            return ovr[i].code;
    if (!p || p->rotation_weeks < 1 || p->rotation_weeks > ATT_MAX_WEEKS)
        return NULL;
    monday0 = (int64_t)p->anchor_day - att_weekday(p->anchor_day);
    week = floor_mod(floor_div(local_day - monday0, 7), p->rotation_weeks);
    return p->days[week][att_weekday(local_day)];
}

/* A late status with the lateness waived (UNDO: the other way round). */
static enum att_status excuse(enum att_status st, bool undo)
{
    static const enum att_status pairs[][2] = {
        {ATT_LATE, ATT_NORMAL},
        {ATT_LATE_AND_EARLY, ATT_EARLY_LEAVE},
    };

    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++)
        if (pairs[i][undo] == st)
            return pairs[i][!undo];
    return st;
}

void att_apply_allowance(struct att_result *days, size_t n, int allowance_n, int within_min)
{
    int used = 0;

    for (size_t i = 0; i < n; i++) {
        if (days[i].excused)
            days[i].status = excuse(days[i].status, true);
        days[i].excused = false;
    }
    for (size_t i = 0; i < n && used < allowance_n; i++) {
        struct att_result *d = &days[i];

        if ((d->status != ATT_LATE && d->status != ATT_LATE_AND_EARLY) ||
            d->late_min > d->grace_min + within_min)
            continue;
        d->status = excuse(d->status, false);
        d->excused = true;
        used++;
    }
}

const char *att_status_name(enum att_status st)
{
    static const char *const names[] = {
        [ATT_PENDING] = "pending",
        [ATT_NORMAL] = "normal",
        [ATT_LATE] = "late",
        [ATT_EARLY_LEAVE] = "early_leave",
        [ATT_LATE_AND_EARLY] = "late_and_early",
        [ATT_MISSING_IN] = "missing_in",
        [ATT_MISSING_OUT] = "missing_out",
        [ATT_ABSENT] = "absent",
        [ATT_REST] = "rest",
        [ATT_FIELD_PENDING] = "field_pending",
    };

    if ((unsigned)st >= sizeof names / sizeof names[0])
        return "unknown";
    return names[st];
}

int att_status_parse(const char *name)
{
    for (int st = ATT_PENDING; st <= ATT_FIELD_PENDING; st++)
        if (strcmp(att_status_name((enum att_status)st), name) == 0)
            return st;
    return -1;
}

double att_distance_m(double lat1, double lng1, double lat2, double lng2)
{
    const double r = 6371008.8, rad = 3.14159265358979323846 / 180.0;
    double dlat = (lat2 - lat1) * rad, dlng = (lng2 - lng1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) +
               cos(lat1 * rad) * cos(lat2 * rad) * sin(dlng / 2) * sin(dlng / 2);

    return 2 * r * atan2(sqrt(a), sqrt(1 - a));
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int32_t days_from_civil(int y, int m, int d)
{
    int era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

/* Exactly N digits at S into *V. */
static bool digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (s[i] - '0');
    }
    return true;
}

int att_parse_date(const char *s, int32_t *day)
{
    int y, m, d, yy, mm, dd;

    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4, &y) ||
        !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d) || m < 1 || m > 12 || d < 1 || y < 1970)
        return -1;
    *day = days_from_civil(y, m, d);
    clock_civil(*day, &yy, &mm, &dd);
    return (yy == y && mm == m && dd == d) ? 0 : -1;   /* refuses 02-30 */
}

void att_format_date(int32_t day, char out[11])
{
    int y, m, d;

    clock_civil(day, &y, &m, &d);
    snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u, (unsigned)d % 100u);
}

int att_parse_month(const char *s, int32_t *first, int32_t *next)
{
    int y, m;

    if (strlen(s) != 7 || s[4] != '-' || !digits(s, 4, &y) || !digits(s + 5, 2, &m) || m < 1 ||
        m > 12 || y < 1970)
        return -1;
    *first = days_from_civil(y, m, 1);
    *next = m == 12 ? days_from_civil(y + 1, 1, 1) : days_from_civil(y, m + 1, 1);
    return 0;
}

int att_parse_hhmm(const char *s, int *min)
{
    int h, m;

    if (strlen(s) != 5 || s[2] != ':' || !digits(s, 2, &h) || !digits(s + 3, 2, &m) || h > 23 ||
        m > 59)
        return -1;
    *min = h * 60 + m;
    return 0;
}

bool att_in_minutes(int m, int from, int to)
{
    if (from <= to)
        return m >= from && m < to;
    return m >= from || m < to;
}
