/*
 * sim_push.c: WeChat's message push, played against gongyoud. POST
 * /sim/push builds a push from a JSON event the way WeChat does (plain,
 * compatible or safe mode; JSON or XML), signs it with the push token,
 * encrypts it with wx_push_encrypt() from the wechat library, POSTs it to
 * the push URL with libevent's HTTP client and, once the URL answered or
 * 5 s passed, tells the caller what was sent and what came back. POST
 * /sim/push/verify does the GET URL verification the same way.
 *
 * Each push is a struct sim_push on sim->pushes that owns the waiting
 * control request, the outgoing connection and a timer: the 5 s deadline,
 * which the request callback also fires at once, so that the connection
 * is always freed by us and never inside libevent's HTTP code (libevent
 * 2.1 does not honour evhttp_connection_free_on_completion when a connect
 * is refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netdb.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/evp.h>

#include "sim.h"
#include "wx.h"

#define PUSH_TIMEOUT_S 5         /* WeChat gives up after 5 s */
#define PUSHES_MAX 100           /* pushes in flight */
#define REPLY_KEEP 65536         /* bytes of the URL's reply kept */
#define REPLY_MAX (1024 * 1024)  /* a larger reply fails the push */
#define FIELD_MAX 64             /* timestamp, nonce, echostr */
#define SECRET_MAX 256           /* token, appid */

struct sim_push {
	struct sim_push *prev, *next; /* sim->pushes */
	struct sim *sim;
	struct evhttp_request *req;  /* the /sim/push request, until replied */
	struct evhttp_connection *evcon; /* the outgoing connection, owned */
	struct event *timer;         /* the 5 s deadline, or "answered" */
	int verify;                  /* /sim/push/verify */
	int starting;                /* inside evhttp_make_request */
	int answered;                /* the URL answered or failed */
	int status;                  /* its HTTP status, 0 for none */
	char *reply;                 /* its body (owned, NUL-terminated) */
	char *query;                 /* the query sent (owned) */
	char *sent;                  /* the body sent (owned), NULL for GET */
	char *echostr;               /* verify: the echostr sent (owned) */
};

/* What a push is made of, borrowed from the control body or argv. */
struct push_spec {
	const char *url;
	const char *token;
	const char *aes_key;
	const char *appid;
	const char *tamper;          /* NULL, "signature", "encrypt", "appid" */
	char timestamp[FIELD_MAX + 1];
	char nonce[FIELD_MAX + 1];
};

/*==== Helpers ====*/

/* The contents of b as a malloc'd NUL-terminated string (b is drained). */
static char *
buf_string(struct evbuffer *b, size_t *lenp)
{
	size_t len = evbuffer_get_length(b);
	char *s = sim_malloc(len + 1);

	evbuffer_remove(b, s, len);
	s[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return s;
}

/* Appends "&name=value" (no '&' when first), value percent-encoded. */
static void
query_add(struct evbuffer *q, const char *name, const char *value)
{
	char *enc = evhttp_uriencode(value, -1, 0);

	if (enc == NULL) {
		sim_log("out of memory encoding a query value");
		abort();
	}
	evbuffer_add_printf(q, "%s%s=%s",
	    evbuffer_get_length(q) ? "&" : "", name, enc);
	free(enc);
}

/* Changes the first character of a hex signature to another hex digit. */
static void
flip_hex(char *sig)
{
	if (sig[0] != '\0')
		sig[0] = sig[0] == '0' ? '1' : '0';
}

/*
 * A string-or-integer field into out (at most FIELD_MAX characters, no
 * control characters). Returns 1 when set, 0 when absent, -1 when bad.
 */
static int
get_text(const cJSON *body, const char *name, char *out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);
	double d;

	if (item == NULL || cJSON_IsNull(item))
		return 0;
	if (cJSON_IsNumber(item)) {
		d = item->valuedouble;
		if (!(d >= 0 && d <= 1e15) || d != (double)(long long)d)
			return -1;
		snprintf(out, FIELD_MAX + 1, "%lld", (long long)d);
		return 1;
	}
	if (!cJSON_IsString(item) || item->valuestring[0] == '\0' ||
	    strlen(item->valuestring) > FIELD_MAX)
		return -1;
	for (const char *p = item->valuestring; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -1;
	}
	snprintf(out, FIELD_MAX + 1, "%s", item->valuestring);
	return 1;
}

