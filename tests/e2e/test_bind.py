"""Binding a WeChat user to an employee, and HR's unbind."""
import unittest

from harness import E2ETestCase, Threaded, uid

ROSTER = "employee_no,name,department,phone,site,roles,supervisor_no\n" + "".join(
    "B%03d,员工%d,车间,139000%05d,一厂,%s,\n" % (i, i, i, "worker|supervisor" if i == 1 else "worker")
    for i in range(1, 21)
) + "H001,人事甲,人事部,13600004001,一厂,hr,\n"


def emp(i):
    """(employee_no, name, last4) of roster employee I."""
    return "B%03d" % i, "员工%d" % i, "%04d" % i


class Bind(E2ETestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.roster_ok(ROSTER)

    def user(self):
        """A fresh WeChat user: (token, user_id)."""
        openid = uid()
        token = self.env.login(openid)
        return token, self.env.q1("SELECT id FROM wx_users WHERE openid = ?", openid)

    def bound_to(self, no):
        return self.env.q1("SELECT wx_user_id FROM employees WHERE employee_no = ?", no)

    def test_bind_success_records_attempt(self):
        env = self.env
        token, user = self.user()
        no, name, last4 = emp(2)
        body = self.assertOk(env.bind(token, no, name, last4))
        self.assertTrue(body["bound"])
        self.assertEqual(body["employee"]["employee_no"], no)
        self.assertEqual(body["employee"]["phone_masked"][-4:], last4)
        self.assertEqual(self.bound_to(no), user)
        self.assertIsNotNone(env.q1("SELECT bound_at FROM employees WHERE employee_no = ?", no))
        self.assertEqual(env.q("SELECT ok, employee_no FROM bind_attempts WHERE user_id = ?", user), [(1, no)])

    def test_bind_trims_spaces(self):
        token, user = self.user()
        no, name, last4 = emp(3)
        self.assertOk(self.env.bind(token, "  " + no + " ", " " + name + "  ", last4))
        self.assertEqual(self.bound_to(no), user)

    def test_mismatch_then_rate_limited(self):
        env = self.env
        token, user = self.user()
        no, name, last4 = emp(4)
        wrong = [(no, "别人", last4), (no, name, "9999"), ("NOPE", name, last4), (emp(5)[0], name, last4),
                 (no, name + "x", last4)]
        for i, (n, nm, l4) in enumerate(wrong):
            err = self.assertError(env.bind(token, n, nm, l4), 422, "bind_mismatch")
            self.assertEqual(err["attempts_left"], 4 - i, err)
        self.assertEqual(env.q1("SELECT count(*) FROM bind_attempts WHERE user_id = ? AND ok = 0", user), 5)
        # The 6th attempt is refused even with the right details.
        r = env.bind(token, no, name, last4)
        self.assertError(r, 429, "bind_rate_limited")
        self.assertRegex(r.headers.get("Retry-After") or "", r"^[1-9]\d*$")
        self.assertIsNone(self.bound_to(no))
        self.assertEqual(env.q1("SELECT count(*) FROM bind_attempts WHERE user_id = ?", user), 5)
        # Another user is not affected.
        other, other_id = self.user()
        self.assertOk(env.bind(other, *emp(5)))
        self.assertEqual(self.bound_to(emp(5)[0]), other_id)

    def test_bad_fields(self):
        env = self.env
        token, user = self.user()
        no, name, _ = emp(6)
        err = self.assertError(env.bind(token, no, name, "12a4"), 400, "invalid_field")
        self.assertEqual(err["field"], "phone_last4")
        err = self.assertError(env.bind(token, no, name, "123"), 400, "invalid_field")
        self.assertEqual(err["field"], "phone_last4")
        err = self.assertError(env.call("POST", "/api/v1/bind", {"employee_no": no, "phone_last4": "0006"},
                                        token=token), 400, "invalid_field")
        self.assertEqual(err["field"], "name")
        err = self.assertError(env.call("POST", "/api/v1/bind", {"employee_no": 6, "name": name,
                                                                 "phone_last4": "0006"}, token=token),
                               400, "invalid_field")
        self.assertEqual(err["field"], "employee_no")
        # Malformed requests are not guesses: nothing recorded, nothing bound.
        self.assertEqual(env.count("bind_attempts", "user_id = ?", user), 0)
        self.assertIsNone(self.bound_to(no))

    def test_employee_already_bound(self):
        env = self.env
        first, first_id = self.user()
        second, second_id = self.user()
        no, name, last4 = emp(7)
        self.assertOk(env.bind(first, no, name, last4))
        self.assertError(env.bind(second, no, name, last4), 409, "employee_already_bound")
        self.assertEqual(self.bound_to(no), first_id)
        self.assertEqual(env.count("bind_attempts", "user_id = ?", second_id), 0)

    def test_user_already_bound(self):
        env = self.env
        token, user = self.user()
        self.assertOk(env.bind(token, *emp(8)))
        self.assertError(env.bind(token, *emp(9)), 409, "user_already_bound")
        self.assertEqual(self.bound_to(emp(8)[0]), user)
        self.assertIsNone(self.bound_to(emp(9)[0]))

    def test_rebind_same_pair(self):
        env = self.env
        token, user = self.user()
        no, name, last4 = emp(10)
        first = self.assertOk(env.bind(token, no, name, last4))
        bound_at = env.q1("SELECT bound_at FROM employees WHERE employee_no = ?", no)
        again = self.assertOk(env.bind(token, no, name, last4))
        self.assertEqual(again, first)
        self.assertEqual(self.bound_to(no), user)
        self.assertEqual(env.q1("SELECT bound_at FROM employees WHERE employee_no = ?", no), bound_at)

    def test_hr_unbind(self):
        env = self.env
        openid = uid()
        token = env.login(openid)
        user = env.q1("SELECT id FROM wx_users WHERE openid = ?", openid)
        second = env.login(openid)           # a second session of the same user
        no, name, last4 = emp(11)
        self.assertOk(env.bind(token, no, name, last4))
        self.assertEqual(env.count("sessions", "user_id = ?", user), 2)

        r = env.call("DELETE", "/api/v1/admin/employees/%s/binding" % no, token=env.hr_key())
        self.assertEqual(self.assertOk(r), {"employee_no": no, "unbound": True})
        self.assertEqual(env.q("SELECT wx_user_id, bound_at, active FROM employees WHERE employee_no = ?", no),
                         [(None, None, 1)])
        self.assertEqual(env.count("sessions", "user_id = ?", user), 0)
        self.assertError(env.call("GET", "/api/v1/me", token=token), 401, "token_invalid")
        self.assertError(env.call("GET", "/api/v1/me", token=second), 401, "token_invalid")
        # The WeChat user itself remains; a new login can bind again.
        self.assertEqual(env.count("wx_users", "id = ?", user), 1)
        fresh = env.login(openid)
        self.assertFalse(env.call("GET", "/api/v1/me", token=fresh).json["bound"])
        self.assertOk(env.bind(fresh, no, name, last4))
        self.assertEqual(self.bound_to(no), user)
        # The loop keeps resolved sessions in memory: the binding is seen at once.
        me = self.assertOk(env.call("GET", "/api/v1/me", token=fresh))
        self.assertTrue(me["bound"])
        self.assertEqual(me["employee"]["employee_no"], no)

    def test_unbind_not_bound(self):
        r = self.env.call("DELETE", "/api/v1/admin/employees/%s/binding" % emp(12)[0], token=self.env.hr_key())
        self.assertEqual(self.assertOk(r), {"employee_no": emp(12)[0], "unbound": False})

    def test_unbind_unknown(self):
        env = self.env
        self.assertError(env.call("DELETE", "/api/v1/admin/employees/NOSUCH/binding", token=env.hr_key()),
                         404, "employee_not_found")
        # an encoded slash does not make a parameter: no route at all
        self.assertError(env.call("DELETE", "/api/v1/admin/employees/a%2Fb/binding", token=env.hr_key()),
                         404, "not_found")

    def test_worker_token_on_hr_routes(self):
        env = self.env
        token, user = self.user()
        no, name, last4 = emp(13)
        self.assertOk(env.bind(token, no, name, last4))
        victim, victim_id = self.user()
        self.assertOk(env.bind(victim, *emp(14)))
        self.assertError(env.call("DELETE", "/api/v1/admin/employees/%s/binding" % emp(14)[0], token=token),
                         403, "forbidden")
        self.assertEqual(self.bound_to(emp(14)[0]), victim_id)
        self.assertError(env.upload("employee_no,name,department,phone,site,roles,supervisor_no\n"
                                    "Z1,某人,部门,13800000001,厂,hr,\n", key=token), 403, "forbidden")
        self.assertEqual(env.count("employees", "employee_no = 'Z1'"), 0)
        # A supervisor is not HR either.
        boss, _ = self.user()
        self.assertOk(env.bind(boss, *emp(1)))
        self.assertError(env.call("DELETE", "/api/v1/admin/employees/%s/binding" % emp(14)[0], token=boss),
                         403, "forbidden")
        # Unbound users and non-HR keys neither.
        unbound, _ = self.user()
        self.assertError(env.call("DELETE", "/api/v1/admin/employees/%s/binding" % emp(14)[0], token=unbound),
                         403, "forbidden")
        self.assertError(env.call("DELETE", "/api/v1/admin/employees/%s/binding" % emp(14)[0],
                                  token=env.apikey("worker")), 403, "forbidden")
        self.assertError(env.call("DELETE", "/api/v1/admin/employees/%s/binding" % emp(14)[0]),
                         401, "unauthorized")
        self.assertEqual(self.bound_to(emp(14)[0]), victim_id)

    def test_bound_hr_employee_can_unbind(self):
        env = self.env
        hr, _ = self.user()
        self.assertOk(env.bind(hr, "H001", "人事甲", "4001"))
        worker, _ = self.user()
        self.assertOk(env.bind(worker, *emp(15)))
        r = env.call("DELETE", "/api/v1/admin/employees/%s/binding" % emp(15)[0], token=hr)
        self.assertEqual(self.assertOk(r), {"employee_no": emp(15)[0], "unbound": True})
        self.assertIsNone(self.bound_to(emp(15)[0]))

    def test_api_key_cannot_bind_or_me(self):
        env = self.env
        key = env.hr_key()
        self.assertError(env.bind(key, *emp(16)), 403, "forbidden")
        self.assertError(env.call("GET", "/api/v1/me", token=key), 403, "forbidden")
        self.assertIsNone(self.bound_to(emp(16)[0]))

    def test_concurrent_binds_of_one_employee(self):
        env = self.env
        users = [self.user() for _ in range(6)]
        threads = [Threaded(env.bind, tok, *emp(19)) for tok, _ in users]
        results = [t.result() for t in threads]
        winners = [r for r in results if r.status == 200]
        self.assertEqual(len(winners), 1, results)
        for r in results:
            if r.status != 200:
                self.assertError(r, 409, "employee_already_bound")
        self.assertIn(self.bound_to(emp(19)[0]), {uid_ for _, uid_ in users})

    def test_concurrent_guesses_cannot_pass_the_limit(self):
        env = self.env
        token, user = self.user()
        no, name, last4 = emp(20)
        threads = [Threaded(env.bind, token, no, name, "%04d" % (9000 + i)) for i in range(10)]
        results = [t.result() for t in threads]
        mismatches = [r for r in results if r.status == 422]
        limited = [r for r in results if r.status == 429]
        self.assertEqual(len(mismatches), 5, results)
        self.assertEqual(len(limited), 5, results)
        self.assertEqual(sorted(r.json["error"]["attempts_left"] for r in mismatches), [0, 1, 2, 3, 4])
        self.assertEqual(env.count("bind_attempts", "user_id = ?", user), 5)

    def test_inactive_employee_cannot_be_bound(self):
        env = self.fresh()
        env.roster_ok(ROSTER)
        without = "".join(l + "\n" for l in ROSTER.splitlines() if not l.startswith("B017"))
        env.roster_ok(without, deactivate_missing=True)
        token = env.login()
        err = self.assertError(env.bind(token, *emp(17)), 422, "bind_mismatch")
        self.assertEqual(err["attempts_left"], 4)
        self.assertIsNone(env.q1("SELECT wx_user_id FROM employees WHERE employee_no = 'B017'"))

    def test_rate_limit_window_passes(self):
        env = self.fresh(config={"bind": {"max_failures": 2, "window_s": 600}})
        env.roster_ok(ROSTER)
        token = env.login()
        no, name, last4 = emp(18)
        self.assertEqual(self.assertError(env.bind(token, no, "错", last4), 422, "bind_mismatch")["attempts_left"], 1)
        self.assertEqual(self.assertError(env.bind(token, no, "错", last4), 422, "bind_mismatch")["attempts_left"], 0)
        r = env.bind(token, no, name, last4)
        self.assertError(r, 429, "bind_rate_limited")
        self.assertEqual(r.headers.get("Retry-After"), "600")
        env.clock(advance_s=601)
        self.assertOk(env.bind(token, no, name, last4))
        self.assertIsNotNone(env.q1("SELECT wx_user_id FROM employees WHERE employee_no = ?", no))


if __name__ == "__main__":
    unittest.main()
