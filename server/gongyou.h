/*
 * gongyou.h - the one internal header of gongyoud.
 *
 * Prototypes are grouped by the file that defines them, so this header is
 * also the index of the daemon. The WeChat client lives apart in
 * wechat/wx.h and never includes this file.
 */
#ifndef GY_GONGYOU_H
#define GY_GONGYOU_H

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <event2/util.h>
#include <sqlite3.h>

#include "attendance.h"

#define GY_OK 0
#define GY_ERR (-1)

#define GY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct event_base;
struct event;
struct evhttp_request;
struct wx_client;

/* ==== walbuf.c: the writer's VFS (one write per commit to the WAL) ==== */

/* Register the VFS (once) and return its name, or NULL if SQLite refused it. */
const char *walbuf_register(void);
/* Calling thread: while ON, a sync of the WAL only writes what is gathered
 * and leaves the fdatasync to the caller (the writer's COMMIT; walsync.c). */
void walbuf_defer_sync(bool on);

/* ==== jsonout.c: JSON text built in one buffer ==== */

/* Zero-initialise; NAME is NULL for the outermost object. Members are
 * written in order; a NULL string is written as null. */
struct jout {
    char *p;
    size_t len, cap;
    bool more;   /* a member already written at this level */
};
void jout_open(struct jout *j, const char *name);
void jout_close(struct jout *j);
void jout_str(struct jout *j, const char *name, const char *s);
void jout_int(struct jout *j, const char *name, int64_t v);
void jout_bool(struct jout *j, const char *name, bool v);
void jout_null(struct jout *j, const char *name);
/* T as ISO 8601 in the configured zone, or null when T is 0. */
void jout_time(struct jout *j, const char *name, int64_t t);
/* The text (NUL-terminated, caller frees) and its length; J is reset. */
char *jout_take(struct jout *j, size_t *len);

/* ==== util.c: memory, encoding, hashing, parsing ==== */

/* Allocators that abort on out-of-memory: callers never check for NULL. */
void *gy_malloc(size_t n);
void *gy_calloc(size_t count, size_t n);
void *gy_realloc(void *p, size_t n);
char *gy_strdup(const char *s);
char *gy_strndup(const char *s, size_t n);
/* Name the calling thread (top -H, perf, gdb show it): "gy-writer"... */
void gy_thread_name(const char *name);
/* Install the allocators above in cJSON. Call once at start. */
void gy_json_hooks_init(void);

/* Fill BUF with N cryptographically random bytes; aborts if the RNG fails. */
void gy_random_bytes(unsigned char *buf, size_t n);
/* Base64url without padding. OUT needs 4*ceil(n/3)+1 bytes. */
void gy_b64url_encode(const unsigned char *in, size_t n, char *out);
/* Lower-case hex SHA-256 of IN into OUT (65 bytes with the NUL). */
void gy_sha256_hex(const void *in, size_t n, char out[65]);
/* A new random token: 32 bytes, base64url (43 chars) into OUT[44]. */
void gy_token_new(char out[44]);
/* Constant-time comparison of two equal-length buffers: 1 when equal. */
int gy_ct_equal(const void *a, const void *b, size_t n);
/* Parse a whole decimal integer within [MIN, MAX]. 0 or -1. */
int gy_parse_ll(const char *s, long long min, long long max, long long *out);
/* True when S[0..n) is valid UTF-8 and holds no control characters but
 * those CTL allows: UTF8_NO_CTL, UTF8_NL (\n, \r, \t) or UTF8_ANY_CTL. */
enum { UTF8_NO_CTL = 0, UTF8_NL = 1, UTF8_ANY_CTL = 2 };
bool gy_utf8_valid(const char *s, size_t n, int ctl);
/* Number of code points in a valid UTF-8 string. */
size_t gy_utf8_len(const char *s);
/* Trim ASCII white space at both ends in place; returns S. */
char *gy_trim(char *s);
/* Why V is not a string of MIN..MAX characters of valid UTF-8 without
 * control characters: "missing", "not_a_string", "bad_characters",
 * "empty", "too_short", "too_long"; NULL when it is fine. */
const char *json_str_problem(const cJSON *v, size_t min_chars, size_t max_chars);
/* A copy of the JSON TEXT in which integers of more than 15 digits outside
 * strings are quoted, so cJSON keeps them exactly (WeChat's MsgID exceeds
 * 2^53). Caller frees. */
char *json_quote_big_ints(const char *text, size_t len);

/* ==== clock.c: the one source of time ==== */

/* Unix time in seconds; with testing.clock on, shifted by clock_set(). */
int64_t clock_now(void);
/* Milliseconds from a monotonic clock, for durations. */
double clock_mono_ms(void);
/* Allow clock_set (only when testing.clock is true). */
void clock_enable_testing(bool on);
bool clock_testing(void);
/* Set the test clock so that clock_now() returns NOW from now on. */
void clock_set(int64_t now);
/* Format T as ISO 8601 in the configured time zone, e.g.
 * "2026-11-23T08:03:00+08:00". OUT needs 32 bytes. */
void clock_format(int64_t t, char out[32]);
/* "2026-11-23 08:03" in the configured zone: what WeChat's time and date
 * template fields accept. OUT needs 20 bytes. */
void clock_format_minute(int64_t t, char out[20]);
/* Parse ISO 8601 with an offset ("2026-11-23T08:03:00+08:00" or "...Z")
 * into Unix seconds. GY_ERR when malformed or without an offset. */
