/*
 * http.c - the evhttp glue: one dispatcher in front of every handler.
 *
 * It finds the route (404 vs 405), checks the body size (413), content
 * type (415) and JSON (400), authenticates (401) and checks roles (403),
 * so handlers only do their own work. It owns struct gy_req: a handler
 * (or its async completion) ends every request with exactly one
 * api_reply_* call, which sends, logs, counts and frees it.
 */
#include "gongyou.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

static struct {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    const struct gy_config *cfg;
    int inflight;              /* requests not yet answered */
    int unflushed;             /* replies handed to evhttp, not yet written out */
    struct gy_req *reqs;       /* unanswered requests */
    bool stopping;
} H;

const struct gy_config *http_config(void)
{
    return H.cfg;
}

int http_inflight(void)
{
    return H.inflight;
}

int http_unflushed(void)
{
    return H.unflushed;
}

static void reply_written(struct evhttp_request *ev, void *arg)
{
    H.unflushed--;
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET: return "GET";
    case EVHTTP_REQ_POST: return "POST";
    case EVHTTP_REQ_HEAD: return "HEAD";
    case EVHTTP_REQ_PUT: return "PUT";
    case EVHTTP_REQ_DELETE: return "DELETE";
    case EVHTTP_REQ_OPTIONS: return "OPTIONS";
    case EVHTTP_REQ_TRACE: return "TRACE";
    case EVHTTP_REQ_CONNECT: return "CONNECT";
    case EVHTTP_REQ_PATCH: return "PATCH";
    }
    return "OTHER";
}

/* A client's X-Request-Id is kept when it is short and plain. */
static bool request_id_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (n >= 64 || !(isalnum((unsigned char)s[n]) || strchr("-_.:", s[n])))
            return false;
    return n > 0;
}

/* Ours: six random bytes drawn once per process, then a counter (request
 * ids are not secrets; drawing random bytes for each request cost a
 * getpid system call and a lock in OpenSSL). 16 characters, as before. */
static void set_request_id(struct gy_req *r)
{
    const char *given = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "X-Request-Id");
    static unsigned char raw[12];
    static bool seeded;

    if (given && request_id_ok(given)) {
        snprintf(r->id, sizeof r->id, "%s", given);
        return;
    }
    if (!seeded) {
        gy_random_bytes(raw, sizeof raw);
        seeded = true;
    }
    for (int i = 11; i >= 6 && ++raw[i] == 0; i--)
        ;
    gy_b64url_encode(raw, sizeof raw, r->id);
}

static void req_link(struct gy_req *r)
{
    r->next = H.reqs;
    if (H.reqs)
        H.reqs->prev = r;
    H.reqs = r;
    H.inflight++;
}

static void req_unlink(struct gy_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        H.reqs = r->next;
    if (r->next)
        r->next->prev = r->prev;
    H.inflight--;
}

static void req_free(struct gy_req *r)
{
    cJSON_Delete(r->json);
    free(r->body);
    free(r->path);
    free(r);
}

static void log_request(struct gy_req *r, double ms)
{
    cJSON *f;

    if (!gy_log_enabled(r->status >= 500 ? LOG_ERROR : LOG_INFO))
        return;   /* log_level warn or error: no access log to build */
    f = cJSON_CreateObject();
    cJSON_AddStringToObject(f, "req_id", r->id);
    cJSON_AddStringToObject(f, "method", r->method);
    cJSON_AddStringToObject(f, "path", r->path ? r->path : "");
    cJSON_AddNumberToObject(f, "status", r->status);
    cJSON_AddNumberToObject(f, "ms", (double)(long)(ms * 100) / 100);
    if (r->auth.user_id)
        cJSON_AddNumberToObject(f, "user", (double)r->auth.user_id);
    if (r->auth.employee_no[0])
        cJSON_AddStringToObject(f, "employee_no", r->auth.employee_no);
    if (r->auth.apikey_id)
        cJSON_AddNumberToObject(f, "apikey", (double)r->auth.apikey_id);
    gy_log_json(r->status >= 500 ? LOG_ERROR : LOG_INFO, "request", f);
    cJSON_Delete(f);
}