/*
 * Reads the fields /sim/push and /sim/push/verify share (url, token,
 * timestamp, nonce, tamper), applying the CLI defaults. Returns NULL, or
 * the error text for a 400.
 */
static const char *
spec_read(struct sim *sim, const cJSON *body, struct push_spec *s)
{
	int bad, r;

	memset(s, 0, sizeof(*s));
	s->url = sim_get_string(body, "url", &bad);
	if (bad)
		return "url must be a string";
	if (s->url == NULL || *s->url == '\0')
		s->url = sim->push_url;
	if (s->url == NULL)
		return "url required (or start wxsim with --push-url)";
	s->token = sim_get_string(body, "token", &bad);
	if (bad || (s->token != NULL && strlen(s->token) > SECRET_MAX))
		return "token must be a string";
	if (s->token == NULL || *s->token == '\0')
		s->token = sim->push_token;
	if (s->token == NULL)
		return "token required (or start wxsim with --push-token)";
	s->tamper = sim_get_string(body, "tamper", &bad);
	if (bad)
		return "tamper must be a string";
	r = get_text(body, "timestamp", s->timestamp);
	if (r < 0)
		return "timestamp must be a non-negative integer or a string";
	if (r == 0)
		snprintf(s->timestamp, sizeof(s->timestamp), "%lld",
		    (long long)(sim_now_ms(sim) / 1000));
	r = get_text(body, "nonce", s->nonce);
	if (r < 0)
		return "nonce must be a string of 1..64 characters";
	if (r == 0) {
		sim_random_string(s->nonce, 1, "123456789");
		sim_random_string(s->nonce + 1, 8, "0123456789");
	}
	return NULL;
}

/*==== XML ====*/

/* An XML element name: [A-Za-z_][A-Za-z0-9_.-]*. */
static int
xml_name_ok(const char *s)
{
	if (s == NULL || !((*s >= 'A' && *s <= 'Z') ||
	    (*s >= 'a' && *s <= 'z') || *s == '_'))
		return 0;
	for (s++; *s != '\0'; s++) {
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '.' ||
		    *s == '-'))
			return 0;
	}
	return 1;
}

/* <![CDATA[s]]>, with any "]]>" inside split across two sections. */
static void
xml_cdata(struct evbuffer *b, const char *s)
{
	const char *end;

	evbuffer_add_printf(b, "<![CDATA[");
	while ((end = strstr(s, "]]>")) != NULL) {
		evbuffer_add(b, s, (size_t)(end - s));
		evbuffer_add_printf(b, "]]]]><![CDATA[>");
		s = end + 3;
	}
	evbuffer_add_printf(b, "%s]]>", s);
}

/*
 * Writes value v as element name: strings in CDATA, numbers and booleans
 * bare, objects as nested elements, arrays as the element repeated.
 * Returns 0, or -1 when a key is no XML name.
 */
static int
xml_value(struct evbuffer *b, const char *name, const cJSON *v)
{
	const cJSON *item;
	double d;

	if (!xml_name_ok(name))
		return -1;
	if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(item, v) {
			if (xml_value(b, name, item) != 0)
				return -1;
		}
		return 0;
	}
	evbuffer_add_printf(b, "<%s>", name);
	if (cJSON_IsString(v)) {
		xml_cdata(b, v->valuestring);
	} else if (cJSON_IsNumber(v)) {
		d = v->valuedouble;
		if (d >= -9e18 && d <= 9e18 && d == (double)(long long)d)
			evbuffer_add_printf(b, "%lld", (long long)d);
		else
			evbuffer_add_printf(b, "%.17g", d);
	} else if (cJSON_IsBool(v)) {
		evbuffer_add_printf(b, "%s",
		    cJSON_IsTrue(v) ? "true" : "false");
	} else if (cJSON_IsObject(v)) {
		cJSON_ArrayForEach(item, v) {
			if (xml_value(b, item->string, item) != 0)
				return -1;
		}
	}
	evbuffer_add_printf(b, "</%s>", name);
	return 0;
}