int clock_parse(const char *s, int64_t *out);
/* Offset of the configured time zone from UTC at T, in seconds. */
int clock_utc_offset(int64_t t);
/* The proleptic Gregorian date of DAYS since 1970-01-01. */
void clock_civil(int32_t days, int *y, int *m, int *d);
/* Select the time zone (an IANA name). GY_ERR if unknown. */
int clock_set_timezone(const char *name);

/* ==== log.c: JSON-lines logging ==== */

enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(int level);
/* Whether a line at LEVEL would be written (to skip building one). */
bool gy_log_enabled(int level);
int log_level_parse(const char *name); /* -1 if unknown */
/* One JSON line: {"ts","level","msg"}. Never pass a secret. */
void gy_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Log one line with extra fields taken from FIELDS (not freed). */
void gy_log_json(int level, const char *msg, const cJSON *fields);

/* ==== config.c: the JSON config file ==== */

struct gy_config {
    char *listen_host;            /* listen "HOST:PORT" */
    int listen_port;
    char *data_dir;               /* gongyou.db lives here */
    char *timezone;
    bool testing_clock;
    char *log_level;
    struct {
        char *appid;
        char *secret;             /* never logged */
        char *api_base;
        long connect_timeout_ms;
        long timeout_ms;
        int max_retries;
        long retry_base_ms;
        char *token_api;          /* "stable_token" | "token" */
        long token_margin_s;
        char *push_path;          /* where WeChat pushes events */
        char *push_token;         /* "" = push disabled */
        char *push_aes_key;       /* EncodingAESKey, 43 chars, or "" */
        char *push_appid;         /* "" = appid */
        long push_max_skew_s;     /* 0 = no timestamp check */
    } wechat;
    struct {
        long ttl_s;               /* session token lifetime, sliding */
        long touch_interval_s;    /* sliding expiry written at most this often */
        long login_replay_s;      /* same js_code answered again within this */
    } session;
    struct {
        char *synchronous;        /* FULL | NORMAL | EXTRA */
        long busy_timeout_ms;
        int checkpoint_kib;       /* WAL growth that wakes the checkpointer */
        int wal_reserve_mib;      /* the WAL file written this far ahead at start */
    } db;
    struct {
        int max_batch;            /* units in one commit at most */
        bool sync_thread;         /* commits synced on gy-syncer (walsync.c) */
    } writer;
    struct {
        long max_body;            /* default body limit for JSON endpoints */
        long max_csv_body;        /* roster upload limit */
        long timeout_s;           /* idle / read timeout of a connection */
    } http;
    struct {
        int max_failures;         /* failed bind attempts allowed ... */
        long window_s;            /* ... within this window */
    } bind;
    long shutdown_timeout_s;
    struct {
        cJSON *kinds;             /* kind -> {template_id, page, data, fallback, channel, robot_*} */
        cJSON *robots;            /* robot name -> webhook URL */
        cJSON *routes;            /* [{kind, department, robot}] */
        long deadline_s;          /* give up on a notification this long after it was made */
        long retry_base_s;        /* first back-off after a transient failure */
        long poll_ms;             /* how often the delivery worker looks for due rows */
        int batch;                /* rows taken per look */
        long robot_fold_s;        /* robot alerts of one kind and group gathered this long */
        int robot_per_minute;     /* WeCom's limit per robot */
        char *miniprogram_state;  /* formal | trial | developer */
    } notify;
    struct {
        long max_accuracy_m;      /* a location vaguer than this is refused */
        long offline_max_age_s;   /* oldest client_time accepted */
        long repeat_window_s;     /* a second punch this soon gets the first answer */
        long tick_s;              /* how often timers look for due work */
        long digest_after_min;    /* supervisors' digest this long after shift start */
        char *quiet_hours;        /* "22:00-07:00": no supervisor alerts; "" = none */
        long remind_before_min;   /* remind workers this long before start; 0 = off */
        int late_allowance;       /* lates excused per month */
        long late_allowance_within_min; /* ... when at most grace + this late */
        int makeups_per_month;
        long makeup_deadline_days;
    } attendance;
    struct {
        int threads;              /* report threads, each with its own connection */
    } reports;
};

/* Load defaults, then FILE (NULL = defaults only), then environment
 * overrides. On error writes one line naming the key into ERR and returns
 * GY_ERR. Free with config_free(). */
int config_load(struct gy_config *cfg, const char *file, char *err, size_t errsz);
void config_free(struct gy_config *cfg);
/* "HH:MM-HH:MM" (or "" for none) into minutes of the day. GY_ERR if bad. */
int quiet_hours_parse(const char *s, int *from, int *to);
/* Path of the database file inside data_dir; caller frees. */
char *config_db_path(const struct gy_config *cfg);

/* ==== errors.c: the table of error codes ==== */

struct gy_error {
    const char *code;     /* stable snake_case */
    int status;           /* HTTP status */
    const char *message;  /* Chinese, tells the user what to do */
};
/* The entry for CODE; aborts on an unknown code (a bug of ours). */
const struct gy_error *errors_find(const char *code);
/* The whole table, for docs checks and tests. */
const struct gy_error *errors_table(size_t *n);

/* ==== router.c: path patterns (pure) ==== */

