/*
 * Unit tests for attendance.c: local dates, shift checks and instances, the
 * IN/OUT rule, the daily judgement over a table of cases (day and night
 * shifts), picking the instance at a night-to-day hand-over, rotations and
 * overrides, offline punches, make-ups and the monthly late allowance.
 * All times are Asia/Shanghai; expected epochs come from local_t() below,
 * which does not use the engine.
 */
#include <math.h>

#include "attendance.h"
#include "unit.h"

#include <stddef.h>
#include <time.h>

#define OFF 28800 /* +08:00 */

/* Days since 1970-01-01 of a civil date, by libc (an oracle independent of
 * attendance.c's own date arithmetic). */
static int64_t civil_day(int y, int m, int d)
{
    struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
    int64_t t = (int64_t)timegm(&tm);

    return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

/* Unix seconds of local (y-m-d h:min) at +08:00. */
static int64_t local_t(int y, int m, int d, int h, int min)
{
    return civil_day(y, m, d) * 86400 + h * 3600 + min * 60 - OFF;
}

/* Local day of a March 2024 date; 2024-03-04 is a Monday. */
static int32_t mar(int d)
{
    return (int32_t)civil_day(2024, 3, d);
}

/* D: 08:00-17:00, 1 h break; N: 20:00-08:00, 1 h break. Both: grace 5,
 * late 30, serious 120, half day below 4 h, absent below 1 h worked. */
static void shifts(struct att_shift_def *d, struct att_shift_def *n)
{
    att_shift_init(d, "D", 8 * 60, 17 * 60);
    att_shift_init(n, "N", 20 * 60, 8 * 60);
    d->break_min = n->break_min = 60;
    d->half_day_min = n->half_day_min = 240;
    d->absent_below_min = n->absent_below_min = 60;
}

static void local_days(void)
{
    int32_t mon = mar(4);

    CHECK(att_local_day(local_t(2024, 3, 4, 0, 0), OFF) == mon);
    CHECK(att_local_day(local_t(2024, 3, 4, 23, 59) + 59, OFF) == mon);
    CHECK(att_local_day(local_t(2024, 3, 5, 0, 0), OFF) == mon + 1);
    CHECK(att_local_day(local_t(2024, 3, 4, 7, 0), OFF) == mon); /* 23:00 UTC the day before */
    CHECK(att_local_day(-OFF, OFF) == 0);
    CHECK(att_local_day(-OFF - 1, OFF) == -1);
    CHECK(att_local_day(0, 0) == 0);
    CHECK(att_weekday(mon) == 0);
    CHECK(att_weekday(mar(10)) == 6);
    CHECK(att_weekday(0) == 3);  /* Thursday */
    CHECK(att_weekday(-1) == 2); /* Wednesday */
}

static void shift_checks(void)
{
    static const struct {
        size_t field;
        int v;
        const char *why;
    } bad[] = {
        {offsetof(struct att_shift_def, start_min), 1440, "start_min"},
        {offsetof(struct att_shift_def, end_min), -1, "end_min"},
        {offsetof(struct att_shift_def, end_min), 480, "equals"},
        {offsetof(struct att_shift_def, break_min), 540, "break_min"},
        {offsetof(struct att_shift_def, open_before_min), 721, "open_before"},
        {offsetof(struct att_shift_def, open_before_min), 700, "overlap"},
        {offsetof(struct att_shift_def, grace_min), 31, "grace"},
        {offsetof(struct att_shift_def, grace_min), -1, "grace"},
        {offsetof(struct att_shift_def, serious_max_min), 20, "serious"},
        {offsetof(struct att_shift_def, serious_max_min), 541, "serious"},
        {offsetof(struct att_shift_def, early_grace_min), -1, "early_grace"},
        {offsetof(struct att_shift_def, absent_below_min), 300, "absent_below"},
        {offsetof(struct att_shift_def, half_day_min), 481, "half_day"},
    };
    struct att_shift_def d, n, s;
    char why[64] = "untouched";

    shifts(&d, &n);
    CHECK(att_shift_check(&d, why, sizeof why) == 0);
    CHECK(att_shift_check(&n, why, sizeof why) == 0);
    CHECK_STR(why, "untouched");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s = d;
        *(int *)(void *)((char *)&s + bad[i].field) = bad[i].v;
        why[0] = '\0';
        CHECK(att_shift_check(&s, why, sizeof why) == -1);
        if (!strstr(why, bad[i].why))
            fprintf(stderr, "case %zu: \"%s\" lacks \"%s\"\n", i, why, bad[i].why);
        CHECK(strstr(why, bad[i].why) != NULL);
    }
    s = d;
    s.code[0] = '\0';
    CHECK(att_shift_check(&s, NULL, 0) == -1);
    CHECK(att_shift_find(&d, 1, "D") == &d);
    CHECK(att_shift_find(&d, 1, "N") == NULL);
    CHECK(att_shift_find(&d, 1, "") == NULL);
}

