"""Login: code2Session through wxsim, session tokens, replay, expiry, WeChat failures."""
import re
import unittest

from harness import E2ETestCase, Threaded, sha256_hex, uid, wait_until

ROSTER = (
    "employee_no,name,department,phone,site,roles,supervisor_no\n"
    "L100,赵敏,装配车间,13800001100,一厂,worker|supervisor,\n"
    "L101,钱多,装配车间,13800001101,一厂,worker,L100\n"
)


class LoginHappyPath(E2ETestCase):

    def test_login_bind_me(self):
        env = self.env
        env.roster_ok(ROSTER)
        openid = uid()
        code = env.code(openid, unionid=uid("u"))
        r = env.call("POST", "/api/v1/login", {"code": code})
        body = self.assertOk(r)
        self.assertEqual(set(body), {"token", "expires_at", "bound", "employee"}, body)
        self.assertFalse(body["bound"])
        self.assertIsNone(body["employee"])
        self.assertRegex(body["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")
        token = body["token"]
        self.assertRegex(token, r"^[A-Za-z0-9_-]{43}$")

        # The database keeps only the token's SHA-256, never the token.
        rows = env.q("SELECT s.token_hash, u.openid FROM sessions s JOIN wx_users u ON u.id = s.user_id "
                     "WHERE u.openid = ?", openid)
        self.assertEqual(rows, [(sha256_hex(token), openid)])
        self.assertNotIn(token.encode(), env.db_files_bytes())
        self.assertNotIn(token, env.log_text())

        me = self.assertOk(env.call("GET", "/api/v1/me", token=token))
        self.assertEqual(me, {"bound": False, "employee": None, "roles": []})

        b = self.assertOk(env.bind(token, "L101", "钱多", "1101"))
        self.assertTrue(b["bound"])
        self.assertEqual(b["employee"]["employee_no"], "L101")

        me = self.assertOk(env.call("GET", "/api/v1/me", token=token))
        self.assertTrue(me["bound"])
        self.assertEqual(me["roles"], ["worker"])
        emp = me["employee"]
        self.assertEqual(emp["employee_no"], "L101")
        self.assertEqual(emp["name"], "钱多")
        self.assertEqual(emp["department"], "装配车间")
        self.assertEqual(emp["site"], "一厂")
        self.assertEqual(emp["roles"], ["worker"])
        self.assertEqual(emp["supervisor_no"], "L100")
        self.assertTrue(emp["phone_masked"].endswith("1101"), emp)
        self.assertNotIn("13800001101", str(me))
        self.assertIn("bound_at", emp)

        # A second login of the same WeChat user says bound at once.
        r2 = self.assertOk(env.login_response(openid))
        self.assertTrue(r2["bound"])
        self.assertEqual(r2["employee"]["employee_no"], "L101")
        self.assertNotEqual(r2["token"], token)
        self.assertEqual(env.count("wx_users", "openid = ?", openid), 1)

        # The session_key never leaves the server: not in any reply, not in the log.
        key = env.q1("SELECT session_key FROM wx_users WHERE openid = ?", openid)
        self.assertTrue(key)
        for text in env.responses:
            self.assertNotIn(key, text)
        self.assertNotIn(key, env.log_text())
        # Nor the app secret.
        self.assertNotIn(env.secret, env.log_text())

    def test_unionid_kept(self):
        env = self.env
        openid, unionid = uid(), uid("u")
        env.login(openid, unionid)
        self.assertEqual(env.q1("SELECT unionid FROM wx_users WHERE openid = ?", openid), unionid)
        env.login(openid)             # WeChat may leave unionid out: keep what we had
        self.assertEqual(env.q1("SELECT unionid FROM wx_users WHERE openid = ?", openid), unionid)
        self.assertEqual(env.count("wx_users", "openid = ?", openid), 1)
        self.assertEqual(env.count("sessions", "user_id = (SELECT id FROM wx_users WHERE openid = ?)", openid), 2)

    def test_code_is_sent_to_wechat_escaped(self):
        env = self.env
        code = "a+b/c=d&e%20f#g?h"
        self.assertError(env.call("POST", "/api/v1/login", {"code": code}), 401, "wx_code_invalid")
        self.assertEqual([c["js_code"] for c in env.calls(js_code=code)], [code])
        call = env.calls(js_code=code)[0]
        self.assertEqual(call["appid"], env.appid)
        self.assertTrue(call["secret_ok"])

    def test_many_concurrent_logins(self):
        env = self.env
        openids = [uid() for _ in range(20)]
        codes = [env.code(o) for o in openids]
        threads = [Threaded(env.call, "POST", "/api/v1/login", {"code": c}) for c in codes]
        results = [t.result() for t in threads]
        for r in results:
            self.assertOk(r)
        tokens = {r.json["token"] for r in results}
        self.assertEqual(len(tokens), 20)
        hashes = {h for (h,) in env.q("SELECT token_hash FROM sessions")}
        self.assertTrue({sha256_hex(t) for t in tokens} <= hashes)

    def test_logout_deletes_session(self):
        env = self.env
        token = env.login()
        self.assertEqual(env.count("sessions", "token_hash = ?", sha256_hex(token)), 1)
        r = env.call("POST", "/api/v1/logout", token=token)
        self.assertEqual(self.assertOk(r), {"ok": True})
        self.assertEqual(env.count("sessions", "token_hash = ?", sha256_hex(token)), 0)
        self.assertError(env.call("GET", "/api/v1/me", token=token), 401, "token_invalid")


class SynchronousNormal(E2ETestCase):
    # With db.synchronous NORMAL the writer's WAL is written the ordinary
    # way (walbuf.c gathers frames only when every commit syncs): what is
    # answered is readable by the daemon's other connections and by others.
    CONFIG = {"db": {"synchronous": "NORMAL"}}

    def test_login_bind_me(self):
        env = self.env
        env.roster_ok(ROSTER)
        openid = uid()
        token = env.login(openid)
        self.assertEqual(env.q1("SELECT count(*) FROM sessions s JOIN wx_users u ON u.id = s.user_id "
                                "WHERE u.openid = ?", openid), 1)
        self.assertFalse(self.assertOk(env.call("GET", "/api/v1/me", token=token))["bound"])
        self.assertOk(env.bind(token, "L101", "钱多", "1101"))
        me = self.assertOk(env.call("GET", "/api/v1/me", token=token))
        self.assertTrue(me["bound"])
        self.assertEqual(me["employee"]["employee_no"], "L101")
        self.assertEqual(env.q1("SELECT employee_no FROM employees WHERE wx_user_id = "
                                "(SELECT id FROM wx_users WHERE openid = ?)", openid), "L101")


class LoginCodes(E2ETestCase):
    # Room for a slow (but successful) WeChat answer while a second request waits.
    CONFIG = {"wechat": {"timeout_ms": 5000}}

    def assertNothingWritten(self, openid):
        env = self.env
        self.assertEqual(env.count("wx_users", "openid = ?", openid), 0)
        self.assertEqual(env.q1("SELECT count(*) FROM sessions s JOIN wx_users u ON u.id = s.user_id "
                                "WHERE u.openid = ?", openid), 0)

    def test_code_used_by_another_exchange(self):
        env = self.env
        openid = uid()
        code = env.code(openid)
        env.exchange_directly(code)          # someone else used it first
        users, sessions = env.count("wx_users"), env.count("sessions")
        r = env.call("POST", "/api/v1/login", {"code": code})
        self.assertError(r, 401, "wx_code_invalid")
        self.assertIsNone(r.headers.get("Retry-After"))
        self.assertNothingWritten(openid)
        self.assertEqual((env.count("wx_users"), env.count("sessions")), (users, sessions))
        # WeChat said 40163 and was asked only once more (no retry of a hard error).
        calls = env.calls(js_code=code)
        self.assertEqual([c["errcode"] for c in calls], [0, 40163])

    def test_unknown_code(self):
        env = self.env
        users, sessions = env.count("wx_users"), env.count("sessions")
        r = env.call("POST", "/api/v1/login", {"code": "nosuchcode" + uid()})
        self.assertError(r, 401, "wx_code_invalid")
        self.assertEqual((env.count("wx_users"), env.count("sessions")), (users, sessions))

    def test_code_with_bad_characters(self):
        r = self.env.call("POST", "/api/v1/login", {"code": "has space"})
        err = self.assertError(r, 400, "invalid_field")
        self.assertEqual(err["field"], "code")

    def test_retry_within_window_gets_same_token(self):
        env = self.env
        openid = uid()
        code = env.code(openid)
        r1 = self.assertOk(env.call("POST", "/api/v1/login", {"code": code}))
        r2 = self.assertOk(env.call("POST", "/api/v1/login", {"code": code}))
        r3 = self.assertOk(env.call("POST", "/api/v1/login", {"code": code}))
        self.assertEqual(r1["token"], r2["token"])
        self.assertEqual(r1["token"], r3["token"])
        self.assertEqual(len(env.calls(js_code=code)), 1)
        self.assertEqual(env.q1("SELECT count(*) FROM sessions s JOIN wx_users u ON u.id = s.user_id "
                                "WHERE u.openid = ?", openid), 1)
        self.assertOk(env.call("GET", "/api/v1/me", token=r2["token"]))

    def test_concurrent_same_code_one_upstream_call(self):
        env = self.env
        openid = uid()
        code = env.code(openid)
        env.fault(api="jscode2session", errcode=0, count=1, delay_ms=1500)
        first = Threaded(env.call, "POST", "/api/v1/login", {"code": code})
        # Wait until WeChat holds the first exchange, then send the second.
        wait_until(lambda: [c for c in env.calls(js_code=code) if c["pending"]],
                   what="the first exchange to reach wxsim")
        second = Threaded(env.call, "POST", "/api/v1/login", {"code": code})
        r1, r2 = first.result(), second.result()
        self.assertOk(r1)
        self.assertOk(r2)
        self.assertEqual(r1.json["token"], r2.json["token"])
        self.assertEqual(len(env.calls(js_code=code)), 1)
        self.assertEqual(env.q1("SELECT count(*) FROM sessions s JOIN wx_users u ON u.id = s.user_id "
                                "WHERE u.openid = ?", openid), 1)


class LoginReplayWindow(E2ETestCase):
    # A replay window of 0 s: a resent code goes to WeChat again.
    CONFIG = {"session": {"login_replay_s": 0}}

    def test_resent_code_after_window_is_invalid(self):
        env = self.env
        openid = uid()
        code = env.code(openid)
        self.assertOk(env.call("POST", "/api/v1/login", {"code": code}))
        sessions = env.count("sessions")
        r = env.call("POST", "/api/v1/login", {"code": code})
        self.assertError(r, 401, "wx_code_invalid")
        self.assertEqual(env.count("sessions"), sessions)
        self.assertEqual([c["errcode"] for c in env.calls(js_code=code)], [0, 40163])


class TokenExpiry(E2ETestCase):

    def test_expired_after_seven_days(self):
        env = self.env
        token = env.login()
        h = sha256_hex(token)
        created, expires = env.q("SELECT created_at, expires_at FROM sessions WHERE token_hash = ?", h)[0]
        self.assertEqual(expires - created, 7 * 86400)
        env.clock(advance_s=7 * 86400 + 10)
        self.assertError(env.call("GET", "/api/v1/me", token=token), 401, "token_expired")
        # Still known (so the client hears "expired", not "invalid").
        self.assertEqual(env.count("sessions", "token_hash = ?", h), 1)
        # A fresh login works on the moved clock.
        self.assertOk(env.call("GET", "/api/v1/me", token=env.login()))

    def test_sliding_expiry(self):
        env = self.env
        token = env.login()
        h = sha256_hex(token)
        before = env.q("SELECT expires_at, touched_at FROM sessions WHERE token_hash = ?", h)[0]
        now = env.clock(advance_s=3600)
        self.assertOk(env.call("GET", "/api/v1/me", token=token))
        after = wait_until(
            lambda: [row for row in env.q("SELECT expires_at, touched_at FROM sessions WHERE token_hash = ?", h)
                     if row != before],
            what="sessions.expires_at to move")[0]
        self.assertGreaterEqual(after[0], before[0] + 3600)
        self.assertGreaterEqual(after[0], now + 7 * 86400)
        self.assertGreaterEqual(after[1], now)
        # Within the TTL of the *new* expiry the token still works after the old one passed.
        env.clock(advance_s=7 * 86400 - 60)
        self.assertOk(env.call("GET", "/api/v1/me", token=token))

    def test_touch_written_at_most_once_per_interval(self):
        env = self.env
        token = env.login()
        h = sha256_hex(token)
        before = env.q("SELECT expires_at, touched_at FROM sessions WHERE token_hash = ?", h)[0]
        self.assertOk(env.call("GET", "/api/v1/me", token=token))
        self.assertOk(env.call("GET", "/api/v1/me", token=token))
        # A /healthz round trip orders us after any write the /me calls queued.
        wait_until(lambda: env.call("GET", "/healthz").json["writer_queue"] == 0, what="writer idle")
        self.assertEqual(env.q("SELECT expires_at, touched_at FROM sessions WHERE token_hash = ?", h)[0], before)


class WeChatFailures(E2ETestCase):

    def setUp(self):
        self.env.sim_reset()

    def tearDown(self):
        self.env.sim_reset()

    def login_expect(self, status, code, **fault):
        env = self.env
        openid = uid()
        js = env.code(openid)
        if fault:
            env.fault(**fault)
        r = env.call("POST", "/api/v1/login", {"code": js})
        err = self.assertError(r, status, code)
        self.assertEqual(env.count("wx_users", "openid = ?", openid), 0)
        return r, err, js

    def test_busy_exhausts_retries(self):
        r, _, js = self.login_expect(503, "wechat_unavailable", errcode=-1, count=5)
        self.assertRegex(r.headers.get("Retry-After") or "", r"^\d+$")
        self.assertGreater(int(r.headers["Retry-After"]), 0)
        calls = self.env.calls(js_code=js)
        self.assertEqual(len(calls), 2)            # one try + max_retries 1
        self.assertTrue(all(c["faulted"] and c["errcode"] == -1 for c in calls), calls)

    def test_busy_once_is_retried(self):
        env = self.env
        openid = uid()
        js = env.code(openid)
        env.fault(errcode=-1, count=1)
        body = self.assertOk(env.call("POST", "/api/v1/login", {"code": js}))
        self.assertTrue(body["token"])
        calls = env.calls(js_code=js)
        self.assertEqual([(c["faulted"], c["errcode"]) for c in calls], [(True, -1), (False, 0)])
        self.assertEqual(env.count("wx_users", "openid = ?", openid), 1)

    def test_slow_wechat_times_out(self):
        r, _, _ = self.login_expect(503, "wechat_unavailable", errcode=0, count=2, delay_ms=3000)
        self.assertTrue(r.headers.get("Retry-After"))

    def test_dropped_connection(self):
        # count covers our retry and libcurl's own silent re-send on a reused connection
        r, _, _ = self.login_expect(503, "wechat_unavailable", drop=True, count=5)
        self.assertTrue(r.headers.get("Retry-After"))

    def test_http_500(self):
        self.login_expect(503, "wechat_unavailable", http_status=500, count=2)

    def test_rate_limited(self):
        r, _, js = self.login_expect(429, "wechat_rate_limited", errcode=45011, count=1)
        self.assertRegex(r.headers.get("Retry-After") or "", r"^\d+$")
        self.assertEqual(len(self.env.calls(js_code=js)), 1)

    def test_blocked(self):
        _, _, js = self.login_expect(403, "wx_login_blocked", errcode=40226, count=1)
        self.assertEqual(len(self.env.calls(js_code=js)), 1)

    def test_other_errcode_is_wechat_error(self):
        self.login_expect(502, "wechat_error", errcode=40013, count=1)

    def test_failed_code_is_not_replayed(self):
        """A failure is not cached: the same code, resent after WeChat recovers, logs in."""
        env = self.env
        openid = uid()
        js = env.code(openid)
        env.fault(errcode=-1, count=2)
        self.assertError(env.call("POST", "/api/v1/login", {"code": js}), 503, "wechat_unavailable")
        self.assertOk(env.call("POST", "/api/v1/login", {"code": js}))
        self.assertEqual(env.count("wx_users", "openid = ?", openid), 1)

    def test_metrics_count_wechat_calls(self):
        env = self.env
        env.login()
        text = env.call("GET", "/metrics").text
        m = re.search(r'^gongyou_wechat_calls_total\{api="jscode2session",errcode="0"\} (\d+)$', text, re.M)
        self.assertTrue(m, text)
        self.assertGreaterEqual(int(m.group(1)), 1)


if __name__ == "__main__":
    unittest.main()