#define ROUTE_MAX_PARAMS 4
#define ROUTE_PARAM_MAX 128

enum route_result { ROUTE_FOUND = 0, ROUTE_NOT_FOUND, ROUTE_BAD_METHOD };

struct route_params {
    int n;
    char name[ROUTE_MAX_PARAMS][32];
    char value[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX];
};

/* Match PATH (no query) against PATTERN ("/a/:id/b"). Percent-decoded
 * parameter values go into P. Returns true on a match. */
bool router_match_path(const char *pattern, const char *path, struct route_params *p);

/* ==== routes.c and http.c: the HTTP spine ==== */

struct gy_req;
typedef void route_fn(struct gy_req *r);

/* Route flags; see the comment above the table in routes.c. */
enum {
    R_PUBLIC = 1u << 0,   /* no authentication */
    R_AUTH = 1u << 1,     /* a valid session token or API key */
    R_BOUND = 1u << 2,    /* ... and a bound, active employee */
    R_JSON = 1u << 3,     /* body must be application/json, parsed into r->json */
    R_CSV = 1u << 4,      /* body must be text/csv */
    R_WORKER = 1u << 8,   /* role bits: any one of those given is enough */
    R_TECH = 1u << 9,
    R_SUPERVISOR = 1u << 10,
    R_HR = 1u << 11,
    R_TESTING = 1u << 12, /* exists only when testing.clock is true */
    R_RAW = 1u << 13,     /* body kept raw in r->body, any content type */
    R_PUSHPATH = 1u << 14 /* the path is wechat.push_path, not the pattern */
};
#define R_ROLES (R_WORKER | R_TECH | R_SUPERVISOR | R_HR)

struct route {
    const char *method;
    const char *pattern;
    route_fn *fn;
    unsigned flags;
    long body_max;        /* 0 = the config's http.max_body */
    const char *name;     /* for metrics: the pattern itself */
};

const struct route *routes_table(size_t *n);
/* Check the table at start: fatal on an unknown flag or a bad pattern, or
 * a PUSH_PATH (may be NULL) that is another endpoint's path. */
int routes_check(const char *push_path, char *err, size_t errsz);

/* Role bits as stored in employees.roles ("worker|hr"). */
unsigned roles_parse(const char *s, bool *ok);
void roles_format(unsigned roles, char *out, size_t outsz);

/* Who is calling; filled by the dispatcher. */
struct gy_auth {
    int64_t user_id;          /* wx_users.id, 0 for an API key */
    int64_t employee_id;      /* 0 when not bound */
    char employee_no[64];
    unsigned roles;           /* R_WORKER... bits */
    int64_t apikey_id;        /* 0 for a session */
    char token_hash[65];
};

/* One request in flight. Owned by http.c; freed after the reply. */
struct gy_req {
    struct evhttp_request *ev;
    const struct route *route;
    char id[72];               /* X-Request-Id (64 characters at most) */
    char method[8];
    char *path;                /* the path, still percent-encoded, without query */
    struct route_params params;
    cJSON *json;               /* parsed body for R_JSON routes */
    char *body;                /* raw body (NUL-terminated) */
    size_t body_len;
    struct gy_auth auth;
    double start_ms;
    int status;
    bool replied;
    /* While the request waits on something that a forced shutdown cancels
     * without a callback (a WeChat call), the handler's state to free. */
    void (*cleanup)(void *);
    void *cleanup_arg;
    struct gy_req *prev, *next;   /* in http.c's list of requests in flight */
};

int http_start(struct event_base *base, const struct gy_config *cfg, char *err, size_t errsz);
/* Stop accepting new connections (existing ones finish). */
void http_stop_accepting(void);
/* Close everything; call only when http_inflight() is 0 or at exit. */
void http_free(void);
int http_inflight(void);
/* Replies given to evhttp but not yet written to their sockets. */
int http_unflushed(void);
const struct gy_config *http_config(void);

/* Query parameter NAME of the request, or NULL. The value lives in a
 * static buffer: valid until the next call. */
const char *api_query(struct gy_req *r, const char *name);
/* Reply with BODY (taken over, freed on every path). Frees R. */
void api_reply_json(struct gy_req *r, int status, cJSON *body);
/* Reply with the error CODE from the table. Frees R. */
void api_reply_error(struct gy_req *r, const char *code);
/* Same, with extra members merged into "error" (EXTRA taken over, may be
 * NULL) and a Retry-After header when RETRY_AFTER > 0. */
void api_reply_error_ex(struct gy_req *r, const char *code, cJSON *extra, int retry_after);
/* At a forced shutdown, after the writer and the WeChat client have
 * stopped: free every request still unanswered (running its cleanup),
 * without answering; evhttp_free() then closes the connections. */
void http_abandon_all(void);
/* Reply with a raw body and content type. Frees R. */
void api_reply_raw(struct gy_req *r, int status, const char *ctype, const char *body, size_t len);
/* Reply with JSON text TEXT of LEN bytes, taken over (handed to evhttp
 * without a copy, freed once sent). Frees R. */
void api_reply_text(struct gy_req *r, int status, char *text, size_t len);

/* Field validation for JSON bodies. On failure replies 400 and returns
 * NULL / GY_ERR, so the handler just returns. */
const char *api_str(struct gy_req *r, const char *field, size_t min_chars, size_t max_chars);
/* Number FIELD of OBJ within [MIN, MAX] into *OUT. Absent or null: 400
 * if REQUIRED, else GY_OK with *OUT untouched (the caller's default). */
