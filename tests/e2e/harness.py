"""
harness.py - end-to-end harness for gongyoud and wxsim.

Each Env is one fresh temp dir with its own wxsim and gongyoud, both on
port 0; the ports are read from the "listening on HOST:PORT" line each
prints, with a deadline. Everything is standard library only, so the suite
runs wherever python3 does. Tests must never assume timing: every wait is a
poll with a deadline.

Binary paths come from $GONGYOUD and $WXSIM (ctest sets them).
"""
import copy
import hashlib
import http.client
import json
import os
import re
import selectors
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

GONGYOUD = os.environ.get("GONGYOUD", "/tmp/e2ebuild/server/gongyoud")
WXSIM = os.environ.get("WXSIM", "/tmp/e2ebuild/wechat/sim/wxsim")
# tests/e2e/syncgate.c, built beside them.
SYNCGATE = os.environ.get("GY_SYNCGATE", "/tmp/e2ebuild/tests/e2e/libgy_syncgate.so")

SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")
START_TIMEOUT_S = 30      # generous: ASan start-up on a loaded machine
STOP_TIMEOUT_S = 10
HTTP_TIMEOUT_S = 60

_LISTEN_RE = re.compile(rb"listening on (\S+):(\d+)\r?\n")


# The newest migration in schema/: what a fresh database ends up at.
SCHEMA_VERSION = max(int(f[:3]) for f in os.listdir(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                                  "..", "..", "schema"))
                     if f[:3].isdigit() and f.endswith(".sql"))


def uid(prefix="o"):
    """A unique, printable identifier (openids, names of things)."""
    return prefix + uuid.uuid4().hex[:20]


def sha256_hex(text):
    if isinstance(text, str):
        text = text.encode()
    return hashlib.sha256(text).hexdigest()


def child_env(extra=None):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    # Never let the caller's environment steer the daemon under test.
    for k in [k for k in env if k.startswith("GONGYOU_")]:
        env.pop(k, None)
    if extra:
        env.update(extra)
    return env


def sanitizer_hits(text):
    return [m for m in SANITIZER_MARKERS if m in text]


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Poll PRED until it returns a truthy value; return it, or raise."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(interval)


class Proc:
    """A child process whose stderr goes to a file and whose stdout we read."""

    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self._log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=self._log, env=env)
        self.stdout_buf = b""
        self.returncode = None
        self.stopped = False      # we asked it to stop (or saw it refuse to start)

    def wait_listening(self, timeout=START_TIMEOUT_S):
        """Read stdout until the 'listening on' line; return the port."""
        fd = self.p.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        try:
            while True:
                m = _LISTEN_RE.search(self.stdout_buf)
                if m:
                    return int(m.group(2))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s did not print 'listening on' within %d s; stderr:\n%s"
                                         % (self.name, timeout, self.stderr_text()))
                if not sel.select(left):
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.stopped = True
                    rc = self.p.wait(timeout=STOP_TIMEOUT_S)
                    self.returncode = rc
                    raise AssertionError("%s exited (%s) before listening; stderr:\n%s"
                                         % (self.name, rc, self.stderr_text()))
                self.stdout_buf += chunk
        finally:
            sel.close()

    def stderr_text(self):
        try:
            self._log.flush()
        except ValueError:
            pass
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def running(self):
        return self.p.poll() is None

    def terminate(self, timeout=STOP_TIMEOUT_S):
        """SIGTERM and wait; returns the exit code, or None if it hung (then killed)."""
        signalled, self.stopped = self.stopped, True
        if self.p.poll() is None:
            # Already told to stop (sigterm()): give it its time before a second signal,
            # which would mean "stop now" (or kill it once its handlers are gone).
            if not signalled:
                self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                self.returncode = None
                self._close()
                return None
        self.returncode = self.p.returncode
        self._close()
        return self.returncode

    def kill9(self, timeout=STOP_TIMEOUT_S):
        """SIGKILL, as a crash or the OOM killer would; waits for it."""
        self.stopped = True
        self.p.kill()
        self.returncode = self.p.wait(timeout=timeout)
        self._close()
        return self.returncode

    def _close(self):
        try:
            rest = self.p.stdout.read()
            if rest:
                self.stdout_buf += rest
        except (ValueError, OSError):
            pass
        for f in (self.p.stdout, self._log):
            try:
                f.close()
            except (ValueError, OSError):
                pass


