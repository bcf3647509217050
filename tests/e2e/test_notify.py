"""Notifications that are never lost: the outbox commits with the change,
delivery retries through WeChat failures, the consent ledger, skipped rows
routed to a WeCom robot, alert storms folded, kill -9 survived."""
import hashlib
import json
import time
import unittest

from harness import E2ETestCase, uid, wait_until

T_ASSIGNED = "TPL_ticket_assigned_0001"
ROSTER = ("employee_no,name,department,phone,site,roles,supervisor_no\n"
          + "".join("N%03d,工人%03d,装配车间,138%08d,一厂,worker,\n" % (i, i, i) for i in range(60)))


def config(sim_port_placeholder=None):
    return {
        "wechat": {"max_retries": 0},
        "notify": {
            "poll_ms": 50,
            "retry_base_s": 1,
            "robot_fold_s": 1,
            "kinds": {
                "ticket_assigned": {
                    "template_id": T_ASSIGNED,
                    "page": "pages/ticket/detail?id={ticket_id}",
                    "data": {"thing1": "title", "time2": "due_at", "thing3": "place"},
                    "fallback": "robot",
                    "robot_title": "工单未能通知到维修工",
                    "robot_line": "{title}（{place}）",
                },
                "attendance_late": {
                    "channel": "robot",
                    "robot_title": "迟到提醒",
                    "robot_line": "{name} 迟到 {late_min} 分钟",
                },
            },
            "robots": {"assembly": "http://127.0.0.1:1/cgi-bin/webhook/send?key=k-assembly"},
            "routes": [{"kind": "*", "department": "装配车间", "robot": "assembly"}],
        },
    }


FIELDS = {"title": "三号楼水龙头漏水", "due_at": "2026-11-23 18:00", "place": "三号楼 2 层", "ticket_id": "42"}


