/*
 * sim.c: wxsim's entry point and HTTP plumbing. It parses the command line,
 * binds the listener, routes each request (WeChat endpoints to
 * sim_call_start() in sim_fault.c, /sim/ control routes to sim_ctl.c and
 * sim_push.c) and holds the helpers every file shares: allocation, logging,
 * the sim clock, randomness, JSON bodies and replies. It knows nothing
 * about codes, tokens, messages or faults.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>

#include "sim.h"

#define DEFAULT_LISTEN "127.0.0.1:0"
#define DEFAULT_APPID "wxdemo0000000001"
#define DEFAULT_SECRET "demosecret0000000000000000000001"
#define HEADERS_MAX 16384
/* Longer than the largest fault delay (600 s), so a slow reply is not cut. */
#define CONN_TIMEOUT_S 660

#define CT_WECHAT "application/json; charset=UTF-8"
#define CT_CTL "application/json"
#define CT_PNG "image/png"

/*
 * The route table. path: exact URI path; method: the one accepted; api: the
 * WeChat endpoint (enum sim_api) served through the fault engine, or -1 for
 * a control route; ctl: the control handler, called with the parsed JSON
 * object body (an empty body counts as {}; NULL for GET), which it does not
 * own. A path may appear once per method. Unknown paths get 404; a known
 * path with the wrong method gets 404 on the WeChat side (as WeChat does)
 * and 405 under /sim/.
 */
struct route {
	const char *path;
	enum evhttp_cmd_type method;
	int api;
	void (*ctl)(struct sim *sim, struct evhttp_request *req, cJSON *body);
};

static const struct route routes[] = {
	{ "/sns/jscode2session", EVHTTP_REQ_GET, SIM_API_JSCODE2SESSION, NULL },
	{ "/cgi-bin/token", EVHTTP_REQ_GET, SIM_API_TOKEN, NULL },
	{ "/cgi-bin/stable_token", EVHTTP_REQ_POST, SIM_API_STABLE_TOKEN, NULL },
	{ "/cgi-bin/message/subscribe/send", EVHTTP_REQ_POST,
	    SIM_API_SUBSCRIBE_SEND, NULL },
	{ "/wxa/msg_sec_check", EVHTTP_REQ_POST, SIM_API_MSG_SEC_CHECK, NULL },
	{ "/wxa/business/getuserphonenumber", EVHTTP_REQ_POST, SIM_API_PHONE,
	    NULL },
	{ "/wxa/getwxacodeunlimit", EVHTTP_REQ_POST, SIM_API_QRCODE, NULL },
	{ "/cgi-bin/webhook/send", EVHTTP_REQ_POST, SIM_API_ROBOT_SEND, NULL },
	{ "/sim/code", EVHTTP_REQ_POST, -1, sim_ctl_code },
	{ "/sim/faults", EVHTTP_REQ_POST, -1, sim_ctl_faults },
	{ "/sim/reset", EVHTTP_REQ_POST, -1, sim_ctl_reset },
	{ "/sim/clock", EVHTTP_REQ_POST, -1, sim_ctl_clock },
	{ "/sim/calls", EVHTTP_REQ_GET, -1, sim_ctl_calls },
	{ "/sim/templates", EVHTTP_REQ_POST, -1, sim_ctl_templates },
	{ "/sim/pages", EVHTTP_REQ_POST, -1, sim_ctl_pages },
	{ "/sim/consent", EVHTTP_REQ_POST, -1, sim_ctl_consent },
	{ "/sim/consent", EVHTTP_REQ_GET, -1, sim_ctl_consent_get },
	{ "/sim/messages", EVHTTP_REQ_GET, -1, sim_ctl_messages },
	{ "/sim/seccheck", EVHTTP_REQ_POST, -1, sim_ctl_seccheck },
	{ "/sim/phonecode", EVHTTP_REQ_POST, -1, sim_ctl_phonecode },
	{ "/sim/push", EVHTTP_REQ_POST, -1, sim_ctl_push },
	{ "/sim/push/verify", EVHTTP_REQ_POST, -1, sim_ctl_push_verify },
	{ "/sim/robot", EVHTTP_REQ_GET, -1, sim_ctl_robot },
};

static const char *const api_names[SIM_API_COUNT] = {
	"jscode2session", "token", "stable_token",
	"subscribe_send", "msg_sec_check", "getuserphonenumber",
	"getwxacodeunlimit", "robot_send",
};

