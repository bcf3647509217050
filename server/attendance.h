/*
 * attendance.h - the attendance rules engine (issue 5), pure: shift
 * definitions and their daily instances, punch windows, the IN/OUT
 * decision, which instance a punch belongs to, the daily judgement,
 * weekly and rotating schedules with per-person overrides, and the monthly
 * late allowance. No I/O, no SQLite, no globals, no clock reads: times are
 * Unix seconds, and local dates come from a fixed UTC offset passed in
 * (+28800 for Asia/Shanghai). Storing punches and results is the caller's.
 */
#ifndef GY_ATTENDANCE_H
#define GY_ATTENDANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ATT_CODE_LEN 16 /* shift code, NUL included */
#define ATT_MAX_WEEKS 4 /* longest rotation of a weekly pattern */

/* A shift as HR defines it. Minutes are after local midnight; end_min <=
 * start_min means the shift crosses midnight. Tiers are minutes past start. */
struct att_shift_def {
    char code[ATT_CODE_LEN]; /* e.g. "D", "N"; never "" (that means rest) */
    int start_min, end_min;  /* 0..1439 */
    int break_min;           /* unpaid break inside the shift */
    int open_before_min;     /* check-in opens this long before start (60) */
    int close_after_min;     /* check-out closes this long after end (240) */
    int grace_min;           /* late by at most this: on time */
    int late_max_min;        /* up to this: late */
    int serious_max_min;     /* up to this: seriously late; past it: absent */
    int early_grace_min;     /* leaving at most this early is not early leave */
    int half_day_min;        /* worked less than this: half day (0 = off) */
    int absent_below_min;    /* worked less than this: absent (0 = off) */
};

/* One instance of a shift on one attendance date (the date it starts on). */
struct att_window {
    int64_t start, end;  /* the shift itself; end is next day if it crosses */
    int64_t open, close; /* punches outside [open, close] do not count */
};

/* Direction of a punch. ATT_NONE on an att_punch means "apply the rule". */
enum att_dir {
    ATT_NONE = 0,
    ATT_IN,
    ATT_OUT,
    ATT_TOO_EARLY, /* before the window opens */
    ATT_TOO_LATE,  /* after the window closes */
};

struct att_punch {
    int64_t at;         /* Unix seconds (device time for offline punches) */
    enum att_dir dir;   /* ATT_IN/ATT_OUT fixed by an approved make-up,
                           otherwise ATT_NONE: derived by the IN/OUT rule */
    bool field_pending; /* field (外勤) punch awaiting approval */
};

enum att_status {
    ATT_PENDING = 0,    /* provisional, no punch yet: nothing to judge */
    ATT_NORMAL,
    ATT_LATE,
    ATT_EARLY_LEAVE,
    ATT_LATE_AND_EARLY,
    ATT_MISSING_IN,
    ATT_MISSING_OUT,
    ATT_ABSENT,         /* 旷工 */
    ATT_REST,
    ATT_FIELD_PENDING,
};

enum att_late_tier {
    ATT_ON_TIME = 0,    /* late_min <= grace_min */
    ATT_TIER_LATE,      /* <= late_max_min */
    ATT_TIER_SERIOUS,   /* <= serious_max_min */
    ATT_TIER_ABSENT,    /* beyond: the day counts as absent */
};

struct att_result {
    int64_t first_in;  /* first valid IN, 0 if none */
    int64_t last_out;  /* last valid OUT, 0 if none */
    int late_min;      /* minutes after start, rounded up; 0 without an IN */
    int early_min;     /* minutes before end, rounded up; 0 without an OUT */
    int worked_min;    /* inside the shift, minus break; 0 unless IN and OUT */
    int grace_min;     /* the shift's grace, kept for the monthly allowance */
    enum att_status status;
    enum att_late_tier tier;
    bool half_day;     /* worked below half_day_min */
    bool excused;      /* lateness waived by the monthly allowance */
};

/* A shift instance that a punch might belong to (see att_pick). */
struct att_cand {
    const struct att_shift_def *def; /* borrowed */
    int32_t local_day;               /* its attendance date */
    struct att_window w;
    bool has_in, has_out;            /* caller fills from stored punches */
};

/* A weekly pattern, rotating over rotation_weeks weeks (days then nights). */
struct att_pattern {
    int rotation_weeks; /* 1..ATT_MAX_WEEKS */
    int32_t anchor_day; /* a local day in week 0 (its Monday starts week 0) */
    char days[ATT_MAX_WEEKS][7][ATT_CODE_LEN]; /* [week][0=Mon] code, "" rest */
};

/* A per-person override of one date; "" makes the date a rest day. */
struct att_override {
    int32_t local_day;
    char code[ATT_CODE_LEN];
};

/* Everything needed to know one person's shift on any date. All borrowed. */
struct att_schedule {
    const struct att_pattern *pattern; /* department default, may be NULL */
    const struct att_override *ovr;    /* the person's overrides */
    size_t novr;
    const struct att_shift_def *defs;  /* the shift definitions by code */
    size_t ndefs;
};

/* Local-date helpers: days since 1970-01-01 in local time, floor division
 * (correct before 1970); weekday 0 = Monday .. 6 = Sunday. */