class Notify(E2ETestCase):
    START_SHARED = False

    def env_up(self, **cfg):
        c = config()
        for k, v in cfg.items():
            c["notify"][k] = v
        env = self.fresh(config=c, start=False)
        # The robot lives in wxsim, whose port is known only now.
        c["notify"]["robots"]["assembly"] = ("http://127.0.0.1:%d/cgi-bin/webhook/send?key=k-assembly"
                                            % env.sim_port)
        env.overrides = c
        env.write_config()
        env.start()
        env.roster_ok(ROSTER)
        return env

    def worker(self, env, no, credits=1, sim_credits=None):
        """Bind employee NO to a new WeChat user with consent credits (ours and WeChat's)."""
        openid = uid()
        token = env.login(openid)
        self.assertOk(env.bind(token, no, "工人%s" % no[1:], "%04d" % (int(no[1:]) % 10000)))
        for _ in range(credits):
            self.assertOk(env.call("POST", "/api/v1/subscriptions", {"results": {T_ASSIGNED: "accept"}},
                                   token=token))
        n = credits if sim_credits is None else sim_credits
        if n:
            st, j = env.sim("POST", "/sim/consent", {"openid": openid, "template_id": T_ASSIGNED, "count": n})
            self.assertEqual(st, 200, j)
        return openid, token

    def notify(self, env, no, kind="ticket_assigned", fields=None, **kw):
        body = {"kind": kind, "employee_no": no, "fields": fields or FIELDS}
        body.update(kw)
        r = env.call("POST", "/testing/notify", body)
        self.assertEqual(r.status, 200, r)
        return r.json

    def statuses(self, env):
        return dict(env.q("SELECT status, count(*) FROM notifications GROUP BY status"))

    def wait_settled(self, env, timeout=20):
        wait_until(lambda: env.count("notifications", "status IN ('pending', 'sending')") == 0,
                   timeout=timeout, what="notifications settled")

    def messages(self, env, openid=None):
        st, j = env.sim("GET", "/sim/messages")
        self.assertEqual(st, 200)
        return [m for m in j["messages"] if openid is None or m["touser"] == openid]

    def robot(self, env):
        st, j = env.sim("GET", "/sim/robot")
        self.assertEqual(st, 200)
        return j["messages"]

    def test_change_and_notification_commit_together(self):
        env = self.env_up()
        j = self.notify(env, "N001", fail_after_outbox=True)
        self.assertFalse(j["committed"])
        self.assertEqual(env.count("testing_events"), 0)
        self.assertEqual(env.count("notifications"), 0)
        j = self.notify(env, "N001", count=3)
        self.assertTrue(j["committed"])
        self.assertEqual(env.count("testing_events"), 1)
        # (N001 has not bound WeChat, so each is then skipped and routed to the robot.)
        self.assertEqual(env.count("notifications", "channel = 'wechat'"), 3)

    def test_delivered_with_fields_and_credit_spent(self):
        env = self.env_up()
        openid, token = self.worker(env, "N002", credits=2)
        self.notify(env, "N002")
        self.wait_settled(env)
        self.assertEqual(self.statuses(env), {"sent": 1})
        msgs = self.messages(env, openid)
        self.assertEqual(len(msgs), 1)
        m = msgs[0]
        self.assertEqual(m["template_id"], T_ASSIGNED)
        self.assertEqual(m["page"], "pages/ticket/detail?id=42")
        self.assertEqual(m["data"]["thing1"]["value"], "三号楼水龙头漏水")
        self.assertEqual(m["data"]["time2"]["value"], "2026-11-23 18:00")
        row = env.q("SELECT msgid, sent_at FROM notifications")[0]
        self.assertEqual(row[0], m["msgid"])
        self.assertIsNotNone(row[1])
        self.assertEqual(env.q1("SELECT credits FROM consent WHERE openid = ?", openid), 1)
        subs = self.assertOk(env.call("GET", "/api/v1/subscriptions", token=token))["templates"]
        self.assertEqual(subs, [{"template_id": T_ASSIGNED, "kinds": ["ticket_assigned"], "credits": 1,
                                 "last_status": "accept", "ask": False}])

    def test_wechat_busy_then_recovered_exactly_once(self):
        env = self.env_up()
        openid, _ = self.worker(env, "N003")
        env.fault(api="subscribe_send", errcode=-1, count=3)
        self.notify(env, "N003")
        self.wait_settled(env, timeout=30)
        self.assertEqual(self.statuses(env), {"sent": 1})
        self.assertEqual(len(self.messages(env, openid)), 1)
        hist = env.q("SELECT errcode FROM notification_attempts ORDER BY id")
        self.assertEqual([e for (e,) in hist], [-1, -1, -1, 0])
        self.assertEqual(env.q1("SELECT attempts FROM notifications"), 4)
        listing = self.assertOk(env.call("GET", "/api/v1/admin/notifications?status=sent",
                                         token=env.hr_key()))["notifications"]
        self.assertEqual(len(listing), 1)
        self.assertEqual([h["errcode"] for h in listing[0]["history"]], [-1, -1, -1, 0])

    def test_no_credit_skipped_and_routed_to_robot(self):
        env = self.env_up()
        # Our ledger has a credit, WeChat does not: 43101.
        openid, _ = self.worker(env, "N004", credits=1, sim_credits=0)
        self.notify(env, "N004")
        self.wait_settled(env)
        rows = env.q("SELECT channel, status, errcode, routed_to FROM notifications ORDER BY id")
        self.assertEqual(rows[0][:3], ("wechat", "skipped", 43101))
        self.assertEqual(rows[1][:2], ("robot", "sent"))
        self.assertIsNotNone(rows[0][3])
        self.assertEqual(env.q1("SELECT credits FROM consent WHERE openid = ?", openid), 0)
        self.assertEqual(self.messages(env, openid), [])
        robot = self.robot(env)
        self.assertEqual(len(robot), 1)
        self.assertIn("三号楼水龙头漏水", robot[0]["content"])
        # An unbound worker (no WeChat) is skipped at once, routed too.
        self.notify(env, "N005")
        self.wait_settled(env)
        self.assertEqual(env.count("notifications", "status = 'skipped' AND employee_no = 'N005'"), 1)

    def test_alert_storm_folded_into_one_robot_message(self):
        # The first alert waits robot_fold_s; the other 39 (queued meanwhile) join it.
        env = self.env_up(robot_fold_s=10)
        for i in range(40):
            self.notify(env, "N%03d" % i, kind="attendance_late",
                        fields={"name": "工人%03d" % i, "late_min": 5 + i % 7})
        self.wait_settled(env)
        self.assertEqual(self.statuses(env), {"sent": 40})
        robot = self.robot(env)
        self.assertEqual(len(robot), 1, robot)
        self.assertIn("迟到提醒", robot[0]["content"])
        self.assertIn("工人000 迟到 5 分钟", robot[0]["content"])
        self.assertLess(robot[0]["content"].index("工人000"), robot[0]["content"].index("工人039"))
        self.assertIn("共 40 条", robot[0]["content"])

    def test_robot_messages_a_minute_limited(self):
        env = self.env_up(robot_per_minute=2)
        for i in range(3):
            self.notify(env, "N%03d" % i, kind="attendance_late", fields={"name": "工人%03d" % i, "late_min": 3})
            if i < 2:
                self.wait_settled(env)
        wait_until(lambda: env.q1("SELECT errmsg FROM notifications WHERE employee_no = 'N002'") is not None,
                   what="third message held back")
        self.assertEqual(len(self.robot(env)), 2)
        self.assertEqual(env.q1("SELECT status FROM notifications WHERE employee_no = 'N002'"), "pending")
        env.clock(advance_s=61)
        self.wait_settled(env)
        self.assertEqual(len(self.robot(env)), 3)
        self.assertEqual(self.statuses(env), {"sent": 3})

    def test_kill_9_while_sending_loses_nothing(self):
        env = self.env_up()
        openids = [self.worker(env, "N%03d" % i, credits=2, sim_credits=2)[0] for i in range(10, 16)]
        env.fault(api="subscribe_send", errcode=0, delay_ms=3000, count=6)
        for i in range(10, 16):
            self.notify(env, "N%03d" % i)
        wait_until(lambda: env.count("notifications", "status = 'sending'") > 0, timeout=10,
                   what="rows sending")
        env.gy.kill9()
        env.start()
        self.wait_settled(env, timeout=30)
        self.assertEqual(env.count("notifications"), 6)
        self.assertEqual(self.statuses(env), {"sent": 6})
        for openid in openids:   # at least once; a resend after the kill is allowed
            self.assertGreaterEqual(len(self.messages(env, openid)), 1)
        self.assertIn("being sent when gongyoud stopped", env.log_text())

    def test_bad_template_mapping_refused_at_start(self):
        for kinds, key in (({"k": {"template_id": "T", "data": {"thingx": "title"}}}, "notify.kinds.k.data.thingx"),
                           ({"k": {"data": {"thing1": "title"}}}, "notify.kinds.k.template_id"),
                           ({"k": {"template_id": "T", "data": {}}}, "notify.kinds.k.data"),
                           ({"k": {"channel": "robot"}}, "notify.kinds.k.robot_line"),
                           ({"k": {"template_id": "T", "data": {"thing1": "t"}, "colour": "red"}},
                            "notify.kinds.k.colour")):
            with self.subTest(key=key):
                env = self.fresh(config={"notify": {"kinds": kinds}}, start=False)
                rc, out, err = env.run_daemon_expect_exit()
                self.assertEqual(rc, 2, err)
                self.assertIn(key, err)
                self.assertEqual(len(err.strip().splitlines()), 1, err)


