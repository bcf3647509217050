"""The HTTP spine: routing, body checks, auth errors, request ids, health and metrics."""
import http.client
import json
import os
import re
import shutil
import sqlite3
import socket
import tempfile
import threading
import unittest

from harness import SCHEMA_VERSION, SYNCGATE, E2ETestCase, uid, wait_until

LOGIN = "/api/v1/login"


class Body(E2ETestCase):

    def assertNoLoginWritten(self, users_before):
        self.assertEqual(self.env.count("wx_users"), users_before)
        self.assertEqual(self.env.calls(), [])

    def setUp(self):
        self.env.sim_reset()
        self.users = self.env.count("wx_users")

    def test_body_too_large(self):
        env = self.env
        big = json.dumps({"code": "a" * 5000})
        err = self.assertError(env.call("POST", LOGIN, raw=big, ctype="application/json"), 413, "body_too_large")
        self.assertEqual(err.get("limit_bytes"), 4096)
        # 4097 bytes is too many; exactly 4096 is checked as usual.
        pad = '{"code":"x","pad":"%s"}'
        at_limit = pad % ("p" * (4096 - len(pad % "")))
        self.assertEqual(len(at_limit), 4096)
        self.assertError(env.call("POST", LOGIN, raw=at_limit + " ", ctype="application/json"), 413,
                         "body_too_large")
        self.assertError(env.call("POST", LOGIN, raw=at_limit, ctype="application/json"), 401, "wx_code_invalid")
        self.assertEqual(env.count("wx_users"), self.users)

    def test_wrong_content_type(self):
        env = self.env
        body = json.dumps({"code": env.code(uid())})
        self.assertError(env.call("POST", LOGIN, raw=body, ctype="text/plain"), 415, "unsupported_media_type")
        self.assertError(env.call("POST", LOGIN, raw=body, ctype=None), 415, "unsupported_media_type")
        self.assertError(env.call("POST", LOGIN, raw=body, ctype="application/jsonx"), 415,
                         "unsupported_media_type")
        self.assertError(env.call("POST", LOGIN, raw="a,b\n", ctype="text/csv"), 415, "unsupported_media_type")
        self.assertNoLoginWritten(self.users)
        # parameters and case are fine
        self.assertOk(env.call("POST", LOGIN, raw=body, ctype="Application/JSON; charset=utf-8"))

    def test_invalid_json(self):
        env = self.env
        for raw in ('{"code":', '["code"]', '{"code":"abc"} trailing', '{"code":"abc"}{}', '"code"', "",
                    "null", '{"code":"abc"}\x00', "{'code':'abc'}"):
            with self.subTest(raw=raw):
                self.assertError(env.call("POST", LOGIN, raw=raw, ctype="application/json"), 400, "invalid_json")
        self.assertNoLoginWritten(self.users)
        # whitespace around an object is fine
        self.assertError(env.call("POST", LOGIN, raw=' {"code":"zzz"}\n', ctype="application/json"),
                         401, "wx_code_invalid")

    def test_invalid_field(self):
        env = self.env
        cases = [({"code": 123}, "not_a_string"), ({"code": None}, "missing"), ({}, "missing"),
                 ({"Code": "abc"}, "missing"), ({"code": ["a"]}, "not_a_string"), ({"code": True}, "not_a_string"),
                 ({"code": ""}, "empty"), ({"code": "a" * 129}, "too_long"), ({"code": "a\nb"}, "bad_characters")]
        for body, problem in cases:
            with self.subTest(body=body):
                err = self.assertError(env.call("POST", LOGIN, body), 400, "invalid_field")
                self.assertEqual(err["field"], "code")
                self.assertEqual(err.get("problem"), problem)
        self.assertNoLoginWritten(self.users)


