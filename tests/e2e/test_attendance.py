"""Clock-in and attendance end to end, on the test clock: sites, shifts and
a rotating pattern set up by HR; a day of punches for a small roster (on
time, late, field, inaccurate, too early, replays); the supervisor's digest
in wxsim's robot; OUT punches; the finalising timer; an offline punch that
re-settles a final day; a make-up asked and approved; a night shift closed
at the morning hand-over; the monthly late allowance; the reports and
their CSV."""
import csv
import io
import json
import urllib.parse
import unittest

from harness import E2ETestCase, uid, wait_until

FENCE = {"lat": 31.2304, "lng": 121.4737, "radius_m": 300}
HERE = {"lat": 31.2310, "lng": 121.4740, "accuracy": 20}      # ~70 m from the centre
FAR = {"lat": 31.2600, "lng": 121.4737, "accuracy": 20}       # ~3.3 km away

ROSTER = ("employee_no,name,department,phone,site,roles,supervisor_no\n"
          "S01,王主管,装配,13800000001,F1,worker|supervisor,\n"
          "W01,赵一,装配,13800000011,F1,worker,S01\n"
          "W02,钱二,装配,13800000012,F1,worker,S01\n"
          "W03,孙三,装配,13800000013,F1,worker,S01\n"
          "W04,李四,装配,13800000014,F1,worker,S01\n"
          "W05,周五,装配,13800000015,F1,worker,S01\n"
          "P01,吴六,包装,13800000021,F1,worker,\n")


def config():
    return {
        "attendance": {"tick_s": 1, "digest_after_min": 30, "late_allowance": 1,
                       "late_allowance_within_min": 10, "makeups_per_month": 2,
                       "makeup_deadline_days": 3},
        "notify": {
            "poll_ms": 50, "robot_fold_s": 0,
            "kinds": {
                "attendance_digest": {"channel": "robot", "robot_title": "考勤日报",
                                      "robot_line": "{date} {department} {shift}：迟到 {late_count} 人（{late_names}）；"
                                                    "未打卡 {missing_count} 人（{missing_names}）；"
                                                    "外勤待审 {field_count} 人（{field_names}）"},
                "field_review": {"channel": "robot", "robot_title": "外勤打卡待审核",
                                 "robot_line": "{department}：{field_names}"},
                "makeup_request": {"channel": "robot", "robot_title": "补卡申请",
                                   "robot_line": "{name} {date} {kind} {time}：{reason}"},
                "makeup_decision": {"channel": "robot", "robot_title": "补卡结果",
                                    "robot_line": "{date} {kind} {time} {result}"},
                "clockin_reminder": {"template_id": "TPL_remind", "page": "pages/clockin/index",
                                     "data": {"thing1": "shift", "time2": "start"}},
            },
            "robots": {"assembly": "http://127.0.0.1:1/cgi-bin/webhook/send?key=k-assembly"},
            "routes": [{"kind": "*", "department": "装配", "robot": "assembly"}],
        },
    }


def at(day, hhmm):
    return "2026-11-%02dT%s:00+08:00" % (day, hhmm)