int api_num(struct gy_req *r, const cJSON *obj, const char *field, double min, double max,
            bool required, double *out);
/* The same for a whole number. */
int api_int(struct gy_req *r, const cJSON *obj, const char *field, int min, int max, bool required,
            int *out);
/* An optional string of r->json: NULL when absent or null; on a bad value
 * replies 400, sets *BAD and returns NULL. */
const char *api_opt_str(struct gy_req *r, const char *field, size_t min_chars, size_t max_chars,
                        bool *bad);
/* Add NAME: T as ISO 8601 in the configured zone, or null when T is 0. */
void api_add_time(cJSON *o, const char *name, int64_t t);
/* The same from column COL of ST (null when the column is NULL). */
void api_add_time_col(cJSON *o, const char *name, sqlite3_stmt *st, int col);
/* 400 invalid_field naming FIELD and a snake_case PROBLEM. Frees R. */
void api_reply_bad_field(struct gy_req *r, const char *field, const char *problem);

/* Query parameter NAME, which must be one of CHOICES (N of them), copied
 * into OUT ("" when absent or empty). On a bad value replies 400 and
 * returns GY_ERR. */
int api_query_choice(struct gy_req *r, const char *name, const char *const *choices, size_t n,
                     char *out, size_t outsz);

/* A list's ?status= filter: one of STATUSES (which may include "all"),
 * DEF when absent; "all" becomes "" (no filter). On a bad value replies
 * 400 and returns GY_ERR. */
int api_query_status(struct gy_req *r, const char *const *statuses, size_t n, const char *def,
                     char out[16]);

/* Lists paged newest first: ?limit=1..500 and ?before_id=. */
struct api_page {
    long long limit;          /* rows asked for */
    long long before;         /* ids below this; INT64_MAX for the first page */
    int64_t last;             /* the last id put in the list (set by the caller) */
};
/* Read the paging parameters; on a bad one replies 400 and returns GY_ERR. */
int api_page_params(struct gy_req *r, long long default_limit, struct api_page *p);
/* Add "next_before_id" (null on the last page) to BODY, whose LIST holds
 * the rows, and reply 200 with it (taken over). */
void api_reply_page(struct gy_req *r, cJSON *body, const cJSON *list, const struct api_page *p);

/* ==== metrics.c ==== */

void metrics_init(void);
void metrics_request(const char *route, int status, double ms);
void metrics_wechat(const char *api, long errcode, double ms);
/* A notification of KIND entered STATUS. */
void metrics_notify(const char *kind, const char *status);
void metrics_free(void);
void metrics_get(struct gy_req *r);
void health_get(struct gy_req *r);

/* ==== db.c: SQLite connections, migrations, prepared statements ==== */

/* A module's prepared statements: an array of SQL texts, prepared once on
 * every connection that the module uses and reused with bound params. */
struct db_sqlset {
    const char *name;
    const char *const *sql;
    int n;
};

struct db_conn;

/* Open PATH read-write (migrating it) or read-only. Statements of every
 * registered set are prepared at once; a failure is fatal at start.
 * Returns NULL and fills ERR on failure. */
struct db_conn *db_open(const char *path, bool readonly, const struct gy_config *cfg,
                        char *err, size_t errsz);
void db_close(struct db_conn *c);
sqlite3 *db_handle(struct db_conn *c);
/* The prepared statement ID of SET, reset and ready to bind. */
sqlite3_stmt *db_stmt(struct db_conn *c, const struct db_sqlset *set, int id);
/* Reset ST and clear its bindings; returns the last step's rc. */
int db_done(sqlite3_stmt *st, int rc);
/* Apply pending migrations in one transaction each. Returns the number
 * applied, or GY_ERR (ERR filled). Refuses a database newer than us. */
int db_migrate(sqlite3 *db, char *err, size_t errsz);
int db_schema_version(void);   /* newest migration built in */
/* Bind a text that may be NULL. */
int db_bind_text(sqlite3_stmt *st, int idx, const char *s);
/* Step a statement that returns no rows; GY_OK or GY_ERR (logged). */
int db_exec_stmt(sqlite3_stmt *st);
/* Log a SQLite failure with its context; returns GY_ERR. */
int db_fail(struct db_conn *c, const char *what);

/* Migrations built into the binary from schema/ (schema_gen.c). */
struct db_migration {
    int version;
    const char *name;
    const char *sql;
};
extern const struct db_migration db_migrations[];
extern const size_t db_nmigrations;

/* Statement sets, one per module that owns SQL. */
extern const struct db_sqlset auth_sql;
extern const struct db_sqlset roster_sql;
extern const struct db_sqlset health_sql;
extern const struct db_sqlset wxlink_sql;
extern const struct db_sqlset bind_sql;
extern const struct db_sqlset push_sql;
extern const struct db_sqlset qrcode_sql;
extern const struct db_sqlset notify_sql;
extern const struct db_sqlset deliver_sql;
extern const struct db_sqlset consent_sql;
extern const struct db_sqlset moderation_sql;
extern const struct db_sqlset sites_sql;
extern const struct db_sqlset shifts_sql;
extern const struct db_sqlset attday_sql;
extern const struct db_sqlset clockin_sql;
extern const struct db_sqlset makeup_sql;
extern const struct db_sqlset reports_sql;

