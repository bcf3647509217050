/*
 * sim_msg.c: subscribeMessage.send and the state behind it: templates and
 * pages registered by tests, one-time consent credits per (openid,
 * template_id), and the messages sent (GET /sim/messages). Whether a data
 * value obeys its key's rule is sim_fields.c's business; when and whether
 * the answer is sent is sim_fault.c's.
 *
 * With no template registered any template_id is accepted and the data
 * keys are checked by prefix only; once templates are registered, unknown
 * ids answer 40037 and every key of the template must be present. Pages
 * work alike: with none registered any page goes.
 */
#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define TEMPLATES_MAX 1000
#define PAGES_TOTAL_MAX 10000
#define CREDITS_MAX 100000
#define MESSAGES_MAX 10000       /* kept for /sim/messages, oldest dropped */
#define MSGID_LEN 19

struct sim_template {
	struct sim_template *next;
	char *id;                    /* owned */
	char **keys;                 /* owned, nkeys owned strings */
	size_t nkeys;
};

struct sim_page {
	struct sim_page *next;
	char *path;                  /* owned, no leading '/', no query */
};

struct sim_credit {
	struct sim_credit *next;
	char *openid;                /* owned */
	char *template_id;           /* owned */
	long long count;             /* one-time sends left */
};

/*==== Templates and pages ====*/

static void
template_free(struct sim_template *t)
{
	for (size_t i = 0; i < t->nkeys; i++)
		free(t->keys[i]);
	free(t->keys);
	free(t->id);
	free(t);
}

static struct sim_template *
template_find(const struct sim *sim, const char *id)
{
	for (struct sim_template *t = sim->templates; t; t = t->next) {
		if (strcmp(t->id, id) == 0)
			return t;
	}
	return NULL;
}

/*
 * Registers template id with its data keys (copied), replacing an earlier
 * registration of the same id. Returns 0, or -1 when too many are known.
 */
int
sim_template_add(struct sim *sim, const char *id, const char *const *keys,
    size_t nkeys)
{
	struct sim_template *t = template_find(sim, id);

	if (t == NULL) {
		if (sim->ntemplates >= TEMPLATES_MAX)
			return -1;
		t = sim_calloc(1, sizeof(*t));
		t->id = sim_strdup(id);
		t->next = sim->templates;
		sim->templates = t;
		sim->ntemplates++;
	} else {
		for (size_t i = 0; i < t->nkeys; i++)
			free(t->keys[i]);
		free(t->keys);
	}
	t->keys = sim_calloc(nkeys, sizeof(*t->keys));
	for (size_t i = 0; i < nkeys; i++)
		t->keys[i] = sim_strdup(keys[i]);
	t->nkeys = nkeys;
	return 0;
}

/* Registers page (no leading '/', no query). Returns 0 or -1 when full. */
int
sim_page_add(struct sim *sim, const char *page)
{
	struct sim_page *pg;

	if (sim_page_known(sim, page))
		return 0;
	if (sim->npages >= PAGES_TOTAL_MAX)
		return -1;
	pg = sim_calloc(1, sizeof(*pg));
	pg->path = sim_strdup(page);
	pg->next = sim->pages;
	sim->pages = pg;
	sim->npages++;
	return 0;
}

/* True when page (path only) was registered. */
int
sim_page_known(const struct sim *sim, const char *page)
{
	for (const struct sim_page *pg = sim->pages; pg; pg = pg->next) {
		if (strcmp(pg->path, page) == 0)
			return 1;
	}
	return 0;
}

/*==== Consent ====*/

static struct sim_credit *
credit_find(const struct sim *sim, const char *openid, const char *id)
{
	for (struct sim_credit *c = sim->credits; c; c = c->next) {
		if (strcmp(c->openid, openid) == 0 &&
		    strcmp(c->template_id, id) == 0)
			return c;
	}
	return NULL;
}

/*
 * Adds count one-time credits for (openid, template_id), or with set makes
 * them count. *now gets the credits after the change. Returns 0, or -1
 * when too many pairs are known.
 */
int
sim_consent_add(struct sim *sim, const char *openid, const char *template_id,
    long long count, int set, long long *now)
{
	struct sim_credit *c = credit_find(sim, openid, template_id);

	if (c == NULL) {
		if (sim->ncredits >= CREDITS_MAX)
			return -1;
		c = sim_calloc(1, sizeof(*c));
		c->openid = sim_strdup(openid);
		c->template_id = sim_strdup(template_id);
		c->next = sim->credits;
		sim->credits = c;
		sim->ncredits++;
	}
	if (set)
		c->count = count;
	else
		c->count += count;
	*now = c->count;
	return 0;
}