static void instances(void)
{
    struct att_shift_def d, n;
    struct att_window w;

    shifts(&d, &n);
    att_instance(&d, mar(4), OFF, &w);
    CHECK(w.start == local_t(2024, 3, 4, 8, 0));
    CHECK(w.end == local_t(2024, 3, 4, 17, 0));
    CHECK(w.open == local_t(2024, 3, 4, 7, 0));
    CHECK(w.close == local_t(2024, 3, 4, 21, 0));
    att_instance(&n, mar(4), OFF, &w);
    CHECK(w.start == local_t(2024, 3, 4, 20, 0));
    CHECK(w.end == local_t(2024, 3, 5, 8, 0));
    CHECK(w.open == local_t(2024, 3, 4, 19, 0));
    CHECK(w.close == local_t(2024, 3, 5, 12, 0));
    att_instance(&n, mar(31), OFF, &w); /* across a month end */
    CHECK(w.end == local_t(2024, 4, 1, 8, 0));
}

/* Minutes after local midnight of 2024-03-04 (>= 1440: the next day). */
#define HM(h, m) ((h) * 60 + (m))
static int64_t at_min(int min, int sec)
{
    return local_t(2024, 3, 4, 0, 0) + min * 60 + sec;
}

static void decide(void)
{
    static const struct {
        int now, sec, prior; /* prior: minutes, -1 = none */
        enum att_dir want;
    } cases[] = {
        {HM(6, 59), 59, -1, ATT_TOO_EARLY},
        {HM(7, 0), 0, -1, ATT_IN},
        {HM(7, 55), 0, HM(7, 50), ATT_IN},   /* repeated check-in */
        {HM(8, 5), 0, HM(7, 50), ATT_IN},    /* still within grace */
        {HM(8, 6), 0, HM(7, 50), ATT_OUT},
        {HM(8, 6), 0, -1, ATT_IN},           /* late IN */
        {HM(16, 59), 0, -1, ATT_IN},
        {HM(17, 0), 0, -1, ATT_OUT},         /* IN forgotten */
        {HM(21, 0), 0, HM(7, 55), ATT_OUT},  /* close is inclusive */
        {HM(21, 0), 1, HM(7, 55), ATT_TOO_LATE},
        {HM(7, 58), 0, HM(17, 0), ATT_IN},   /* offline IN after the OUT */
        {HM(12, 0), 0, HM(6, 30), ATT_IN},   /* prior outside the window */
    };
    struct att_shift_def d, n;
    struct att_window w;

    shifts(&d, &n);
    att_instance(&d, mar(4), OFF, &w);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int64_t prior = at_min(cases[i].prior, 0);
        enum att_dir got = att_decide(&d, &w, &prior, cases[i].prior < 0 ? 0 : 1,
                                      at_min(cases[i].now, cases[i].sec));

        if (got != cases[i].want)
            fprintf(stderr, "decide case %zu: got %d\n", i, (int)got);
        CHECK(got == cases[i].want);
    }
}

struct tp {
    int min, sec;     /* see at_min */
    enum att_dir dir; /* make-up direction, or ATT_NONE */
    bool field;
};

/* A punch; with seconds; a make-up with its direction; a field punch. */
#define PS(h, m, s) {HM(h, m), s, ATT_NONE, false}
#define P(h, m) PS(h, m, 0)
#define MK(h, m, dir) {HM(h, m), 0, dir, false}
#define FLD(h, m) {HM(h, m), 0, ATT_NONE, true}