class Routing(E2ETestCase):

    def test_unknown_route(self):
        env = self.env
        for path in ("/nope", "/api/v1/nope", "/api/v1/login/extra", "/api/v2/login", "/",
                     "/api/v1/admin/employees//binding", "/api/v1/admin/employees/E1/binding/x"):
            with self.subTest(path=path):
                self.assertError(env.call("GET", path), 404, "not_found")

    def test_wrong_method(self):
        env = self.env
        for method, path, allow in (("GET", LOGIN, "POST"), ("PUT", "/api/v1/me", "GET"),
                                    ("POST", "/healthz", "GET"),
                                    ("GET", "/api/v1/admin/employees/E1/binding", "DELETE"),
                                    ("DELETE", "/api/v1/admin/roster", "POST")):
            with self.subTest(method=method, path=path):
                r = env.call(method, path)
                self.assertError(r, 405, "method_not_allowed")
                self.assertEqual(r.headers.get("Allow"), allow)

    def test_no_token(self):
        env = self.env
        self.assertError(env.call("GET", "/api/v1/me"), 401, "unauthorized")
        self.assertError(env.call("GET", "/api/v1/me", headers={"Authorization": "Basic dXNlcjpwYXNz"}),
                         401, "unauthorized")
        self.assertError(env.call("POST", "/api/v1/logout"), 401, "unauthorized")
        self.assertError(env.call("POST", "/api/v1/bind", {"employee_no": "E1", "name": "x", "phone_last4": "1234"}),
                         401, "unauthorized")

    def test_garbage_token(self):
        env = self.env
        for tok in ("garbage", "gyk_garbage", "a" * 43, "x" * 300):
            with self.subTest(tok=tok[:20]):
                self.assertError(env.call("GET", "/api/v1/me", token=tok), 401, "token_invalid")

    def test_request_id(self):
        env = self.env
        r = env.call("GET", "/healthz", headers={"X-Request-Id": "client-42.a:b_c"})
        self.assertEqual(r.headers.get("X-Request-Id"), "client-42.a:b_c")
        r = env.call("GET", "/nope", headers={"X-Request-Id": "err-id-1"})
        self.assertEqual(r.headers.get("X-Request-Id"), "err-id-1")
        gen = [env.call("GET", "/healthz").headers.get("X-Request-Id") for _ in range(3)]
        for g in gen:
            self.assertRegex(g or "", r"^[A-Za-z0-9_-]{8,}$")
        self.assertEqual(len(set(gen)), 3)
        # an unsafe or overlong one is replaced, not echoed
        for bad in ("has space", "a" * 65, "semi;colon", "<script>"):
            with self.subTest(bad=bad):
                got = env.call("GET", "/healthz", headers={"X-Request-Id": bad}).headers.get("X-Request-Id")
                self.assertTrue(got)
                self.assertNotEqual(got, bad)
        # The log line of a request carries its id.
        rid = "trace-" + uid("")
        env.call("GET", "/api/v1/me", headers={"X-Request-Id": rid})
        lines = [l for l in env.log_lines() if l.get("req_id") == rid]
        self.assertEqual(len(lines), 1, lines)
        self.assertEqual(lines[0].get("status"), 401)
        self.assertEqual(lines[0].get("path"), "/api/v1/me")

    def test_healthz(self):
        r = self.env.call("GET", "/healthz")
        body = self.assertOk(r)
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["schema_version"], SCHEMA_VERSION)
        self.assertIn("application/json", r.headers.get("Content-Type"))

    def test_metrics(self):
        env = self.env
        env.login()
        env.call("GET", "/nope")
        r = env.call("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertIn("text/plain", r.headers.get("Content-Type"))
        text = r.text
        self.assertRegex(text, r'(?m)^gongyou_http_requests_total\{route="/api/v1/login",status="200"\} [1-9]\d*$')
        self.assertRegex(text, r'(?m)^gongyou_http_requests_total\{route="[^"]+",status="404"\} [1-9]\d*$')
        self.assertRegex(text, r'(?m)^gongyou_http_request_duration_seconds_bucket\{route="/api/v1/login",'
                               r'le="[^"]+"\} \d+$')
        self.assertRegex(text, r'(?m)^gongyou_http_request_duration_seconds_bucket\{route="/api/v1/login",'
                               r'le="\+Inf"\} [1-9]\d*$')
        self.assertRegex(text, r"(?m)^gongyou_writer_queue_depth \d+$")
        self.assertRegex(text, r'(?m)^gongyou_wechat_calls_total\{api="jscode2session",errcode="0"\} [1-9]\d*$')
        # every sample line is "name{labels} value"
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{[^}]*\})? [0-9.e+-]+$')

    def test_keepalive_connection(self):
        """Several requests on one connection each get their own answer."""
        env = self.env
        conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=30)
        try:
            for path, status in (("/healthz", 200), ("/nope", 404), ("/healthz", 200)):
                conn.request("GET", path)
                resp = conn.getresponse()
                resp.read()
                self.assertEqual(resp.status, status)
        finally:
            conn.close()

    def test_malformed_http(self):
        """Garbage on the socket does not hurt the daemon."""
        env = self.env
        s = socket.create_connection(("127.0.0.1", env.port), timeout=10)
        try:
            s.sendall(b"\x16\x03\x01garbage that is not http\r\n\r\n")
            try:
                s.recv(4096)
            except OSError:
                pass
        finally:
            s.close()
        self.assertOk(env.call("GET", "/healthz"))