/*==== Shared helpers ====*/

/* malloc that never returns NULL: out of memory is fatal. */
void *
sim_malloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL) {
		sim_log("out of memory (%zu bytes)", size);
		abort();
	}
	return p;
}

/* calloc that never returns NULL. */
void *
sim_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL) {
		sim_log("out of memory (%zu x %zu bytes)", n, size);
		abort();
	}
	return p;
}

/* strdup that never returns NULL; caller frees. */
char *
sim_strdup(const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = sim_malloc(len);

	memcpy(p, s, len);
	return p;
}

/* One log line to stderr, prefixed "wxsim: ". */
void
sim_log(const char *fmt, ...)
{
	va_list ap;

	fputs("wxsim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The sim clock in unix milliseconds: real time plus the /sim/clock offset. */
int64_t
sim_now_ms(const struct sim *sim)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + sim->offset_ms;
}

/* Fills buf with cryptographic randomness; aborts if OpenSSL cannot. */
void
sim_random_bytes(unsigned char *buf, size_t len)
{
	if (len > INT_MAX || RAND_bytes(buf, (int)len) != 1) {
		sim_log("RAND_bytes failed");
		abort();
	}
}

/*
 * Writes len random characters drawn uniformly from alphabet (at most 256
 * characters) plus a NUL into out, which must hold len + 1 bytes.
 */
void
sim_random_string(char *out, size_t len, const char *alphabet)
{
	size_t n = strlen(alphabet);
	unsigned limit = 256 - 256 % (unsigned)n;
	unsigned char buf[64];
	size_t i = 0, j = sizeof(buf);

	while (i < len) {
		if (j == sizeof(buf)) {
			sim_random_bytes(buf, sizeof(buf));
			j = 0;
		}
		if (buf[j] < limit)
			out[i++] = alphabet[buf[j] % n];
		j++;
	}
	out[len] = '\0';
}

/* The name of a WeChat endpoint as used by /sim/faults and /sim/calls. */
const char *
sim_api_name(int api)
{
	if (api < 0 || api >= SIM_API_COUNT)
		return "?";
	return api_names[api];
}

/*
 * Parses the request body as JSON. Returns the parsed value (caller frees
 * with cJSON_Delete), or NULL with *empty set to 1 when there is no body
 * and to 0 when the body is not JSON.
 */
cJSON *
sim_body_json(struct evhttp_request *req, int *empty)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	unsigned char *data;

	*empty = (len == 0);
	if (len == 0)
		return NULL;
	data = evbuffer_pullup(in, -1);
	if (data == NULL)
		return NULL;
	return cJSON_ParseWithLength((const char *)data, len);
}

static const char *
method_name(struct evhttp_request *req)
{
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_HEAD:
		return "HEAD";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_DELETE:
		return "DELETE";
	default:
		return "OTHER";
	}
}

/* The request's path, without the query (which may hold the secret). */
static const char *
req_path(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	return path ? path : "";
}

/*
 * Sends body as the reply with the given HTTP status, then frees body.
 * Logs method, path, status and any errcode, never the body (it may hold
 * session keys or tokens).
 * wechat selects WeChat's content type ("application/json;
 * charset=UTF-8") over plain "application/json".
 */
void
sim_reply_json(struct evhttp_request *req, int status, cJSON *body,
    int wechat)
{
	char *text = cJSON_PrintUnformatted(body);
	const cJSON *errcode = cJSON_GetObjectItemCaseSensitive(body, "errcode");

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", wechat ? CT_WECHAT : CT_CTL);
	if (text != NULL)
		evbuffer_add(evhttp_request_get_output_buffer(req), text,
		    strlen(text));
	if (cJSON_IsNumber(errcode))
		sim_log("%s %s -> %d errcode %d", method_name(req), req_path(req),
		    status, errcode->valueint);
	else
		sim_log("%s %s -> %d", method_name(req), req_path(req), status);
	evhttp_send_reply(req, status, NULL, NULL);
	cJSON_free(text);
	cJSON_Delete(body);
}

/*
 * Sends a WeChat-style error {"errcode":N,"errmsg":"text, rid: <hex>"} with
 * the given HTTP status and a fresh rid.
 */
