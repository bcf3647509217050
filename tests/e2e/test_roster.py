"""Roster import: CLI and HTTP, all or nothing, every problem listed with row and column."""
import json
import unittest

from harness import E2ETestCase

HEADER = "employee_no,name,department,phone,site,roles,supervisor_no\n"

BASE = HEADER + (
    "S2001,王芳,装配车间,13900002001,一厂,worker|supervisor,\n"
    "E1001,张伟,装配车间,13800001234,一厂,worker,S2001\n"
    "E1002,李娜,装配车间,138-0000-5678,一厂,worker,S2001\n"
    "T3001,刘强,设备维修,+86 137 0000 3001,一厂,technician,S2001\n"
)


def counts(added=0, updated=0, deactivated=0, unchanged=0, rows=None):
    return {"added": added, "updated": updated, "deactivated": deactivated, "unchanged": unchanged,
            "rows": rows if rows is not None else added + updated + unchanged}


class RosterCli(E2ETestCase):
    """Each test gets its own database: imports change the whole table."""
    START_SHARED = False

    def test_good_import_then_one_change(self):
        env = self.fresh(start=False)
        p = env.roster(BASE)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), counts(added=4))
        rows = env.q("SELECT employee_no, name, department, phone, site, roles, supervisor_no, active, "
                     "wx_user_id FROM employees ORDER BY employee_no")
        self.assertEqual(rows, [
            ("E1001", "张伟", "装配车间", "13800001234", "一厂", "worker", "S2001", 1, None),
            ("E1002", "李娜", "装配车间", "13800005678", "一厂", "worker", "S2001", 1, None),
            ("S2001", "王芳", "装配车间", "13900002001", "一厂", "worker|supervisor", None, 1, None),
            ("T3001", "刘强", "设备维修", "+8613700003001", "一厂", "technician", "S2001", 1, None),
        ])
        self.assertEqual(env.q("SELECT source, rows, added, updated, deactivated, unchanged "
                               "FROM roster_imports"), [("cli", 4, 4, 0, 0, 0)])

        # The same file again changes nothing.
        self.assertEqual(env.roster_ok(BASE), counts(unchanged=4))
        # One changed department: updated 1, unchanged 3.
        changed = BASE.replace("E1002,李娜,装配车间", "E1002,李娜,质检部")
        self.assertEqual(env.roster_ok(changed), counts(updated=1, unchanged=3))
        self.assertEqual(env.q1("SELECT department FROM employees WHERE employee_no = 'E1002'"), "质检部")
        # Role order does not matter: stored canonically, so unchanged.
        reordered = changed.replace("worker|supervisor", "supervisor | worker")
        self.assertEqual(env.roster_ok(reordered), counts(unchanged=4))
        self.assertEqual(env.count("roster_imports"), 4)

    def test_bad_rows_change_nothing(self):
        env = self.fresh(start=False)
        env.roster_ok(BASE)
        before = env.employees()
        imports = env.count("roster_imports")
        bad = HEADER + (
            "E1001,张伟,装配车间,13800001234,一厂,worker,S2001\n"   # fine (would be unchanged)
            "N0001,,装配车间,13800000001,一厂,worker,\n"            # row 3: name empty
            "N0002,王五,装配车间,12ab,一厂,worker,\n"               # row 4: phone
            "N0003,赵六,装配车间,13800000003,一厂,boss,\n"          # row 5: roles
            "N0004,孙七,装配车间,13800000004,一厂,worker,X9999\n"   # row 6: unknown supervisor
        )
        p = env.roster(bad)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")
        for row, col in ((3, "name"), (4, "phone"), (5, "roles")):
            self.assertIn("row %d, %s:" % (row, col), p.stderr)
        self.assertEqual(env.employees(), before)
        self.assertEqual(env.count("roster_imports"), imports)
        # With the field problems fixed, the unknown supervisor is still refused.
        fixed = bad.replace("N0001,,", "N0001,钱一,").replace("12ab", "13800000002").replace("boss", "worker")
        p = env.roster(fixed)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("row 6, supervisor_no:", p.stderr)
        self.assertEqual(env.employees(), before)
        self.assertEqual(env.count("roster_imports"), imports)

    def test_deactivate_missing(self):
        env = self.fresh(start=False)
        env.roster_ok(BASE)
        without_t = "".join(l + "\n" for l in BASE.splitlines() if not l.startswith("T3001"))
        # Without the flag a missing employee stays active.
        self.assertEqual(env.roster_ok(without_t), counts(unchanged=3))
        self.assertEqual(env.q1("SELECT active FROM employees WHERE employee_no = 'T3001'"), 1)
        self.assertEqual(env.roster_ok(without_t, deactivate_missing=True),
                         counts(deactivated=1, unchanged=3))
        self.assertEqual(env.q1("SELECT active FROM employees WHERE employee_no = 'T3001'"), 0)
        self.assertEqual(env.count("employees"), 4)      # kept, only inactive
        # Back in the file: reactivated, counted as updated.
        self.assertEqual(env.roster_ok(BASE), counts(updated=1, unchanged=3))
        self.assertEqual(env.q1("SELECT active FROM employees WHERE employee_no = 'T3001'"), 1)

    def test_supervisor_deactivated_by_same_import_is_refused(self):
        env = self.fresh(start=False)
        env.roster_ok(BASE)
        before = env.employees()
        # S2001 is left out while others still name it as supervisor.
        no_boss = "".join(l + "\n" for l in BASE.splitlines() if not l.startswith("S2001"))
        self.assertEqual(env.roster_ok(no_boss), counts(unchanged=3))   # fine without the flag
        p = env.roster(no_boss, deactivate_missing=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("supervisor_no", p.stderr)
        self.assertEqual(env.employees(), before)

    def test_missing_file(self):
        env = self.fresh(start=False)
        p = env.gongyoud_cmd(["roster", "import", "/nonexistent/roster.csv"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("/nonexistent/roster.csv", p.stderr)


class RosterHttp(E2ETestCase):
    START_SHARED = False

    def test_upload_counts_and_reupload(self):
        env = self.fresh()
        r = env.upload(BASE)
        self.assertEqual(self.assertOk(r), counts(added=4))
        self.assertEqual(env.count("employees", "active = 1"), 4)
        self.assertEqual(env.q("SELECT source, rows, added FROM roster_imports"), [("api", 4, 4)])
        changed = BASE.replace("13800001234", "13800009999")
        self.assertEqual(self.assertOk(env.upload(changed)), counts(updated=1, unchanged=3))
        self.assertEqual(env.q1("SELECT phone FROM employees WHERE employee_no = 'E1001'"), "13800009999")

    def test_upload_deactivate_missing(self):
        env = self.fresh()
        self.assertOk(env.upload(BASE))
        without_e = "".join(l + "\n" for l in BASE.splitlines() if not l.startswith("E1002"))
        self.assertEqual(self.assertOk(env.upload(without_e, query="?deactivate_missing=false")),
                         counts(unchanged=3))
        self.assertEqual(env.q1("SELECT active FROM employees WHERE employee_no = 'E1002'"), 1)
        self.assertEqual(self.assertOk(env.upload(without_e, query="?deactivate_missing=true")),
                         counts(deactivated=1, unchanged=3))
        self.assertEqual(env.q1("SELECT active FROM employees WHERE employee_no = 'E1002'"), 0)

    def test_bad_upload_lists_every_problem(self):
        env = self.fresh()
        self.assertOk(env.upload(BASE))
        before = env.employees()
        imports = env.count("roster_imports")
        bad = HEADER + (
            "E1001,张伟,装配车间,13800001234,一厂,worker,S2001\n"
            "N0001,,装配车间,13800000001,一厂,worker,\n"
            "N0002,王五,装配车间,12ab,一厂,worker,\n"
            "N0003,赵六,装配车间,13800000003,一厂,boss,\n"
            "N0004,孙七,装配车间,13800000004,一厂,worker,S2001,extra\n"
            "bad no!,周八,装配车间,13800000005,一厂,worker,\n"
            "E1001,张伟,装配车间,13800001234,一厂,worker,S2001\n"
        )
        r = env.upload(bad)
        err = self.assertError(r, 422, "roster_invalid")
        problems = err["problems"]
        for p in problems:
            self.assertEqual(set(p), {"row", "column", "problem"}, p)
            self.assertTrue(p["problem"])
        got = {(p["row"], p["column"]) for p in problems}
        self.assertTrue({(3, "name"), (4, "phone"), (5, "roles"), (6, ""), (7, "employee_no")} <= got, problems)
        self.assertEqual(env.employees(), before)
        self.assertEqual(env.count("roster_imports"), imports)

    def test_unknown_supervisor(self):
        env = self.fresh()
        r = env.upload(HEADER + "A1,甲,部门,13800000001,厂,worker,NOBODY\n"
                                "A2,乙,部门,13800000002,厂,worker,A1\n")
        err = self.assertError(r, 422, "roster_invalid")
        self.assertEqual([(p["row"], p["column"]) for p in err["problems"]], [(2, "supervisor_no")])
        self.assertEqual(env.count("employees"), 0)

    def test_too_many_columns(self):
        env = self.fresh()
        r = env.upload(HEADER + "A1,甲,部门,13800000001,厂,worker,,surplus\n")
        err = self.assertError(r, 422, "roster_invalid")
        self.assertEqual(len(err["problems"]), 1, err)
        self.assertEqual(err["problems"][0]["row"], 2)
        self.assertIn("column", err["problems"][0])
        self.assertEqual(env.count("employees"), 0)

    def test_bom_crlf_quoted_comma(self):
        env = self.fresh()
        csv = ("\ufeff" + HEADER.replace("\n", "\r\n") +
               '"Q1","王""小二""","装配车间,二组","13800000001","一厂","worker",""\r\n'
               'Q2,李四,"总装, 三组",13800000002,一厂,"worker|technician",Q1\r\n')
        body = self.assertOk(env.upload(csv.encode("utf-8")))
        self.assertEqual(body, counts(added=2))
        self.assertEqual(env.q("SELECT employee_no, name, department, roles, supervisor_no FROM employees "
                               "ORDER BY employee_no"),
                         [("Q1", '王"小二"', "装配车间,二组", "worker", None),
                          ("Q2", "李四", "总装, 三组", "worker|technician", "Q1")])

    def test_quoted_embedded_newline(self):
        """From the issue: a quoted field with an embedded newline imports correctly."""
        env = self.fresh()
        csv = ("\ufeff" + HEADER.replace("\n", "\r\n") +
               'Q1,王五,"装配车间\r\n二组",13800000001,一厂,worker,\r\n'
               'Q2,李四,总装,13800000002,一厂,worker,Q1\r\n')
        r = env.upload(csv.encode("utf-8"))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, counts(added=2))
        dept = env.q1("SELECT department FROM employees WHERE employee_no = 'Q1'")
        self.assertEqual(dept, "装配车间 二组")   # the line break becomes one space
        self.assertEqual(env.q1("SELECT supervisor_no FROM employees WHERE employee_no = 'Q2'"), "Q1")

    def test_gbk_is_one_clear_problem(self):
        env = self.fresh()
        csv = (HEADER + "G1,张三,装配车间,13800000001,一厂,worker,\n").encode("gbk")
        err = self.assertError(env.upload(csv), 422, "roster_invalid")
        self.assertEqual(len(err["problems"]), 1, err)
        p = err["problems"][0]
        self.assertEqual(p["row"], 2)
        self.assertIn("UTF-8", p["problem"])
        self.assertEqual(env.count("employees"), 0)
        # and the CLI says the same, nothing applied
        cli = env.roster(csv)
        self.assertNotEqual(cli.returncode, 0)
        self.assertIn("UTF-8", cli.stderr)
        self.assertEqual(env.count("employees"), 0)

    def test_header_problems(self):
        env = self.fresh()
        err = self.assertError(env.upload("employee_no,name,phone,roles,colour\nA1,甲,13800000001,worker,red\n"),
                               422, "roster_invalid")
        got = {(p["row"], p["column"]) for p in err["problems"]}
        self.assertIn((1, "colour"), got)
        self.assertIn((1, "department"), got)
        self.assertIn((1, "site"), got)
        self.assertIn((1, "supervisor_no"), got)

    def test_empty_and_header_only(self):
        env = self.fresh()
        self.assertError(env.upload(""), 422, "roster_invalid")
        err = self.assertError(env.upload(HEADER), 422, "roster_invalid")
        self.assertEqual(len(err["problems"]), 1)
        self.assertEqual(env.count("employees"), 0)

    def test_upload_needs_hr(self):
        env = self.fresh()
        self.assertError(env.call("POST", "/api/v1/admin/roster", raw=BASE, ctype="text/csv"),
                         401, "unauthorized")
        self.assertError(env.upload(BASE, key="gyk_" + "x" * 43), 401, "token_invalid")
        self.assertError(env.upload(BASE, key=env.apikey("worker")), 403, "forbidden")
        self.assertError(env.upload(BASE, key=env.apikey("supervisor")), 403, "forbidden")
        self.assertError(env.upload(BASE, key=env.login()), 403, "forbidden")
        self.assertError(env.call("POST", "/api/v1/admin/roster", raw=BASE, ctype="application/json",
                                  token=env.hr_key()), 415, "unsupported_media_type")
        self.assertEqual(env.count("employees"), 0)
        self.assertOk(env.call("POST", "/api/v1/admin/roster", raw=BASE, ctype="text/csv; charset=utf-8",
                               token=env.hr_key()))

    def test_csv_body_limit(self):
        env = self.fresh(config={"http": {"max_csv_body": 1024}})
        big = HEADER + "".join("B%04d,名字,部门,1380000%04d,厂,worker,\n" % (i, i) for i in range(100))
        self.assertGreater(len(big.encode()), 1024)
        err = self.assertError(env.upload(big), 413, "body_too_large")
        self.assertEqual(err.get("limit_bytes"), 1024)
        self.assertEqual(env.count("employees"), 0)

    def test_deactivated_employee_is_no_longer_bound(self):
        env = self.fresh()
        self.assertOk(env.upload(BASE))
        token = env.login()
        self.assertOk(env.bind(token, "E1001", "张伟", "1234"))
        self.assertTrue(env.call("GET", "/api/v1/me", token=token).json["bound"])
        without = "".join(l + "\n" for l in BASE.splitlines() if not l.startswith("E1001"))
        self.assertEqual(self.assertOk(env.upload(without, query="?deactivate_missing=1")),
                         counts(deactivated=1, unchanged=3))
        me = self.assertOk(env.call("GET", "/api/v1/me", token=token))
        self.assertFalse(me["bound"])
        self.assertIsNone(me["employee"])


if __name__ == "__main__":
    unittest.main()