/* Send BUF (emptied) with CTYPE as the reply to R, and free R. */
static void reply_buffer(struct gy_req *r, int status, const char *ctype, struct evbuffer *buf)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->ev);
    double ms = clock_mono_ms() - r->start_ms;

    if (r->replied)
        abort();   /* two replies to one request: our bug */
    r->replied = true;
    r->status = status;
    evhttp_add_header(out, "Content-Type", ctype);
    evhttp_add_header(out, "X-Request-Id", r->id);
    evhttp_add_header(out, "Cache-Control", "no-store");
    if (H.stopping)
        evhttp_add_header(out, "Connection", "close");
    /* Shutdown waits for replies to reach the socket, not just evhttp. A
     * request whose client has gone has no connection: nothing to wait for. */
    if (evhttp_request_get_connection(r->ev)) {
        H.unflushed++;
        evhttp_request_set_on_complete_cb(r->ev, reply_written, NULL);
    }
    evhttp_send_reply(r->ev, status, NULL, buf);

    log_request(r, ms);
    metrics_request(r->route ? r->route->pattern : "unmatched", status, ms);
    req_unlink(r);
    req_free(r);
}

void api_reply_raw(struct gy_req *r, int status, const char *ctype, const char *body, size_t len)
{
    struct evbuffer *buf = evbuffer_new();

    evbuffer_add(buf, body, len);
    reply_buffer(r, status, ctype, buf);
    evbuffer_free(buf);
}

static void free_text(const void *data, size_t len, void *arg)
{
    (void)len, (void)arg;
    free((void *)data);
}

void api_reply_text(struct gy_req *r, int status, char *text, size_t len)
{
    struct evbuffer *buf = evbuffer_new();

    if (evbuffer_add_reference(buf, text, len, free_text, NULL) != 0) {
        free(text);
        evbuffer_free(buf);
        api_reply_error(r, "internal_error");
        return;
    }
    reply_buffer(r, status, "application/json; charset=utf-8", buf);
    evbuffer_free(buf);
}

void http_abandon_all(void)
{
    while (H.reqs) {
        struct gy_req *r = H.reqs;
        req_unlink(r);
        if (r->cleanup)
            r->cleanup(r->cleanup_arg);
        req_free(r);
    }
}

void api_reply_json(struct gy_req *r, int status, cJSON *body)
{
    char *text = cJSON_PrintUnformatted(body);

    cJSON_Delete(body);
    api_reply_raw(r, status, "application/json; charset=utf-8", text, strlen(text));
    free(text);
}

void api_reply_error_ex(struct gy_req *r, const char *code, cJSON *extra, int retry_after)
{
    const struct gy_error *e = errors_find(code);
    cJSON *body = cJSON_CreateObject();
    cJSON *err = cJSON_AddObjectToObject(body, "error");

    cJSON_AddStringToObject(err, "code", e->code);
    cJSON_AddStringToObject(err, "message", e->message);
    if (extra) {
        for (cJSON *it = extra->child; it; it = it->next)
            cJSON_AddItemToObject(err, it->string, cJSON_Duplicate(it, true));
        cJSON_Delete(extra);
    }
    if (retry_after > 0) {
        char v[16];
        snprintf(v, sizeof v, "%d", retry_after);
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Retry-After", v);
    }
    api_reply_json(r, e->status, body);
}

void api_reply_error(struct gy_req *r, const char *code)
{
    api_reply_error_ex(r, code, NULL, 0);
}

const char *api_query(struct gy_req *r, const char *name)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->ev));
    struct evkeyvalq kv;
    static char value[512];
    const char *v;

    if (!q)
        return NULL;
    TAILQ_INIT(&kv);
    if (evhttp_parse_query_str(q, &kv) != 0)
        return NULL;
    v = evhttp_find_header(&kv, name);
    if (v)
        snprintf(value, sizeof value, "%s", v);
    evhttp_clear_headers(&kv);
    return v ? value : NULL;
}

const char *api_str(struct gy_req *r, const char *field, size_t min_chars, size_t max_chars)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, field);
    const char *problem = json_str_problem(v, min_chars, max_chars);

    if (!problem)
        return v->valuestring;
    api_reply_bad_field(r, field, problem);
    return NULL;
}

int api_num(struct gy_req *r, const cJSON *obj, const char *field, double min, double max,
            bool required, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);

    if (!v || cJSON_IsNull(v)) {
        if (!required)
            return GY_OK;   /* *OUT keeps the caller's default */
        api_reply_bad_field(r, field, "missing");
        return GY_ERR;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != v->valuedouble) {
        api_reply_bad_field(r, field, "not_a_number");
        return GY_ERR;
    }
    if (v->valuedouble < min || v->valuedouble > max) {
        api_reply_bad_field(r, field, "out_of_range");
        return GY_ERR;
    }
    *out = v->valuedouble;
    return GY_OK;
}

int api_int(struct gy_req *r, const cJSON *obj, const char *field, int min, int max, bool required,
            int *out)
{
    double d = *out;

    if (api_num(r, obj, field, min, max, required, &d) != GY_OK)
        return GY_ERR;
    if (d != (double)(int)d) {
        api_reply_bad_field(r, field, "not_an_integer");
        return GY_ERR;
    }
    *out = (int)d;
    return GY_OK;
}

