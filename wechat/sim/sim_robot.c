/*
 * sim_robot.c: WeCom's group-robot webhook, POST /cgi-bin/webhook/send?key=
 * (qyapi.weixin.qq.com's, not api.weixin.qq.com's: no access token, and
 * errmsgs end in a hint instead of a rid), the per-key limit of 20
 * messages a minute, and the messages accepted (GET /sim/robot). It
 * computes answers only; sim_fault.c decides when and whether they are
 * sent. The keys are sim keys, not secrets: the call log and /sim/robot
 * show them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/keyvalq_struct.h>

#include "sim.h"

#define CONTENT_MAX 4096         /* bytes of UTF-8 */
#define RATE_MAX 20              /* accepted messages per key ... */
#define RATE_WINDOW_MS (60 * 1000) /* ... within this long, sim clock */
#define ROBOTS_MAX 10000         /* keys with a rate state */
#define ROBOT_MESSAGES_MAX 10000 /* kept for /sim/robot, oldest dropped */
#define MORE_INFO "https://open.work.weixin.qq.com/devtool/query?e="

/* The rate state of one key: when its last RATE_MAX messages were taken. */
struct sim_robot {
	struct sim_robot *next;
	char *key;                   /* owned */
	int64_t sent_ms[RATE_MAX];   /* ring of accept times, sim clock */
	size_t nsent;                /* slots used, <= RATE_MAX */
	size_t head;                 /* slot of the next accept */
};

/*==== Parameters ====*/

/*
 * Fills *p from a robot_send request: p->key from ?key= (NULL when absent
 * or empty), p->body the JSON object body, else p->bad_body.
 */
void
sim_robot_params(struct evhttp_request *req, struct sim_params *p)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
	const char *key;
	struct evkeyvalq q;
	int empty;

	if (query != NULL && evhttp_parse_query_str(query, &q) == 0) {
		key = evhttp_find_header(&q, "key");
		if (key != NULL && *key != '\0')
			p->key = sim_strdup(key);
		evhttp_clear_headers(&q);
	}
	p->body = sim_body_json(req, &empty);
	if (!cJSON_IsObject(p->body)) {
		cJSON_Delete(p->body);
		p->body = NULL;
		p->bad_body = 1;
	}
}

/*==== Rate limit ====*/

static void
robot_free(struct sim_robot *r)
{
	free(r->key);
	free(r);
}

static struct sim_robot *
robot_find(const struct sim *sim, const char *key)
{
	for (struct sim_robot *r = sim->robots; r != NULL; r = r->next) {
		if (strcmp(r->key, key) == 0)
			return r;
	}
	return NULL;
}

/* Messages R accepted within the window ending at NOW. */
static size_t
robot_recent(const struct sim_robot *r, int64_t now)
{
	size_t n = 0;

	for (size_t i = 0; r != NULL && i < r->nsent; i++) {
		if (now - r->sent_ms[i] < RATE_WINDOW_MS)
			n++;
	}
	return n;
}

/* Forgets keys with nothing in the window: they limit nothing. */
static void
robots_prune(struct sim *sim, int64_t now)
{
	struct sim_robot **pp = &sim->robots;

	while (*pp != NULL) {
		struct sim_robot *r = *pp;

		if (robot_recent(r, now) == 0) {
			*pp = r->next;
			robot_free(r);
			sim->nrobots--;
		} else {
			pp = &r->next;
		}
	}
}

/*
 * Counts a message accepted for key at now. Returns 0, or -1 when
 * ROBOTS_MAX keys are busy within the window.
 */
static int
robot_count(struct sim *sim, const char *key, int64_t now)
{
	struct sim_robot *r = robot_find(sim, key);

	if (r == NULL) {
		if (sim->nrobots >= ROBOTS_MAX)
			robots_prune(sim, now);
		if (sim->nrobots >= ROBOTS_MAX)
			return -1;
		r = sim_calloc(1, sizeof(*r));
		r->key = sim_strdup(key);
		r->next = sim->robots;
		sim->robots = r;
		sim->nrobots++;
	}
	r->sent_ms[r->head] = now;
	r->head = (r->head + 1) % RATE_MAX;
	if (r->nsent < RATE_MAX)
		r->nsent++;
	return 0;
}

/*==== The webhook ====*/

/* True when s is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
static int
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		unsigned long cp;
		int n;

		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf) {
			n = 1;
			cp = *p & 0x1f;
		} else if (*p >= 0xe0 && *p <= 0xef) {
			n = 2;
			cp = *p & 0x0f;
		} else if (*p >= 0xf0 && *p <= 0xf4) {
			n = 3;
			cp = *p & 0x07;
		} else {
			return 0;
		}
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;    /* the NUL stops here too */
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		p += n + 1;
	}
	return 1;
}