class Attendance(E2ETestCase):
    START_SHARED = False

    # ---- set-up helpers ----

    def env_up(self, **attendance):
        c = config()
        c["attendance"].update(attendance)
        env = self.fresh(config=c, start=False)
        c["notify"]["robots"]["assembly"] = ("http://127.0.0.1:%d/cgi-bin/webhook/send?key=k-assembly"
                                            % env.sim_port)
        env.overrides = c
        env.write_config()
        env.start()
        env.call("POST", "/api/v1/test/clock", {"now": at(23, "06:00")})
        env.roster_ok(ROSTER)
        hr = env.hr_key()
        self.assertOk(env.call("PUT", "/api/v1/admin/sites/F1",
                               {"name": "一厂", "fences": [FENCE], "wifi_bssids": ["AA-BB-CC-DD-EE-01"],
                                "out_of_range": "field"}, token=hr))
        self.assertOk(env.call("PUT", "/api/v1/admin/shifts/D",
                               {"name": "白班", "start": "08:00", "end": "17:00", "break_min": 60}, token=hr))
        self.assertOk(env.call("PUT", "/api/v1/admin/shifts/N",
                               {"name": "夜班", "start": "20:00", "end": "08:00", "break_min": 60}, token=hr))
        days, nights = ["D"] * 5 + ["", ""], ["N"] * 5 + ["", ""]
        self.assertOk(env.call("PUT", "/api/v1/admin/patterns/" + urllib.parse.quote("装配"),
                               {"anchor": "2026-11-23", "weeks": [days, nights]}, token=hr))
        self.tokens = {}
        for no, last4 in (("S01", "0001"), ("W01", "0011"), ("W02", "0012"), ("W03", "0013"),
                          ("W04", "0014"), ("W05", "0015")):
            tok = env.login(uid())
            name = {"S01": "王主管", "W01": "赵一", "W02": "钱二", "W03": "孙三", "W04": "李四",
                    "W05": "周五"}[no]
            self.assertOk(env.bind(tok, no, name, last4))
            self.tokens[no] = tok
        return env

    def punch(self, env, no, where=HERE, rid=None, **extra):
        body = dict(where)
        body["request_id"] = rid or uid("r")
        body.update(extra)
        return env.call("POST", "/api/v1/clockins", body, token=self.tokens[no])

    def set_clock(self, env, iso):
        r = env.call("POST", "/api/v1/test/clock", {"now": iso})
        self.assertEqual(r.status, 200, r)

    def day(self, env, no, date):
        return env.q("SELECT d.status, d.first_in IS NOT NULL, d.last_out IS NOT NULL, d.late_min, "
                     "d.early_min, d.final, d.excused FROM att_days d JOIN employees e ON e.id = d.employee_id "
                     "WHERE e.employee_no = ? AND d.att_date = "
                     "CAST(julianday(?) - julianday('1970-01-01') AS INTEGER)", no, date)[0]

    def robot(self, env):
        st, j = env.sim("GET", "/sim/robot")
        self.assertEqual(st, 200)
        return [m for m in j["messages"]]

    def robot_text(self, env):
        return "\n".join(str(m) for m in self.robot(env))

    # ---- the tests ----

    def test_day_of_punches_digest_finalise_makeup_and_reports(self):
        env = self.env_up()
        hr = env.hr_key()

        # Before the window opens (07:00): refused, saying when it opens.
        self.set_clock(env, at(23, "06:30"))
        e = self.assertError(self.punch(env, "W05"), 422, "window_not_open")
        self.assertEqual(e["opens_at"], at(23, "07:00"))
        self.assertEqual(env.count("punches"), 0)

        # On time, with the message the worker sees; then replays.
        self.set_clock(env, at(23, "07:58"))
        r = self.punch(env, "W01", rid="w01-first")
        j = self.assertOk(r, 201)
        self.assertEqual(j["punch"]["kind"], "in")
        self.assertEqual(j["punch"]["location"], "fence")
        self.assertEqual(j["punch"]["source"], "online")
        self.assertLess(j["punch"]["distance_m"], 300)
        self.assertEqual(j["attendance_date"], "2026-11-23")
        self.assertEqual(j["shift"]["code"], "D")
        self.assertEqual(j["verdict"]["code"], "on_time")
        self.assertEqual(j["message"], "上班打卡成功 07:58 · 正常")
        self.assertFalse(j["replayed"])
        again = self.assertOk(self.punch(env, "W01", rid="w01-first"), 200)
        self.assertTrue(again["replayed"])
        self.assertEqual(again["punch"]["id"], j["punch"]["id"])
        soon = self.assertOk(self.punch(env, "W01", rid="w01-second-tap"), 200)
        self.assertEqual(soon["punch"]["id"], j["punch"]["id"])
        self.assertEqual(env.count("punches"), 1)

        # Late by 6 minutes, on the site's Wi-Fi though the GPS is far off.
        self.set_clock(env, "2026-11-23T08:05:30+08:00")
        j = self.assertOk(self.punch(env, "W02", where=FAR, wifi_bssid="aa:bb:cc:dd:ee:01"), 201)
        self.assertEqual(j["punch"]["location"], "wifi")
        self.assertEqual(j["verdict"], {"code": "late", "minutes": 6, "text": "迟到 6 分钟"})
        self.assertEqual(j["message"], "上班打卡成功 08:05 · 迟到 6 分钟")
        # The month's one allowance (late within grace + 10) excuses it at once.
        self.assertEqual((j["day"]["status"], j["day"]["excused"]), ("normal", True))

        # Outside the fence: a field punch needs a reason, then waits for review.
        e = self.assertError(self.punch(env, "W03", where=FAR), 422, "field_reason_required")
        self.assertGreater(e["distance_m"], 3000)
        j = self.assertOk(self.punch(env, "W03", where=FAR, field_reason="去供应商处取货"), 201)
        self.assertEqual(j["punch"]["location"], "field")
        self.assertEqual(j["punch"]["field_status"], "pending")
        self.assertEqual(j["day"]["status"], "field_pending")
        self.assertIn("外勤待审核", j["message"])

        # A vague location is refused; nothing is written.
        self.assertError(self.punch(env, "W04", where=dict(HERE, accuracy=800)), 422, "location_inaccurate")
        self.assertEqual(env.count("punches"), 3)

        # 30 minutes after the start: one digest for the department's supervisor.
        self.set_clock(env, at(23, "08:31"))
        wait_until(lambda: "考勤日报" in self.robot_text(env), timeout=15, what="digest in the robot")
        text = self.robot_text(env)
        self.assertIn("钱二(6分钟)", text)
        self.assertIn("李四", text)
        self.assertIn("周五", text)
        self.assertIn("孙三", text)
        self.assertNotIn("赵一", text)
        # One for S01's people; S01 himself (no supervisor) goes to the department's robot apart.
        wait_until(lambda: env.count("notifications", "kind = 'attendance_digest'") == 2, what="digests")
        wait_until(lambda: env.count("notifications", "kind = 'field_review'") == 1, what="field alert")

        # The supervisor reviews the field punch.
        fields = self.assertOk(env.call("GET", "/api/v1/attendance/field", token=self.tokens["S01"]))["items"]
        self.assertEqual([f["employee_no"] for f in fields], ["W03"])
        self.assertEqual(fields[0]["field_reason"], "去供应商处取货")
        self.assertError(env.call("POST", "/api/v1/attendance/field/%d/decision" % fields[0]["id"],
                                  {"decision": "approve"}, token=self.tokens["W01"]), 403, "forbidden")
        j = self.assertOk(env.call("POST", "/api/v1/attendance/field/%d/decision" % fields[0]["id"],
                                   {"decision": "approve"}, token=self.tokens["S01"]))
        self.assertEqual(j["punch"]["field_status"], "approved")
        self.assertEqual(j["day"]["status"], "normal")

        # Going home: early by 10 minutes, and on time.
        self.set_clock(env, at(23, "16:50"))
        j = self.assertOk(self.punch(env, "W02"), 201)
        self.assertEqual(j["punch"]["kind"], "out")
        self.assertEqual(j["verdict"], {"code": "early", "minutes": 10, "text": "早退 10 分钟"})
        self.set_clock(env, at(23, "17:02"))
        j = self.assertOk(self.punch(env, "W01"), 201)
        self.assertEqual(j["message"], "下班打卡成功 17:02 · 正常")
        self.assertEqual(j["day"]["worked_min"], 8 * 60)
        self.assertOk(self.punch(env, "W03"), 201)

        # Provisional until the window closes (21:00); then the timer decides.
        self.assertEqual(self.day(env, "W05", "2026-11-23")[0], "pending")
        self.set_clock(env, at(23, "21:01"))
        wait_until(lambda: self.day(env, "W05", "2026-11-23")[5] == 1, timeout=15, what="finalised")
        self.assertEqual(self.day(env, "W01", "2026-11-23")[0], "normal")
        # W02: late 6 min, within grace + 10: the month's one allowance excuses it.
        self.assertEqual(self.day(env, "W02", "2026-11-23")[0], "early_leave")
        self.assertEqual(self.day(env, "W02", "2026-11-23")[6], 1)
        self.assertEqual(self.day(env, "W04", "2026-11-23")[0], "absent")
        self.assertEqual(self.day(env, "W05", "2026-11-23")[0], "absent")
        self.assertEqual(self.day(env, "S01", "2026-11-23")[0], "absent")

        # Between two shifts: refused, saying when the next window opens.
        e = self.assertError(self.punch(env, "W01"), 422, "window_not_open")
        self.assertEqual(e["opens_at"], at(24, "07:00"))

        # An offline OUT queued at 17:05 arrives late: the final day is re-settled.
        j = self.assertOk(self.punch(env, "W04", client_time=at(23, "17:05")), 201)
        self.assertEqual(j["punch"]["source"], "offline")
        self.assertEqual(j["punch"]["client_time"], at(23, "17:05"))
        self.assertEqual(j["punch"]["kind"], "out")
        self.assertEqual(self.day(env, "W04", "2026-11-23")[0], "missing_in")

        # A make-up for W05's missing IN: asked, seen by the supervisor, approved.
        r = env.call("POST", "/api/v1/attendance/makeups",
                     {"date": "2026-11-23", "kind": "in", "time": at(23, "07:55"), "reason": "忘记打卡了"},
                     token=self.tokens["W05"])
        mk = self.assertOk(r, 201)
        self.assertEqual(mk["status"], "pending")
        self.assertError(env.call("POST", "/api/v1/attendance/makeups",
                                  {"date": "2026-11-23", "kind": "in", "time": at(23, "07:56"),
                                   "reason": "再申请一次"}, token=self.tokens["W05"]), 409, "makeup_duplicate")
        e = self.assertError(env.call("POST", "/api/v1/attendance/makeups",
                                      {"date": "2026-11-23", "kind": "out", "time": at(23, "06:30"),
                                       "reason": "下班忘打卡"}, token=self.tokens["W05"]), 422, "makeup_not_allowed")
        self.assertEqual(e["reason"], "time_outside_window")
        self.assertEqual(env.q1("SELECT employee_no FROM notifications WHERE kind = 'makeup_request'"), "S01")
        team = self.assertOk(env.call("GET", "/api/v1/attendance/makeups?status=pending",
                                      token=self.tokens["S01"]))["items"]
        self.assertEqual([(m["employee_no"], m["reason"]) for m in team], [("W05", "忘记打卡了")])
        j = self.assertOk(env.call("POST", "/api/v1/attendance/makeups/%d/decision" % mk["id"],
                                   {"decision": "approve", "comment": "情况属实"}, token=self.tokens["S01"]))
        self.assertEqual(j["status"], "approved")
        self.assertEqual(j["day"]["status"], "missing_out")
        self.assertEqual(env.q1("SELECT source FROM punches WHERE makeup_id = ?", mk["id"]), "makeup")
        self.assertEqual(env.q1("SELECT employee_no FROM notifications WHERE kind = 'makeup_decision'"), "W05")
        self.assertError(env.call("POST", "/api/v1/attendance/makeups/%d/decision" % mk["id"],
                                  {"decision": "reject"}, token=self.tokens["S01"]), 409, "already_decided")

        # Tuesday: W02 late again by 8 minutes; the allowance is used up.
        self.set_clock(env, at(24, "08:08"))
        j = self.assertOk(self.punch(env, "W02"), 201)
        self.assertEqual(j["day"]["status"], "late")
        self.assertFalse(j["day"]["excused"])

        # Reports: HR sees everyone; the supervisor only their people; CSV for Excel.
        self.set_clock(env, at(24, "12:00"))
        rep = self.assertOk(env.call("GET", "/api/v1/reports/attendance?from=2026-11-23&to=2026-11-24"
                                            "&group_by=employee", token=hr))
        rows = {row["key"]: row for row in rep["rows"]}
        self.assertEqual(set(rows), {"S01", "W01", "W02", "W03", "W04", "W05"})
        self.assertEqual(rows["W02"]["scheduled"], 2)
        self.assertEqual(rows["W02"]["late"], 1)
        self.assertEqual(rows["W02"]["excused_late"], 1)
        self.assertEqual(rows["W02"]["early_leave"], 1)
        self.assertEqual(rows["W02"]["late_rate"], 0.5)
        self.assertEqual(rows["W01"]["worked_hours"], 8)
        self.assertEqual(rows["W04"]["missing_punch"], 1)
        self.assertEqual(rep["total"]["scheduled"], 12)
        day = self.assertOk(env.call("GET", "/api/v1/reports/attendance?from=2026-11-23&to=2026-11-23"
                                            "&group_by=day", token=hr))
        self.assertEqual(day["rows"][0]["key"], "2026-11-23")
        self.assertEqual(day["rows"][0]["absent"], 1)        # S01: W04 and W05 were settled again
        sup = self.assertOk(env.call("GET", "/api/v1/reports/attendance?from=2026-11-23&to=2026-11-24"
                                            "&group_by=employee", token=self.tokens["S01"]))
        self.assertNotIn("S01", {row["key"] for row in sup["rows"]})
        self.assertEqual(len(sup["rows"]), 5)
        r = env.call("GET", "/api/v1/reports/attendance?from=2026-11-23&to=2026-11-24&group_by=department",
                     token=hr, headers={"Accept": "text/csv"})
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/csv"))
        self.assertTrue(r.raw.startswith(b"\xef\xbb\xbf"))
        table = list(csv.reader(io.StringIO(r.raw.decode("utf-8-sig"))))
        self.assertEqual(table[0][0], "部门")
        self.assertEqual(table[1][0], "装配")
        self.assertEqual(table[1][2], "12")
        self.assertEqual(table[-1][0], "合计")
        self.assertError(env.call("GET", "/api/v1/reports/attendance?from=2026-11-23&to=2026-11-24",
                                  token=self.tokens["W01"]), 403, "forbidden")

        # The worker's own month.
        me = self.assertOk(env.call("GET", "/api/v1/me/attendance?month=2026-11", token=self.tokens["W02"]))
        d23 = [d for d in me["days"] if d["date"] == "2026-11-23"][0]
        self.assertEqual(d23["status"], "early_leave")
        self.assertTrue(d23["excused"])
        self.assertEqual(me["summary"]["late"], 1)
        self.assertEqual(me["makeups"], {"used": 0, "per_month": 2})
        r = env.call("GET", "/api/v1/me/attendance?month=2026-11&format=csv", token=self.tokens["W02"])
        table = list(csv.reader(io.StringIO(r.raw.decode("utf-8-sig"))))
        self.assertEqual(table[0][0], "日期")
        self.assertIn(["2026-11-23", "白班", "early_leave", "08:05:30", "16:50:00", "6", "10", "464", "是"],
                      table)

    def test_night_shift_closed_at_the_morning_handover(self):
        env = self.env_up()
        hr = env.hr_key()
        # W01 works the night of Tuesday 24th, then the day shift of the 25th.
        r = env.call("POST", "/api/v1/admin/schedule", raw="employee_no,date,shift_code\nW01,2026-11-24,N\n",
                     ctype="text/csv", token=hr)
        self.assertOk(r)
        self.set_clock(env, at(24, "19:55"))
        j = self.assertOk(self.punch(env, "W01"), 201)
        self.assertEqual((j["punch"]["kind"], j["shift"]["code"], j["attendance_date"]), ("in", "N", "2026-11-24"))
        # 08:00:30 next morning: both windows are open; it closes the night.
        self.set_clock(env, "2026-11-25T08:00:30+08:00")
        j = self.assertOk(self.punch(env, "W01"), 201)
        self.assertEqual((j["punch"]["kind"], j["shift"]["code"], j["attendance_date"]), ("out", "N", "2026-11-24"))
        self.assertEqual(j["day"]["worked_min"], 11 * 60)
        # Two minutes later (past the repeat window): the day shift's IN.
        self.set_clock(env, "2026-11-25T08:02:00+08:00")
        j = self.assertOk(self.punch(env, "W01"), 201)
        self.assertEqual((j["punch"]["kind"], j["shift"]["code"], j["attendance_date"]), ("in", "D", "2026-11-25"))
        self.assertEqual(j["verdict"]["code"], "on_time")
        # The night is final at 12:00 (08:00 + 4 h).
        self.set_clock(env, at(25, "12:01"))
        wait_until(lambda: self.day(env, "W01", "2026-11-24")[5] == 1, timeout=15, what="night finalised")
        self.assertEqual(self.day(env, "W01", "2026-11-24")[0], "normal")
        # The rotation: the week of the 30th is nights for 装配.
        sched = self.assertOk(env.call("GET", "/api/v1/admin/schedule?employee_no=W02&from=2026-11-28"
                                              "&to=2026-11-30", token=hr))
        self.assertEqual([d["shift_code"] for d in sched["days"]], [None, None, "N"])
        self.assertEqual(sched["employee_no"], "W02")

    def test_replay_is_looked_for_over_the_recent_days(self):
        # A phone that lost Monday's reply may retry on Tuesday: still one
        # punch. Past the dates offline_max_age_s (1 day) and two more
        # reach back, the same request_id is a new punch.
        env = self.env_up()
        self.set_clock(env, at(23, "07:58"))
        first = self.assertOk(self.punch(env, "W01", rid="w01-monday"), 201)
        self.set_clock(env, at(24, "08:03"))
        again = self.assertOk(self.punch(env, "W01", rid="w01-monday"), 200)
        self.assertTrue(again["replayed"])
        self.assertEqual(again["punch"]["id"], first["punch"]["id"])
        self.assertEqual(again["attendance_date"], "2026-11-23")
        self.assertEqual(env.count("punches"), 1)
        # Tuesday's own punch is judged on Tuesday, with none before it.
        tue = self.assertOk(self.punch(env, "W01", rid="w01-tuesday"), 201)
        self.assertEqual((tue["punch"]["kind"], tue["attendance_date"]), ("in", "2026-11-24"))
        self.set_clock(env, at(27, "08:00"))
        late = self.assertOk(self.punch(env, "W01", rid="w01-monday"), 201)
        self.assertFalse(late["replayed"])
        self.assertEqual((late["punch"]["kind"], late["attendance_date"]), ("in", "2026-11-27"))
        self.assertEqual(env.q("SELECT request_id, att_date - (SELECT min(att_date) FROM punches) FROM punches "
                               "ORDER BY id"), [("w01-monday", 0), ("w01-tuesday", 1), ("w01-monday", 4)])

    def test_setup_is_validated_and_all_or_nothing(self):
        env = self.env_up()
        hr = env.hr_key()
        e = self.assertError(env.call("PUT", "/api/v1/admin/shifts/X",
                                      {"name": "坏班", "start": "08:00", "end": "17:00", "grace_min": 40},
                                      token=hr), 400, "shift_invalid")
        self.assertIn("grace_min", e["reason"])
        self.assertError(env.call("PUT", "/api/v1/admin/sites/F2", {"name": "二厂", "fences": [],
                                                                     "out_of_range": "refuse"}, token=hr),
                         400, "invalid_field")
        self.assertError(env.call("PUT", "/api/v1/admin/patterns/" + urllib.parse.quote("包装"),
                                  {"anchor": "2026-11-23", "weeks": [["Z"] * 7]}, token=hr), 400, "invalid_field")
        before = env.count("schedule_overrides")
        r = env.call("POST", "/api/v1/admin/schedule",
                     raw="employee_no,date,shift_code\nW01,2026-11-26,N\nW99,2026-11-26,D\nW02,2026-02-30,D\n"
                         "W03,2026-11-26,Q\n", ctype="text/csv", token=hr)
        e = self.assertError(r, 422, "schedule_invalid")
        self.assertEqual(sorted((p["row"], p["column"]) for p in e["problems"]),
                         [(3, "employee_no"), (4, "date"), (5, "shift_code")])
        self.assertEqual(env.count("schedule_overrides"), before)
        # A refuse site: outside is refused with the distance.
        self.assertOk(env.call("PUT", "/api/v1/admin/sites/F1",
                               {"name": "一厂", "fences": [FENCE], "out_of_range": "refuse"}, token=hr))
        self.set_clock(env, at(23, "07:59"))
        e = self.assertError(self.punch(env, "W01", where=FAR), 422, "outside_site")
        self.assertGreater(e["distance_m"], 3000)
        # A Wi-Fi-only site: off its Wi-Fi, its policy decides (no fence to measure).
        self.assertOk(env.call("PUT", "/api/v1/admin/sites/F1",
                               {"name": "一厂", "fences": [], "wifi_bssids": ["aa:bb:cc:dd:ee:02"],
                                "out_of_range": "flag"}, token=hr))
        j = self.assertOk(self.punch(env, "W02", where=FAR), 201)
        self.assertEqual((j["punch"]["location"], j["punch"]["distance_m"]), ("flag", None))
        self.assertIn("位置异常", j["message"])
        # An offline punch arriving within the repeat window of another is still stored.
        self.set_clock(env, at(23, "07:59") + "")
        j = self.assertOk(self.punch(env, "W02", where=FAR, client_time=at(23, "07:40")), 201)
        self.assertEqual(j["punch"]["source"], "offline")
        self.assertEqual(env.count("punches", "employee_id = (SELECT id FROM employees WHERE employee_no = 'W02')"), 2)
        self.assertOk(env.call("PUT", "/api/v1/admin/sites/F1",
                               {"name": "一厂", "fences": [FENCE], "out_of_range": "refuse"}, token=hr))
        # A reason does not make a refuse site accept it.
        self.assertError(self.punch(env, "W01", where=FAR, field_reason="x" * 3), 422, "outside_site")
        self.assertEqual(env.count("punches", "employee_id = (SELECT id FROM employees WHERE employee_no = 'W01')"), 0)


    def test_reminder_quiet_hours_and_makeup_limit(self):
        env = self.env_up(remind_before_min=15, quiet_hours="08:15-09:00")
        # W01 holds a credit for the reminder's template; W02 does not.
        self.assertOk(env.call("POST", "/api/v1/subscriptions", {"results": {"TPL_remind": "accept"}},
                               token=self.tokens["W01"]))
        self.set_clock(env, at(23, "07:46"))
        wait_until(lambda: env.count("notifications", "kind = 'clockin_reminder'") == 1, what="reminder")
        self.assertEqual(env.q1("SELECT employee_no FROM notifications WHERE kind = 'clockin_reminder'"), "W01")
        fields = json.loads(env.q1("SELECT fields FROM notifications WHERE kind = 'clockin_reminder'"))
        # WeChat's time fields take "2026-11-23 08:00", not ISO 8601.
        self.assertEqual((fields["shift"], fields["start"]), ("白班", "2026-11-23 08:00"))
        # Reminded once: the next tick sends nothing more.
        self.set_clock(env, at(23, "07:50"))
        self.assertEqual(env.count("notifications", "kind = 'clockin_reminder'"), 1)
        # 08:31 is in the quiet hours: the digest waits until 09:00.
        self.set_clock(env, at(23, "08:31"))
        self.set_clock(env, at(23, "08:40"))
        self.assertEqual(env.count("notifications", "kind = 'attendance_digest'"), 0)
        self.set_clock(env, at(23, "09:01"))
        wait_until(lambda: env.count("notifications", "kind = 'attendance_digest'") >= 1, what="digest after quiet")
        # Make-ups: two a month, the third is refused; past the deadline too.
        self.set_clock(env, at(26, "10:00"))
        for day, kind in ((23, "in"), (24, "in")):
            self.assertOk(env.call("POST", "/api/v1/attendance/makeups",
                                   {"date": "2026-11-%02d" % day, "kind": kind, "time": at(day, "07:59"),
                                    "reason": "忘记打卡"}, token=self.tokens["W02"]), 201)
        self.assertError(env.call("POST", "/api/v1/attendance/makeups",
                                  {"date": "2026-11-25", "kind": "in", "time": at(25, "07:59"),
                                   "reason": "忘记打卡"}, token=self.tokens["W02"]), 422, "makeup_limit")
        e = self.assertError(env.call("POST", "/api/v1/attendance/makeups",
                                      {"date": "2026-11-20", "kind": "in", "time": "2026-11-20T07:59:00+08:00",
                                       "reason": "忘记打卡"}, token=self.tokens["W03"]), 422, "makeup_not_allowed")
        self.assertEqual(e["reason"], "past_deadline")
        self.assertEqual(env.count("makeups"), 2)


if __name__ == "__main__":
    unittest.main()
