#!/usr/bin/env python3
"""Keeps docs/ true to the code: every route in server/routes.c and every
error code in server/errors.c appears in docs/openapi.yaml, and every config
key in server/config.c appears in docs/config.md. Prints "N passed, M failed"."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def main():
    routes = read("server", "routes.c")
    errors = read("server", "errors.c")
    config = read("server", "config.c")
    openapi = read("docs", "openapi.yaml")
    config_md = read("docs", "config.md")
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("missing: " + what)

    # { "POST",   "/api/v1/login", ...
    for method, pattern in re.findall(r'\{\s*"(GET|POST|PUT|PATCH|DELETE)",\s*"(/[^"]*)"', routes):
        path = re.sub(r":(\w+)", r"{\1}", pattern)
        block = re.search(r"^  " + re.escape(path) + r":\n((?:    .*\n|\s*\n)*)", openapi, re.M)
        check(block is not None and re.search(r"^    " + method.lower() + r":", block.group(1), re.M),
              "openapi.yaml: %s %s" % (method, path))
    # { "not_found", 404, "..." },
    for code, status in re.findall(r'\{\s*"([a-z_]+)",\s*(\d{3}),', errors):
        check(code in openapi, "openapi.yaml: error code %s (%s)" % (code, status))
    # { "wechat.appid", C_STR, ...
    for key in re.findall(r'\{\s*"([a-z_.]+)",\s*C_[A-Z]+,', config):
        check("`%s`" % key in config_md, "config.md: key `%s`" % key)
    for env in re.findall(r'\{\s*"(GONGYOU_[A-Z_]+)",', config):
        check(env in config_md, "config.md: environment variable %s" % env)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
