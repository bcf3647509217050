/*
 * metrics.c - counters and histograms for GET /metrics (Prometheus text
 * format), and GET /healthz. Everything here is touched only on the loop
 * thread, except the writer's counters, which it reads through
 * writer_stats(). Label sets are few (routes x statuses, APIs x errcodes),
 * so plain lists do.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>

#include <event2/buffer.h>

static const double buckets_ms[] = { 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000 };
#define NBUCKETS GY_ARRAY_LEN(buckets_ms)

struct req_count {
    const char *route;         /* a route pattern: static storage */
    int status;
    uint64_t n;
    struct req_count *next;
};

struct route_hist {
    const char *route;
    uint64_t bucket[NBUCKETS]; /* non-cumulative; summed when printed */
    uint64_t count;
    double sum_ms;
    struct route_hist *next;
};

struct wx_count {
    char api[32];
    long errcode;
    uint64_t n;
    double sum_ms;
    struct wx_count *next;
};

/* Notification counters: written from the writer thread too, so locked. */
struct notify_count {
    char kind[64];
    char status[16];
    uint64_t n;
    struct notify_count *next;
};

static pthread_mutex_t notify_mu = PTHREAD_MUTEX_INITIALIZER;
static struct notify_count *notifies;

static struct req_count *reqs;
static struct route_hist *hists;
static struct wx_count *wxs;

void metrics_init(void)
{
}

void metrics_request(const char *route, int status, double ms)
{
    struct req_count *c;
    struct route_hist *h;

    for (c = reqs; c && !(c->route == route && c->status == status); c = c->next)
        ;
    if (!c) {
        c = gy_calloc(1, sizeof *c);
        c->route = route;
        c->status = status;
        c->next = reqs;
        reqs = c;
    }
    c->n++;
    for (h = hists; h && h->route != route; h = h->next)
        ;
    if (!h) {
        h = gy_calloc(1, sizeof *h);
        h->route = route;
        h->next = hists;
        hists = h;
    }
    for (size_t i = 0; i < NBUCKETS; i++) {
        if (ms <= buckets_ms[i]) {
            h->bucket[i]++;
            break;
        }
    }
    h->count++;
    h->sum_ms += ms;
}

void metrics_wechat(const char *api, long errcode, double ms)
{
    struct wx_count *c;

    for (c = wxs; c && !(strcmp(c->api, api) == 0 && c->errcode == errcode); c = c->next)
        ;
    if (!c) {
        c = gy_calloc(1, sizeof *c);
        snprintf(c->api, sizeof c->api, "%s", api);
        c->errcode = errcode;
        c->next = wxs;
        wxs = c;
    }
    c->n++;
    c->sum_ms += ms;
}

void metrics_notify(const char *kind, const char *status)
{
    struct notify_count *c;

    pthread_mutex_lock(&notify_mu);
    for (c = notifies; c && !(strcmp(c->kind, kind) == 0 && strcmp(c->status, status) == 0); c = c->next)
        ;
    if (!c) {
        c = gy_calloc(1, sizeof *c);
        snprintf(c->kind, sizeof c->kind, "%s", kind);
        snprintf(c->status, sizeof c->status, "%s", status);
        c->next = notifies;
        notifies = c;
    }
    c->n++;
    pthread_mutex_unlock(&notify_mu);
}

void metrics_free(void)
{
    pthread_mutex_lock(&notify_mu);
    while (notifies) {
        struct notify_count *n = notifies->next;
        free(notifies);
        notifies = n;
    }
    pthread_mutex_unlock(&notify_mu);
    while (reqs) {
        struct req_count *n = reqs->next;
        free(reqs);
        reqs = n;
    }
    while (hists) {
        struct route_hist *n = hists->next;
        free(hists);
        hists = n;
    }
    while (wxs) {
        struct wx_count *n = wxs->next;
        free(wxs);
        wxs = n;
    }
}

