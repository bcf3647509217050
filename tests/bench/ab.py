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
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

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
        return
    shutil.rmtree(template, ignore_errors=True)
    os.makedirs(os.path.join(template, "data"))
    cfg = config(template, 1, None)
    subprocess.run([os.path.join(build, "server", "gongyoud"), "-c", cfg, "migrate"],
                         check=True, capture_output=True)
    bench.log("seeding %d workers into %s" % (employees, template))
    bench.seed(os.path.join(template, "data", "gongyou.db"), employees, seed, os.path.join(template, "tokens.txt"))
    os.sync()
    open(os.path.join(template, "done"), "w").close()


def run(variant, template, seconds):
    work = os.path.join(template, "run")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    shutil.copytree(os.path.join(template, "data"), os.path.join(work, "data"))
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
        return bench.cpu_per_request(gy.p.pid, lambda: bench.wrk(gy.port, seconds, script, env))
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
    runs = {v["name"]: [] for v in variants}
    for i in range(args.rounds):
        for v in variants:
            r = run(v, args.template, args.seconds)
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