struct jcase {
    const char *name;
    char shift; /* 'D' or 'N', on 2024-03-04 */
    bool final;
    size_t n;
    struct tp p[6];
    enum att_status status;
    int late, early, worked;
    enum att_late_tier tier;
    int fi, lo; /* index in p of first_in / last_out, -1 none */
    bool half;
};

static const struct jcase jcases[] = {
    {"on time", 'D', 1, 2, {P(7, 55), P(17, 2)}, ATT_NORMAL, 0, 0, 480, ATT_ON_TIME, 0, 1, 0},
    {"grace edge", 'D', 1, 2, {P(8, 5), P(17, 0)}, ATT_NORMAL, 5, 0, 475, ATT_ON_TIME, 0, 1, 0},
    {"grace + 1 s", 'D', 1, 2, {PS(8, 5, 1), P(17, 0)}, ATT_LATE, 6, 0, 474, ATT_TIER_LATE, 0, 1, 0},
    {"late", 'D', 1, 2, {P(8, 20), P(17, 0)}, ATT_LATE, 20, 0, 460, ATT_TIER_LATE, 0, 1, 0},
    {"late edge", 'D', 1, 2, {P(8, 30), P(17, 0)}, ATT_LATE, 30, 0, 450, ATT_TIER_LATE, 0, 1, 0},
    {"seriously late", 'D', 1, 2, {P(9, 0), P(17, 0)}, ATT_LATE, 60, 0, 420, ATT_TIER_SERIOUS, 0, 1, 0},
    {"serious edge", 'D', 1, 2, {P(10, 0), P(17, 0)}, ATT_LATE, 120, 0, 360, ATT_TIER_SERIOUS, 0, 1, 0},
    {"late to absent", 'D', 1, 2, {P(10, 1), P(17, 0)}, ATT_ABSENT, 121, 0, 359, ATT_TIER_ABSENT, 0, 1, 0},
    {"early leave", 'D', 1, 2, {P(7, 58), P(16, 30)}, ATT_EARLY_LEAVE, 0, 30, 450, ATT_ON_TIME, 0, 1, 0},
    {"late and early", 'D', 1, 2, {P(8, 10), P(16, 50)}, ATT_LATE_AND_EARLY, 10, 10, 460, ATT_TIER_LATE, 0, 1, 0},
    {"no punches", 'D', 1, 0, {{0}}, ATT_ABSENT, 0, 0, 0, ATT_ON_TIME, -1, -1, 0},
    {"no punches yet", 'D', 0, 0, {{0}}, ATT_PENDING, 0, 0, 0, ATT_ON_TIME, -1, -1, 0},
    {"only IN", 'D', 1, 1, {P(7, 55)}, ATT_MISSING_OUT, 0, 0, 0, ATT_ON_TIME, 0, -1, 0},
    {"only IN so far", 'D', 0, 1, {P(7, 55)}, ATT_NORMAL, 0, 0, 0, ATT_ON_TIME, 0, -1, 0},
    {"only IN so far, late", 'D', 0, 1, {P(8, 40)}, ATT_LATE, 40, 0, 0, ATT_TIER_SERIOUS, 0, -1, 0},
    {"only IN so far, absent", 'D', 0, 1, {P(10, 30)}, ATT_ABSENT, 150, 0, 0, ATT_TIER_ABSENT, 0, -1, 0},
    {"only OUT", 'D', 1, 1, {P(17, 5)}, ATT_MISSING_IN, 0, 0, 0, ATT_ON_TIME, -1, 0, 0},
    {"only OUT so far", 'D', 0, 1, {P(17, 5)}, ATT_MISSING_IN, 0, 0, 0, ATT_ON_TIME, -1, 0, 0},
    {"lone afternoon punch is a late IN", 'D', 1, 1, {P(16, 0)}, ATT_ABSENT, 480, 0, 0, ATT_TIER_ABSENT, 0, -1, 0},
    {"several INs and OUTs", 'D', 1, 6,
     {P(7, 52), P(7, 50), P(8, 3), P(12, 0), P(17, 10), P(17, 0)},
     ATT_NORMAL, 0, 0, 480, ATT_ON_TIME, 1, 4, 0},
    {"repeat after grace is an OUT", 'D', 1, 3, {P(8, 10), P(8, 12), P(17, 0)},
     ATT_LATE, 10, 0, 470, ATT_TIER_LATE, 0, 2, 0},
    {"punch before the window", 'D', 1, 3, {P(6, 30), P(7, 55), P(17, 0)},
     ATT_NORMAL, 0, 0, 480, ATT_ON_TIME, 1, 2, 0},
    {"punch after close", 'D', 1, 3, {P(7, 55), P(16, 0), P(21, 30)},
     ATT_EARLY_LEAVE, 0, 60, 420, ATT_ON_TIME, 0, 1, 0},
    {"OUT at close", 'D', 1, 2, {P(7, 55), P(21, 0)}, ATT_NORMAL, 0, 0, 480, ATT_ON_TIME, 0, 1, 0},
    {"half day", 'D', 1, 2, {P(8, 0), P(12, 30)}, ATT_EARLY_LEAVE, 0, 270, 210, ATT_ON_TIME, 0, 1, 1},
    {"worked too little", 'D', 1, 2, {P(8, 0), P(8, 50)}, ATT_ABSENT, 0, 490, 50, ATT_ON_TIME, 0, 1, 1},
    {"field punch pending", 'D', 1, 2, {FLD(7, 55), P(17, 0)},
     ATT_FIELD_PENDING, 0, 0, 480, ATT_ON_TIME, 0, 1, 0},
    {"make-up IN", 'D', 1, 2, {P(17, 0), MK(8, 0, ATT_IN)}, ATT_NORMAL, 0, 0, 480, ATT_ON_TIME, 1, 0, 0},
    {"make-up OUT", 'D', 1, 2, {P(7, 55), MK(17, 0, ATT_OUT)}, ATT_NORMAL, 0, 0, 480, ATT_ON_TIME, 0, 1, 0},
    {"early OUT so far", 'D', 0, 2, {P(7, 55), P(12, 0)}, ATT_EARLY_LEAVE, 0, 300, 240, ATT_ON_TIME, 0, 1, 0},
    {"night", 'N', 1, 2, {P(19, 50), P(32, 3)}, ATT_NORMAL, 0, 0, 660, ATT_ON_TIME, 0, 1, 0},
    {"night late and early", 'N', 1, 2, {P(20, 10), P(31, 30)},
     ATT_LATE_AND_EARLY, 10, 30, 620, ATT_TIER_LATE, 0, 1, 0},
    {"night, punch at 00:30", 'N', 1, 3, {P(19, 55), P(24, 30), P(32, 5)},
     ATT_NORMAL, 0, 0, 660, ATT_ON_TIME, 0, 2, 0},
    {"night, punch before window", 'N', 1, 3, {P(18, 30), P(19, 30), P(32, 0)},
     ATT_NORMAL, 0, 0, 660, ATT_ON_TIME, 1, 2, 0},
    {"night, only IN", 'N', 1, 1, {P(19, 58)}, ATT_MISSING_OUT, 0, 0, 0, ATT_ON_TIME, 0, -1, 0},
};