/* {"consent":[{"openid","template_id","count"},..]}; caller frees. */
cJSON *
sim_consent_json(const struct sim *sim)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = cJSON_AddArrayToObject(root, "consent");

	for (const struct sim_credit *c = sim->credits; c; c = c->next) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "openid", c->openid);
		cJSON_AddStringToObject(o, "template_id", c->template_id);
		cJSON_AddNumberToObject(o, "count", (double)c->count);
		cJSON_AddItemToArray(arr, o);
	}
	return root;
}

/*==== Messages ====*/

/* {"messages":[..]} (a copy), oldest first; caller frees. */
cJSON *
sim_messages_json(const struct sim *sim)
{
	cJSON *root = cJSON_CreateObject();
	cJSON *arr = sim->messages != NULL ?
	    cJSON_Duplicate(sim->messages, 1) : cJSON_CreateArray();

	cJSON_AddItemToObject(root, "messages", arr);
	return root;
}

/* A string field of body, or NULL (absent, null or not a string). */
static const char *
field(const cJSON *body, const char *name)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* Appends a sent message to the list behind /sim/messages. */
static void
message_keep(struct sim *sim, const char *msgid, const cJSON *body,
    const cJSON *data)
{
	const char *names[] = { "page", "miniprogram_state", "lang" };
	cJSON *o = cJSON_CreateObject();

	if (sim->messages == NULL)
		sim->messages = cJSON_CreateArray();
	if (cJSON_GetArraySize(sim->messages) >= MESSAGES_MAX)
		cJSON_DeleteItemFromArray(sim->messages, 0);
	cJSON_AddStringToObject(o, "msgid", msgid);
	cJSON_AddStringToObject(o, "touser", field(body, "touser"));
	cJSON_AddStringToObject(o, "template_id", field(body, "template_id"));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const char *v = field(body, names[i]);

		if (v != NULL)
			cJSON_AddStringToObject(o, names[i], v);
		else
			cJSON_AddNullToObject(o, names[i]);
	}
	cJSON_AddItemToObject(o, "data", cJSON_Duplicate(data, 1));
	cJSON_AddNumberToObject(o, "at", (double)(sim_now_ms(sim) / 1000));
	cJSON_AddItemToArray(sim->messages, o);
}

/*==== subscribeMessage.send ====*/

/* True when s is absent or one of the NULL-terminated list. */
static int
one_of(const char *s, const char *const *list)
{
	if (s == NULL)
		return 1;
	for (; *list != NULL; list++) {
		if (strcmp(s, *list) == 0)
			return 1;
	}
	return 0;
}

/*
 * An optional string field: 0 when absent, null, or a string (*out the
 * string, NULL unless a non-empty string), -1 when of another type.
 */
static int
opt_string(const cJSON *body, const char *name, const char **out)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(body, name);

	*out = NULL;
	if (item == NULL || cJSON_IsNull(item))
		return 0;
	if (!cJSON_IsString(item))
		return -1;
	if (item->valuestring[0] != '\0')
		*out = item->valuestring;
	return 0;
}

/*
 * The value string of data item key: 47001 when the item is not an
 * object, 47003 when its value is absent or empty (a->errmsg set), else
 * 0 with *value set.
 */
static int
data_value(const cJSON *data, const char *key, struct sim_answer *a,
    const char **value)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(data, key);
	const cJSON *v;

	*value = NULL;
	if (item != NULL && !cJSON_IsObject(item))
		return sim_api_fail(a, 47001, "data format error");
	v = cJSON_GetObjectItemCaseSensitive(item, "value");
	if (v == NULL || cJSON_IsNull(v) ||
	    (cJSON_IsString(v) && v->valuestring[0] == '\0'))
		return sim_api_fail(a, 47003,
		    "argument invalid! data.%.64s.value is empty", key);
	if (!cJSON_IsString(v))
		return sim_api_fail(a, 47003,
		    "argument invalid! data.%.64s.value invalid", key);
	*value = v->valuestring;
	return 0;
}

/*
 * Checks data against its rules: with template t every key of t must be
 * there (keys t lacks are ignored, as WeChat does); without one every key
 * given is checked by its prefix. Returns 0 or the errcode.
 */
static int
check_data(const cJSON *data, const struct sim_template *t,
    struct sim_answer *a)
{
	const cJSON *item;
	const char *value;
	int rc;