void
sim_reply_wx_error(struct evhttp_request *req, int status, int errcode,
    const char *text)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[12];
	char rid[2 * sizeof(raw) + 1];
	char msg[256];
	cJSON *body = cJSON_CreateObject();

	sim_random_bytes(raw, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++) {
		rid[2 * i] = hex[raw[i] >> 4];
		rid[2 * i + 1] = hex[raw[i] & 15];
	}
	rid[2 * sizeof(raw)] = '\0';
	snprintf(msg, sizeof(msg), "%s, rid: %s", text, rid);
	cJSON_AddNumberToObject(body, "errcode", errcode);
	cJSON_AddStringToObject(body, "errmsg", msg);
	sim_reply_json(req, status, body, 1);
}

/*
 * Sends png (len bytes, taken over and freed) as an image/png reply with
 * HTTP 200.
 */
void
sim_reply_png(struct evhttp_request *req, unsigned char *png, size_t len)
{
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", CT_PNG);
	evbuffer_add(evhttp_request_get_output_buffer(req), png, len);
	sim_log("%s %s -> 200 image/png %zu bytes", method_name(req),
	    req_path(req), len);
	evhttp_send_reply(req, 200, NULL, NULL);
	free(png);
}

/* Sends a control-API error {"error":msg}. */
void
sim_reply_ctl_error(struct evhttp_request *req, int status, const char *msg)
{
	cJSON *body = cJSON_CreateObject();

	cJSON_AddStringToObject(body, "error", msg);
	sim_reply_json(req, status, body, 0);
}

/*==== Dispatch ====*/

static void
not_found(struct evhttp_request *req, const char *path)
{
	cJSON *body;

	if (strncmp(path, "/sim/", 5) == 0) {
		sim_reply_ctl_error(req, 404, "not found");
		return;
	}
	body = cJSON_CreateObject();
	cJSON_AddNumberToObject(body, "errcode", -1);
	cJSON_AddStringToObject(body, "errmsg", "not found");
	sim_reply_json(req, 404, body, 1);
}

static void
run_ctl(struct sim *sim, struct evhttp_request *req, const struct route *r)
{
	cJSON *body = NULL;
	int empty = 0;

	if (r->method == EVHTTP_REQ_POST) {
		body = sim_body_json(req, &empty);
		if (body == NULL && empty)
			body = cJSON_CreateObject();
		if (!cJSON_IsObject(body)) {
			sim_reply_ctl_error(req, 400, "body must be JSON");
			goto out;
		}
	}
	r->ctl(sim, req, body);
out:
	cJSON_Delete(body);
}

static void
dispatch(struct evhttp_request *req, void *arg)
{
	struct sim *sim = arg;
	const char *path = req_path(req);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const struct route *r = NULL;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(routes[i].path, path) != 0)
			continue;
		r = &routes[i];
		if (r->method == method)
			break;
	}
	if (r == NULL) {
		not_found(req, path);
		return;
	}
	if (method != r->method) {
		if (r->api >= 0)
			not_found(req, path);
		else
			sim_reply_ctl_error(req, 405, "method not allowed");
		return;
	}
	if (r->api >= 0)
		sim_call_start(sim, req, r->api);
	else
		run_ctl(sim, req, r);
}

/*==== Startup and shutdown ====*/

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sim *sim = arg;

	(void)what;
	sim_log("signal %d, exiting", (int)sig);
	event_base_loopbreak(sim->base);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: wxsim [--listen HOST:PORT] [--appid APPID] "
	    "[--secret SECRET]\n"
	    "             [--push-url URL] [--push-token TOKEN] "
	    "[--push-aes-key KEY43]\n"
	    "defaults: --listen " DEFAULT_LISTEN " --appid " DEFAULT_APPID
	    " --secret " DEFAULT_SECRET "\n"
	    "the --push-* flags are defaults for POST /sim/push\n");
}

/*
 * Parses the command line into *listen_spec, sim->appid, sim->secret and
 * the sim->push_* defaults (all pointing into argv or at literals).
 * Returns 0, 1 after --help, -1 on a bad argument.
 */