/* The XML element that wraps the <List> items of a subscribe event. */
static const char *
list_wrapper(const cJSON *event)
{
	static const struct {
		const char *event, *wrapper;
	} map[] = {
		{ "subscribe_msg_popup_event", "SubscribeMsgPopupEvent" },
		{ "subscribe_msg_change_event", "SubscribeMsgChangeEvent" },
		{ "subscribe_msg_sent_event", "SubscribeMsgSentEvent" },
	};
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(event, "Event");

	if (!cJSON_IsString(e))
		return NULL;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(e->valuestring, map[i].event) == 0)
			return map[i].wrapper;
	}
	return NULL;
}

/*
 * The event as WeChat's XML, <xml>...</xml>, into b; with encrypt not
 * NULL an <Encrypt> element is added last (compatible mode). Returns 0 or
 * -1 when a key is no XML name.
 */
static int
xml_event(struct evbuffer *b, const cJSON *event, const char *encrypt)
{
	const char *wrapper = list_wrapper(event);
	const cJSON *item;

	evbuffer_add_printf(b, "<xml>");
	cJSON_ArrayForEach(item, event) {
		if (wrapper != NULL && strcmp(item->string, "List") == 0) {
			evbuffer_add_printf(b, "<%s>", wrapper);
			if (xml_value(b, "List", item) != 0)
				return -1;
			evbuffer_add_printf(b, "</%s>", wrapper);
		} else if (xml_value(b, item->string, item) != 0) {
			return -1;
		}
	}
	if (encrypt != NULL) {
		evbuffer_add_printf(b, "<Encrypt>");
		xml_cdata(b, encrypt);
		evbuffer_add_printf(b, "</Encrypt>");
	}
	evbuffer_add_printf(b, "</xml>");
	return 0;
}

/*==== Encryption ====*/

