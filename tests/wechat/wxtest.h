/*
 * wxtest.h - the harness the tests of wechat/ share: CHECK/EXPECT, the
 * {name, fn} runner, and (wxtest.c, for the tests that talk HTTP) a
 * scripted fake WeChat: an evhttp server on 127.0.0.1, port 0, in the
 * test's own event_base, that plays step tables and keeps every request
 * it saw. Links wechat/ only, never server/.
 */
#ifndef WXTEST_H
#define WXTEST_H

#include <stddef.h>
#include <stdio.h>

#include "wx.h"

#define APPID "wx0123456789abcdef"
#define SECRET "s3cr3t-7f00d1e5"

/*==== Checks and the runner ====*/

static int wxt_failures;        /* EXPECTs that failed so far */

#define WXT_SAY(what) \
    fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, what)

/* CHECK: print file:line and leave the case through its out: label. */
#define CHECK(cond) do { \
        if (!(cond)) { \
            WXT_SAY(#cond); \
            goto out; \
        } \
    } while (0)

/* EXPECT: print file:line, count the failure and go on. */
#define EXPECT(cond) do { \
        if (!(cond)) { \
            WXT_SAY(#cond); \
            wxt_failures++; \
        } \
    } while (0)

/* START: run CALL, which must return 0, with the test's own `in_call` set
 * around it, so that a callback run inside the call is caught. */
#define START(call) do { \
        in_call = 1; \
        int rc_ = (call); \
        in_call = 0; \
        CHECK(rc_ == 0); \
    } while (0)

/* One case: FN returns 0 when its CHECKs held (CHECK style), or ALL runs
 * EXPECTs and passes when none of them failed. Set one of the two. */
struct wxt_test {
    const char *name;
    int (*fn)(void);
    void (*all)(void);
};

/* Run the N cases of TESTS in order, RESET (may be NULL) before each;
 * print "ok   name" or "FAIL name" for each, then "P passed, F failed".
 * Returns F. */
static inline int wxt_run(const struct wxt_test *tests, size_t n, void (*reset)(void))
{
    int passed = 0, failed = 0;

    for (size_t i = 0; i < n; i++) {
        int before = wxt_failures, bad;

        if (reset)
            reset();
        if (tests[i].fn) {
            bad = tests[i].fn() != 0;
        } else {
            tests[i].all();
            bad = wxt_failures != before;
        }
        printf("%s %s\n", bad ? "FAIL" : "ok  ", tests[i].name);
        fflush(stdout);
        if (bad)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed;
}

/*==== The fake WeChat (wxtest.c) ====*/

#define WXT_MAX_SEEN 64
#define WXT_BIG (1536 * 1024)  /* bytes of wxt_srv.big, over the library's cap */

struct cJSON;
struct event_base;
struct evhttp;
struct evhttp_connection;

/* One scripted reply; the last step of a script repeats forever. */
struct wxt_step {
    int code;                   /* HTTP status */
    const char *ctype;          /* Content-Type, NULL for evhttp's default */
    const char *body;           /* NULL: wxt_srv.big */
    long delay_ms;              /* reply this late */
    size_t len;                 /* bytes of BODY, 0: strlen(BODY) */
};

/* One request the server saw. */
struct wxt_seen {
    int token;                  /* to a token endpoint */
    int post;
    char path[64];
    char ctype[64];             /* its Content-Type */
    char *query;                /* raw query, "" when none */
    char *body;                 /* NUL-terminated */
    struct cJSON *json;         /* BODY parsed, on first use (freed here) */
    int api_replied;            /* API replies sent when it came */
    int api_held;               /* API requests unanswered when it came */
};

struct wxt_server {
    struct event_base *base;    /* the loop server and client share */
    struct evhttp *http;
    int port;
    const struct wxt_step *tok, *api;   /* the two scripts */
    size_t ntok, napi;
    int nreq;                   /* requests since wxt_serve(), all paths */
    int ntok_req, napi_req;     /* ... to a token endpoint, to any other */
    int napi_replied, napi_held;
    int nconn;                  /* distinct connections they came on */
    struct evhttp_connection *last_conn;
    char query[1024];           /* raw query of the last request */
    struct wxt_seen seen[WXT_MAX_SEEN];     /* the first requests, in order */
    int nseen;
    char *big;                  /* WXT_BIG bytes of 'x', NUL-terminated */
};

extern struct wxt_server wxt_srv;

/* Start the fake and its loop (and ignore SIGPIPE: a held reply may go to
 * a client that has gone). 0 or -1; call wxt_srv_stop() either way. */
int wxt_srv_start(void);
void wxt_srv_stop(void);

/* Start a new phase: the token endpoints (/cgi-bin/stable_token,
 * /cgi-bin/token) answer TOK, every other path API; a NULL script answers
 * 404. Replies still held are sent, the requests seen are forgotten and
 * every counter goes back to 0. The scripts are borrowed, not copied. */
void wxt_serve(const struct wxt_step *tok, size_t ntok,
               const struct wxt_step *api, size_t napi);

/* Send every reply still waiting on its delay, now. */
void wxt_flush_delayed(void);

/* Run the loop until *COUNTER >= N or LIMIT_MS pass; 0 if it got there. */
int wxt_wait_n(const int *counter, int n, long limit_ms);

/* Run the loop for MS milliseconds. */
void wxt_loop_for(long ms);

/* Fill CFG for a client of BASE (NULL: the fake itself): APPID, SECRET,
 * connect timeout 1 s, timeout 2 s, retry base 10 ms, the rest 0. BASE is
 * borrowed; the fake's own address lives in a static buffer. */
void wxt_config(struct wx_config *cfg, const char *base);

/* Run the cases on the fake: start it, wxt_run(), stop it. WHAT names the
 * fake in the message when it cannot start. Returns main()'s exit code. */
int wxt_main(const char *what, const struct wxt_test *tests, size_t n, void (*reset)(void));

#endif