class Response:
    """status, headers (case-insensitive), json (or None), text."""

    def __init__(self, status, headers, raw):
        self.status = status
        self.headers = headers
        self.raw = raw
        self.text = raw.decode("utf-8", "replace")
        self.json = None
        if "json" in (headers.get("Content-Type") or ""):
            try:
                self.json = json.loads(self.text)
            except ValueError:
                self.json = None

    def __iter__(self):   # status, headers, body = env.call(...)
        return iter((self.status, self.headers, self.json if self.json is not None else self.text))

    @property
    def code(self):
        try:
            return self.json["error"]["code"]
        except (TypeError, KeyError):
            return None

    @property
    def error(self):
        try:
            return self.json["error"]
        except (TypeError, KeyError):
            return None

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.text[:500])


_AUTO = object()


class Env:
    """One isolated gongyoud + wxsim pair in a fresh temp dir."""

    def __init__(self, config=None, env=None, start=True, sim=True, sim_secret=None):
        self.dir = tempfile.mkdtemp(prefix="gy-e2e-")
        self.data_dir = os.path.join(self.dir, "data")
        self.db_path = os.path.join(self.data_dir, "gongyou.db")
        self.config_path = os.path.join(self.dir, "gongyoud.json")
        self.appid = "wx" + uuid.uuid4().hex[:16]
        self.secret = uuid.uuid4().hex
        self.sim_secret = sim_secret or self.secret
        self.overrides = copy.deepcopy(config or {})
        self.extra_env = dict(env or {})
        self.sim_proc = None
        self.gy = None
        self.sim_port = None
        self.port = None
        self.responses = []        # every gongyoud response text, for secret checks
        self._hr_key = None
        self._dbs = []
        self._problems = []
        self._runs = 0
        self.closed = False
        try:
            if sim:
                self.start_sim()
            self.write_config()
            if start:
                self.start()
        except BaseException:
            try:
                self.close()
            except AssertionError:
                pass
            raise

    # ---- processes ----

    def start_sim(self):
        log = os.path.join(self.dir, "wxsim.stderr")
        self.sim_proc = Proc("wxsim", [WXSIM, "--listen", "127.0.0.1:0", "--appid", self.appid,
                                       "--secret", self.sim_secret], child_env(), log)
        self.sim_port = self.sim_proc.wait_listening()

    def config(self):
        cfg = {
            "listen": "127.0.0.1:0",
            "data_dir": self.data_dir,
            "testing": {"clock": True},
            # A small WAL reserve: every test writes it out at start.
            "db": {"wal_reserve_mib": 1},
            "wechat": {
                "appid": self.appid,
                "secret": self.secret,
                "api_base": "http://127.0.0.1:%d" % (self.sim_port or 9),
                "timeout_ms": 1000,
                "connect_timeout_ms": 500,
                "max_retries": 1,
                "retry_base_ms": 20,
            },
        }
        _merge(cfg, self.overrides)
        return cfg

    def write_config(self, cfg=None):
        with open(self.config_path, "w", encoding="utf-8") as f:
            json.dump(self.config() if cfg is None else cfg, f, ensure_ascii=False)

    def start(self):
        """Start gongyoud with the current config; waits for 'listening on'."""
        assert self.gy is None or not self.gy.running(), "gongyoud already running"
        if self.gy is not None:
            self._check_log(self.gy)
        self._runs += 1
        log = os.path.join(self.dir, "gongyoud.%d.stderr" % self._runs)
        self.gy = Proc("gongyoud", [GONGYOUD, "-c", self.config_path], child_env(self.extra_env), log)
        self.port = self.gy.wait_listening()
        return self.port

    def run_daemon_expect_exit(self, timeout=20):
        """Start gongyoud expecting it to refuse to start: returns (rc, stdout, stderr)."""
        p = subprocess.run([GONGYOUD, "-c", self.config_path], stdin=subprocess.DEVNULL,
                           capture_output=True, env=child_env(self.extra_env), timeout=timeout)
        out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
        self._note_sanitizers("gongyoud (refused start)", err)
        return p.returncode, out, err

    def stop(self):
        """SIGTERM gongyoud; assert it exits 0 within 10 s."""
        assert self.gy is not None
        rc = self.gy.terminate()
        if rc != 0:
            raise AssertionError("gongyoud exit code %r after SIGTERM (None = hung > %d s); stderr tail:\n%s"
                                 % (rc, STOP_TIMEOUT_S, self.gy.stderr_text()[-3000:]))
        return rc

    def sigterm(self):
        """Send SIGTERM to gongyoud without waiting (see wait_exit)."""
        self.gy.stopped = True
        self.gy.p.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout=STOP_TIMEOUT_S):
        """After sigterm(): assert gongyoud exits 0 within TIMEOUT (no second signal)."""
        try:
            rc = self.gy.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.gy.terminate(timeout=1)
            raise AssertionError("gongyoud still running %d s after SIGTERM; stderr tail:\n%s"
                                 % (timeout, self.gy.stderr_text()[-3000:]))
        self.gy.terminate()       # collects output, closes files
        if rc != 0:
            raise AssertionError("gongyoud exit code %r after SIGTERM; stderr tail:\n%s"
                                 % (rc, self.gy.stderr_text()[-3000:]))
        return rc

    def log_text(self):
        """All of gongyoud's stderr so far (every run)."""
        out = []
        for i in range(1, self._runs + 1):
            p = os.path.join(self.dir, "gongyoud.%d.stderr" % i)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
        return "".join(out)

    def log_lines(self):
        lines = []
        for line in self.log_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
        return lines

    def _note_sanitizers(self, who, text):
        hits = sanitizer_hits(text)
        if hits:
            self._problems.append("%s stderr contains %s:\n%s" % (who, ", ".join(hits), text[-6000:]))

    def _check_log(self, proc):
        self._note_sanitizers(proc.name, proc.stderr_text())

    def close(self):
        """Stop everything, then fail if a sanitizer complained anywhere."""
        if self.closed:
            return
        self.closed = True
        for c in self._dbs:
            try:
                c.close()
            except sqlite3.Error:
                pass
        errors = []
        for proc in (self.gy, self.sim_proc):
            if proc is None:
                continue
            was_running = proc.running()
            if not was_running and not proc.stopped:
                errors.append("%s died during the tests (exit code %r); stderr tail:\n%s"
                              % (proc.name, proc.p.returncode, proc.stderr_text()[-4000:]))
            rc = proc.terminate()
            if was_running and rc != 0:
                errors.append("%s exit code %r after SIGTERM at teardown (None = hung); stderr tail:\n%s"
                              % (proc.name, rc, proc.stderr_text()[-4000:]))
            self._check_log(proc)
        errors.extend(self._problems)
        # The logs that matter are in the error message; GY_E2E_KEEP=1 keeps the whole dir.
        if os.environ.get("GY_E2E_KEEP"):
            print("e2e: kept %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if errors:
            raise AssertionError("\n\n".join(errors))

    # ---- HTTP to gongyoud ----

    def call(self, method, path, body=None, token=None, headers=None, raw=None, ctype=_AUTO,
             port=None, timeout=HTTP_TIMEOUT_S):
        hdrs = dict(headers or {})
        data = None
        if raw is not None:
            data = raw.encode("utf-8") if isinstance(raw, str) else raw
            if ctype is _AUTO:
                ctype = None
        elif body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            if ctype is _AUTO:
                ctype = "application/json"
        if ctype not in (None, _AUTO):
            hdrs["Content-Type"] = ctype
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            raw_body = resp.read()
            r = Response(resp.status, resp.headers, raw_body)
        finally:
            conn.close()
        self.responses.append(str(r.headers) + "\n" + r.text)
        return r

    def clock(self, advance_s=None, now=None):
        body = {"advance_s": advance_s} if now is None else {"now": now}
        r = self.call("POST", "/testing/clock", body)
        assert r.status == 200, r
        return r.json["now"]

    # ---- wxsim ----

    def sim(self, method, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.sim_port, timeout=HTTP_TIMEOUT_S)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json"} if data else {})
            resp = conn.getresponse()
            text = resp.read().decode("utf-8", "replace")
        finally:
            conn.close()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    def code(self, openid, unionid=None):
        body = {"openid": openid}
        if unionid:
            body["unionid"] = unionid
        st, j = self.sim("POST", "/sim/code", body)
        assert st == 200, (st, j)
        return j["code"]

    def fault(self, **kw):
        kw.setdefault("api", "jscode2session")
        st, j = self.sim("POST", "/sim/faults", kw)
        assert st == 200, (st, j)

    def sim_reset(self):
        st, j = self.sim("POST", "/sim/reset", {})
        assert st == 200, (st, j)

    def calls(self, api="jscode2session", js_code=None):
        st, j = self.sim("GET", "/sim/calls")
        assert st == 200, (st, j)
        out = [c for c in j["calls"] if api is None or c["api"] == api]
        if js_code is not None:
            out = [c for c in out if c.get("js_code") == js_code]
        return out

    def exchange_directly(self, code):
        """Use a code up by exchanging it straight against wxsim (as another login would)."""
        q = urllib.parse.urlencode({"appid": self.appid, "secret": self.sim_secret,
                                    "js_code": code, "grant_type": "authorization_code"})
        st, j = self.sim("GET", "/sns/jscode2session?" + q)
        assert st == 200 and "openid" in j, (st, j)
        return j

    # ---- logins ----

    def login_response(self, openid=None, unionid=None, code=None):
        if code is None:
            code = self.code(openid or uid(), unionid)
        return self.call("POST", "/api/v1/login", {"code": code})

    def login(self, openid=None, unionid=None):
        r = self.login_response(openid, unionid)
        if r.status != 200:
            raise AssertionError("login failed: %r" % r)
        return r.json["token"]

    # ---- database ----

    def db(self):
        c = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(self.db_path), uri=True,
                            timeout=10)
        self._dbs.append(c)
        return c

    def q(self, sql, *args):
        c = self.db()
        try:
            return c.execute(sql, args).fetchall()
        finally:
            c.close()
            self._dbs.remove(c)

    def q1(self, sql, *args):
        rows = self.q(sql, *args)
        return rows[0][0] if rows else None

    def count(self, table, where="1", *args):
        return self.q1("SELECT count(*) FROM %s WHERE %s" % (table, where), *args)

    def employees(self):
        """The whole employees table, for before/after comparisons."""
        return self.q("SELECT * FROM employees ORDER BY employee_no")

    def db_files_bytes(self):
        out = b""
        for suffix in ("", "-wal", "-shm", "-journal"):
            p = self.db_path + suffix
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out += f.read()
        return out

    # ---- subcommands ----

    def gongyoud_cmd(self, args, env=None, timeout=60):
        """Run `gongyoud -c CONFIG ARGS...`; returns CompletedProcess with text output."""
        e = dict(self.extra_env)
        e.update(env or {})
        p = subprocess.run([GONGYOUD, "-c", self.config_path] + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, env=child_env(e), timeout=timeout)
        p.stdout = p.stdout.decode("utf-8", "replace")
        p.stderr = p.stderr.decode("utf-8", "replace")
        self._note_sanitizers("gongyoud %s" % " ".join(args), p.stderr)
        if sanitizer_hits(p.stderr):
            raise AssertionError("sanitizer report from gongyoud %s:\n%s" % (" ".join(args), p.stderr))
        return p

    def write_file(self, name, content):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    def roster(self, csv_text, deactivate_missing=False):
        """Import CSV_TEXT (str or bytes) with the CLI; returns CompletedProcess (.counts if rc 0)."""
        path = self.write_file("roster-%s.csv" % uuid.uuid4().hex[:8], csv_text)
        args = ["roster", "import", path] + (["--deactivate-missing"] if deactivate_missing else [])
        p = self.gongyoud_cmd(args)
        p.counts = json.loads(p.stdout) if p.returncode == 0 else None
        return p

    def roster_ok(self, csv_text, deactivate_missing=False):
        p = self.roster(csv_text, deactivate_missing)
        if p.returncode != 0:
            raise AssertionError("roster import failed (%d): %s" % (p.returncode, p.stderr))
        return p.counts

    def apikey(self, role, name=None):
        p = self.gongyoud_cmd(["apikey", "create", "--role", role, "--name", name or uid("key")])
        if p.returncode != 0:
            raise AssertionError("apikey create failed: %s" % p.stderr)
        return p.stdout.strip()

    def hr_key(self):
        if self._hr_key is None:
            self._hr_key = self.apikey("hr", "hr-e2e")
        return self._hr_key

    def upload(self, csv_text, key=None, query=""):
        return self.call("POST", "/api/v1/admin/roster" + query, raw=csv_text, ctype="text/csv",
                         token=key or self.hr_key())

    def bind(self, token, employee_no, name, last4):
        return self.call("POST", "/api/v1/bind",
                         {"employee_no": employee_no, "name": name, "phone_last4": last4}, token=token)