/*
 * A WeCom error: errmsg "TEXT, hint: [<sim s>_<16 hex>], more info at
 * https://open.work.weixin.qq.com/devtool/query?e=ERRCODE". Returns
 * errcode.
 */
static int
robot_fail(struct sim *sim, struct sim_answer *a, int errcode,
    const char *text)
{
	char hint[17];

	sim_random_string(hint, sizeof(hint) - 1, "0123456789abcdef");
	return sim_api_fail(a, errcode, "%s, hint: [%lld_%s], more info at "
	    MORE_INFO "%d", text, (long long)(sim_now_ms(sim) / 1000), hint,
	    errcode);
}

/* Appends an accepted message to the list behind /sim/robot. */
static void
message_keep(struct sim *sim, const char *key, const char *msgtype,
    const char *content, int64_t now)
{
	cJSON *o = cJSON_CreateObject();

	if (sim->robot_messages == NULL)
		sim->robot_messages = cJSON_CreateArray();
	if (cJSON_GetArraySize(sim->robot_messages) >= ROBOT_MESSAGES_MAX)
		cJSON_DeleteItemFromArray(sim->robot_messages, 0);
	cJSON_AddStringToObject(o, "key", key);
	cJSON_AddStringToObject(o, "msgtype", msgtype);
	cJSON_AddStringToObject(o, "content", content);
	cJSON_AddNumberToObject(o, "at", (double)(now / 1000));
	cJSON_AddItemToArray(sim->robot_messages, o);
}

/*
 * POST /cgi-bin/webhook/send?key=KEY. Checks, in order: the key (93000
 * when missing, empty or starting with "bad"), a JSON object body
 * (47001), msgtype "markdown" or "text" (40008), its {"content":..}: a
 * non-empty string (40058) of valid UTF-8 (47001) of at most 4096 bytes
 * (40058), then the key's 20 accepted messages in the last 60 s of the
 * sim clock (45009; refused messages do not count). On success keeps the
 * message and answers {"errcode":0,"errmsg":"ok"}.
 */
int
sim_robot_send(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a)
{
	int64_t now = sim_now_ms(sim);
	const cJSON *type, *msg, *content;
	const char *t;

	if (p->key == NULL || strncmp(p->key, "bad", 3) == 0)
		return robot_fail(sim, a, 93000, "invalid webhook url");
	if (p->bad_body || p->body == NULL)
		return robot_fail(sim, a, 47001, "data format error");
	type = cJSON_GetObjectItemCaseSensitive(p->body, "msgtype");
	t = cJSON_IsString(type) ? type->valuestring : "";
	if (strcmp(t, "markdown") != 0 && strcmp(t, "text") != 0)
		return robot_fail(sim, a, 40008, "invalid message type");
	msg = cJSON_GetObjectItemCaseSensitive(p->body, t);
	content = cJSON_GetObjectItemCaseSensitive(msg, "content");
	if (!cJSON_IsObject(msg) || !cJSON_IsString(content) ||
	    content->valuestring[0] == '\0')
		return robot_fail(sim, a, 40058, "content exceed max length");
	if (!utf8_ok(content->valuestring))
		return robot_fail(sim, a, 47001, "data format error");
	if (strlen(content->valuestring) > CONTENT_MAX)
		return robot_fail(sim, a, 40058, "content exceed max length");
	if (robot_recent(robot_find(sim, p->key), now) >= RATE_MAX)
		return robot_fail(sim, a, 45009, "api freq out of limit");
	if (robot_count(sim, p->key, now) != 0)
		return robot_fail(sim, a, -1, "system busy");

	message_keep(sim, p->key, t, content->valuestring, now);
	a->json = cJSON_CreateObject();
	cJSON_AddNumberToObject(a->json, "errcode", 0);
	cJSON_AddStringToObject(a->json, "errmsg", "ok");
	return 0;
}

/* GET /sim/robot -> {"messages":[{"key","msgtype","content","at"},..]} */
void
sim_ctl_robot(struct sim *sim, struct evhttp_request *req, cJSON *body)
{
	cJSON *root = cJSON_CreateObject();

	(void)body;
	cJSON_AddItemToObject(root, "messages", sim->robot_messages != NULL ?
	    cJSON_Duplicate(sim->robot_messages, 1) : cJSON_CreateArray());
	sim_reply_json(req, 200, root, 0);
}

/* Forgets the accepted messages and every key's rate state. */
void
sim_robot_reset(struct sim *sim)
{
	while (sim->robots != NULL) {
		struct sim_robot *r = sim->robots;

		sim->robots = r->next;
		robot_free(r);
	}
	sim->nrobots = 0;
	cJSON_Delete(sim->robot_messages);
	sim->robot_messages = NULL;
}