const char *api_opt_str(struct gy_req *r, const char *field, size_t min_chars, size_t max_chars,
                        bool *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->json, field);

    *bad = false;
    if (!v || cJSON_IsNull(v))
        return NULL;
    if (!api_str(r, field, min_chars, max_chars)) {
        *bad = true;
        return NULL;
    }
    return v->valuestring;
}

void api_add_time(cJSON *o, const char *name, int64_t t)
{
    char when[32];

    if (!t) {
        cJSON_AddNullToObject(o, name);
        return;
    }
    clock_format(t, when);
    cJSON_AddStringToObject(o, name, when);
}

void api_add_time_col(cJSON *o, const char *name, sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        cJSON_AddNullToObject(o, name);
    else
        api_add_time(o, name, sqlite3_column_int64(st, col));
}

int api_query_choice(struct gy_req *r, const char *name, const char *const *choices, size_t n,
                     char *out, size_t outsz)
{
    const char *q = api_query(r, name);
    size_t len;

    out[0] = '\0';
    if (!q || !*q)   /* absent or empty: no filter */
        return GY_OK;
    len = strlen(q);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(q, choices[i]) == 0 && len < outsz) {
            memcpy(out, q, len + 1);
            return GY_OK;
        }
    }
    api_reply_bad_field(r, name, "bad_value");
    return GY_ERR;
}

int api_query_status(struct gy_req *r, const char *const *statuses, size_t n, const char *def,
                     char out[16])
{
    if (api_query_choice(r, "status", statuses, n, out, 16) != GY_OK)
        return GY_ERR;
    if (!out[0])
        snprintf(out, 16, "%s", def);
    if (!strcmp(out, "all"))
        out[0] = '\0';
    return GY_OK;
}

int api_page_params(struct gy_req *r, long long default_limit, struct api_page *p)
{
    const char *q;

    p->limit = default_limit;
    p->before = INT64_MAX;
    p->last = 0;
    if ((q = api_query(r, "limit")) && gy_parse_ll(q, 1, 500, &p->limit) != GY_OK) {
        api_reply_bad_field(r, "limit", "out_of_range");
        return GY_ERR;
    }
    if ((q = api_query(r, "before_id")) && gy_parse_ll(q, 1, INT64_MAX, &p->before) != GY_OK) {
        api_reply_bad_field(r, "before_id", "out_of_range");
        return GY_ERR;
    }
    return GY_OK;
}

void api_reply_page(struct gy_req *r, cJSON *body, const cJSON *list, const struct api_page *p)
{
    if (cJSON_GetArraySize(list) == p->limit)
        cJSON_AddNumberToObject(body, "next_before_id", (double)p->last);
    else
        cJSON_AddNullToObject(body, "next_before_id");
    api_reply_json(r, 200, body);
}

void api_reply_bad_field(struct gy_req *r, const char *field, const char *problem)
{
    cJSON *extra = cJSON_CreateObject();

    cJSON_AddStringToObject(extra, "field", field);
    cJSON_AddStringToObject(extra, "problem", problem);
    api_reply_error_ex(r, "invalid_field", extra, 0);
}

/* Does the Content-Type header name MIME (parameters such as charset allowed)? */
static bool content_type_is(struct gy_req *r, const char *mime)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(r->ev), "Content-Type");
    size_t n = strlen(mime);

    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, mime, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Find the route; sets r->route or replies 404/405. */
static int find_route(struct gy_req *r, enum evhttp_cmd_type cmd)
{
    size_t n;
    const struct route *t = routes_table(&n);
    char allow[64] = "";

    for (size_t i = 0; i < n; i++) {
        struct route_params p;
        if ((t[i].flags & R_TESTING) && !clock_testing())
            continue;
        const char *pattern = (t[i].flags & R_PUSHPATH) ? H.cfg->wechat.push_path : t[i].pattern;
        if (!router_match_path(pattern, r->path, &p))
            continue;
        if (strcmp(t[i].method, method_name(cmd)) == 0 ||
            (cmd == EVHTTP_REQ_HEAD && strcmp(t[i].method, "GET") == 0)) {
            r->route = &t[i];
            r->params = p;
            return GY_OK;
        }
        if (strlen(allow) + strlen(t[i].method) + 3 < sizeof allow)
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     allow[0] ? ", " : "", t[i].method);
    }
    if (allow[0]) {
        evhttp_add_header(evhttp_request_get_output_headers(r->ev), "Allow", allow);
        api_reply_error(r, "method_not_allowed");
    } else {
        api_reply_error(r, "not_found");
    }
    return GY_ERR;
}

