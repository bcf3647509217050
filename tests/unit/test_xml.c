/* Unit tests for xml.c (WeChat's XML pushes) and json_quote_big_ints(). */
#include "gongyou.h"
#include "unit.h"

#include <stdlib.h>

static cJSON *parse(const char *text)
{
    char err[128] = "";
    cJSON *j = xml_to_json(text, strlen(text), err, sizeof err);

    if (!j)
        fprintf(stderr, "xml: %s\n", err);
    return j;
}

static const char *str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void flat_event(void)
{
    cJSON *j = parse("<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>"
                     "<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>"
                     "<CreateTime>1714037059</CreateTime><MsgType><![CDATA[event]]></MsgType>"
                     "<Event><![CDATA[debug_demo]]></Event><debug_str><![CDATA[hello <world> & co]]></debug_str></xml>");

    CHECK(j != NULL);
    CHECK_STR(str(j, "ToUserName"), "gh_97417a04a28d");
    CHECK_STR(str(j, "CreateTime"), "1714037059");   /* leaves stay text */
    CHECK_STR(str(j, "debug_str"), "hello <world> & co");
    cJSON_Delete(j);
}

static void popup_event_two_items(void)
{
    cJSON *j = parse(
        "<xml><ToUserName><![CDATA[gh_123456789abc]]></ToUserName>"
        "<FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>"
        "<CreateTime>1610969440</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[subscribe_msg_popup_event]]></Event>"
        "<SubscribeMsgPopupEvent>"
        "<List><TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>"
        "<SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString><PopupScene>2</PopupScene></List>"
        "<List><TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>"
        "<SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString><PopupScene>2</PopupScene></List>"
        "</SubscribeMsgPopupEvent></xml>");
    const cJSON *holder = cJSON_GetObjectItem(j, "SubscribeMsgPopupEvent");
    const cJSON *list = cJSON_GetObjectItem(holder, "List");

    CHECK(cJSON_IsArray(list));
    CHECK(cJSON_GetArraySize(list) == 2);
    CHECK_STR(str(cJSON_GetArrayItem(list, 1), "SubscribeStatusString"), "reject");
    CHECK_STR(str(cJSON_GetArrayItem(list, 0), "PopupScene"), "2");
    cJSON_Delete(j);
}

static void sent_event_big_msgid(void)
{
    cJSON *j = parse("<xml><Event><![CDATA[subscribe_msg_sent_event]]></Event><SubscribeMsgSentEvent>"
                     "<List><TemplateId><![CDATA[T]]></TemplateId><MsgID>1864323726461255680</MsgID>"
                     "<ErrorCode>0</ErrorCode><ErrorStatus><![CDATA[success]]></ErrorStatus></List>"
                     "</SubscribeMsgSentEvent></xml>");
    const cJSON *list = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "SubscribeMsgSentEvent"), "List");

    CHECK(cJSON_IsObject(list));   /* one item: an object; push.c makes it an array */
    CHECK_STR(str(list, "MsgID"), "1864323726461255680");
    cJSON_Delete(j);
}

static void refused(void)
{
    char err[128];
    static const char *const bad[] = {
        "",
        "<xml><a>1</a>",                                   /* unclosed */
        "<xml><a>1</b></xml>",                             /* mismatched */
        "<!DOCTYPE x [<!ENTITY a \"aaaa\">]><xml><a>&a;</a></xml>",  /* DTD */
        "<xml><a><b><c><d><e><f><g><h><i>deep</i></h></g></f></e></d></c></b></a></xml>",
        "not xml at all",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cJSON *j = xml_to_json(bad[i], strlen(bad[i]), err, sizeof err);
        if (j)
            fprintf(stderr, "case %zu accepted\n", i);
        CHECK(j == NULL);
        CHECK(err[0] != '\0');
        cJSON_Delete(j);
    }
}

static void big_ints_quoted(void)
{
    const char *in = "{\"MsgID\":1864323726461255680,\"n\":42,\"neg\":-1864323726461255680,"
                     "\"f\":1.5e300,\"s\":\"12345678901234567890\",\"esc\":\"a\\\"1234567890123456789\","
                     "\"arr\":[12345678901234567,1]}";
    char *out = json_quote_big_ints(in, strlen(in));
    cJSON *j = cJSON_Parse(out);

    CHECK(j != NULL);
    CHECK_STR(str(j, "MsgID"), "1864323726461255680");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "n")));
    CHECK_STR(str(j, "neg"), "-1864323726461255680");
    CHECK(cJSON_IsNumber(cJSON_GetObjectItem(j, "f")));
    CHECK_STR(str(j, "s"), "12345678901234567890");
    CHECK_STR(str(j, "esc"), "a\"1234567890123456789");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "arr"), 0)->valuestring, "12345678901234567");
    cJSON_Delete(j);
    free(out);
}

static const struct unit_test tests[] = {
    { "flat_event", flat_event },
    { "popup_event_two_items", popup_event_two_items },
    { "sent_event_big_msgid", sent_event_big_msgid },
    { "refused", refused },
    { "big_ints_quoted", big_ints_quoted },
};

int main(void)
{
    gy_json_hooks_init();
    return RUN_TESTS(tests);
}