/* Flips one byte of the ciphertext inside base64 text *b64 (replaced). */
static int
tamper_ciphertext(char **b64)
{
	size_t len = strlen(*b64), n;
	unsigned char *raw;
	char *text;
	int got;

	if (len == 0 || len % 4 != 0 || len > 4 * 1024 * 1024)
		return -1;
	raw = sim_malloc(len / 4 * 3);
	got = EVP_DecodeBlock(raw, (const unsigned char *)*b64, (int)len);
	if (got < 0) {
		free(raw);
		return -1;
	}
	n = (size_t)got - ((*b64)[len - 1] == '=') - ((*b64)[len - 2] == '=');
	raw[n - 1] ^= 0x5a;          /* the last block: its padding breaks */
	text = sim_malloc(4 * ((n + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)text, raw, (int)n);
	free(raw);
	free(*b64);
	*b64 = text;
	return 0;
}

/*
 * Encrypts msg for the push: wx_push_encrypt with the key and appid (or,
 * tampered, another appid or a flipped ciphertext byte). Returns the
 * malloc'd base64 text, or NULL with *err set.
 */
static char *
encrypt_msg(const struct push_spec *s, const char *msg, size_t len,
    const char **err)
{
	struct wx_push_key key;
	const char *appid = s->appid;
	char *b64 = NULL;

	if (wx_push_key_parse(s->aes_key, &key) != WX_CRYPTO_OK) {
		*err = "aes_key must be 43 characters of [A-Za-z0-9]";
		return NULL;
	}
	if (s->tamper != NULL && strcmp(s->tamper, "appid") == 0)
		appid = strcmp(appid, "wx0000000000000000") != 0 ?
		    "wx0000000000000000" : "wx1111111111111111";
	if (wx_push_encrypt(&key, msg, len, appid, NULL, &b64) !=
	    WX_CRYPTO_OK || b64 == NULL) {
		*err = "cannot encrypt the event";
		free(b64);
		b64 = NULL;
	} else if (s->tamper != NULL && strcmp(s->tamper, "encrypt") == 0 &&
	    tamper_ciphertext(&b64) != 0) {
		*err = "cannot tamper with the ciphertext";
		free(b64);
		b64 = NULL;
	}
	memset(&key, 0, sizeof(key));
	return b64;
}

/*==== Delivery ====*/

static void
push_free(struct sim_push *ps)
{
	if (ps->evcon != NULL)
		evhttp_connection_free(ps->evcon);   /* no callback runs */
	if (ps->timer != NULL)
		event_free(ps->timer);
	free(ps->reply);
	free(ps->query);
	free(ps->sent);
	free(ps->echostr);
	free(ps);
}

static void
push_unlink(struct sim_push *ps)
{
	if (ps->prev != NULL)
		ps->prev->next = ps->next;
	else
		ps->sim->pushes = ps->next;
	if (ps->next != NULL)
		ps->next->prev = ps->prev;
	ps->prev = ps->next = NULL;
	ps->sim->npushes--;
}

/* Answers the control request with what happened, then frees ps. */
static void
push_finish(struct sim_push *ps)
{
	cJSON *o = cJSON_CreateObject();

	push_unlink(ps);
	cJSON_AddNumberToObject(o, "status", ps->status);
	cJSON_AddStringToObject(o, "body", ps->reply ? ps->reply : "");
	cJSON_AddStringToObject(o, "query", ps->query);
	if (ps->verify)
		cJSON_AddBoolToObject(o, "ok", ps->reply != NULL &&
		    strcmp(ps->reply, ps->echostr) == 0);
	else
		cJSON_AddStringToObject(o, "sent", ps->sent);
	sim_log("push %s -> %d", ps->verify ? "verify" : "event", ps->status);
	sim_reply_json(ps->req, 200, o, 0);
	ps->req = NULL;
	push_free(ps);
}

/*
 * The URL answered (req set, status maybe 0) or the connection failed
 * (req NULL, or status 0). libevent frees req; the connection is still in
 * use, so the push finishes from its timer, made active now.
 */
static void
push_done_cb(struct evhttp_request *req, void *arg)
{
	struct sim_push *ps = arg;
	struct evbuffer *in;
	size_t len;

	ps->answered = 1;
	ps->status = req ? evhttp_request_get_response_code(req) : 0;
	if (req != NULL && ps->status != 0) {
		in = evhttp_request_get_input_buffer(req);
		len = evbuffer_get_length(in);
		if (len > REPLY_KEEP)
			len = REPLY_KEEP;
		ps->reply = sim_malloc(len + 1);
		evbuffer_copyout(in, ps->reply, len);
		ps->reply[len] = '\0';
	}
	if (!ps->starting)
		event_active(ps->timer, EV_TIMEOUT, 0);
}

/*
 * The push ended (answered) or 5 s passed: then its request goes without
 * a callback when push_finish frees the connection.
 */
static void
push_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sim_push *ps = arg;

	(void)fd;
	(void)what;
	if (!ps->answered) {
		sim_log("push to the push URL timed out");
		ps->status = 0;
	}
	push_finish(ps);
}

/*
 * Resolves host to a numeric address in out, so libevent's connect never
 * resolves (and never fails) inside evhttp_make_request.
 */
static int
resolve(const char *host, char *out, size_t outlen)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL)
		return -1;
	rc = getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)outlen,
	    NULL, 0, NI_NUMERICHOST) == 0 ? 0 : -1;
	freeaddrinfo(res);
	return rc;
}

/*
 * Sends ps's request (GET, or POST with ps->sent as ctype) to url with
 * ps->query appended, and queues ps to finish when it ends. Takes ps over
 * on every path; on a failure it is answered at once (400 for a bad URL,
 * else status 0).
 */