class ServerBodyCap(E2ETestCase):
    # evhttp's own cap is the larger of http.max_body and http.max_csv_body (here 65536).
    CONFIG = {"http": {"max_csv_body": 1024}}

    def test_body_beyond_every_limit(self):
        """Past the server-wide cap libevent 2.1 itself answers 413 (its own
        body, no hook to replace it: docs/operations.md says so and sets
        nginx's client_max_body_size to match). Nothing is written and the
        daemon carries on."""
        env = self.env
        r = env.call("POST", LOGIN, raw='{"code":"%s"}' % ("a" * 70000), ctype="application/json")
        self.assertEqual(r.status, 413)
        r = env.upload("x" * 70000)
        self.assertEqual(r.status, 413)
        self.assertEqual(env.count("employees"), 0)
        self.assertEqual(env.count("sessions"), 0)
        self.assertOk(env.call("GET", "/healthz"))

    def test_body_within_cap_over_route_limit_is_json(self):
        """Below the server-wide cap, a route's own limit answers our JSON 413."""
        env = self.env
        r = env.call("POST", LOGIN, raw='{"code":"%s"}' % ("a" * 5000), ctype="application/json")
        self.assertError(r, 413, "body_too_large")
        r = env.upload("x" * 2000)
        self.assertError(r, 413, "body_too_large")
        self.assertEqual(env.count("employees"), 0)

    def test_chunked_bodies(self):
        env = self.env
        code = env.code(uid())
        for chunks, status in (([json.dumps({"code": code}).encode()], 200),
                               ([b'{"code":"', b"a" * 5000, b'"}'], 413)):
            conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=30)
            try:
                conn.request("POST", LOGIN, body=iter(chunks), headers={"Content-Type": "application/json"},
                             encode_chunked=True)
                resp = conn.getresponse()
                body = json.loads(resp.read())
                self.assertEqual(resp.status, status, body)
                if status == 413:
                    self.assertEqual(body["error"]["code"], "body_too_large")
            finally:
                conn.close()


class TestClock(E2ETestCase):

    def test_api_v1_test_clock_takes_iso_time(self):
        env = self.env
        r = self.assertOk(env.call("POST", "/api/v1/test/clock", {"now": "2026-11-23T08:03:00+08:00"}))
        self.assertEqual(r["now"], 1795392180)
        self.assertEqual(r["iso"], "2026-11-23T08:03:00+08:00")
        err = self.assertError(env.call("POST", "/api/v1/test/clock", {"now": "2026-11-23 08:03"}),
                               400, "invalid_field")
        self.assertEqual(err["field"], "now")