static void judge_case(const struct jcase *c, const struct att_shift_def *s)
{
    struct att_window w;
    struct att_punch p[6];
    struct att_result r;
    int fails = unit_failures;

    att_instance(s, mar(4), OFF, &w);
    for (size_t i = 0; i < c->n; i++) {
        p[i].at = at_min(c->p[i].min, c->p[i].sec);
        p[i].dir = c->p[i].dir;
        p[i].field_pending = c->p[i].field;
    }
    att_judge(s, &w, p, c->n, c->final, &r);
    CHECK(r.status == c->status);
    CHECK(r.late_min == c->late);
    CHECK(r.early_min == c->early);
    CHECK(r.worked_min == c->worked);
    CHECK(r.tier == c->tier);
    CHECK(r.half_day == c->half);
    CHECK(r.first_in == (c->fi < 0 ? 0 : p[c->fi].at));
    CHECK(r.last_out == (c->lo < 0 ? 0 : p[c->lo].at));
    CHECK(!r.excused && r.grace_min == 5);
    if (unit_failures != fails)
        fprintf(stderr, "  in case \"%s\": status %s late %d early %d worked %d tier %d\n",
                c->name, att_status_name(r.status), r.late_min, r.early_min, r.worked_min,
                (int)r.tier);
}

static void judge_table(void)
{
    struct att_shift_def d, n;

    shifts(&d, &n);
    for (size_t i = 0; i < sizeof jcases / sizeof jcases[0]; i++)
        judge_case(&jcases[i], jcases[i].shift == 'N' ? &n : &d);
}