	if (t != NULL) {
		for (size_t i = 0; i < t->nkeys; i++) {
			rc = data_value(data, t->keys[i], a, &value);
			if (rc != 0)
				return rc;
			if (sim_field_check(t->keys[i], value) != 0)
				return sim_api_fail(a, 47003, "argument "
				    "invalid! data.%.64s.value invalid",
				    t->keys[i]);
		}
		return 0;
	}
	if (cJSON_GetArraySize(data) == 0)
		return sim_api_fail(a, 47003,
		    "argument invalid! data is empty");
	cJSON_ArrayForEach(item, data) {
		rc = data_value(data, item->string, a, &value);
		if (rc != 0)
			return rc;
		if (sim_field_check(item->string, value) != 0)
			return sim_api_fail(a, 47003, "argument invalid! "
			    "data.%.64s.value invalid", item->string);
	}
	return 0;
}

/* The path part of a send's page: no query, no leading '/'. */
static int
page_registered(const struct sim *sim, const char *page)
{
	const char *q = strchr(page, '?');
	size_t n = q ? (size_t)(q - page) : strlen(page);
	char *path;
	int known;

	if (*page == '/') {
		page++;
		n--;
	}
	path = sim_malloc(n + 1);
	memcpy(path, page, n);
	path[n] = '\0';
	known = sim_page_known(sim, path);
	free(path);
	return known;
}

/*
 * POST /cgi-bin/message/subscribe/send. Checks, in order: token and body,
 * touser (40003), 43108, template_id (40037), page (41030),
 * miniprogram_state and lang (40097), data (47001/47003), consent
 * (43101). On success spends one credit, keeps the message and answers
 * {"errcode":0,"errmsg":"ok","msgid":<19 digits>}.
 */
int
sim_msg_send(struct sim *sim, const struct sim_params *p,
    struct sim_answer *a)
{
	static const char *const states[] = {
		"developer", "trial", "formal", NULL
	};
	static const char *const langs[] = {
		"zh_CN", "en_US", "zh_HK", "zh_TW", NULL
	};
	const struct sim_template *t = NULL;
	const char *page, *state, *lang;
	const cJSON *data;
	struct sim_credit *credit;
	char msgid[MSGID_LEN + 1];
	int rc;

	rc = sim_api_authed(sim, p, a);
	if (rc != 0)
		return rc;
	if (p->openid == NULL)
		return sim_api_fail(a, 40003, "invalid openid");
	if (p->concurrent)
		return 43108;
	if (p->template_id == NULL)
		return sim_api_fail(a, 40037, "invalid template_id");
	if (sim->templates != NULL) {
		t = template_find(sim, p->template_id);
		if (t == NULL)
			return sim_api_fail(a, 40037, "invalid template_id");
	}
	if (opt_string(p->body, "page", &page) != 0 ||
	    opt_string(p->body, "miniprogram_state", &state) != 0 ||
	    opt_string(p->body, "lang", &lang) != 0)
		return 47001;
	if (page != NULL && sim->pages != NULL && !page_registered(sim, page))
		return sim_api_fail(a, 41030, "invalid page");
	if (!one_of(state, states) || !one_of(lang, langs))
		return sim_api_fail(a, 40097, "invalid args");

	data = cJSON_GetObjectItemCaseSensitive(p->body, "data");
	if (data != NULL && !cJSON_IsNull(data) && !cJSON_IsObject(data))
		return 47001;
	rc = check_data(data, t, a);
	if (rc != 0)
		return rc;

	credit = credit_find(sim, p->openid, p->template_id);
	if (credit == NULL || credit->count <= 0)
		return 43101;
	credit->count--;

	/* 19 digits, first 1..8: fits an int64 as well as a string */
	sim_random_string(msgid, 1, "12345678");
	sim_random_string(msgid + 1, MSGID_LEN - 1, "0123456789");
	message_keep(sim, msgid, p->body, data);
	a->json = cJSON_CreateObject();
	cJSON_AddNumberToObject(a->json, "errcode", 0);
	cJSON_AddStringToObject(a->json, "errmsg", "ok");
	cJSON_AddRawToObject(a->json, "msgid", msgid);
	return 0;
}

/* Forgets templates, pages, consent and sent messages. */
void
sim_msg_reset(struct sim *sim)
{
	while (sim->templates != NULL) {
		struct sim_template *t = sim->templates;

		sim->templates = t->next;
		template_free(t);
	}
	sim->ntemplates = 0;
	while (sim->pages != NULL) {
		struct sim_page *pg = sim->pages;

		sim->pages = pg->next;
		free(pg->path);
		free(pg);
	}
	sim->npages = 0;
	while (sim->credits != NULL) {
		struct sim_credit *c = sim->credits;

		sim->credits = c->next;
		free(c->openid);
		free(c->template_id);
		free(c);
	}
	sim->ncredits = 0;
	cJSON_Delete(sim->messages);
	sim->messages = NULL;
}
