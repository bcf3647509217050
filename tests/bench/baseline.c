/*
 * baseline.c - the cheapest evhttp JSON server: the ceiling that
 * scripts/bench measures gongyoud against, on the same machine in the same
 * run. One thread, one event loop, a fixed small JSON body, as gongyoud's
 * loop would answer if it had nothing to do.
 *
 *   bench_baseline [HOST:PORT]   (default 127.0.0.1:0; prints "listening on HOST:PORT")
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

static void reply(struct evhttp_request *req, void *arg)
{
    static const char body[] = "{\"ok\":true,\"message\":\"上班打卡成功 08:03 · 正常\"}";
    struct evbuffer *out = evhttp_request_get_output_buffer(req);

    (void)arg;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evbuffer_add_reference(out, body, sizeof body - 1, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", out);
}

static void on_term(evutil_socket_t fd, short what, void *base)
{
    (void)fd, (void)what;
    event_base_loopbreak(base);
}

int main(int argc, char **argv)
{
    const char *listen = argc > 1 ? argv[1] : "127.0.0.1:0";
    char host[256];
    const char *colon = strrchr(listen, ':');
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct event *term;
    struct sockaddr_storage ss;
    ev_socklen_t len = sizeof ss;

    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return 2;
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    signal(SIGPIPE, SIG_IGN);
    base = event_base_new();
    http = evhttp_new(base);
    evhttp_set_gencb(http, reply, NULL);
    sock = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)atoi(colon + 1));
    if (!sock)
        return 1;
    getsockname(evhttp_bound_socket_get_fd(sock), (struct sockaddr *)&ss, &len);
    printf("listening on %s:%d\n", host, ntohs(((struct sockaddr_in *)&ss)->sin_port));
    fflush(stdout);
    term = evsignal_new(base, SIGTERM, on_term, base);
    event_add(term, NULL);
    event_base_dispatch(base);
    event_free(term);
    evhttp_free(http);
    event_base_free(base);
    return 0;
}
