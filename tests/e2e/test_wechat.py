"""The WeChat side through gongyoud and wxsim: the access token (stored,
shared by two daemons, recovered after expiry), QR codes, binding by phone
(code and encryptedData), WeChat busy then recovered."""
import base64
import json
import os
import subprocess
import unittest

from harness import E2ETestCase, Proc, GONGYOUD, child_env, uid

PNG_SIG = b"\x89PNG\r\n\x1a\n"
ROSTER = (
    "employee_no,name,department,phone,site,roles,supervisor_no\n"
    "P100,周一,装配车间,13800001100,一厂,worker,\n"
    "P101,吴二,装配车间,+8613800001101,一厂,worker,\n"
    "P102,郑三,仓库,13900002222,一厂,worker,\n"
    "P103,王四,仓库,13900002222,一厂,worker,\n"
)


def qr(env, key, scene, page="pages/canteen/rate", **kw):
    body = {"scene": scene, "page": page}
    body.update(kw)
    return env.call("POST", "/api/v1/admin/qrcodes", body, token=key)


class AccessToken(E2ETestCase):

    def test_token_fetched_once_stored_and_reused(self):
        env = self.fresh()
        key = env.hr_key()
        r = qr(env, key, "canteen=1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["Content-Type"], "image/png")
        self.assertTrue(r.raw.startswith(PNG_SIG))
        self.assertEqual(env.count("qrcodes", "scene = ?", "canteen=1"), 1)
        self.assertEqual(len(env.calls("stable_token")), 1)
        self.assertEqual(len(env.calls("getwxacodeunlimit")), 1)
        # The token is kept for the next process, under our appid.
        tok = env.q1("SELECT token FROM wx_tokens WHERE appid = ?", env.appid)
        self.assertTrue(tok)
        self.assertNotIn(tok, env.log_text())
        # The same poster again comes from the database: no WeChat call.
        r2 = qr(env, key, "canteen=1")
        self.assertEqual(r2.raw, r.raw)
        self.assertEqual(len(env.calls("getwxacodeunlimit")), 1)
        # A second code: same token, no new fetch.
        self.assertEqual(qr(env, key, "dorm=A-301", page="pages/repair/new").status, 200)
        self.assertEqual(len(env.calls("stable_token")), 1)

    def test_restart_reuses_stored_token(self):
        env = self.fresh()
        key = env.hr_key()
        self.assertEqual(qr(env, key, "site=1").status, 200)
        env.stop()
        env.start()
        self.assertEqual(qr(env, key, "site=2").status, 200)
        self.assertEqual(len(env.calls("stable_token")), 1)

    def test_expired_mid_flight_recovered_with_one_retry(self):
        env = self.fresh()
        key = env.hr_key()
        self.assertEqual(qr(env, key, "a=1").status, 200)
        # WeChat's clock moves past the token's life; ours still trusts it.
        st, _ = env.sim("POST", "/sim/clock", {"advance_s": 7300})
        self.assertEqual(st, 200)
        r = qr(env, key, "a=2")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.raw.startswith(PNG_SIG))
        calls = env.calls("getwxacodeunlimit")
        self.assertEqual([c["errcode"] for c in calls], [0, 42001, 0])
        self.assertEqual(len(env.calls("stable_token")), 2)

    def test_two_daemons_share_one_token(self):
        env = self.fresh()
        key = env.hr_key()
        self.assertEqual(qr(env, key, "one=1").status, 200)
        log = os.path.join(env.dir, "second.stderr")
        second = Proc("gongyoud-2", [GONGYOUD, "-c", env.config_path], child_env(), log)
        try:
            port2 = second.wait_listening()
            r = env.call("POST", "/api/v1/admin/qrcodes", {"scene": "two=2"}, token=key, port=port2)
            self.assertEqual(r.status, 200, r)
        finally:
            rc = second.terminate()
        self.assertEqual(rc, 0)
        self.assertNotIn("AddressSanitizer", second.stderr_text())
        self.assertEqual(len(env.calls("stable_token")), 1)
        self.assertEqual(len(env.calls("getwxacodeunlimit")), 2)

    def test_wechat_busy_then_recovered(self):
        env = self.fresh()
        key = env.hr_key()
        env.fault(api="getwxacodeunlimit", errcode=-1, count=1)
        r = qr(env, key, "busy=1")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([c["errcode"] for c in env.calls("getwxacodeunlimit")], [-1, 0])
        # Busy beyond the retries: 503 with Retry-After, nothing stored.
        env.fault(api="getwxacodeunlimit", errcode=-1, count=5)
        r = qr(env, key, "busy=2")
        err = self.assertError(r, 503, "wechat_unavailable")
        self.assertTrue(err)
        self.assertTrue(r.headers["Retry-After"])
        self.assertEqual(env.count("qrcodes", "scene = ?", "busy=2"), 0)

    def test_token_api_failure_is_reported(self):
        env = self.fresh()
        key = env.hr_key()
        env.fault(api="stable_token", errcode=40013, count=1)
        r = qr(env, key, "t=1")
        self.assertError(r, 502, "wechat_error")
        self.assertEqual(len(env.calls("getwxacodeunlimit")), 0)
        self.assertEqual(qr(env, key, "t=1").status, 200)   # next time it fetches again

    def test_qrcode_validation(self):
        env = self.fresh()
        key = env.hr_key()
        for body, field in (({"scene": "x" * 33}, "scene"), ({"scene": "食堂"}, "scene"),
                            ({"scene": "a%20b"}, "scene"), ({"scene": "ok", "page": "/pages/x"}, "page"),
                            ({"scene": "ok", "page": "pages/x?a=1"}, "page"),
                            ({"scene": "ok", "width": 100}, "width"),
                            ({"scene": "ok", "env_version": "beta"}, "env_version")):
            r = env.call("POST", "/api/v1/admin/qrcodes", body, token=key)
            err = self.assertError(r, 400, "invalid_field")
            self.assertEqual(err["field"], field, body)
        self.assertEqual(len(env.calls("getwxacodeunlimit")), 0)
        # A worker may not make posters.
        token = env.login()
        self.assertError(env.call("POST", "/api/v1/admin/qrcodes", {"scene": "ok"}, token=token),
                         403, "forbidden")