static void rest_day(void)
{
    struct att_window w = {0};
    struct att_result r;

    att_judge(NULL, &w, NULL, 0, true, &r);
    CHECK(r.status == ATT_REST);
    CHECK_STR(att_status_name(r.status), "rest");
}

/* Two weeks: nights all week, then days Monday to Friday; from 2024-03-04. */
static void rotation(struct att_pattern *p)
{
    memset(p, 0, sizeof *p);
    p->rotation_weeks = 2;
    p->anchor_day = mar(6); /* a Wednesday: week 0 still starts Monday 4th */
    for (int wd = 0; wd < 7; wd++) {
        strcpy(p->days[0][wd], "N");
        if (wd < 5)
            strcpy(p->days[1][wd], "D");
    }
}

static void schedules(void)
{
    static const struct att_override ovr[] = {
        {0, "N"}, /* local_day filled below */
        {0, ""},
        {0, "N"},
        {0, "D"},
    };
    struct att_override o[4];
    struct att_pattern p;

    rotation(&p);
    memcpy(o, ovr, sizeof o);
    o[0].local_day = mar(12);
    o[1].local_day = mar(13);
    o[2].local_day = o[3].local_day = mar(14);
    CHECK_STR(att_shift_for_day(&p, NULL, 0, mar(4)), "N");
    CHECK_STR(att_shift_for_day(&p, NULL, 0, mar(10)), "N"); /* last night of week 0 */
    CHECK_STR(att_shift_for_day(&p, NULL, 0, mar(11)), "D"); /* week 1 begins */
    CHECK_STR(att_shift_for_day(&p, NULL, 0, mar(16)), "");
    CHECK_STR(att_shift_for_day(&p, NULL, 0, mar(17)), "");
    CHECK_STR(att_shift_for_day(&p, NULL, 0, mar(18)), "N"); /* week 2 = week 0 */
    CHECK_STR(att_shift_for_day(&p, NULL, 0, mar(3)), "");   /* week -1 = week 1, Sunday */
    CHECK_STR(att_shift_for_day(&p, NULL, 0, (int32_t)civil_day(2024, 2, 26)), "D");
    CHECK_STR(att_shift_for_day(&p, o, 4, mar(12)), "N");
    CHECK_STR(att_shift_for_day(&p, o, 4, mar(13)), "");
    CHECK_STR(att_shift_for_day(&p, o, 4, mar(14)), "D"); /* last override wins */
    CHECK_STR(att_shift_for_day(&p, o, 4, mar(15)), "D");
    CHECK_STR(att_shift_for_day(NULL, o, 4, mar(13)), "");
    CHECK(att_shift_for_day(NULL, o, 4, mar(15)) == NULL);
    p.rotation_weeks = 0;
    CHECK(att_shift_for_day(&p, NULL, 0, mar(4)) == NULL);
}

/* What the server does with a punch: pick the instance, decide IN/OUT,
 * store. Stored punches are keyed by their instance's attendance date. */
struct stored {
    int64_t at;
    int32_t day;
    enum att_dir dir;
};

static enum att_dir route(const struct att_schedule *sch, struct stored *st, size_t *nst, int64_t at)
{
    struct att_cand c[3];
    int64_t prior[16];
    size_t n = att_candidates(sch, at, OFF, c), np = 0;
    int k;

    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < *nst; j++)
            if (st[j].day == c[i].local_day) {
                c[i].has_in = c[i].has_in || st[j].dir == ATT_IN;
                c[i].has_out = c[i].has_out || st[j].dir == ATT_OUT;
            }
    k = att_pick(c, n, at);
    if (k < 0)
        return ATT_NONE;
    for (size_t j = 0; j < *nst; j++)
        if (st[j].day == c[k].local_day)
            prior[np++] = st[j].at;
    st[*nst].at = at;
    st[*nst].day = c[k].local_day;
    st[*nst].dir = att_decide(c[k].def, &c[k].w, prior, np, at);
    return st[(*nst)++].dir;
}