/* The loop thread's read connection (short indexed reads only). */
struct db_conn *db_reader(void);
void db_set_reader(struct db_conn *c);

/* ==== handoff.c: work from the loop to a worker thread and back ==== */

struct handoff_item {
    struct handoff_item *next;   /* the first member of every item */
};
struct handoff {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct handoff_item *head, *tail;       /* queued; mu */
    struct handoff_item *done, *done_tail;  /* finished, for the loop; mu */
    bool stop;                              /* mu */
    struct event *done_ev;                  /* wakes the loop: ON_DONE(ARG) */
};
int handoff_init(struct handoff *h, struct event_base *base,
                 void (*on_done)(evutil_socket_t, short, void *), void *arg);
/* Append LIST (ended by a NULL next) to the list *HEAD .. *TAIL. */
void handoff_append(struct handoff_item **head, struct handoff_item **tail, struct handoff_item *list);
/* Loop: queue IT and wake a worker. */
void handoff_push(struct handoff *h, struct handoff_item *it);
/* Worker: wait for work (WAIT_MS at most; forever if negative) and take up
 * to MAX queued items as a list, *N of them. NULL when the wait ran out,
 * or on stop once nothing is queued. */
struct handoff_item *handoff_take(struct handoff *h, long max, int wait_ms, long *n);
/* Worker: LIST is done; the loop's ON_DONE will find it. */
void handoff_finished(struct handoff *h, struct handoff_item *list);
/* Loop (in ON_DONE): the finished items, in order. */
struct handoff_item *handoff_done(struct handoff *h);
void handoff_stop(struct handoff *h);
bool handoff_stopping(struct handoff *h);
void handoff_destroy(struct handoff *h);

/* ==== walsync.c: the writer's commits made durable on their own thread ==== */

/* Start the syncer on the WAL at WAL_PATH (it must exist): batches pushed
 * to it go to TO once the WAL is synced. */
int walsync_start(const char *wal_path, struct handoff *to, char *err, size_t errsz);
/* Writer: LIST (a committed batch, the sync owed) goes to TO once synced. */
void walsync_push(struct handoff_item *list);
/* WAL syncs so far (for /metrics). */
unsigned long long walsync_count(void);
/* Sync and hand over what is queued, then stop the thread. */
void walsync_stop(void);

/* ==== writer.c: the group-commit writer thread ==== */

/*
 * A unit of work runs on the writer thread inside a shared transaction,
 * under its own savepoint. It returns 0 to keep its changes, or any other
 * value to roll back to its savepoint (the value goes to DONE). DONE runs
 * later on the loop thread, after the COMMIT is durable, with the unit's
 * value, or GY_ERR when the transaction could not be committed.
 */
typedef int writer_fn(struct db_conn *c, void *arg);
typedef void writer_done_fn(void *arg, int rc);

int writer_start(struct event_base *base, const struct gy_config *cfg, char *err, size_t errsz);
/* Hand a unit to the writer. Never blocks on SQLite. DONE may be NULL. */
void writer_submit(writer_fn *fn, writer_done_fn *done, void *arg);
/* Units queued or running. */
long writer_depth(void);
/* Commits and units so far (for /metrics). */
void writer_stats(uint64_t *commits, uint64_t *units);
/* The WAL's length in frames at the last commit, and the checkpoints that
 * copied frames back (the checkpointer's and the writer's own). */
void writer_wal_stats(long *frames, uint64_t *checkpoints);
/* Finish every queued unit, stop the thread, close its connection. */
void writer_stop(void);
/* FN runs on the writer thread when a transaction is rolled back whole. */
void writer_set_on_rollback(void (*fn)(void));
/* FN runs on the loop thread after each batch's completions (NULL: none). */
/* FN runs on the writer thread after each batch has committed or rolled
 * back, before its completions are handed to the loop. */
void writer_set_after_batch(void (*fn)(void));
void writer_set_after_commit(void (*fn)(void));

/* ==== auth.c: login, sessions, API keys ==== */

int auth_init(struct event_base *base, const struct gy_config *cfg);
void auth_free(void);
/* Resolve "Authorization: Bearer ..." into R->auth. Returns GY_OK, or
 * replies with 401 and returns GY_ERR. */
int auth_resolve(struct gy_req *r);
void auth_login(struct gy_req *r);
void auth_logout(struct gy_req *r);
/* `gongyoud apikey create`: prints the key on stdout. */
int auth_apikey_create(struct db_conn *c, const char *role, const char *name);
/* `gongyoud apikey list` and `gongyoud apikey revoke NAME|ID`. */
int auth_apikey_list(struct db_conn *c);
int auth_apikey_revoke(struct db_conn *c, const char *name_or_id);

/* ==== sesscache.c: resolved sessions, in memory (see the file) ==== */

/* Loop thread. The generation to store a read under: take it before the read. */
unsigned sesscache_gen(void);
bool sesscache_get(const char *hash, struct gy_auth *auth, int64_t *expires, int64_t *touched);
void sesscache_put(const char *hash, const struct gy_auth *auth, int64_t expires, int64_t touched,
                   unsigned gen);
