/*
 * errors.c - every error the API can answer, in one table: the stable
 * snake_case code that clients switch on, its HTTP status, and a Chinese
 * message that tells the person what to do next. docs/openapi.yaml lists
 * the same codes; tests/docs/check_docs.py checks they agree.
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
    { "bind_rate_limited", 429, "尝试次数太多，请过一段时间再试，或直接联系人事" },
    { "employee_not_found", 404, "没有这个工号，请核对后再试" },
    { "qrcode_page_invalid", 422, "小程序里没有这个页面，或它还没发布：请核对 page，未发布的页面请设 check_path 为 false" },
    { "content_risky", 422, "内容含有不适合公开的信息，未能提交。请修改措辞后再试" },
    { "moderation_not_held", 409, "这条内容不在待审核状态（可能已被处理），请刷新后再看" },
    /* WeChat's message push. */
    { "push_not_configured", 404, "消息推送未配置：请在配置中设置 wechat.push_token（安全模式还需 wechat.push_aes_key）" },
    { "push_bad_signature", 401, "推送签名或密文校验失败：请核对微信后台的 Token、EncodingAESKey 与配置是否一致" },
    { "push_stale", 403, "推送时间戳与服务器时间相差太大：请检查服务器时钟，或调整 wechat.push_max_skew_s" },
    { "push_bad_body", 400, "推送内容无法解析：请确认微信后台的数据格式（JSON 或 XML）" },
    { "phone_not_in_roster", 422, "你微信上的手机号不在花名册里。请改用工号绑定，或请人事更新你的手机号" },
    { "phone_shared", 409, "这个手机号对应了多个工号，请改用工号、姓名和手机号后四位绑定" },
    { "phone_code_invalid", 400, "获取手机号失败或已过期，请重新点一次“手机号快捷绑定”" },
    { "shift_invalid", 400, "班次设置有矛盾（见 reason），没有保存。请按提示修改后再提交" },
    { "schedule_invalid", 422, "排班表有错误，没有做任何修改。请按列出的行和列改正后重新上传" },
    { "outside_site", 422, "你不在打卡范围内（距离见 distance_m）。请走到厂区内再打卡" },
    { "field_reason_required", 422, "你不在打卡范围内。如是外出办事，请填写外勤原因后再打卡" },
    { "location_inaccurate", 422, "定位不准，请走到室外空旷处、打开 GPS 后再试" },
    { "window_not_open", 422, "还没到打卡时间（开放时间见 opens_at），请到时再打" },
    { "no_shift", 422, "现在没有你的班次可以打卡。如排班有误，请联系主管" },
    { "offline_too_old", 422, "这条离线打卡时间太久了，已不能补交。请提交补卡申请" },
    { "makeup_not_allowed", 422, "这一天不能补卡（原因见 reason）。如有疑问请联系主管" },
    { "makeup_limit", 422, "本月补卡次数已用完，请联系主管或人事处理" },
    { "makeup_duplicate", 409, "这一天的这次打卡已经有一条待审批的补卡申请，请等主管处理" },
    { "already_decided", 409, "这条申请已经处理过了，请刷新后再看" },
    { "phone_decrypt_failed", 400, "手机号数据无法解密：请关闭小程序重新打开后再试，或改用工号绑定" },
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