class BindByPhone(E2ETestCase):

    def phone_code(self, env, openid, phone):
        st, j = env.sim("POST", "/sim/phonecode", {"openid": openid, "phone": phone})
        self.assertEqual(st, 200, j)
        return j["code"]

    def test_bind_with_phone_code(self):
        env = self.fresh()
        env.roster_ok(ROSTER)
        openid = uid()
        token = env.login(openid)
        code = self.phone_code(env, openid, "13800001100")
        r = env.call("POST", "/api/v1/bind/phone", {"code": code}, token=token)
        body = self.assertOk(r)
        self.assertTrue(body["bound"])
        self.assertEqual(body["employee"]["employee_no"], "P100")
        self.assertEqual(env.q1("SELECT e.employee_no FROM employees e JOIN wx_users u ON u.id = e.wx_user_id "
                                "WHERE u.openid = ?", openid), "P100")
        self.assertNotIn("13800001100", r.text)
        # The code is single use.
        other = env.login()
        r = env.call("POST", "/api/v1/bind/phone", {"code": code}, token=other)
        self.assertError(r, 400, "phone_code_invalid")

    def test_roster_phone_with_country_code(self):
        env = self.fresh()
        env.roster_ok(ROSTER)
        token = env.login()
        code = self.phone_code(env, uid(), "13800001101")
        body = self.assertOk(env.call("POST", "/api/v1/bind/phone", {"code": code}, token=token))
        self.assertEqual(body["employee"]["employee_no"], "P101")

    def test_phone_not_in_roster_or_shared(self):
        env = self.fresh()
        env.roster_ok(ROSTER)
        token = env.login()
        code = self.phone_code(env, uid(), "13700000000")
        self.assertError(env.call("POST", "/api/v1/bind/phone", {"code": code}, token=token),
                         422, "phone_not_in_roster")
        code = self.phone_code(env, uid(), "13900002222")
        self.assertError(env.call("POST", "/api/v1/bind/phone", {"code": code}, token=token),
                         409, "phone_shared")
        self.assertEqual(env.count("employees", "wx_user_id IS NOT NULL"), 0)
        # Neither counts as a failed guess.
        self.assertEqual(env.count("bind_attempts", "ok = 0"), 0)

    def test_bad_requests(self):
        env = self.fresh()
        token = env.login()
        self.assertError(env.call("POST", "/api/v1/bind/phone", {}, token=token), 400, "invalid_field")
        self.assertError(env.call("POST", "/api/v1/bind/phone", {"code": 5}, token=token), 400, "invalid_field")
        self.assertError(env.call("POST", "/api/v1/bind/phone", {"encryptedData": "x"}, token=token),
                         400, "invalid_field")
        self.assertError(env.call("POST", "/api/v1/bind/phone", {"code": "x"}), 401, "unauthorized")
        env.fault(api="getuserphonenumber", errcode=-1, count=5)
        r = env.call("POST", "/api/v1/bind/phone", {"code": "whatever"}, token=token)
        self.assertError(r, 503, "wechat_unavailable")

    def encrypt_open_data(self, session_key_b64, plaintext):
        """AES-128-CBC with PKCS#7, as WeChat does for encryptedData (openssl CLI)."""
        key = base64.b64decode(session_key_b64).hex()
        iv = os.urandom(16)
        p = subprocess.run(["openssl", "enc", "-aes-128-cbc", "-K", key, "-iv", iv.hex()],
                           input=plaintext.encode(), capture_output=True, check=True)
        return base64.b64encode(p.stdout).decode(), base64.b64encode(iv).decode()

    def test_bind_with_encrypted_data(self):
        env = self.fresh()
        env.roster_ok(ROSTER)
        openid = uid()
        token = env.login(openid)
        session_key = env.q1("SELECT session_key FROM wx_users WHERE openid = ?", openid)
        data = json.dumps({"phoneNumber": "13800001100", "purePhoneNumber": "13800001100",
                           "countryCode": "86", "watermark": {"timestamp": 1, "appid": env.appid}})
        enc, iv = self.encrypt_open_data(session_key, data)
        body = self.assertOk(env.call("POST", "/api/v1/bind/phone", {"encryptedData": enc, "iv": iv},
                                      token=token))
        self.assertEqual(body["employee"]["employee_no"], "P100")
        self.assertEqual(len(env.calls("getuserphonenumber")), 0)

    def test_encrypted_data_for_another_app_refused(self):
        env = self.fresh()
        env.roster_ok(ROSTER)
        openid = uid()
        token = env.login(openid)
        session_key = env.q1("SELECT session_key FROM wx_users WHERE openid = ?", openid)
        data = json.dumps({"purePhoneNumber": "13800001100", "countryCode": "86",
                           "watermark": {"timestamp": 1, "appid": "wxsomebodyelse0001"}})
        enc, iv = self.encrypt_open_data(session_key, data)
        self.assertError(env.call("POST", "/api/v1/bind/phone", {"encryptedData": enc, "iv": iv}, token=token),
                         400, "phone_decrypt_failed")
        # Garbage and a stale key are refused the same way.
        self.assertError(env.call("POST", "/api/v1/bind/phone",
                                  {"encryptedData": base64.b64encode(b"x" * 32).decode(),
                                   "iv": base64.b64encode(b"y" * 16).decode()}, token=token),
                         400, "phone_decrypt_failed")
        self.assertEqual(env.count("employees", "wx_user_id IS NOT NULL"), 0)