def _merge(dst, src):
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        elif v is _DELETE:
            dst.pop(k, None)
        else:
            dst[k] = v


_DELETE = object()
DELETE = _DELETE


class Threaded:
    """Run FN in a thread; .result() waits (bounded) for its return value."""

    def __init__(self, fn, *args, **kw):
        self._out = None
        self._exc = None
        self._t = threading.Thread(target=self._run, args=(fn, args, kw), daemon=True)
        self._t.start()

    def _run(self, fn, args, kw):
        try:
            self._out = fn(*args, **kw)
        except BaseException as e:   # re-raised in result()
            self._exc = e

    def result(self, timeout=HTTP_TIMEOUT_S + 10):
        self._t.join(timeout)
        if self._t.is_alive():
            raise AssertionError("background request did not finish within %d s" % timeout)
        if self._exc is not None:
            raise self._exc
        return self._out


class E2ETestCase(unittest.TestCase):
    """One shared Env per test class (cls.env); self.fresh() for an isolated one."""

    CONFIG = None        # overrides for the shared env
    START_SHARED = True

    @classmethod
    def setUpClass(cls):
        cls.env = Env(config=cls.CONFIG) if cls.START_SHARED else None

    @classmethod
    def tearDownClass(cls):
        if cls.env is not None:
            cls.env.close()

    def fresh(self, **kw):
        e = Env(**kw)
        self.addCleanup(e.close)
        return e

    # ---- assertions ----

    def assertError(self, r, status, code):
        """STATUS and error CODE, with the documented error body shape."""
        self.assertEqual(r.status, status, r)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(set(r.json), {"error"}, r)
        self.assertEqual(r.code, code, r)
        msg = r.error.get("message")
        self.assertIsInstance(msg, str, r)
        self.assertTrue(re.search(r"[\u4e00-\u9fff]", msg), "message is not Chinese: %r" % msg)
        self.assertTrue(r.headers.get("X-Request-Id"), "no X-Request-Id on %r" % r)
        return r.error

    def assertOk(self, r, status=200):
        self.assertEqual(r.status, status, r)
        self.assertTrue(r.headers.get("X-Request-Id"), "no X-Request-Id on %r" % r)
        return r.json