/* The sliding expiry of HASH was moved on. */
void sesscache_touch(const char *hash, int64_t expires, int64_t touched);
/* Forget HASH's entry (its touch failed). */
void sesscache_drop(const char *hash);
void sesscache_free(void);
/* Writer thread: a unit changes sessions or employees; after each batch. */
void sesscache_stale(void);
void sesscache_batch_end(void);
void testing_clock_set(struct gy_req *r);

/* ==== push.c: WeChat's message push and its journal ==== */

void push_verify(struct gy_req *r);
void push_post(struct gy_req *r);
void push_events_list(struct gy_req *r);

/* ==== qrcode.c: QR codes for posters ==== */

void qrcode_create(struct gy_req *r);

/* ==== notify.c: notification kinds, the outbox call, HR's list ==== */

/* One kind of notification, from notify.kinds in the config. */
struct notify_kind {
    char *name;
    char *template_id;          /* NULL for robot-only kinds */
    char *page;                 /* may hold {field}; NULL = none */
    struct {
        char *key;              /* template key: thing1, time3 ... */
        char *field;            /* the feature's field that fills it */
    } *data;
    size_t ndata;
    bool robot_only;            /* "channel": "robot": supervisors' alerts */
    bool fallback_robot;        /* skipped (no consent, not bound) -> robot */
    char *robot_title;          /* the robot message's heading */
    char *robot_line;           /* one line per notification, {field} filled */
};

/* Check notify.kinds/robots/routes at start; one line naming the key. */
int notify_config_check(const struct gy_config *cfg, char *err, size_t errsz);
void notify_config_free(void);
const struct notify_kind *notify_kind(const char *name);
const struct notify_kind *notify_kinds(size_t *n);
/* The robot (name in notify.robots) for KIND in DEPARTMENT, or NULL. */
const char *notify_route(const char *kind, const char *department);
const char *notify_robot_url(const char *robot);
/* TMPL with "{name}" replaced by FIELDS' values. Caller frees. */
char *notify_render(const char *tmpl, const cJSON *fields);

/*
 * The one call a feature makes: inside its own writer unit, queue a
 * notification of KIND for EMPLOYEE_NO with FIELDS (read, not taken), so
 * the change and its notification commit together. Robot-only kinds go
 * to the robot routed for the employee's department. GY_ERR only on a
 * database failure (the unit should then fail); an unknown kind is
 * logged, queues nothing and returns GY_OK.
 */
int notify_enqueue(struct db_conn *c, const char *kind, const char *employee_no, const cJSON *fields);
/* Inside a writer unit: a robot row for K (fallback routing). *ID set. */
int notify_enqueue_robot(struct db_conn *c, const struct notify_kind *k, const char *employee_no,
                         const char *fields, int64_t *id);
void notify_list(struct gy_req *r);
void notify_testing(struct gy_req *r);

/* ==== deliver.c: the delivery worker ==== */

int deliver_start(struct event_base *base, const struct gy_config *cfg);
/* Look for due rows soon (after a commit that queued some). */
void deliver_kick(void);
void deliver_stop(void);
/* Rows being sent right now (for shutdown and /metrics). */
int deliver_inflight(void);

/* ==== consent.c: one-time subscription credits ==== */

void consent_post(struct gy_req *r);
void consent_get(struct gy_req *r);
/* Inside a writer unit: the taps of a subscribe_msg_popup_event or
 * subscribe_msg_change_event (normalised: List is an array). */
int consent_from_push(struct db_conn *c, const char *openid, const cJSON *event);
/* Inside a writer unit: credits left for OPENID and TEMPLATE (0 if none). */
long consent_credits(struct db_conn *c, const char *openid, const char *template_id);
/* Inside a writer unit: a send succeeded (-1) or WeChat said 43101 (0). */
int consent_spend(struct db_conn *c, const char *openid, const char *template_id, bool exhausted);

/* ==== moderation.c: text shown to others goes through msg_sec_check ==== */

/* After the verdict is durable: ID of the moderation row; HELD when only
 * its author may see the text until HR releases it. */
typedef void moderation_done_fn(struct gy_req *r, void *arg, int64_t id, bool held);
/*
 * Check TEXT (KIND names what it is; SCENE as msg_sec_check: 1 profile,
 * 2 comment, 3 forum, 4 social log) for R's WeChat user. Risky text is
 * answered 422 content_risky here; otherwise DONE runs. When DONE is not
 * called (risky text, a failure, a forced shutdown) ARG_FREE(ARG) is, if
 * given. If WeChat cannot be asked, the text is held.
 */
void moderation_submit(struct gy_req *r, const char *kind, const char *text, int scene,
                       moderation_done_fn *done, void *arg, void (*arg_free)(void *));
void moderation_list(struct gy_req *r);
void moderation_release(struct gy_req *r);
void moderation_reject(struct gy_req *r);
void moderation_testing(struct gy_req *r);

/* ==== sites.c: where punching counts ==== */

#define SITE_MAX_FENCES 16
#define SITE_MAX_WIFI 32
struct site {
    char code[32], name[128];
    char policy[8];                /* out of range: refuse | field | flag */
    struct { double lat, lng, radius_m; } fences[SITE_MAX_FENCES];
    size_t nfences;
    char wifi[SITE_MAX_WIFI][18];  /* "aa:bb:cc:dd:ee:ff" */
    size_t nwifi;
};
/* Where a punch was, as the sites see it. */
struct site_fix {
    const struct site *site;       /* the matching or nearest site; NULL if none */
    bool any_site;                 /* sites are set up at all */
    bool inside;                   /* in a fence or on a listed Wi-Fi */
    bool wifi;                     /* ... on a listed Wi-Fi */
    double distance_m;             /* to the nearest fence's centre; -1 if none */
    double outside_m;              /* beyond that fence's edge (<= 0 inside) */
};
/* Writer thread: every site, parsed (cached until a site changes). */
const struct site *sites_all(struct db_conn *c, size_t *n);
void sites_cache_reset(void);
/* Writer thread: locate a punch. HOME is the employee's site code: when it
 * names a site, only that site counts. BSSID normalised or NULL. */