class Moderation(E2ETestCase):

    def test_pass_review_risky_and_release(self):
        env = self.fresh()
        key = env.hr_key()
        st, _ = env.sim("POST", "/sim/seccheck", {"word": "炸药", "suggest": "risky"})
        self.assertEqual(st, 200)
        st, _ = env.sim("POST", "/sim/seccheck", {"word": "拖欠工资", "suggest": "review"})
        self.assertEqual(st, 200)
        openid = uid()
        token = env.login(openid)

        r = self.assertOk(env.call("POST", "/testing/moderate", {"text": "今天的红烧肉很好吃"}, token=token))
        self.assertEqual(r["status"], "visible")
        self.assertEqual(env.q("SELECT suggest, status, openid FROM moderation WHERE id = ?", r["id"]),
                         [("pass", "visible", openid)])
        call = env.calls("msg_sec_check")[-1]
        self.assertEqual(call.get("openid"), openid)

        held = self.assertOk(env.call("POST", "/testing/moderate", {"text": "三车间拖欠工资两个月"}, token=token))
        self.assertEqual(held["status"], "held")

        r = env.call("POST", "/testing/moderate", {"text": "宿舍里有人藏炸药"}, token=token)
        self.assertError(r, 422, "content_risky")
        self.assertEqual(env.q1("SELECT status FROM moderation WHERE text LIKE '%炸药%'"), "refused")

        items = self.assertOk(env.call("GET", "/api/v1/admin/moderation", token=key))["items"]
        self.assertEqual([i["id"] for i in items], [held["id"]])
        self.assertEqual(items[0]["suggest"], "review")
        r = self.assertOk(env.call("POST", "/api/v1/admin/moderation/%d/release" % held["id"], token=key))
        self.assertEqual(r["status"], "released")
        self.assertEqual(env.q1("SELECT status FROM moderation WHERE id = ?", held["id"]), "released")
        self.assertTrue(env.q1("SELECT decided_by FROM moderation WHERE id = ?", held["id"]).startswith("apikey:"))
        self.assertError(env.call("POST", "/api/v1/admin/moderation/%d/release" % held["id"], token=key),
                         409, "moderation_not_held")
        self.assertError(env.call("POST", "/api/v1/admin/moderation/abc/reject", token=key), 404, "not_found")
        self.assertError(env.call("GET", "/api/v1/admin/moderation", token=token), 403, "forbidden")

    def test_wechat_down_holds_the_text(self):
        env = self.fresh()
        token = env.login()
        env.fault(api="msg_sec_check", errcode=-1, count=5)
        r = self.assertOk(env.call("POST", "/testing/moderate", {"text": "澡堂热水不够"}, token=token))
        self.assertEqual(r["status"], "held")
        self.assertEqual(env.q1("SELECT suggest FROM moderation WHERE id = ?", r["id"]), "unchecked")
        held = self.assertOk(env.call("POST", "/testing/moderate", {"text": "x"}, token=token))
        key = env.hr_key()
        self.assertOk(env.call("POST", "/api/v1/admin/moderation/%d/reject" % held["id"], token=key))
        self.assertEqual(env.q1("SELECT status FROM moderation WHERE id = ?", held["id"]), "rejected")


if __name__ == "__main__":
    unittest.main()