static int
parse_args(int argc, char **argv, const char **listen_spec, struct sim *sim)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		const char *eq;
		size_t n;

		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			return 1;
		eq = strchr(a, '=');
		n = eq ? (size_t)(eq - a) : strlen(a);
		if (n == 8 && strncmp(a, "--listen", n) == 0)
			dst = listen_spec;
		else if (n == 7 && strncmp(a, "--appid", n) == 0)
			dst = &sim->appid;
		else if (n == 8 && strncmp(a, "--secret", n) == 0)
			dst = &sim->secret;
		else if (n == 10 && strncmp(a, "--push-url", n) == 0)
			dst = &sim->push_url;
		else if (n == 12 && strncmp(a, "--push-token", n) == 0)
			dst = &sim->push_token;
		else if (n == 14 && strncmp(a, "--push-aes-key", n) == 0)
			dst = &sim->push_aes_key;
		if (dst == NULL) {
			sim_log("unknown argument %s", a);
			return -1;
		}
		if (eq != NULL) {
			*dst = eq + 1;
		} else if (i + 1 < argc) {
			*dst = argv[++i];
		} else {
			sim_log("%s needs a value", a);
			return -1;
		}
		if (**dst == '\0') {
			sim_log("%.*s must not be empty", (int)n, a);
			return -1;
		}
	}
	return 0;
}

/*
 * Splits "HOST:PORT" (HOST may be "[v6]") into host, without brackets, and
 * port. Returns 0 or -1.
 */
static int
split_listen(const char *spec, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(spec, ':');
	const char *h = spec;
	size_t n;
	char *end;
	long p;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	n = (size_t)(colon - spec);
	if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
		h = spec + 1;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* The port a bound socket really got (port 0 picks one). */
static int
bound_port(struct evhttp_bound_socket *bound)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

int
main(int argc, char **argv)
{
	static cJSON_Hooks hooks = { sim_malloc, free };
	struct sim sim;
	struct evhttp_bound_socket *bound;
	struct event *sigterm = NULL, *sigint = NULL;
	const char *listen_spec = DEFAULT_LISTEN;
	char host[256];
	int port, rc = 1, r;

	memset(&sim, 0, sizeof(sim));
	sim.appid = DEFAULT_APPID;
	sim.secret = DEFAULT_SECRET;
	sim.last_force_ms = INT64_MIN;

	r = parse_args(argc, argv, &listen_spec, &sim);
	if (r != 0) {
		usage(r > 0 ? stdout : stderr);
		rc = r > 0 ? 0 : 2;
		goto out;
	}
	if (split_listen(listen_spec, host, sizeof(host), &port) != 0) {
		sim_log("bad --listen %s, want HOST:PORT", listen_spec);
		rc = 2;
		goto out;
	}
	if (sim_push_config_ok(&sim) != 0) {
		rc = 2;
		goto out;
	}

	signal(SIGPIPE, SIG_IGN);
	cJSON_InitHooks(&hooks);

	sim.base = event_base_new();
	if (sim.base == NULL) {
		sim_log("cannot create event base");
		goto out;
	}
	sim.http = evhttp_new(sim.base);
	if (sim.http == NULL) {
		sim_log("cannot create http server");
		goto out;
	}
	evhttp_set_max_body_size(sim.http, SIM_BODY_MAX);
	evhttp_set_max_headers_size(sim.http, HEADERS_MAX);
	evhttp_set_timeout(sim.http, CONN_TIMEOUT_S);
	evhttp_set_gencb(sim.http, dispatch, &sim);

	bound = evhttp_bind_socket_with_handle(sim.http, host,
	    (ev_uint16_t)port);
	if (bound == NULL) {
		sim_log("cannot listen on %s", listen_spec);
		goto out;
	}
	port = bound_port(bound);
	if (port < 0) {
		sim_log("cannot read bound port: %s", strerror(errno));
		goto out;
	}

	sigterm = evsignal_new(sim.base, SIGTERM, on_signal, &sim);
	sigint = evsignal_new(sim.base, SIGINT, on_signal, &sim);
	if (sigterm == NULL || sigint == NULL ||
	    evsignal_add(sigterm, NULL) != 0 || evsignal_add(sigint, NULL) != 0) {
		sim_log("cannot install signal handlers");
		goto out;
	}

	printf("listening on %.*s:%d\n", (int)(strrchr(listen_spec, ':') - listen_spec),
	    listen_spec, port);
	fflush(stdout);
	sim_log("appid %s", sim.appid);

	if (event_base_dispatch(sim.base) < 0) {
		sim_log("event loop failed");
		goto out;
	}
	rc = 0;
out:
	sim_push_shutdown(&sim);
	sim_fault_shutdown(&sim);
	sim_api_reset(&sim);
	sim_msg_reset(&sim);
	sim_wxa_reset(&sim);
	sim_robot_reset(&sim);
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sim.http != NULL)
		evhttp_free(sim.http);
	if (sim.base != NULL)
		event_base_free(sim.base);
	libevent_global_shutdown();
	return rc;
}