static void print_hists(struct evbuffer *b)
{
    evbuffer_add_printf(b, "# HELP gongyou_http_request_duration_seconds Time from request to reply.\n"
                           "# TYPE gongyou_http_request_duration_seconds histogram\n");
    for (struct route_hist *h = hists; h; h = h->next) {
        uint64_t cum = 0;
        for (size_t i = 0; i < NBUCKETS; i++) {
            cum += h->bucket[i];
            evbuffer_add_printf(b, "gongyou_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                                h->route, buckets_ms[i] / 1000.0, (unsigned long long)cum);
        }
        evbuffer_add_printf(b, "gongyou_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n",
                            h->route, (unsigned long long)h->count);
        evbuffer_add_printf(b, "gongyou_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                            h->route, h->sum_ms / 1000.0);
        evbuffer_add_printf(b, "gongyou_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                            h->route, (unsigned long long)h->count);
    }
}

void metrics_get(struct gy_req *r)
{
    struct evbuffer *b = evbuffer_new();
    uint64_t commits, units, checkpoints;
    long wal_frames;
    size_t len;
    char *text;

    evbuffer_add_printf(b, "# HELP gongyou_http_requests_total Requests answered, by route and status.\n"
                           "# TYPE gongyou_http_requests_total counter\n");
    for (struct req_count *c = reqs; c; c = c->next)
        evbuffer_add_printf(b, "gongyou_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
                            c->route, c->status, (unsigned long long)c->n);
    print_hists(b);
    writer_stats(&commits, &units);
    evbuffer_add_printf(b, "# HELP gongyou_writer_queue_depth Write units queued or running.\n"
                           "# TYPE gongyou_writer_queue_depth gauge\n"
                           "gongyou_writer_queue_depth %ld\n"
                           "# HELP gongyou_writer_commits_total Transactions committed by the writer.\n"
                           "# TYPE gongyou_writer_commits_total counter\n"
                           "gongyou_writer_commits_total %llu\n"
                           "# HELP gongyou_writer_units_total Write units run by the writer.\n"
                           "# TYPE gongyou_writer_units_total counter\n"
                           "gongyou_writer_units_total %llu\n",
                        writer_depth(), (unsigned long long)commits, (unsigned long long)units);
    writer_wal_stats(&wal_frames, &checkpoints);
    evbuffer_add_printf(b, "# HELP gongyou_wal_frames Pages in the WAL since it last started again (4 KiB each).\n"
                           "# TYPE gongyou_wal_frames gauge\n"
                           "gongyou_wal_frames %ld\n"
                           "# HELP gongyou_wal_checkpoints_total Checkpoints that copied WAL pages back into the database.\n"
                           "# TYPE gongyou_wal_checkpoints_total counter\n"
                           "gongyou_wal_checkpoints_total %llu\n"
                           "# HELP gongyou_wal_syncs_total WAL syncs run by the syncer thread (writer.sync_thread; 0 without it), each for one or more commits.\n"
                           "# TYPE gongyou_wal_syncs_total counter\n"
                           "gongyou_wal_syncs_total %llu\n",
                        wal_frames, (unsigned long long)checkpoints, walsync_count());
    evbuffer_add_printf(b, "# HELP gongyou_http_inflight Requests being handled.\n"
                           "# TYPE gongyou_http_inflight gauge\n"
                           "gongyou_http_inflight %d\n", http_inflight());
    evbuffer_add_printf(b, "# HELP gongyou_wechat_calls_total WeChat API calls (each attempt), by API and errcode.\n"
                           "# TYPE gongyou_wechat_calls_total counter\n");
    for (struct wx_count *c = wxs; c; c = c->next)
        evbuffer_add_printf(b, "gongyou_wechat_calls_total{api=\"%s\",errcode=\"%ld\"} %llu\n",
                            c->api, c->errcode, (unsigned long long)c->n);
    evbuffer_add_printf(b, "# HELP gongyou_notifications_total Notifications entering each status, by kind.\n"
                           "# TYPE gongyou_notifications_total counter\n");
    pthread_mutex_lock(&notify_mu);
    for (struct notify_count *c = notifies; c; c = c->next)
        evbuffer_add_printf(b, "gongyou_notifications_total{kind=\"%s\",status=\"%s\"} %llu\n",
                            c->kind, c->status, (unsigned long long)c->n);
    pthread_mutex_unlock(&notify_mu);
    evbuffer_add_printf(b, "# HELP gongyou_notifications_inflight Notifications being sent.\n"
                           "# TYPE gongyou_notifications_inflight gauge\n"
                           "gongyou_notifications_inflight %d\n", deliver_inflight());
    len = evbuffer_get_length(b);
    text = gy_malloc(len + 1);
    evbuffer_remove(b, text, len);
    evbuffer_free(b);
    api_reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    free(text);
}

/* ---- /healthz ---- */

enum { H_PING };
static const char *const health_text[] = {
    [H_PING] = "SELECT count(*) FROM sqlite_master",
};
const struct db_sqlset health_sql = { "health", health_text, GY_ARRAY_LEN(health_text) };

void health_get(struct gy_req *r)
{
    sqlite3_stmt *st = db_stmt(db_reader(), &health_sql, H_PING);
    int rc = db_done(st, sqlite3_step(st));
    cJSON *body;

    if (rc != SQLITE_ROW) {
        api_reply_error(r, "db_unavailable");
        return;
    }
    body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", "ok");
    cJSON_AddNumberToObject(body, "schema_version", db_schema_version());
    cJSON_AddNumberToObject(body, "writer_queue", (double)writer_depth());
    api_reply_json(r, 200, body);
}