static void
push_start(struct sim_push *ps, const char *url, const char *ctype)
{
	struct sim *sim = ps->sim;
	struct evhttp_uri *uri = evhttp_uri_parse(url);
	const char *scheme, *host, *path, *q0;
	struct evhttp_request *oreq;
	struct evkeyvalq *h;
	struct timeval tv = { PUSH_TIMEOUT_S, 0 };
	char addr[64], hostport[300], *target = NULL;
	size_t tlen;
	int port, rc;

	ps->next = sim->pushes;
	if (ps->next != NULL)
		ps->next->prev = ps;
	sim->pushes = ps;
	sim->npushes++;

	scheme = uri ? evhttp_uri_get_scheme(uri) : NULL;
	host = uri ? evhttp_uri_get_host(uri) : NULL;
	if (scheme == NULL || strcmp(scheme, "http") != 0 || host == NULL ||
	    *host == '\0' || strlen(host) > 255) {
		push_unlink(ps);
		sim_reply_ctl_error(ps->req, 400,
		    "url must be http://HOST[:PORT]/PATH");
		ps->req = NULL;
		push_free(ps);
		goto out;
	}
	port = evhttp_uri_get_port(uri);
	if (port < 0)
		port = 80;
	path = evhttp_uri_get_path(uri);
	if (path == NULL || *path == '\0')
		path = "/";
	q0 = evhttp_uri_get_query(uri);
	tlen = strlen(path) + (q0 ? strlen(q0) : 0) + strlen(ps->query) + 3;
	target = sim_malloc(tlen);
	snprintf(target, tlen, "%s?%s%s%s", path, q0 ? q0 : "",
	    q0 && *q0 ? "&" : "", ps->query);
	snprintf(hostport, sizeof(hostport), strchr(host, ':') ?
	    "[%s]:%d" : "%s:%d", host, port);

	if (resolve(host, addr, sizeof(addr)) != 0) {
		sim_log("cannot resolve push host %s", host);
		push_finish(ps);
		goto out;
	}
	ps->timer = evtimer_new(sim->base, push_timer_cb, ps);
	ps->evcon = evhttp_connection_base_new(sim->base, NULL, addr,
	    (ev_uint16_t)port);
	if (ps->timer == NULL || ps->evcon == NULL ||
	    evtimer_add(ps->timer, &tv) != 0) {
		sim_log("cannot start a push");
		push_finish(ps);
		goto out;
	}
	evhttp_connection_set_timeout(ps->evcon, PUSH_TIMEOUT_S);
	evhttp_connection_set_max_body_size(ps->evcon, REPLY_MAX);
	oreq = evhttp_request_new(push_done_cb, ps);
	if (oreq == NULL) {
		sim_log("cannot start a push");
		push_finish(ps);
		goto out;
	}
	h = evhttp_request_get_output_headers(oreq);
	evhttp_add_header(h, "Host", hostport);
	evhttp_add_header(h, "User-Agent", "Mozilla/4.0 (wxsim)");
	evhttp_add_header(h, "Connection", "close");
	if (ps->sent != NULL) {
		evhttp_add_header(h, "Content-Type", ctype);
		evbuffer_add(evhttp_request_get_output_buffer(oreq), ps->sent,
		    strlen(ps->sent));
	}
	ps->starting = 1;
	rc = evhttp_make_request(ps->evcon, oreq,
	    ps->sent ? EVHTTP_REQ_POST : EVHTTP_REQ_GET, target);
	ps->starting = 0;
	if (rc != 0 || ps->answered) {
		/* oreq is gone; push_finish frees the connection */
		if (rc != 0)
			sim_log("cannot send a push to %s", hostport);
		push_finish(ps);
		goto out;
	}
out:
	free(target);
	if (uri != NULL)
		evhttp_uri_free(uri);
}

/* A new push for the control request req; the caller fills it. */
static struct sim_push *
push_new(struct sim *sim, struct evhttp_request *req)
{
	struct sim_push *ps = sim_calloc(1, sizeof(*ps));

	ps->sim = sim;
	ps->req = req;
	return ps;
}

/*==== Control routes ====*/

/*
 * POST /sim/push {"event":{..},"mode":"plain"|"compat"|"safe",
 * "format":"json"|"xml","url"?,"token"?,"aes_key"?,"appid"?,"timestamp"?,
 * "nonce"?,"tamper"?} -> {"status","body","query","sent"} once the push
 * URL answered (status 0: no answer within 5 s or no connection).
 */