void sites_locate(struct db_conn *c, const char *home, double lat, double lng, const char *bssid,
                  struct site_fix *fix);
/* "AA-BB-..." -> "aa:bb:..."; false if it is not a BSSID. */
bool sites_bssid_norm(const char *in, char out[18]);
void sites_list(struct gy_req *r);
void sites_put(struct gy_req *r);
void sites_delete(struct gy_req *r);

/* ==== shifts.c: shifts, department patterns, schedule overrides ==== */

/* One immutable version of a shift. */
struct shift_version {
    int64_t id;
    struct att_shift_def def;
    char name[64];
};
/* Writer thread only: version ID, cached (NULL if there is none). */
const struct shift_version *shifts_version(struct db_conn *c, int64_t id);
/* Forget the writer's cache (after a failed commit; at exit). */
void shifts_cache_reset(void);
/* The current version of CODE, 0 if there is no such shift. */
int64_t shifts_current(struct db_conn *c, const char *code);
/* The shift code EMPLOYEE (of DEPARTMENT) works on DATE by the schedule as
 * it is now: their override, else the department's pattern; "" = rest. */
int shifts_resolve(struct db_conn *c, int64_t employee_id, const char *department, int32_t date,
                   char code[ATT_CODE_LEN]);
cJSON *shifts_version_json(const struct shift_version *v);
void shifts_list(struct gy_req *r);
void shifts_put(struct gy_req *r);
void patterns_list(struct gy_req *r);
void patterns_put(struct gy_req *r);
void schedule_upload(struct gy_req *r);
void schedule_get(struct gy_req *r);

/* ==== attday.c: daily results and the attendance timer ==== */

/* A row of att_days. */
struct att_day {
    int64_t employee_id;
    int32_t date;
    int64_t version_id;          /* 0: rest */
    struct att_window w;
    enum att_status status;
    int64_t first_in, last_out;  /* 0 if none */
    int late_min, early_min, worked_min, tier;
    bool half_day, excused, final;
    int punches;
};
int32_t attday_today(void);
/* Read the row: 1 found, 0 not. */
int attday_get(struct db_conn *c, int64_t emp, int32_t date, struct att_day *d);
/* Writer: the row, planned from the schedule now if it did not exist. */
int attday_ensure(struct db_conn *c, int64_t emp, const char *dept, int32_t date, struct att_day *d);
/* Writer: the same for the N (at most ATTDAY_MAX_SPAN) days from FIRST,
 * into DAYS[0..N-1], with one read. */
#define ATTDAY_MAX_SPAN 3
int attday_ensure_span(struct db_conn *c, int64_t emp, const char *dept, int32_t first, size_t n,
                       struct att_day *days);
/* Writer: judge the day again from its punches (final once its window has
 * closed), re-apply the monthly allowance; the new row into OUT (may be NULL). */
int attday_settle(struct db_conn *c, int64_t emp, int32_t date, struct att_day *out);
/* Writer: the same for a row D already read and its punches P (those not
 * rejected); D becomes the stored row. */
int attday_judge(struct db_conn *c, struct att_day *d, const struct att_punch *p, size_t n);
/* The punches that count for a day (rejected field punches left out) are
 * judged at most ATTDAY_MAX_PUNCHES at a time: P[0..*N) gets one more,
 * in the order they were stored; past the limit the last one kept becomes
 * the latest (the first and the latest count most). */
#define ATTDAY_MAX_PUNCHES 64
void attday_punch_add(struct att_punch *p, size_t *n, int64_t at, enum att_dir dir, bool field_pending);
/* Writer: the schedule of an existing day changed: pin the new instance
 * and judge again. 1 if a row was changed, 0 if none existed, -1 on error. */
int attday_replan(struct db_conn *c, int64_t emp, const char *dept, int32_t date);
cJSON *attday_json(const struct att_day *d, const struct shift_version *v);
/* The same written into J as member NAME (NULL at the top), with or
 * without its "shift" member. */
void attday_jout(struct jout *j, const char *name, const struct att_day *d,
                 const struct shift_version *v, bool with_shift);
/* "shift": the shift of day D (version V, may be NULL) into J. */
void attday_shift_jout(struct jout *j, const struct att_day *d, const struct shift_version *v);
int attday_start(struct event_base *base, const struct gy_config *cfg);
/* Writer thread: drop the caches of shifts and sites (a failed commit). */
void attday_caches_reset(void);
/* Run the timer soon (the test clock moved). */
void attday_kick(void);
void attday_stop(void);

/* ==== clockin.c: punching ==== */

void clockin_post(struct gy_req *r);
/* Writer: the punch of an approved make-up (its direction fixed). */
int clockin_insert_makeup(struct db_conn *c, int64_t emp, int32_t date, int64_t version, bool in,
                          int64_t at, int64_t makeup_id, int64_t *punch_id);