class Consent(E2ETestCase):
    CONFIG = config()

    def test_same_tap_reported_twice_counts_once(self):
        env = self.env
        openid = uid()
        token = env.login(openid)
        self.assertOk(env.call("POST", "/api/v1/subscriptions", {"results": {T_ASSIGNED: "accept"}},
                               token=token))
        # WeChat's push of the same tap.
        ev = {"ToUserName": "gh_1", "FromUserName": openid, "CreateTime": str(int(time.time())),
              "MsgType": "event", "Event": "subscribe_msg_popup_event",
              "List": {"TemplateId": T_ASSIGNED, "SubscribeStatusString": "accept", "PopupScene": "0"}}
        self.push(ev)
        self.assertEqual(env.q1("SELECT credits FROM consent WHERE openid = ?", openid), 1)
        # A second, separate tap does count.
        self.assertOk(env.call("POST", "/api/v1/subscriptions", {"results": {T_ASSIGNED: "accept"}},
                               token=token))
        self.assertEqual(env.q1("SELECT credits FROM consent WHERE openid = ?", openid), 2)
        # Turned off in WeChat's settings: credits go.
        ev = dict(ev, Event="subscribe_msg_change_event", CreateTime=str(int(time.time()) + 1),
                  List={"TemplateId": T_ASSIGNED, "SubscribeStatusString": "reject"})
        self.push(ev)
        subs = self.assertOk(env.call("GET", "/api/v1/subscriptions", token=token))["templates"]
        self.assertEqual((subs[0]["credits"], subs[0]["last_status"], subs[0]["ask"]), (0, "reject", True))

    def push(self, ev):
        token = "ConsentPushToken1"
        env = self.env
        ts, nonce = str(int(time.time())), "7"
        sig = hashlib.sha1("".join(sorted([token, ts, nonce])).encode()).hexdigest()
        r = env.call("POST", "/wx/push?signature=%s&timestamp=%s&nonce=%s" % (sig, ts, nonce),
                     raw=json.dumps(ev), ctype="application/json")
        self.assertEqual((r.status, r.text), (200, "success"))

    def test_reports_validated(self):
        env = self.env
        token = env.login()
        for body in ({}, {"results": []}, {"results": {}}, {"results": {T_ASSIGNED: "maybe"}},
                     {"results": {"": "accept"}}):
            with self.subTest(body=body):
                self.assertError(env.call("POST", "/api/v1/subscriptions", body, token=token),
                                 400, "invalid_field")
        self.assertEqual(env.count("consent"), 0)
        self.assertError(env.call("GET", "/api/v1/subscriptions"), 401, "unauthorized")


Consent.CONFIG["wechat"]["push_token"] = "ConsentPushToken1"


if __name__ == "__main__":
    unittest.main()