int32_t att_local_day(int64_t t, int utc_offset_s);
int att_weekday(int32_t local_day);

/* Fill *s with CODE, START..END and the defaults: open 60, close 240,
 * grace 5, late 30, serious 120, other tiers and break 0. */
void att_shift_init(struct att_shift_def *s, const char *code, int start_min, int end_min);

/* Check a definition: ranges and tier ordering (grace <= late_max <=
 * serious_max <= length, absent_below <= half_day <= length - break), and
 * that windows of consecutive days do not overlap. 0 if valid, else -1 and
 * a lower-case reason in WHY (may be NULL). */
int att_shift_check(const struct att_shift_def *s, char *why, size_t whylen);

/* The shift def with CODE, or NULL (unknown code or "" = rest). */
const struct att_shift_def *att_shift_find(const struct att_shift_def *defs, size_t n,
                                           const char *code);

/* The instance of S whose attendance date is LOCAL_DAY. */
void att_instance(const struct att_shift_def *s, int32_t local_day, int utc_offset_s,
                  struct att_window *w);

/*
 * The IN/OUT rule. Outside [open, close]: ATT_TOO_EARLY / ATT_TOO_LATE.
 * Inside, a punch is IN when it is before the shift's end and either no
 * earlier punch of the instance exists or it is still within start + grace
 * (a repeated check-in is harmless: the first IN counts); anything else is
 * an OUT (the last OUT counts). PRIOR holds the instance's punch times so
 * far; those later than NOW (an offline punch arriving late) are ignored.
 */
enum att_dir att_decide(const struct att_shift_def *s, const struct att_window *w,
                        const int64_t *prior, size_t n, int64_t now);

/*
 * Judge one instance from its punches (any order; those outside the window
 * are ignored; directions not fixed by a make-up are derived by the same
 * rule as att_decide over the whole set, so re-judging after an offline
 * punch or a make-up gives the new result). S NULL means a rest day.
 * Status: FIELD_PENDING if any counted punch awaits approval; else ABSENT if
 * late beyond serious_max or, with IN and OUT, worked below
 * absent_below_min; MISSING_IN with an OUT but no IN; with IN and OUT,
 * NORMAL / LATE / EARLY_LEAVE / LATE_AND_EARLY. FINAL decides what is
 * missing: no punch is ABSENT (PENDING while provisional) and an IN alone
 * is MISSING_OUT (provisionally judged by its lateness only).
 */
void att_judge(const struct att_shift_def *s, const struct att_window *w,
               const struct att_punch *punches, size_t n, bool final, struct att_result *r);

/*
 * Which candidate instance a punch at AT belongs to; -1 if no window holds
 * it (a stray punch between shifts). If several windows hold it, the two
 * latest-starting decide: the earlier instance E takes it only when E has
 * an IN but no OUT yet, the later L has no IN, and AT <= L's start + grace
 * (closing the night shift at the morning hand-over); otherwise L takes it.
 */
int att_pick(const struct att_cand *c, size_t n, int64_t at);

/* The scheduled instances of local days d-1, d, d+1 (d = day of AT) into
 * OUT, in date order, has_in/has_out false; returns how many (0..3). */
size_t att_candidates(const struct att_schedule *sch, int64_t at, int utc_offset_s,
                      struct att_cand out[3]);

/* The shift code for LOCAL_DAY: the last matching override wins, else the
 * pattern; "" means rest. NULL if no override and the pattern is NULL or
 * its rotation_weeks is out of range. Points into the arguments. */
const char *att_shift_for_day(const struct att_pattern *p, const struct att_override *ovr,
                              size_t novr, int32_t local_day);

/*
 * Monthly late allowance over one person's DAYS of a month, in date order:
 * the first ALLOWANCE_N days whose status is LATE or LATE_AND_EARLY and
 * late_min <= grace_min + WITHIN_MIN become NORMAL / EARLY_LEAVE with
 * excused set (late_min is kept). Earlier excuses are undone first, so
 * applying it again after re-judging a day is safe.
 */
void att_apply_allowance(struct att_result *days, size_t n, int allowance_n, int within_min);

/* Great-circle distance in metres between two WGS-84 points (haversine,
 * mean Earth radius): ample for fences of tens to thousands of metres. */
double att_distance_m(double lat1, double lng1, double lat2, double lng2);

/* "2026-11-23" <-> local day number. Parse returns -1 when malformed or not
 * a real date. OUT needs 11 bytes. */
int att_parse_date(const char *s, int32_t *day);
void att_format_date(int32_t day, char out[11]);
/* "2026-11" -> its first local day and the first of the next month. */
int att_parse_month(const char *s, int32_t *first, int32_t *next);
/* "08:30" -> 510 minutes after midnight; -1 when malformed. */
int att_parse_hhmm(const char *s, int *min);
/* Is minute-of-day M inside [FROM, TO) (wrapping past midnight when TO <
 * FROM)? FROM == TO is an empty range. */
bool att_in_minutes(int m, int from, int to);

/* Stable snake_case name of a status ("late_and_early"), for JSON and SQL. */
const char *att_status_name(enum att_status st);
/* The status with that name; -1 when unknown. */
int att_status_parse(const char *name);

#endif
