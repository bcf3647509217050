/*
 * xml.c - WeChat's XML pushes read with expat into the same JSON shape as
 * the JSON pushes, so push.c handles one shape. <xml><A>1</A><B><![CDATA[x]]>
 * </B></xml> becomes {"A":"1","B":"x"}; an element with children becomes an
 * object; an element that repeats under one parent becomes an array.
 * Leaf values stay strings: numbers such as MsgID exceed 2^53. No DTD is
 * accepted (no entity tricks), and depth and size are bounded.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#define MAX_DEPTH 8
#define MAX_ELEMENTS 2000
#define MAX_TEXT 65536

struct frame {
    char name[64];
    cJSON *obj;          /* children, created on the first child */
    char *text;          /* character data so far */
    size_t text_len;
};

struct xp {
    XML_Parser p;
    struct frame stack[MAX_DEPTH + 1];
    int depth;           /* frames in use; 0 = outside the root */
    long elements;
    cJSON *root;         /* the root element's content */
    const char *error;
};

static void fail(struct xp *x, const char *why)
{
    if (!x->error)
        x->error = why;
    XML_StopParser(x->p, XML_FALSE);
}

/* Add VALUE under NAME in OBJ, turning a repeated name into an array. */
static void add_child(cJSON *obj, const char *name, cJSON *value)
{
    cJSON *have = cJSON_GetObjectItemCaseSensitive(obj, name);

    if (!have) {
        cJSON_AddItemToObject(obj, name, value);
    } else if (cJSON_IsArray(have)) {
        cJSON_AddItemToArray(have, value);
    } else {
        cJSON *arr = cJSON_CreateArray();
        cJSON_DetachItemViaPointer(obj, have);
        cJSON_AddItemToArray(arr, have);
        cJSON_AddItemToArray(arr, value);
        cJSON_AddItemToObject(obj, name, arr);
    }
}

static void on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    struct xp *x = data;
    struct frame *f;

    if (x->error)
        return;
    if (x->depth >= MAX_DEPTH || ++x->elements > MAX_ELEMENTS || strlen(name) >= sizeof f->name) {
        fail(x, "the XML is too deep or too large");
        return;
    }
    f = &x->stack[x->depth++];
    memset(f, 0, sizeof *f);
    snprintf(f->name, sizeof f->name, "%s", name);
}

static void on_text(void *data, const XML_Char *s, int len)
{
    struct xp *x = data;
    struct frame *f;

    if (x->error || x->depth == 0 || len <= 0)
        return;
    f = &x->stack[x->depth - 1];
    if (f->text_len + (size_t)len > MAX_TEXT) {
        fail(x, "an XML value is too long");
        return;
    }
    f->text = gy_realloc(f->text, f->text_len + (size_t)len + 1);
    memcpy(f->text + f->text_len, s, (size_t)len);
    f->text_len += (size_t)len;
    f->text[f->text_len] = '\0';
}

static void on_end(void *data, const XML_Char *name)
{
    struct xp *x = data;
    struct frame *f;
    cJSON *value;

    if (x->error || x->depth == 0)
        return;
    f = &x->stack[--x->depth];
    if (f->obj) {
        value = f->obj;   /* an element with children; stray text between them is dropped */
        f->obj = NULL;
    } else {
        value = cJSON_CreateString(f->text ? f->text : "");
    }
    free(f->text);
    f->text = NULL;
    if (x->depth == 0) {
        x->root = cJSON_IsObject(value) ? value : (cJSON_Delete(value), cJSON_CreateObject());
        return;
    }
    struct frame *parent = &x->stack[x->depth - 1];
    if (!parent->obj)
        parent->obj = cJSON_CreateObject();
    add_child(parent->obj, f->name, value);
}

static void on_doctype(void *data, const XML_Char *name, const XML_Char *sysid,
                       const XML_Char *pubid, int has_internal_subset)
{
    fail(data, "a DOCTYPE is not accepted");
}

cJSON *xml_to_json(const char *text, size_t len, char *err, size_t errsz)
{
    struct xp x = { 0 };
    cJSON *out = NULL;

    x.p = XML_ParserCreate("UTF-8");
    if (!x.p) {
        snprintf(err, errsz, "out of memory");
        return NULL;
    }
    XML_SetUserData(x.p, &x);
    XML_SetElementHandler(x.p, on_start, on_end);
    XML_SetCharacterDataHandler(x.p, on_text);
    XML_SetStartDoctypeDeclHandler(x.p, on_doctype);
    if (len > (size_t)INT32_MAX || XML_Parse(x.p, text, (int)len, XML_TRUE) != XML_STATUS_OK || x.error) {
        snprintf(err, errsz, "%s", x.error ? x.error : XML_ErrorString(XML_GetErrorCode(x.p)));
    } else if (!x.root) {
        snprintf(err, errsz, "no root element");
    } else {
        out = x.root;
        x.root = NULL;
    }
    /* Frames still open (after an error) own their text and children. */
    for (int i = 0; i < x.depth; i++) {
        free(x.stack[i].text);
        cJSON_Delete(x.stack[i].obj);
    }
    cJSON_Delete(x.root);
    XML_ParserFree(x.p);
    return out;
}
