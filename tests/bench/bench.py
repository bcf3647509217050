#!/usr/bin/env python3
"""scripts/bench: gongyoud's shift change measured against the cheapest
evhttp server on the same machine in the same run (issue 6).

Stages (all traffic to 127.0.0.1, every loop bounded in count and time):
  1 baseline    bench_baseline + wrk, 64 connections, best of three runs
  2 clock-in    POST /api/v1/clockins with N distinct workers, 64 connections, best
                of three runs, taking turns with the baseline's (each on a fresh
                copy of the seeded database)
  3 shift change every worker punches once; all answered, all in the database
  4 mixed       clock-ins while logins wait 300 ms on wxsim and monthly reports run
                over a month of history (>= 1 000 000 punches)
  5 memory      gongyoud's peak RSS, and its RSS with 10 000 idle keep-alive connections
The data (workers, logged-in sessions, a month of history) comes from a
seeded generator written straight into a migrated database. Figures are
printed as a table with their ratio to the baseline, and written as JSON.
--sync-thread (writer.sync_thread) and --sync-delay-ms N (every fsync of
gongyoud N ms slower, through LD_PRELOAD) compare ways of syncing on a
slower disk.
"""
import argparse
import datetime
import hashlib
import http.client
import json
import os
import random
import re
import resource
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CONNS = 64
TZ = datetime.timezone(datetime.timedelta(hours=8))
HISTORY_MONTH = (2026, 10)           # the month of seeded history the report reads
DAY_CLOCKIN = datetime.datetime(2026, 11, 24, 7, 50, tzinfo=TZ)
DAY_SHIFT_CHANGE = datetime.datetime(2026, 11, 25, 7, 45, tzinfo=TZ)
DAY_MIXED = datetime.datetime(2026, 11, 26, 7, 50, tzinfo=TZ)
FENCE = (31.2304, 121.4737)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def local_day(d):
    return (d - datetime.date(1970, 1, 1)).days


class Proc:
    """A server started with 'listening on HOST:PORT' on stdout."""

    def __init__(self, argv, log_path, env=None):
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, env=env)
        deadline = time.time() + 30
        line = b""
        while time.time() < deadline:
            line = self.p.stdout.readline()
            m = re.search(rb"listening on ([0-9.]+):(\d+)", line)
            if m:
                self.port = int(m.group(2))
                break
            if self.p.poll() is not None:
                raise SystemExit("%s exited before listening; see %s" % (argv[0], log_path))
        else:
            raise SystemExit("%s did not start in 30 s" % argv[0])
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for _ in self.p.stdout:
            pass

    def status(self, key):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])   # kB
        return 0

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def wrk(port, seconds, script, env=None):
    argv = ["wrk", "-t2", "-c%d" % CONNS, "-d%ds" % seconds, "--latency", "-s", script,
            "http://127.0.0.1:%d/" % port]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 60)
    m = re.search(r"WRKJSON (\{.*\})", out.stdout)
    if not m:
        raise SystemExit("wrk gave no summary:\n" + out.stdout + out.stderr)
    j = json.loads(m.group(1))
    j["rps"] = j["requests"] / (j["duration_us"] / 1e6)
    j["errors"] = sum(j[k] for k in j if k.startswith("errors_"))
    return j


def http_call(port, method, path, body=None, token=None, timeout=30):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = "Bearer " + token
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    raw = r.read()
    conn.close()
    return r.status, raw


# ---- the data ----