class TestingRouteOff(E2ETestCase):
    CONFIG = {"testing": {"clock": False}}

    def test_testing_clock_absent(self):
        env = self.env
        self.assertError(env.call("POST", "/testing/clock", {"advance_s": 10}), 404, "not_found")
        self.assertError(env.call("POST", "/api/v1/test/clock", {"now": "2026-11-23T08:03:00+08:00"}),
                         404, "not_found")


class Checkpoints(E2ETestCase):
    # The checkpointer copies the WAL back into the database as it grows
    # (every db.checkpoint_kib). It once never did: its connection had not
    # read the database, so SQLite did not know it was in WAL mode, and
    # every checkpoint "succeeded" having copied nothing.
    CONFIG = {"db": {"checkpoint_kib": 64}}

    def metric(self, name):
        m = re.search(r"(?m)^%s (\d+)$" % name, self.env.call("GET", "/metrics").text)
        return int(m.group(1)) if m else -1

    def test_wal_is_copied_back(self):
        env = self.env
        before = self.metric("gongyou_wal_checkpoints_total")
        self.assertGreaterEqual(before, 0)
        csv = "employee_no,name,department,phone,site,roles,supervisor_no\n" + "".join(
            "C%04d,工人%d,装配车间,1380000%04d,一厂,worker,\n" % (i, i, i) for i in range(600))
        self.assertOk(env.upload(csv))   # over HTTP: the daemon's writer commits it
        self.assertGreater(self.metric("gongyou_wal_frames"), 16)   # 64 KiB of WAL and more
        wait_until(lambda: self.metric("gongyou_wal_checkpoints_total") > before, what="a checkpoint")
        # The database file alone (no WAL beside it) comes to hold the roster.
        copy = os.path.join(env.dir, "copy.db")

        def file_has_roster():
            shutil.copyfile(env.db_path, copy)
            c = sqlite3.connect(copy)
            try:
                return c.execute("SELECT count(*) FROM employees WHERE employee_no LIKE 'C%'").fetchone()[0] == 600
            except sqlite3.DatabaseError:
                return False   # copied while a checkpoint was writing it
            finally:
                c.close()
        wait_until(file_has_roster, what="the roster in the database file")


def metric(env, name):
    m = re.search(r"(?m)^%s (\d+)$" % name, env.call("GET", "/metrics").text)
    return int(m.group(1)) if m else -1


class WalReserve(E2ETestCase):
    # db.wal_reserve_mib: the WAL file is written out with zeros to its
    # reserve before the first write, so commits go over blocks it has.
    START_SHARED = False

    def test_wal_written_out_and_writes_survive_a_restart(self):
        env = self.fresh(config={"db": {"wal_reserve_mib": 3}, "log_level": "info"})
        wal = env.db_path + "-wal"
        # The line comes once the zeros are synced.
        wait_until(lambda: "written out to 3 MiB" in env.log_text(), what="the reserve's log line")
        self.assertGreaterEqual(os.path.getsize(wal), 3 << 20)
        csv = "employee_no,name,department,phone,site,roles,supervisor_no\n" + "".join(
            "R%04d,工人%d,装配车间,1390000%04d,一厂,worker,\n" % (i, i, i) for i in range(300))
        self.assertOk(env.upload(csv))
        self.assertEqual(env.count("employees", "employee_no LIKE 'R%'"), 300)
        # Frames over the zeros: a restart recovers them, and the file keeps its reserve.
        env.stop()
        env.start()
        self.assertEqual(env.count("employees", "employee_no LIKE 'R%'"), 300)
        self.assertEqual(env.q1("PRAGMA integrity_check"), "ok")
        wait_until(lambda: os.path.getsize(wal) >= 3 << 20, what="the WAL written out again")

    def test_reserve_off(self):
        env = self.fresh(config={"db": {"wal_reserve_mib": 0}})
        self.assertOk(env.upload("employee_no,name,department,phone,site,roles,supervisor_no\n"
                                 "Z0001,张三,装配车间,13900000001,一厂,worker,\n"))
        self.assertEqual(env.count("employees", "employee_no = 'Z0001'"), 1)
        self.assertLess(os.path.getsize(env.db_path + "-wal"), 1 << 20)
        self.assertNotIn("wal reserve", env.log_text())