/* May the caller approve or reject for the employee EMPLOYEE_NO whose
 * supervisor is SUP? HR always; a supervisor for their own people. */
bool attendance_may_decide(const struct gy_req *r, const char *sup, const char *employee_no);
/* The body's "decision": 1 approve, 0 reject, -1 after a 400 reply. */
int attendance_decision(struct gy_req *r);
void field_list(struct gy_req *r);
void field_decide(struct gy_req *r);

/* ==== makeup.c: make-up requests (补卡) ==== */

void makeup_post(struct gy_req *r);
void makeup_list(struct gy_req *r);
void makeup_decide(struct gy_req *r);

/* ==== reports.c: report threads and attendance reports ==== */

typedef void report_fn(struct db_conn *c, void *arg);
typedef void report_done_fn(void *arg);
int reports_start(struct event_base *base, const struct gy_config *cfg, char *err, size_t errsz);
/* Run FN on a report thread with its own read-only connection; DONE then
 * runs on the loop thread. */
void report_submit(report_fn *fn, report_done_fn *done, void *arg);
void reports_stop(void);
void reports_attendance(struct gy_req *r);
void reports_me_attendance(struct gy_req *r);

/* ==== xml.c: WeChat's XML pushes as JSON ==== */

/* Parse TEXT into the JSON shape of the root element's content (leaves are
 * strings; repeated elements become arrays). NULL with ERR filled when it
 * is not acceptable XML (a DOCTYPE, too deep, too big). Caller frees. */
cJSON *xml_to_json(const char *text, size_t len, char *err, size_t errsz);

/* ==== wxlink.c: the daemon's WeChat client ==== */

/* Create the client from the config, with the observer (metrics, logs)
 * and the SQLite token store. */
int wxlink_start(struct event_base *base, const struct gy_config *cfg, char *err, size_t errsz);
struct wx_client *wxlink_client(void);
/* Abort every call in flight and free the client. */
void wxlink_free(void);

/* ==== csvdoc.c: CSV uploads from Excel, CSV downloads for Excel ==== */

struct csv_problem {
    long row;           /* 1-based line of the CSV record, header = 1 */
    char column[32];
    char problem[160];
};
struct csv_problems {
    struct csv_problem *v;
    size_t n;
};
void csv_problem_add(struct csv_problems *p, long row, const char *column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* As a JSON array [{row,column,problem}]; caller frees. */
cJSON *csv_problems_json(const struct csv_problems *p);
void csv_problems_free(struct csv_problems *p);

struct csv_column {
    const char *name;   /* as in the header, lower case */
    bool required;
    size_t max_chars;
};
/* One data row: VAL[i] is column i's cell (trimmed, line breaks made
 * spaces), OK[i] whether it passed the common checks (a problem was added
 * if not). VAL may be modified. */
typedef void csv_row_fn(void *ctx, long row, char **val, const bool *ok);
/* Read an upload of the columns COLS, in any order, header first; FN runs
 * for every non-blank row. File-level problems (encoding, quotes, header,
 * no rows of WHAT) go into P. GY_ERR only when libcsv cannot start. */
int csv_read(const char *data, size_t len, const struct csv_column *cols, int ncols,
             const char *what, csv_row_fn *fn, void *ctx, struct csv_problems *p);

/* A CSV download: UTF-8 with a BOM, CRLF, text quoted. */
struct csv_out {
    char *buf;
    size_t len, cap;
    bool row_start;
};
void csv_out_init(struct csv_out *o);
void csv_out_text(struct csv_out *o, const char *s);
void csv_out_num(struct csv_out *o, double v);
void csv_out_end_row(struct csv_out *o);
void csv_out_free(struct csv_out *o);

/* ==== roster.c: employees, CSV import, binding ==== */

struct roster_row {
    long row;
    char *employee_no, *name, *department, *phone, *site, *supervisor_no;
    unsigned roles;
};

struct roster_file {
    struct roster_row *rows;
    size_t n;
    struct csv_problems problems;
};

/* Parse and check a roster CSV (pure: no database). Problems go into
 * F->problems; rows are filled only for rows without problems. Returns
 * GY_OK when the file could be read at all. Free with roster_file_free. */
int roster_parse(const char *data, size_t len, struct roster_file *f);
void roster_file_free(struct roster_file *f);

struct roster_counts {
    long added, updated, deactivated, unchanged;
};

/* Apply a parsed roster inside a writer unit (checks supervisors against
 * the file and the table first). GY_OK, 1 when problems were found
 * (nothing applied), GY_ERR on a database failure. */
int roster_apply(struct db_conn *c, struct roster_file *f, bool deactivate_missing,
                 struct roster_counts *out);
/* `gongyoud roster import FILE [--deactivate-missing]`. */
int roster_import_cli(struct db_conn *c, const char *file, bool deactivate_missing);

void roster_upload(struct gy_req *r);

/* ==== bind.c: binding WeChat users to employees ==== */

void bind_post(struct gy_req *r);
void bind_phone(struct gy_req *r);
void bind_me(struct gy_req *r);
void bind_unbind(struct gy_req *r);
/* The employee object of EMPLOYEE_ID for replies (phone masked), or cJSON
 * null. Caller owns the result. */
cJSON *bind_employee_json(struct db_conn *c, int64_t employee_id);

#endif