static void judge_day(const struct att_schedule *sch, const struct stored *st, size_t nst,
                      int32_t day, struct att_result *r)
{
    const struct att_shift_def *s =
        att_shift_find(sch->defs, sch->ndefs, att_shift_for_day(sch->pattern, sch->ovr, sch->novr, day));
    struct att_punch p[16];
    struct att_window w = {0};
    size_t n = 0;

    for (size_t j = 0; j < nst; j++)
        if (st[j].day == day)
            p[n++] = (struct att_punch){st[j].at, ATT_NONE, false};
    if (s)
        att_instance(s, day, OFF, &w);
    att_judge(s, &w, p, n, true, r);
}

static void night_then_day(void)
{
    struct att_shift_def defs[2];
    struct att_pattern p;
    struct att_schedule sch = {&p, NULL, 0, defs, 2};
    struct stored st[16];
    size_t nst = 0;
    struct att_result r;

    shifts(&defs[0], &defs[1]);
    rotation(&p);
    /* Sunday 10th: last night of the night week, then Monday's day shift. */
    CHECK(route(&sch, st, &nst, local_t(2024, 3, 10, 19, 50)) == ATT_IN);
    CHECK(st[0].day == mar(10));
    CHECK(route(&sch, st, &nst, local_t(2024, 3, 11, 8, 2)) == ATT_OUT);
    CHECK(st[1].day == mar(10));
    CHECK(route(&sch, st, &nst, local_t(2024, 3, 11, 8, 4)) == ATT_IN);
    CHECK(st[2].day == mar(11));
    CHECK(route(&sch, st, &nst, local_t(2024, 3, 11, 17, 1)) == ATT_OUT);
    CHECK(st[3].day == mar(11));
    judge_day(&sch, st, nst, mar(10), &r);
    CHECK(r.status == ATT_NORMAL && r.worked_min == 660);
    CHECK(r.first_in == st[0].at && r.last_out == st[1].at);
    judge_day(&sch, st, nst, mar(11), &r);
    CHECK(r.status == ATT_NORMAL && r.late_min == 4 && r.worked_min == 476);
    CHECK(r.first_in == st[2].at && r.last_out == st[3].at);
    /* Saturday 16th is a rest day: its punch belongs to nothing. */
    CHECK(route(&sch, st, &nst, local_t(2024, 3, 16, 9, 0)) == ATT_NONE);
    judge_day(&sch, st, nst, mar(16), &r);
    CHECK(r.status == ATT_REST);
}

static void pick_rules(void)
{
    struct att_shift_def d, n;
    struct att_cand c[3] = {{&n, mar(3), {0}, true, false},
                            {&d, mar(4), {0}, false, false},
                            {&d, mar(5), {0}, false, false}};

    shifts(&d, &n);
    att_instance(&n, mar(3), OFF, &c[0].w);
    att_instance(&d, mar(4), OFF, &c[1].w);
    att_instance(&d, mar(5), OFF, &c[2].w);
    CHECK(att_pick(c, 3, local_t(2024, 3, 4, 6, 0)) == 0);  /* only the night */
    CHECK(att_pick(c, 3, local_t(2024, 3, 4, 7, 30)) == 0); /* night's OUT */
    CHECK(att_pick(c, 3, local_t(2024, 3, 4, 8, 5)) == 0);  /* up to day's grace */
    CHECK(att_pick(c, 3, local_t(2024, 3, 4, 8, 6)) == 1);  /* past it: day's IN */
    c[0].has_out = true;
    CHECK(att_pick(c, 3, local_t(2024, 3, 4, 7, 30)) == 1); /* night closed */
    c[0].has_out = false;
    c[1].has_in = true;
    CHECK(att_pick(c, 3, local_t(2024, 3, 4, 7, 30)) == 1); /* day begun */
    c[0].has_in = c[1].has_in = false;
    CHECK(att_pick(c, 3, local_t(2024, 3, 4, 7, 30)) == 1); /* night never began */
    /* Between two day shifts: after 21:00 close, before 07:00 open. */
    CHECK(att_pick(c + 1, 2, local_t(2024, 3, 4, 18, 0)) == 0); /* overtime OUT */
    CHECK(att_pick(c + 1, 2, local_t(2024, 3, 4, 23, 0)) == -1);
    CHECK(att_pick(c + 1, 2, local_t(2024, 3, 5, 6, 59)) == -1);
    CHECK(att_pick(c + 1, 2, local_t(2024, 3, 5, 7, 0)) == 1);
    CHECK(att_pick(c, 0, local_t(2024, 3, 5, 7, 0)) == -1);
}