class Durability(E2ETestCase):
    # With writer.sync_thread the writer commits a batch and goes on with
    # the next; the syncer thread fdatasyncs the WAL, and only then is the
    # batch answered. syncgate.c (LD_PRELOAD) holds the syncer's fdatasync
    # while one file exists, and fails it while another does.
    START_SHARED = False

    def gated(self):
        gate_dir = tempfile.mkdtemp(prefix="gy-gate-")
        self.addCleanup(shutil.rmtree, gate_dir, True)
        gate, fail = os.path.join(gate_dir, "gate"), os.path.join(gate_dir, "fail")
        env = self.fresh(config={"writer": {"sync_thread": True}}, env={
            "LD_PRELOAD": SYNCGATE, "GY_SYNC_GATE": gate, "GY_SYNC_FAIL": fail,
            # the gate is loaded ahead of the sanitizer's runtime
            "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1:verify_asan_link_order=0"})
        self.addCleanup(lambda: os.path.exists(gate) and os.remove(gate))   # before env.close
        return env, gate, fail

    def test_reply_waits_for_the_wal_sync(self):
        env, gate, _ = self.gated()
        syncs = metric(env, "gongyou_wal_syncs_total")
        self.assertGreaterEqual(syncs, 0)
        openid = uid()
        code = env.code(openid)
        open(gate, "w").close()
        out = {}
        t = threading.Thread(target=lambda: out.update(r=env.login_response(code=code)))
        t.start()
        # Committed: the new user and the session can be read from the database...
        wait_until(lambda: env.count("wx_users", "openid = ?", openid) == 1, what="the login's commit")
        # ...but the login is not answered while the WAL's sync is held.
        t.join(0.5)
        self.assertTrue(t.is_alive(), "answered before its commit was synced")
        os.remove(gate)
        t.join(30)
        self.assertFalse(t.is_alive())
        token = self.assertOk(out["r"])["token"]
        self.assertGreater(metric(env, "gongyou_wal_syncs_total"), syncs)
        self.assertEqual(env.count("sessions", "user_id = (SELECT id FROM wx_users WHERE openid = ?)", openid), 1)
        self.assertOk(env.call("GET", "/api/v1/me", token=token))

    def test_failed_sync_stops_the_daemon(self):
        # The batch is visible before its sync; a failed sync cannot be
        # taken back, so the daemon stops at once and the next start's
        # recovery keeps what reached the disk. Nothing is answered 200.
        env, _, fail = self.gated()
        open(fail, "w").close()
        env.gy.stopped = True   # it is meant to die
        code = env.code(uid())
        try:
            r = env.login_response(code=code)
            self.assertNotEqual(r.status, 200, r)
        except (ConnectionError, http.client.HTTPException):
            pass   # the connection closed with the process: no reply
        rc = env.gy.p.wait(timeout=30)
        self.assertEqual(rc, -6, "expected SIGABRT")
        env.gy.terminate()
        self.assertTrue(any(l.get("level") == "error" and "syncer: cannot sync" in l.get("msg", "")
                            for l in env.log_lines()), env.log_text()[-2000:])
        os.remove(fail)
        env.start()
        self.assertEqual(env.q1("PRAGMA integrity_check"), "ok")
        token = env.login()
        self.assertOk(env.call("GET", "/api/v1/me", token=token))

    def test_default_syncs_inside_the_commit(self):
        # By default SQLite syncs within each COMMIT on the writer; no syncer.
        env = self.fresh()
        token = env.login()
        self.assertOk(env.call("GET", "/api/v1/me", token=token))
        self.assertEqual(metric(env, "gongyou_wal_syncs_total"), 0)
        self.assertEqual(env.count("sessions"), 1)

if __name__ == "__main__":
    unittest.main()