void
sim_ctl_push(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	const cJSON *event = cJSON_GetObjectItemCaseSensitive(body, "event");
	const cJSON *to;
	const char *mode, *format, *err = NULL;
	struct push_spec s;
	struct evbuffer *b = NULL, *q = NULL;
	struct sim_push *ps = NULL;
	char sig[41], msg_sig[41] = "", *msg = NULL, *enc = NULL;
	size_t msglen;
	int bad, xml, safe, compat;

	if (!cJSON_IsObject(event)) {
		err = "event must be a JSON object";
		goto out;
	}
	mode = sim_get_string(body, "mode", &bad);
	if (bad || (mode != NULL && strcmp(mode, "plain") != 0 &&
	    strcmp(mode, "compat") != 0 && strcmp(mode, "safe") != 0)) {
		err = "mode must be plain, compat or safe";
		goto out;
	}
	format = sim_get_string(body, "format", &bad);
	if (bad || (format != NULL && strcmp(format, "json") != 0 &&
	    strcmp(format, "xml") != 0)) {
		err = "format must be json or xml";
		goto out;
	}
	safe = mode != NULL && strcmp(mode, "safe") == 0;
	compat = mode != NULL && strcmp(mode, "compat") == 0;
	xml = format != NULL && strcmp(format, "xml") == 0;
	err = spec_read(sim, body, &s);
	if (err != NULL)
		goto out;
	if (s.tamper != NULL && strcmp(s.tamper, "signature") != 0 &&
	    strcmp(s.tamper, "encrypt") != 0 &&
	    strcmp(s.tamper, "appid") != 0) {
		err = "tamper must be signature, encrypt or appid";
		goto out;
	}
	if (s.tamper != NULL && strcmp(s.tamper, "signature") != 0 &&
	    !safe && !compat) {
		err = "tamper encrypt and appid need mode safe or compat";
		goto out;
	}
	s.aes_key = sim_get_string(body, "aes_key", &bad);
	if (bad) {
		err = "aes_key must be a string";
		goto out;
	}
	if (s.aes_key == NULL || *s.aes_key == '\0')
		s.aes_key = sim->push_aes_key;
	s.appid = sim_get_string(body, "appid", &bad);
	if (bad || (s.appid != NULL && strlen(s.appid) > SECRET_MAX)) {
		err = "appid must be a string";
		goto out;
	}
	if (s.appid == NULL || *s.appid == '\0')
		s.appid = sim->appid;
	if ((safe || compat) && s.aes_key == NULL) {
		err = "aes_key required (or start wxsim with --push-aes-key)";
		goto out;
	}
	if (sim->npushes >= PUSHES_MAX) {
		sim_reply_ctl_error(req, 503, "too many pushes in flight");
		goto out;
	}

	/* the message itself, as WeChat would write it */
	b = evbuffer_new();
	q = evbuffer_new();
	if (b == NULL || q == NULL) {
		sim_log("out of memory");
		abort();
	}
	if (xml) {
		if (xml_event(b, event, NULL) != 0) {
			err = "event keys must be XML names";
			goto out;
		}
		msg = buf_string(b, &msglen);
	} else {
		msg = cJSON_PrintUnformatted(event);
		msglen = strlen(msg);
	}

	{
		const char *parts[4] = { s.token, s.timestamp, s.nonce, NULL };

		wx_push_signature(parts, 3, sig);
		if (safe || compat) {
			enc = encrypt_msg(&s, msg, msglen, &err);
			if (enc == NULL)
				goto out;
			parts[3] = enc;
			wx_push_signature(parts, 4, msg_sig);
		}
	}
	if (sig[0] == '\0' || ((safe || compat) && msg_sig[0] == '\0')) {
		err = "cannot sign the push";
		goto out;
	}
	if (s.tamper != NULL && strcmp(s.tamper, "signature") == 0) {
		flip_hex(sig);
		flip_hex(msg_sig);
	}

	query_add(q, "signature", sig);
	query_add(q, "timestamp", s.timestamp);
	query_add(q, "nonce", s.nonce);
	if (safe || compat) {
		const cJSON *from = cJSON_GetObjectItemCaseSensitive(event,
		    "FromUserName");

		if (cJSON_IsString(from))
			query_add(q, "openid", from->valuestring);
		query_add(q, "encrypt_type", "aes");
		query_add(q, "msg_signature", msg_sig);
	}

	ps = push_new(sim, req);
	ps->query = buf_string(q, NULL);
	to = cJSON_GetObjectItemCaseSensitive(event, "ToUserName");
	if (!safe && !compat) {
		ps->sent = msg;
		msg = NULL;
	} else if (xml && safe) {
		evbuffer_add_printf(b, "<xml>");
		if (cJSON_IsString(to)) {
			evbuffer_add_printf(b, "<ToUserName>");
			xml_cdata(b, to->valuestring);
			evbuffer_add_printf(b, "</ToUserName>");
		}
		evbuffer_add_printf(b, "<Encrypt>");
		xml_cdata(b, enc);
		evbuffer_add_printf(b, "</Encrypt></xml>");
		ps->sent = buf_string(b, NULL);
	} else if (xml) {
		xml_event(b, event, enc);    /* names checked above */
		ps->sent = buf_string(b, NULL);
	} else {
		cJSON *o = safe ? cJSON_CreateObject() :
		    cJSON_Duplicate(event, 1);

		if (safe && cJSON_IsString(to))
			cJSON_AddStringToObject(o, "ToUserName",
			    to->valuestring);
		cJSON_DeleteItemFromObjectCaseSensitive(o, "Encrypt");
		cJSON_AddStringToObject(o, "Encrypt", enc);
		ps->sent = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
	}
	push_start(ps, s.url, xml ? "text/xml" : "application/json");
out:
	if (err != NULL)
		sim_reply_ctl_error(req, 400, err);
	if (b != NULL)
		evbuffer_free(b);
	if (q != NULL)
		evbuffer_free(q);
	free(enc);
	free(msg);
}