static void offline_after_settle(void)
{
    struct att_shift_def d, n;
    struct att_window w;
    struct att_punch p[2] = {{local_t(2024, 3, 4, 17, 3), ATT_NONE, false},
                             {local_t(2024, 3, 4, 7, 58), ATT_NONE, false}};
    struct att_result r;

    shifts(&d, &n);
    att_instance(&d, mar(4), OFF, &w);
    att_judge(&d, &w, p, 1, true, &r);
    CHECK(r.status == ATT_MISSING_IN);
    /* The phone was offline: its 07:58 IN arrives the next day. */
    CHECK(att_decide(&d, &w, &p[0].at, 1, p[1].at) == ATT_IN);
    att_judge(&d, &w, p, 2, true, &r);
    CHECK(r.status == ATT_NORMAL);
    CHECK(r.first_in == p[1].at && r.last_out == p[0].at && r.worked_min == 480);
}

static void makeup_correction(void)
{
    struct att_shift_def d, n;
    struct att_window w;
    struct att_punch p[2] = {{local_t(2024, 3, 4, 8, 25), ATT_NONE, false},
                             {local_t(2024, 3, 4, 17, 0), ATT_NONE, false}};
    struct att_result r;

    shifts(&d, &n);
    att_instance(&d, mar(4), OFF, &w);
    att_judge(&d, &w, p, 2, true, &r);
    CHECK(r.status == ATT_LATE && r.late_min == 25);
    /* Approved: the terminal's clock was wrong, the IN was at 07:59. */
    p[0].at = local_t(2024, 3, 4, 7, 59);
    p[0].dir = ATT_IN;
    att_judge(&d, &w, p, 2, true, &r);
    CHECK(r.status == ATT_NORMAL && r.late_min == 0 && r.worked_min == 480);
    /* A make-up OUT fixed at 16:00 stays an OUT even before the end. */
    p[1].at = local_t(2024, 3, 4, 16, 0);
    p[1].dir = ATT_OUT;
    att_judge(&d, &w, p, 2, true, &r);
    CHECK(r.status == ATT_EARLY_LEAVE && r.early_min == 60);
}

static void allowance(void)
{
    static const struct {
        enum att_status st;
        int late;
    } month[] = {
        {ATT_LATE, 10},           /* excused (1st) */
        {ATT_NORMAL, 3},          /* within grace: not a late */
        {ATT_LATE, 25},           /* beyond grace + 15 */
        {ATT_LATE_AND_EARLY, 8},  /* excused (2nd): early leave remains */
        {ATT_LATE, 12},           /* allowance used up */
        {ATT_ABSENT, 0},
    };
    struct att_result days[6];

    memset(days, 0, sizeof days);
    for (size_t i = 0; i < 6; i++) {
        days[i].status = month[i].st;
        days[i].late_min = month[i].late;
        days[i].grace_min = 5;
    }
    for (int round = 0; round < 2; round++) { /* applying twice changes nothing */
        att_apply_allowance(days, 6, 2, 15);
        CHECK(days[0].status == ATT_NORMAL && days[0].excused && days[0].late_min == 10);
        CHECK(days[1].status == ATT_NORMAL && !days[1].excused);
        CHECK(days[2].status == ATT_LATE && !days[2].excused);
        CHECK(days[3].status == ATT_EARLY_LEAVE && days[3].excused);
        CHECK(days[4].status == ATT_LATE && !days[4].excused);
        CHECK(days[5].status == ATT_ABSENT && !days[5].excused);
    }
    /* Day 2 re-judged late by 6 (an offline punch): the excuses move up. */
    days[1].status = ATT_LATE;
    days[1].late_min = 6;
    att_apply_allowance(days, 6, 2, 15);
    CHECK(days[0].excused && days[1].excused && days[1].status == ATT_NORMAL);
    CHECK(!days[3].excused && days[3].status == ATT_LATE_AND_EARLY);
    att_apply_allowance(days, 6, 0, 15);
    CHECK(days[0].status == ATT_LATE && !days[0].excused);
    CHECK(days[1].status == ATT_LATE && !days[1].excused);
}

