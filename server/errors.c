/*
 * errors.c - every error the API can answer, in one table: the stable
 * snake_case code that clients switch on, its HTTP status, and a Chinese
 * message that tells the person what to do next. docs/openapi.yaml lists
 * the same codes; a unit test checks they agree.
 */
#include "gongyou.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct gy_error table[] = {
    /* The dispatcher's answers. */
    { "not_found", 404, "请求的地址不存在，请把小程序更新到最新版本后再试" },
    { "method_not_allowed", 405, "不支持这种请求方式，请把小程序更新到最新版本后再试" },
    { "body_too_large", 413, "提交的内容太大，请精简后再提交" },
    { "unsupported_media_type", 415, "提交的内容格式不对：接口要求 JSON（花名册要求 text/csv），请检查后再试" },
    { "invalid_json", 400, "提交的数据不是有效的 JSON，请刷新页面后重试" },
    { "invalid_field", 400, "提交的内容缺项或格式不对，请按提示检查后再提交" },
    { "unauthorized", 401, "请先登录：关闭小程序后重新打开即可自动登录" },
    { "token_invalid", 401, "登录状态无效，请关闭小程序后重新打开" },
    { "token_expired", 401, "登录已过期，请关闭小程序后重新打开" },
    { "forbidden", 403, "你没有权限做这个操作，如有疑问请联系人事" },
    { "not_bound", 403, "请先绑定工号：在“我的”页面输入工号、姓名和手机号后四位" },
    { "internal_error", 500, "服务器出了点问题，请稍后再试；如果一直这样，请联系管理员" },
    { "shutting_down", 503, "服务正在重启，请几秒钟后再试" },
    { "db_unavailable", 503, "数据库暂时不可用，请稍后再试" },
    /* Login. */
    { "wx_code_invalid", 401, "微信登录凭证无效或已用过，请关闭小程序后重新打开" },
    { "wechat_unavailable", 503, "微信服务暂时繁忙，请稍等几秒后再试" },
    { "wechat_rate_limited", 429, "登录太频繁了，请一分钟后再试" },
    { "wx_login_blocked", 403, "微信判定这次登录有风险并已拦截，请稍后再试或联系管理员" },
    { "wechat_error", 502, "微信接口出错了，请稍后再试；如果一直这样，请联系管理员" },
    /* Roster and binding. */
    { "roster_invalid", 422, "花名册有错误，没有做任何修改。请按列出的行和列改正后重新上传" },
    { "bind_mismatch", 422, "工号、姓名或手机号后四位对不上，请核对后再试" },
    { "employee_already_bound", 409, "这个工号已经绑定了别的微信。如果换了手机或微信，请联系人事解绑" },
    { "user_already_bound", 409, "你的微信已经绑定了另一个工号。如需更换，请联系人事先解绑" },
    { "bind_rate_limited", 429, "尝试次数太多，请一小时后再试，或直接联系人事" },
    { "employee_not_found", 404, "没有这个工号，请核对后再试" },
};

const struct gy_error *errors_find(const char *code)
{
    for (size_t i = 0; i < GY_ARRAY_LEN(table); i++)
        if (strcmp(table[i].code, code) == 0)
            return &table[i];
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"unknown error code %s\"}\n", code);
    abort();
}

const struct gy_error *errors_table(size_t *n)
{
    *n = GY_ARRAY_LEN(table);
    return table;
}