/*
 * POST /sim/push/verify {"url"?,"token"?,"echostr"?,"timestamp"?,
 * "nonce"?,"tamper"?:"signature"} -> {"status","body","query","ok"}: the
 * GET URL verification; ok when the URL answered the echostr itself.
 */
void
sim_ctl_push_verify(struct sim *sim, struct evhttp_request *req,
    cJSON *body)
{
	struct push_spec s;
	struct evbuffer *q;
	struct sim_push *ps;
	const char *err;
	char sig[41], echostr[FIELD_MAX + 1];
	int r;

	err = spec_read(sim, body, &s);
	if (err == NULL && s.tamper != NULL &&
	    strcmp(s.tamper, "signature") != 0)
		err = "tamper must be signature";
	r = get_text(body, "echostr", echostr);
	if (err == NULL && r < 0)
		err = "echostr must be a string of 1..64 characters";
	if (err != NULL) {
		sim_reply_ctl_error(req, 400, err);
		return;
	}
	if (sim->npushes >= PUSHES_MAX) {
		sim_reply_ctl_error(req, 503, "too many pushes in flight");
		return;
	}
	if (r == 0) {
		sim_random_string(echostr, 1, "123456789");
		sim_random_string(echostr + 1, 18, "0123456789");
	}
	{
		const char *parts[3] = { s.token, s.timestamp, s.nonce };

		wx_push_signature(parts, 3, sig);
	}
	if (s.tamper != NULL)
		flip_hex(sig);
	q = evbuffer_new();
	if (q == NULL) {
		sim_log("out of memory");
		abort();
	}
	query_add(q, "signature", sig);
	query_add(q, "timestamp", s.timestamp);
	query_add(q, "nonce", s.nonce);
	query_add(q, "echostr", echostr);
	ps = push_new(sim, req);
	ps->verify = 1;
	ps->query = buf_string(q, NULL);
	ps->echostr = sim_strdup(echostr);
	evbuffer_free(q);
	push_start(ps, s.url, NULL);
}

/*
 * Checks the --push-* flags: an --push-aes-key must be a valid
 * EncodingAESKey. Returns 0, or -1 after logging why.
 */
int
sim_push_config_ok(const struct sim *sim)
{
	struct wx_push_key key;

	if (sim->push_aes_key != NULL &&
	    wx_push_key_parse(sim->push_aes_key, &key) != WX_CRYPTO_OK) {
		sim_log("bad --push-aes-key, "
		    "want 43 characters of [A-Za-z0-9]");
		return -1;
	}
	memset(&key, 0, sizeof(key));
	return 0;
}

/*
 * At exit: drops every push in flight and answers its control request
 * 503. Call before evhttp_free and event_base_free.
 */
void
sim_push_shutdown(struct sim *sim)
{
	while (sim->pushes != NULL) {
		struct sim_push *ps = sim->pushes;

		push_unlink(ps);
		sim_reply_ctl_error(ps->req, 503, "wxsim is shutting down");
		ps->req = NULL;
		push_free(ps);
	}
}