/* Size, type and JSON checks of the body; replies on failure. */
static int read_body(struct gy_req *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->ev);
    size_t len = evbuffer_get_length(in);
    long limit = r->route->body_max == 0 ? H.cfg->http.max_body
               : r->route->body_max < 0 ? H.cfg->http.max_csv_body : r->route->body_max;
    unsigned flags = r->route->flags;

    if ((long)len > limit) {
        cJSON *extra = cJSON_CreateObject();
        cJSON_AddNumberToObject(extra, "limit_bytes", (double)limit);
        api_reply_error_ex(r, "body_too_large", extra, 0);
        return GY_ERR;
    }
    if (!(flags & (R_JSON | R_CSV | R_RAW)))
        return GY_OK;
    if (!(flags & R_RAW) && !content_type_is(r, (flags & R_JSON) ? "application/json" : "text/csv")) {
        api_reply_error(r, "unsupported_media_type");
        return GY_ERR;
    }
    r->body = gy_malloc(len + 1);
    evbuffer_remove(in, r->body, len);
    r->body[len] = '\0';
    r->body_len = len;
    if (flags & R_JSON) {
        /* len + 1 takes in our NUL, so trailing garbage is refused; an
         * embedded NUL would end the text early, so refuse that first. */
        if (!memchr(r->body, '\0', len))
            r->json = cJSON_ParseWithLengthOpts(r->body, len + 1, NULL, true);
        if (!cJSON_IsObject(r->json)) {
            api_reply_error(r, "invalid_json");
            return GY_ERR;
        }
    }
    return GY_OK;
}

static int check_access(struct gy_req *r)
{
    unsigned flags = r->route->flags;

    if (flags & R_PUBLIC)
        return GY_OK;
    if (auth_resolve(r) != GY_OK)
        return GY_ERR;   /* replied */
    if ((flags & R_ROLES) && !(r->auth.roles & flags & R_ROLES)) {
        api_reply_error(r, "forbidden");
        return GY_ERR;
    }
    if ((flags & R_BOUND) && !r->auth.employee_id) {
        api_reply_error(r, "not_bound");
        return GY_ERR;
    }
    return GY_OK;
}

static void dispatch(struct evhttp_request *ev, void *arg)
{
    struct gy_req *r = gy_calloc(1, sizeof *r);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(ev);
    const char *path;

    r->ev = ev;
    r->start_ms = clock_mono_ms();
    req_link(r);
    snprintf(r->method, sizeof r->method, "%s", method_name(cmd));
    set_request_id(r);
    path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(ev));
    r->path = gy_strdup(path && *path ? path : "/");

    if (H.stopping) {
        api_reply_error_ex(r, "shutting_down", NULL, 2);
        return;
    }
    if (find_route(r, cmd) != GY_OK || read_body(r) != GY_OK || check_access(r) != GY_OK)
        return;
    r->route->fn(r);
}

int http_start(struct event_base *base, const struct gy_config *cfg, char *err, size_t errsz)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "";
    int port = 0;
    long biggest = cfg->http.max_body > cfg->http.max_csv_body ? cfg->http.max_body
                                                              : cfg->http.max_csv_body;

    H.cfg = cfg;
    H.http = evhttp_new(base);
    evhttp_set_gencb(H.http, dispatch, NULL);
    evhttp_set_timeout(H.http, (int)cfg->http.timeout_s);
    /* Past this evhttp itself answers 413; below it our routes decide. */
    evhttp_set_max_body_size(H.http, (ev_ssize_t)biggest);
    evhttp_set_max_headers_size(H.http, 16384);
    evhttp_set_allowed_methods(H.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                           EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                           EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
    H.sock = evhttp_bind_socket_with_handle(H.http, cfg->listen_host, (ev_uint16_t)cfg->listen_port);
    if (!H.sock) {
        snprintf(err, errsz, "cannot listen on %s:%d", cfg->listen_host, cfg->listen_port);
        return GY_ERR;
    }
    if (getsockname(evhttp_bound_socket_get_fd(H.sock), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
            port = ntohs(a->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
            port = ntohs(a->sin6_port);
        }
    }
    printf("listening on %s:%d\n", host, port);
    fflush(stdout);
    return GY_OK;
}

void http_stop_accepting(void)
{
    H.stopping = true;
    if (H.http && H.sock) {
        evhttp_del_accept_socket(H.http, H.sock);
        H.sock = NULL;
    }
}

void http_free(void)
{
    if (H.http)
        evhttp_free(H.http);
    H.http = NULL;
}
