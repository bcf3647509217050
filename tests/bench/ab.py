#!/usr/bin/env python3
"""tests/bench/ab.py: compare builds or settings of gongyoud on the clock-in
stage of scripts/bench, alternating them run by run.

This machine's throughput drifts by a third over minutes, so two variants
measured one after the other can differ by more than any change between
them. Here the variants take turns (A B A B ...), each run on a fresh copy
of one seeded database (20 000 logged-in workers and a month of history,
seeded once and kept in --template), and the medians are compared, with
each thread's CPU time per request, which drifts less.

    python3 tests/bench/ab.py --rounds 5 \\
        old=/tmp/old-build new=build/bench \\
        'sync=build/bench:{"writer":{"sync_thread":true}}'

A variant is NAME=BUILD_DIR, optionally followed by :CONFIG_JSON merged
into gongyoud's configuration; --env NAME:K=V sets an environment
variable for that variant's gongyoud. Traffic goes to 127.0.0.1 only; each run is
bounded by --seconds.

A build whose source tree has migrations the template lacks runs on a copy
of the template migrated once by that build (kept as data-vN next to it);
--data NAME:DIR gives a variant a data directory of its own. --timeline
prints, every half second of each run, punches a second, the writer's
batch size and each thread's CPU per punch.
"""
import argparse
import json
import os
import shutil
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

APPID, SECRET = "wxbench000000001", "benchsecret"


def config(work, sim_port, extra):
    c = {"listen": "127.0.0.1:0", "data_dir": os.path.join(work, "data"), "log_level": "warn",
         "testing": {"clock": True},
         "wechat": {"appid": APPID, "secret": SECRET, "api_base": "http://127.0.0.1:%d" % sim_port},
         "db": {"synchronous": "FULL"},
         "attendance": {"repeat_window_s": 0, "tick_s": 30}}
    for k, v in (extra or {}).items():
        c.setdefault(k, {}).update(v)
    path = os.path.join(work, "gongyoud.json")
    with open(path, "w") as f:
        json.dump(c, f)
    return path


def ensure_template(template, build, employees, seed):
    if os.path.exists(os.path.join(template, "done")):
        if not os.path.exists(os.path.join(template, "build")):   # seeded before it was recorded
            with open(os.path.join(template, "build"), "w") as f:
                f.write(build)
        return
    shutil.rmtree(template, ignore_errors=True)
    os.makedirs(os.path.join(template, "data"))
    cfg = config(template, 1, None)
    subprocess.run([os.path.join(build, "server", "gongyoud"), "-c", cfg, "migrate"],
                         check=True, capture_output=True)
    bench.log("seeding %d workers into %s" % (employees, template))
    bench.seed(os.path.join(template, "data", "gongyou.db"), employees, seed, os.path.join(template, "tokens.txt"))
    os.sync()
    with open(os.path.join(template, "build"), "w") as f:
        f.write(build)
    open(os.path.join(template, "done"), "w").close()


def schema_version(build):
    """The newest migration the build at BUILD embeds (its source tree's)."""
    with open(os.path.join(build, "CMakeCache.txt")) as f:
        src = [line.split("=", 1)[1].strip() for line in f if line.startswith("CMAKE_HOME_DIRECTORY:")][0]
    return max(int(n.split("_")[0]) for n in os.listdir(os.path.join(src, "schema")) if n.endswith(".sql"))


def template_build(template):
    with open(os.path.join(template, "build")) as f:
        return f.read().strip()


def variant_data(template, variant):
    """The seeded database as VARIANT's build migrates it: a copy of the
    template's, kept next to it, when the build brings migrations the
    template lacks (so no run spends its first seconds migrating)."""
    base = os.path.join(template, "data")
    gy = os.path.join(variant["build"], "server", "gongyoud")
    want, have = schema_version(variant["build"]), schema_version(template_build(template))
    if want == have:
        return base
    mine = os.path.join(template, "data-v%d" % want)
    if not os.path.exists(os.path.join(mine, "done")):
        shutil.rmtree(mine, ignore_errors=True)
        shutil.copytree(base, mine)
        work = os.path.join(template, "migrate")
        os.makedirs(work, exist_ok=True)
        cfg = config(work, 1, None)
        with open(cfg) as f:
            c = json.load(f)
        c["data_dir"] = mine
        with open(cfg, "w") as f:
            json.dump(c, f)
        bench.log("migrating a copy of the template to schema %d for %s" % (want, variant["name"]))
        subprocess.run([gy, "-c", cfg, "migrate"], check=True, capture_output=True)
        open(os.path.join(mine, "done"), "w").close()
    return mine