def seed(db_path, n, seed_value, tokens_path):
    """Workers, their WeChat users and sessions, a site, a shift, patterns and
    a month of history, written straight into the migrated database."""
    rnd = random.Random(seed_value)
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    now = int(DAY_CLOCKIN.timestamp())
    depts = ["装配%d" % i for i in range(10)]
    tokens = []
    with db:
        db.execute("INSERT INTO sites VALUES ('F1', '一厂', ?, '[]', 'refuse', ?)",
                   (json.dumps([{"lat": FENCE[0], "lng": FENCE[1], "radius_m": 500}]), now))
        db.execute("INSERT INTO shift_versions (id, code, name, start_min, end_min, break_min, "
                   "open_before_min, close_after_min, grace_min, late_max_min, serious_max_min, "
                   "early_grace_min, half_day_min, absent_below_min, created_at) "
                   "VALUES (1, 'D', '白班', 480, 1020, 60, 60, 240, 5, 30, 120, 0, 0, 0, ?)", (now,))
        db.execute("INSERT INTO shifts VALUES ('D', 1)")
        anchor = local_day(datetime.date(2026, 10, 5))
        for d in depts:
            db.execute("INSERT INTO patterns VALUES (?, ?, ?, ?)", (d, anchor, json.dumps([["D"] * 7]), now))
        users, sessions, emps = [], [], []
        for i in range(1, n + 1):
            tok = secrets.token_urlsafe(32)
            tokens.append(tok)
            users.append((i, "obench%07d" % i, "k", now, now))
            sessions.append((hashlib.sha256(tok.encode()).hexdigest(), i, now, now + 30 * 86400, now - 3600))
            emps.append((i, "E%06d" % i, "工人%d" % i, depts[i % len(depts)], "138%08d" % i, "F1",
                         "worker", i, now, now, now))
        db.executemany("INSERT INTO wx_users (id, openid, session_key, created_at, last_login_at) "
                       "VALUES (?, ?, ?, ?, ?)", users)
        db.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?)", sessions)
        db.executemany("INSERT INTO employees (id, employee_no, name, department, phone, site, roles, "
                       "wx_user_id, bound_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", emps)
    # A month of history: every worker, every day, an IN and an OUT.
    y, m = HISTORY_MONTH
    first = datetime.date(y, m, 1)
    days = [first + datetime.timedelta(days=k) for k in range(31) if (first + datetime.timedelta(days=k)).month == m]
    npunch = 0
    with db:
        for day in days:
            dn = local_day(day)
            start = int(datetime.datetime(day.year, day.month, day.day, 8, 0, tzinfo=TZ).timestamp())
            drows, prows = [], []
            for i in range(1, n + 1):
                late = rnd.random() < 0.08
                early = rnd.random() < 0.03
                t_in = start - rnd.randint(60, 1800) if not late else start + rnd.randint(360, 3000)
                t_out = start + 9 * 3600 + rnd.randint(0, 1800) if not early else start + 8 * 3600
                late_min = max(0, -(-(t_in - start) // 60))
                early_min = max(0, -(-(start + 9 * 3600 - t_out) // 60))
                status = ("late_and_early" if late and early else "late" if late else
                          "early_leave" if early else "normal")
                tier = 0 if late_min <= 5 else 1 if late_min <= 30 else 2
                worked = (min(t_out, start + 9 * 3600) - max(t_in, start)) // 60 - 60
                drows.append((i, dn, 1, start, start + 9 * 3600, start - 3600, start + 13 * 3600, status,
                              t_in, t_out, late_min, early_min, worked, tier, 2, 1, 1, 1, now))
                prows.append((i, "h%d-%d-i" % (dn, i), t_in, t_in, "online", dn, 1, "in", late_min))
                prows.append((i, "h%d-%d-o" % (dn, i), t_out, t_out, "online", dn, 1, "out", early_min))
            db.executemany("INSERT INTO att_days (employee_id, att_date, shift_version_id, start_at, end_at, "
                           "open_at, close_at, status, first_in, last_out, late_min, early_min, worked_min, "
                           "tier, punches, final, digest_done, reminded, updated_at) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", drows)
            db.executemany("INSERT INTO punches (employee_id, request_id, at, received_at, source, att_date, "
                           "shift_version_id, dir, verdict_min, location) "
                           "VALUES (?,?,?,?,?,?,?,?,?,'fence')", prows)
            db.execute("INSERT INTO att_plans VALUES (?, ?)", (dn, now))
            npunch += len(prows)
        # The days between the history and the bench were "planned" (empty):
        # the daemon fills days missed while it was down, not these.
        d = days[-1] + datetime.timedelta(days=1)
        while d < DAY_CLOCKIN.date() - datetime.timedelta(days=1):
            db.execute("INSERT INTO att_plans VALUES (?, ?)", (local_day(d), now))
            d += datetime.timedelta(days=1)
    db.close()
    with open(tokens_path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    return tokens, npunch


# ---- stages ----

def set_clock(port, when, db_path):
    st, raw = http_call(port, "POST", "/api/v1/test/clock", {"now": when.isoformat()})
    assert st == 200, raw
    # The timer plans the day's rows for everyone: wait for it, so the load
    # that follows measures punching, not planning.
    # Jumping the clock also leaves yesterday's rows to finalise (at 21:00
    # in real life): wait for both.
    want = [local_day(when.date()) + k for k in (-1, 0, 1)]
    db = sqlite3.connect(db_path, timeout=30)
    deadline = time.time() + 300
    while time.time() < deadline:
        have = {r[0] for r in db.execute("SELECT att_date FROM att_plans")}
        due = db.execute("SELECT count(*) FROM att_days WHERE final = 0 AND shift_version_id IS NOT NULL "
                         "AND close_at <= ?", (int(when.timestamp()),)).fetchone()[0]
        if all(w in have for w in want) and due == 0:
            break
        time.sleep(0.2)
    db.close()


def shift_change(port, tokens, seconds_cap):
    """Every worker punches once, CONNS at a time; latencies in ms."""
    lat, errors, lock = [], [], threading.Lock()
    idx = iter(range(len(tokens)))
    deadline = time.time() + seconds_cap

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.time() < deadline:
            with lock:
                i = next(idx, None)
            if i is None:
                break
            body = json.dumps({"lat": FENCE[0], "lng": FENCE[1], "accuracy": 15,
                               "request_id": "sc-%d" % i}).encode()
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/clockins", body=body,
                             headers={"Content-Type": "application/json", "Authorization": "Bearer " + tokens[i]})
                r = conn.getresponse()
                r.read()
                ok = r.status in (200, 201)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                ok = False
            mine.append((time.perf_counter() - t0) * 1000)
            if not ok:
                with lock:
                    errors.append(i)
        conn.close()
        with lock:
            lat.extend(mine)

    t0 = time.time()
    threads = [threading.Thread(target=worker) for _ in range(CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lat.sort()
    pct = lambda q: lat[min(len(lat) - 1, int(q / 100 * len(lat)))] if lat else 0
    return {"punches": len(lat), "errors": len(errors), "seconds": time.time() - t0,
            "p50_ms": pct(50), "p99_ms": pct(99), "p999_ms": pct(99.9), "max_ms": lat[-1] if lat else 0}


def logins_during(port, sim_port, stop, counts):
    """Logins against a wxsim that answers code2Session after 300 ms."""
    def one():
        while not stop.is_set():
            openid = "ologin%s" % secrets.token_hex(6)
            c = http.client.HTTPConnection("127.0.0.1", sim_port, timeout=10)
            c.request("POST", "/sim/code", body=json.dumps({"openid": openid}),
                      headers={"Content-Type": "application/json"})
            code = json.loads(c.getresponse().read())["code"]
            c.close()
            st, _ = http_call(port, "POST", "/api/v1/login", {"code": code}, timeout=10)
            counts["ok" if st == 200 else "failed"] += 1
    threads = [threading.Thread(target=one) for _ in range(16)]
    for t in threads:
        t.start()
    return threads


def reports_during(port, hr_key, stop, times):
    y, m = HISTORY_MONTH
    path = "/api/v1/reports/attendance?from=%04d-%02d-01&to=%04d-%02d-31&group_by=department" % (y, m, y, m)
    while not stop.is_set() and len(times) < 20:
        t0 = time.perf_counter()
        st, raw = http_call(port, "GET", path, token=hr_key, timeout=60)
        times.append((time.perf_counter() - t0, st, json.loads(raw)["total"]["scheduled"] if st == 200 else 0))


def thread_cpu(pid):
    """CPU time (clock ticks) of each thread of PID, by thread name."""
    out = {}
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
                name = f.read().strip()
        except OSError:
            continue
        name = "loop" if name == "gongyoud" else name.replace("gy-", "")
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


def children_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def cpu_per_request(pid, run):
    """Run RUN() (a wrk run) and add to its result the CPU microseconds each
    of PID's threads, and wrk itself, spent per request."""
    hz = os.sysconf("SC_CLK_TCK")
    t0, w0 = thread_cpu(pid), children_cpu_s()
    r = run()
    t1, w1 = thread_cpu(pid), children_cpu_s()
    n = max(r["requests"], 1)
    r["cpu_us_per_request"] = {k: round((v - t0.get(k, 0)) * 1e6 / hz / n, 1)
                               for k, v in sorted(t1.items()) if v - t0.get(k, 0) > 0}
    r["cpu_us_per_request"]["wrk"] = round((w1 - w0) * 1e6 / n, 1)
    return r


def idle_connections(port, count):
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port))
        socks.append(s)
    return socks


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True, help="build directory with gongyoud, wxsim, bench_baseline")
    ap.add_argument("--employees", type=int, default=20000)
    ap.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    ap.add_argument("--idle", type=int, default=10000, help="idle keep-alive connections for stage 5")
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--out", default=os.path.join(ROOT, "bench-results"))
    ap.add_argument("--sync-thread", action="store_true",
                    help="writer.sync_thread: commits synced on their own thread while the writer goes on")
    ap.add_argument("--sync-delay-ms", type=float, default=0,
                    help="make every fsync of gongyoud this much slower (a slower disk), through LD_PRELOAD")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.idle + 1024
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want,
                                                    hard))
    gongyoud = os.path.join(args.build, "server", "gongyoud")
    wxsim = os.path.join(args.build, "wechat", "sim", "wxsim")
    baseline = os.path.join(args.build, "tests", "bench", "bench_baseline")
    work = tempfile.mkdtemp(prefix="gy-bench-")
    results = {"machine": {"cores": os.cpu_count(), "python": sys.version.split()[0]},
               "sync_thread": args.sync_thread, "sync_delay_ms": args.sync_delay_ms,
               "employees": args.employees, "seconds": args.seconds, "connections": CONNS,
               "seed": args.seed, "started": datetime.datetime.now().isoformat(timespec="seconds")}
    report_script = os.path.join(HERE, "report.lua")
    clockin_script = os.path.join(work, "clockin-report.lua")
    with open(clockin_script, "w") as f:
        f.write(open(os.path.join(HERE, "clockin.lua")).read() + "\n" + open(report_script).read())
    procs = []
    try:
        # data
        log("    seeding %d workers and a month of history (seed %d)" % (args.employees, args.seed))
        sim = Proc([wxsim, "--listen", "127.0.0.1:0", "--appid", "wxbench000000001", "--secret", "benchsecret"],
                   os.path.join(work, "wxsim.log"))
        procs.append(sim)
        seeded, data = os.path.join(work, "seeded"), os.path.join(work, "data")
        cfg = {
            "listen": "127.0.0.1:0", "data_dir": seeded, "log_level": "warn",
            "testing": {"clock": True},
            "wechat": {"appid": "wxbench000000001", "secret": "benchsecret",
                       "api_base": "http://127.0.0.1:%d" % sim.port, "timeout_ms": 5000},
            "db": {"synchronous": "FULL"},
            "writer": {"sync_thread": args.sync_thread},
            "attendance": {"repeat_window_s": 0, "tick_s": 30},
            "http": {"timeout_s": 120},
        }
        seed_cfg = os.path.join(work, "seed.json")
        with open(seed_cfg, "w") as f:
            json.dump(cfg, f)
        cfg["data_dir"] = data
        cfg_path = os.path.join(work, "gongyoud.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        subprocess.run([gongyoud, "-c", seed_cfg, "migrate"], check=True, capture_output=True)
        tokens_path = os.path.join(work, "tokens.txt")
        t0 = time.time()
        tokens, history = seed(os.path.join(seeded, "gongyou.db"), args.employees, args.seed, tokens_path)
        results["history_punches"] = history
        hr_key = subprocess.run([gongyoud, "-c", seed_cfg, "apikey", "create", "--role", "hr", "--name", "bench"],
                                check=True, capture_output=True, text=True).stdout.strip()
        log("    %d punches of history in %.1f s" % (history, time.time() - t0))
        env = dict(os.environ, GY_TOKENS=tokens_path, GY_WRK_THREADS="2")
        gy_env = None
        if args.sync_delay_ms > 0:
            gy_env = dict(os.environ, LD_PRELOAD=os.path.join(args.build, "tests", "bench", "libgy_slowsync.so"),
                          GY_SYNC_DELAY_US=str(int(args.sync_delay_ms * 1000)))
        db_path = os.path.join(data, "gongyou.db")

        # 1 and 2, taking turns. This machine's speed wanders by a third
        # within seconds, for the baseline as much as for gongyoud: three
        # baseline runs and three clock-in runs alternate (B C B C B C), and
        # each figure is the best of its three (the others, and the medians,
        # are kept in the JSON). Every clock-in run starts a fresh gongyoud
        # on a fresh copy of the seeded database, so no run finds the
        # punches of the one before it; the last one goes on to stages 3-5.
        log("1/5 baseline and 2/5 clock-in, taking turns: 3 x %d s each, %d connections, %d workers" %
            (args.seconds, CONNS, args.employees))
        b = Proc([baseline, "127.0.0.1:0"], os.path.join(work, "baseline.log"))
        procs.append(b)
        base_runs, clock_runs, gy = [], [], None
        for i in range(3):
            base_runs.append(wrk(b.port, args.seconds, report_script))
            if gy:
                gy.stop()
                procs.remove(gy)
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(seeded, data)
            os.sync()   # the copy goes to disk now, not during the run
            gy = Proc([gongyoud, "-c", cfg_path], os.path.join(work, "gongyoud-%d.log" % i), env=gy_env)
            procs.append(gy)
            set_clock(gy.port, DAY_CLOCKIN, db_path)
            before = sqlite3.connect(db_path).execute("SELECT count(*) FROM punches").fetchone()[0]
            c = cpu_per_request(gy.p.pid, lambda: wrk(gy.port, args.seconds, clockin_script, env))
            time.sleep(0.5)
            after = sqlite3.connect(db_path).execute("SELECT count(*) FROM punches").fetchone()[0]
            c["rows_written"] = after - before
            clock_runs.append(c)
            log("    round %d: baseline %.0f req/s, clock-in %.0f req/s" % (i + 1, base_runs[-1]["rps"], c["rps"]))
        results["baseline"] = max(base_runs, key=lambda r: r["rps"])
        results["baseline"]["runs_rps"] = [r["rps"] for r in base_runs]
        results["baseline"]["median_rps"] = sorted(r["rps"] for r in base_runs)[1]
        c = max(clock_runs, key=lambda r: r["rps"])
        c["runs_rps"] = [r["rps"] for r in clock_runs]
        c["median_rps"] = sorted(r["rps"] for r in clock_runs)[1]
        c["median_ratio"] = c["median_rps"] / results["baseline"]["median_rps"]
        c["ratio"] = c["rps"] / results["baseline"]["rps"]
        # Every run's answers are rows, not just the best one's.
        c["all_runs_rows"] = all(r["errors"] == 0 and r["rows_written"] >= r["requests"] for r in clock_runs)
        results["clockin"] = c

        # 1b. For the record, not a target: the baseline under clock-in's
        # own wrk script (it sends a token and a body), so the load
        # generator's share of the two cores is the same as in stage 2.
        log("1b baseline under the clock-in script, %d s" % args.seconds)
        results["baseline_same_client"] = cpu_per_request(
            b.p.pid, lambda: wrk(b.port, args.seconds, clockin_script, env))
        results["baseline_same_client"]["ratio"] = results["baseline_same_client"]["rps"] / results["baseline"]["rps"]
        b.stop()
        procs.remove(b)

        # 3. shift change: everyone once
        log("3/5 shift change: %d workers punch once" % args.employees)
        set_clock(gy.port, DAY_SHIFT_CHANGE, db_path)
        s = shift_change(gy.port, tokens, seconds_cap=300)
        dn = local_day(DAY_SHIFT_CHANGE.date())
        q = sqlite3.connect(db_path)
        s["rows"] = q.execute("SELECT count(*) FROM punches WHERE att_date = ? AND request_id LIKE 'sc-%'",
                              (dn,)).fetchone()[0]
        s["days_with_in"] = q.execute("SELECT count(*) FROM att_days WHERE att_date = ? AND first_in IS NOT NULL",
                                      (dn,)).fetchone()[0]
        q.close()
        s["missing"] = args.employees - s["rows"]
        results["shift_change"] = s

        # 4. mixed: clock-ins + slow logins + monthly reports
        log("4/5 mixed: clock-ins while logins wait 300 ms on wxsim and monthly reports run")
        set_clock(gy.port, DAY_MIXED, db_path)
        c2 = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
        c2.request("POST", "/sim/faults", body=json.dumps({"api": "jscode2session", "errcode": 0,
                                                            "delay_ms": 300, "count": 100000}),
                   headers={"Content-Type": "application/json"})
        assert c2.getresponse().status == 200
        c2.close()
        stop = threading.Event()
        counts = {"ok": 0, "failed": 0}
        times = []
        lthreads = logins_during(gy.port, sim.port, stop, counts)
        rthread = threading.Thread(target=reports_during, args=(gy.port, hr_key, stop, times))
        rthread.start()
        mx = wrk(gy.port, args.seconds, clockin_script, env)
        stop.set()
        for t in lthreads + [rthread]:
            t.join(timeout=30)
        mx["ratio"] = mx["rps"] / results["baseline"]["rps"]
        mx["logins_ok"] = counts["ok"]
        mx["logins_failed"] = counts["failed"]
        mx["reports"] = len(times)
        mx["report_max_s"] = max((t for t, _, _ in times), default=0)
        mx["report_failed"] = sum(1 for _, st, _ in times if st != 200)
        mx["report_slots"] = times[0][2] if times else 0
        results["mixed"] = mx

        # 5. memory
        log("5/5 memory: peak RSS, then %d idle keep-alive connections" % args.idle)
        results["rss_peak_mib"] = gy.status("VmHWM") / 1024
        base_rss = gy.status("VmRSS") / 1024
        socks = idle_connections(gy.port, args.idle)
        time.sleep(2)
        st, _ = http_call(gy.port, "GET", "/healthz")
        # The WAL file keeps its largest size until the first write after
        # writes paused (then it is cut back to 64 MiB).
        wal = db_path + "-wal"
        results["idle"] = {"connections": len(socks), "rss_before_mib": base_rss,
                           "rss_mib": gy.status("VmRSS") / 1024, "healthz": st,
                           "wal_mib": (os.path.getsize(wal) if os.path.exists(wal) else 0) / 1048576}
        for s_ in socks:
            s_.close()
    finally:
        for p in reversed(procs):
            p.stop()

    print_table(results)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bench-%s.json" % time.strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as f:
        json.dump(results, f, indent=2, ensure_ascii=False)
    print("results: %s" % path)
    if not os.environ.get("GY_BENCH_KEEP"):
        shutil.rmtree(work, ignore_errors=True)
    return 0 if results["verdict"]["all_met"] else 1


def print_table(r):
    b, c, s, m, idle = r["baseline"], r["clockin"], r["shift_change"], r["mixed"], r["idle"]
    b2 = r["baseline_same_client"]
    durable = "FULL" + (", sync thread" if r["sync_thread"] else "") + \
        (", sync +%g ms" % r["sync_delay_ms"] if r["sync_delay_ms"] else "")
    ms = lambda us: us / 1000.0
    checks = [
        ("clock-in >= 0.5 x baseline", c["ratio"] >= 0.5),
        ("clock-in p99 <= 10 ms", ms(c["p99_us"]) <= 10),
        ("clock-in no errors, every answer a row", c["errors"] == 0 and c["rows_written"] >= c["requests"]
         and c.get("all_runs_rows", True)),
        ("shift change: no errors, no missing rows", s["errors"] == 0 and s["missing"] == 0
         and s["days_with_in"] == r["employees"]),
        ("mixed >= 0.4 x baseline", m["ratio"] >= 0.4),
        ("monthly report < 2 s", m["reports"] > 0 and m["report_max_s"] < 2 and m["report_failed"] == 0),
        ("RSS < 64 MiB with idle connections", idle["rss_mib"] < 64 and idle["healthz"] == 200),
    ]
    r["verdict"] = {"checks": {k: v for k, v in checks}, "all_met": all(v for _, v in checks)}
    rows = [
        ("stage", "req/s", "x baseline", "p50 ms", "p99 ms", "p99.9 ms", "errors", "note"),
        ("1 baseline (evhttp, best of 3)", "%.0f" % b["rps"], "1.00", "%.2f" % ms(b["p50_us"]),
         "%.2f" % ms(b["p99_us"]), "%.2f" % ms(b["p999_us"]), str(b["errors"]), ""),
        ("1b baseline, clock-in's wrk script", "%.0f" % b2["rps"], "%.2f" % b2["ratio"], "%.2f" % ms(b2["p50_us"]),
         "%.2f" % ms(b2["p99_us"]), "%.2f" % ms(b2["p999_us"]), str(b2["errors"]), "for the record"),
        ("2 clock-in (durable, %s, best of 3)" % durable, "%.0f" % c["rps"], "%.2f" % c["ratio"], "%.2f" % ms(c["p50_us"]),
         "%.2f" % ms(c["p99_us"]), "%.2f" % ms(c["p999_us"]), str(c["errors"]),
         "%d answered, %d rows" % (c["requests"], c["rows_written"])),
        ("3 shift change (each once)", "%.0f" % (s["punches"] / s["seconds"]), "-", "%.2f" % s["p50_ms"],
         "%.2f" % s["p99_ms"], "%.2f" % s["p999_ms"], str(s["errors"]),
         "%d punches, %d rows, %d days with IN, %d missing" % (s["punches"], s["rows"], s["days_with_in"],
                                                                s["missing"])),
        ("4 mixed (slow logins + reports)", "%.0f" % m["rps"], "%.2f" % m["ratio"], "%.2f" % ms(m["p50_us"]),
         "%.2f" % ms(m["p99_us"]), "%.2f" % ms(m["p999_us"]), str(m["errors"]),
         "%d logins, %d reports over %d slots, slowest %.2f s" % (m["logins_ok"], m["reports"],
                                                                  m["report_slots"], m["report_max_s"])),
        ("5 memory", "-", "-", "-", "-", "-", "-",
         "peak RSS %.1f MiB; %.1f MiB with %d idle connections; WAL file %.0f MiB at the end"
         % (r["rss_peak_mib"], idle["rss_mib"], idle["connections"], idle["wal_mib"])),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    print()
    print("history: %d punches in the month the report reads; %d workers" % (r["history_punches"], r["employees"]))
    if "runs_rps" in c:
        print("runs, taking turns: baseline %s, clock-in %s req/s; medians %.0f and %.0f: %.2f x" % (
            " ".join("%.0f" % x for x in b["runs_rps"]), " ".join("%.0f" % x for x in c["runs_rps"]),
            b["median_rps"], c["median_rps"], c["median_ratio"]))
    print("CPU per request, us: clock-in (stage 2): %s; baseline under the same script (1b): %s"
          % (", ".join("%s %.1f" % kv for kv in c["cpu_us_per_request"].items()),
             ", ".join("%s %.1f" % kv for kv in b2["cpu_us_per_request"].items())))
    for name, ok in checks:
        print("%-45s %s" % (name, "met" if ok else "MISSED"))


if __name__ == "__main__":
    sys.exit(main())