static void status_names(void)
{
    CHECK_STR(att_status_name(ATT_PENDING), "pending");
    CHECK_STR(att_status_name(ATT_LATE_AND_EARLY), "late_and_early");
    CHECK_STR(att_status_name(ATT_MISSING_OUT), "missing_out");
    CHECK_STR(att_status_name(ATT_FIELD_PENDING), "field_pending");
    CHECK_STR(att_status_name((enum att_status)99), "unknown");
}

static void helpers(void)
{
    int32_t d, first, next;
    int min;
    char out[11];

    /* One degree of latitude is about 111.2 km; a point to itself is 0. */
    CHECK(fabs(att_distance_m(31.0, 121.0, 32.0, 121.0) - 111195.0) < 50.0);
    CHECK(att_distance_m(31.2304, 121.4737, 31.2304, 121.4737) == 0.0);
    CHECK(fabs(att_distance_m(31.2304, 121.4737, 31.2310, 121.4740) - 72.6) < 2.0);
    CHECK(att_parse_date("2026-11-23", &d) == 0);
    CHECK(d == 20780);   /* days since 1970-01-01 */
    att_format_date(d, out);
    CHECK_STR(out, "2026-11-23");
    CHECK(att_parse_date("2024-02-29", &d) == 0);
    CHECK(att_parse_date("2026-02-29", &d) == -1);   /* not a leap year */
    CHECK(att_parse_date("2026-13-01", &d) == -1);
    CHECK(att_parse_date("2026-1-01", &d) == -1);
    CHECK(att_parse_date("2026-11-23x", &d) == -1);
    CHECK(att_parse_month("2026-12", &first, &next) == 0);
    att_format_date(first, out);
    CHECK_STR(out, "2026-12-01");
    att_format_date(next, out);
    CHECK_STR(out, "2027-01-01");
    CHECK(att_parse_month("2026-00", &first, &next) == -1);
    CHECK(att_parse_hhmm("08:30", &min) == 0 && min == 510);
    CHECK(att_parse_hhmm("24:00", &min) == -1);
    CHECK(att_parse_hhmm("8:30", &min) == -1);
    CHECK(att_in_minutes(23 * 60, 22 * 60, 7 * 60));    /* quiet 22:00-07:00 */
    CHECK(att_in_minutes(6 * 60 + 59, 22 * 60, 7 * 60));
    CHECK(!att_in_minutes(7 * 60, 22 * 60, 7 * 60));
    CHECK(!att_in_minutes(12 * 60, 22 * 60, 7 * 60));
    CHECK(att_in_minutes(12 * 60, 12 * 60, 13 * 60));
    CHECK(!att_in_minutes(0, 0, 0));                    /* "" = never quiet */
    CHECK(att_status_parse("late_and_early") == ATT_LATE_AND_EARLY);
    CHECK(att_status_parse("nonsense") == -1);
}

int main(void)
{
    static const struct unit_test tests[] = {
        {"distances, dates, months, times of day", helpers},
        {"local days and weekdays", local_days},
        {"shift definition checks", shift_checks},
        {"shift instances, day and night", instances},
        {"IN/OUT decision", decide},
        {"daily judgement table", judge_table},
        {"rest day", rest_day},
        {"rotation and overrides", schedules},
        {"night shift then day shift at a rotation boundary", night_then_day},
        {"picking the instance", pick_rules},
        {"offline punch after settlement", offline_after_settle},
        {"approved make-up", makeup_correction},
        {"monthly late allowance", allowance},
        {"status names", status_names},
    };

    return RUN_TESTS(tests);
}