def timeline(port, pid, stop):
    """Every half second until STOP is set: punches a second, the writer's
    mean batch and each thread's CPU microseconds per punch, from /metrics
    and /proc. Shows what a median hides: when the batches change size and
    what each thread then costs."""
    hz = os.sysconf("SC_CLK_TCK")

    def snap():
        st, raw = bench.http_call(port, "GET", "/metrics")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        get = lambda name: int(re.search(r"^%s (\d+)" % name, text, re.M).group(1))
        return time.time(), get("gongyou_writer_commits_total"), get("gongyou_writer_units_total"), \
            bench.thread_cpu(pid)

    t0 = prev = snap()
    while not stop.wait(0.5):
        cur = snap()
        units, commits = cur[2] - prev[2], cur[1] - prev[1]
        if units:
            cpu = " ".join("%s %.0f" % (k, (v - prev[3].get(k, 0)) * 1e6 / hz / units)
                           for k, v in sorted(cur[3].items()) if v > prev[3].get(k, 0))
            print("    %5.1f s %6.0f/s  batch %5.1f  CPU us/punch %s" % (
                cur[0] - t0[0], units / (cur[0] - prev[0]), units / max(commits, 1), cpu), flush=True)
        prev = cur


def run(variant, template, seconds, show_timeline=False):
    work = os.path.join(template, "run")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    shutil.copytree(variant["data"], os.path.join(work, "data"), ignore=shutil.ignore_patterns("done"))
    os.sync()   # the kernel writes the copy back now, not during the run
    build = variant["build"]
    procs = []
    try:
        sim = bench.Proc([os.path.join(build, "wechat", "sim", "wxsim"), "--listen", "127.0.0.1:0",
                          "--appid", APPID, "--secret", SECRET], os.path.join(work, "wxsim.log"))
        procs.append(sim)
        cfg = config(work, sim.port, variant["config"])
        gy = bench.Proc([os.path.join(build, "server", "gongyoud"), "-c", cfg], os.path.join(work, "gongyoud.log"),
                        env=dict(os.environ, **variant["env"]))
        procs.append(gy)
        db_path = os.path.join(work, "data", "gongyou.db")
        bench.set_clock(gy.port, bench.DAY_CLOCKIN, db_path)
        script = os.path.join(work, "clockin.lua")
        here = os.path.dirname(os.path.abspath(__file__))
        with open(script, "w") as f:
            for name in ("clockin.lua", "report.lua"):
                with open(os.path.join(here, name)) as s:
                    f.write(s.read() + "\n")
        env = dict(os.environ, GY_TOKENS=os.path.join(template, "tokens.txt"), GY_WRK_THREADS="2")
        stop = threading.Event()
        sampler = threading.Thread(target=timeline, args=(gy.port, gy.p.pid, stop), daemon=True)
        if show_timeline:
            sampler.start()
        try:
            return bench.cpu_per_request(gy.p.pid, lambda: bench.wrk(gy.port, seconds, script, env))
        finally:
            stop.set()
            if show_timeline:
                sampler.join()
    finally:
        for p in reversed(procs):
            p.stop()


def parse_variant(text):
    name, _, rest = text.partition("=")
    build, _, cfg = rest.partition(":")
    if not name or not build:
        raise SystemExit("want NAME=BUILD_DIR[:CONFIG_JSON], got %r" % text)
    return {"name": name, "build": os.path.abspath(build), "config": json.loads(cfg) if cfg else None, "env": {}}


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("variants", nargs="+", help="NAME=BUILD_DIR[:CONFIG_JSON]")
    ap.add_argument("--env", action="append", default=[], metavar="NAME:K=V",
                    help="an environment variable for variant NAME's gongyoud (repeatable)")
    ap.add_argument("--data", action="append", default=[], metavar="NAME:DIR",
                    help="variant NAME starts from a copy of the data directory DIR instead of the template's")
    ap.add_argument("--timeline", action="store_true",
                    help="print punches a second, batch size and CPU per punch every half second of each run")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--employees", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=20261123)
    ap.add_argument("--template", default="/tmp/gy-ab-template",
                    help="the seeded database, kept between invocations")
    args = ap.parse_args()
    variants = [parse_variant(v) for v in args.variants]
    for e in args.env:
        name, _, kv = e.partition(":")
        k, _, v = kv.partition("=")
        [x for x in variants if x["name"] == name][0]["env"][k] = v
    ensure_template(args.template, variants[0]["build"], args.employees, args.seed)
    for v in variants:
        v["data"] = variant_data(args.template, v)
    for d in args.data:
        name, _, path = d.partition(":")
        [x for x in variants if x["name"] == name][0]["data"] = os.path.abspath(path)
    runs = {v["name"]: [] for v in variants}
    for i in range(args.rounds):
        for v in variants:
            r = run(v, args.template, args.seconds, args.timeline)
            runs[v["name"]].append(r)
            print("%-10s round %d: %6.0f req/s  p99 %5.1f ms  CPU us/req %s" % (
                v["name"], i + 1, r["rps"], r["p99_us"] / 1000,
                " ".join("%s %.1f" % kv for kv in sorted(r["cpu_us_per_request"].items()))), flush=True)
    print()
    for name, rs in runs.items():
        threads = sorted({t for r in rs for t in r["cpu_us_per_request"]})
        print("%-10s median %6.0f req/s  p99 %5.1f ms  CPU us/req %s" % (
            name, median([r["rps"] for r in rs]), median([r["p99_us"] for r in rs]) / 1000,
            " ".join("%s %.1f" % (t, median([r["cpu_us_per_request"].get(t, 0) for r in rs])) for t in threads)))


if __name__ == "__main__":
    main()
