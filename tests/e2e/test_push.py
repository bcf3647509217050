"""WeChat's message push: URL verification, plaintext / compatible / safe
mode, JSON and XML, replays and forgeries refused, and the journal HR reads."""
import hashlib
import json
import random
import string
import time
import unittest

from harness import E2ETestCase, uid

TOKEN = "GongyouPushToken42"
AES_KEY = "".join(random.Random(7).choice(string.ascii_letters + string.digits) for _ in range(43))
CONFIG = {"wechat": {"push_token": TOKEN, "push_aes_key": AES_KEY}}

POPUP = {"ToUserName": "gh_123456789abc", "FromUserName": "otFpruAK8D-E6EfStSYonYSBZ8_4",
         "CreateTime": "1610969440", "MsgType": "event", "Event": "subscribe_msg_popup_event",
         "List": {"TemplateId": "VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc",
                  "SubscribeStatusString": "accept", "PopupScene": "0"}}


def signature(*parts):
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


class PushBase(E2ETestCase):
    """Helpers only; the test classes below choose the push mode by config."""
    START_SHARED = False

    def push(self, event, mode="plain", fmt="json", **kw):
        env = self.env
        body = {"event": event, "mode": mode, "format": fmt,
                "url": "http://127.0.0.1:%d/wx/push" % env.port, "token": TOKEN, "aes_key": AES_KEY,
                "appid": env.appid}
        body.update(kw)
        st, j = env.sim("POST", "/sim/push", body)
        self.assertEqual(st, 200, j)
        return j

    def post_plain(self, text, ts=None, nonce="12345", ctype="application/json", token=TOKEN):
        """Post straight to gongyoud as WeChat would in plaintext mode."""
        env = self.env
        ts = str(int(time.time()) if ts is None else ts)
        q = "signature=%s&timestamp=%s&nonce=%s" % (signature(token, ts, nonce), ts, nonce)
        return env.call("POST", "/wx/push?" + q, raw=text, ctype=ctype)

    def events(self, **q):
        env = self.env
        qs = "&".join("%s=%s" % kv for kv in q.items())
        r = env.call("GET", "/api/v1/admin/wechat/events" + ("?" + qs if qs else ""), token=env.hr_key())
        self.assertEqual(r.status, 200, r)
        return r.json

    def last_event(self):
        return self.events(limit=1)["events"][0]


class PushPlain(PushBase):
    """The console in plaintext mode: token only."""
    START_SHARED = True
    CONFIG = {"wechat": {"push_token": TOKEN}}

    def test_url_verification(self):
        env = self.env
        st, j = env.sim("POST", "/sim/push/verify", {"url": "http://127.0.0.1:%d/wx/push" % env.port,
                                                     "token": TOKEN, "echostr": "4375120948345356249"})
        self.assertEqual(st, 200, j)
        self.assertTrue(j["ok"], j)
        self.assertEqual(j["body"], "4375120948345356249")
        st, j = env.sim("POST", "/sim/push/verify", {"url": "http://127.0.0.1:%d/wx/push" % env.port,
                                                     "token": "SomeoneElse", "echostr": "1"})
        self.assertEqual(j["status"], 401, j)
        self.assertFalse(j["ok"])

    def test_list_object_or_array_and_numbers_as_strings(self):
        items = [{"TemplateId": "T1", "SubscribeStatusString": "accept", "PopupScene": 0},
                 {"TemplateId": "T2", "SubscribeStatusString": "reject", "PopupScene": 0}]
        ev = dict(POPUP, FromUserName=uid(), CreateTime=1610969441, List=items)
        r = self.post_plain(json.dumps(ev))
        self.assertEqual((r.status, r.text), (200, "success"))
        row = self.last_event()
        self.assertEqual([i["TemplateId"] for i in row["payload"]["List"]], ["T1", "T2"])
        self.assertEqual(row["payload"]["List"][0]["PopupScene"], "0")
        self.assertEqual(row["payload"]["CreateTime"], "1610969441")
        db = self.env.q1("SELECT payload FROM wx_events WHERE id = ?", row["id"])
        self.assertIn('"PopupScene":"0"', db)

    def test_retry_of_one_push_is_a_duplicate(self):
        ev = dict(POPUP, FromUserName=uid(), CreateTime="1611111111")
        for _ in range(3):        # WeChat retries up to three times
            r = self.post_plain(json.dumps(ev), nonce=str(random.randint(1, 10**9)))
            self.assertEqual((r.status, r.text), (200, "success"))
        rows = self.env.q("SELECT verdict FROM wx_events WHERE openid = ? ORDER BY id", ev["FromUserName"])
        self.assertEqual([v for (v,) in rows], ["accepted", "duplicate", "duplicate"])
        # A message with a MsgId dedupes on it.
        msg = {"ToUserName": "gh_1", "FromUserName": uid(), "CreateTime": "1", "MsgType": "text",
               "Content": "hi", "MsgId": "23456789012345678"}
        self.post_plain(json.dumps(msg))
        self.post_plain(json.dumps(dict(msg, CreateTime="2")))
        rows = self.env.q("SELECT verdict FROM wx_events WHERE openid = ? ORDER BY id", msg["FromUserName"])
        self.assertEqual([v for (v,) in rows], ["accepted", "duplicate"])

    def test_plain_json_and_xml(self):
        for fmt in ("json", "xml"):
            with self.subTest(format=fmt):
                ev = dict(POPUP, FromUserName=uid())
                j = self.push(ev, "plain", fmt)
                self.assertEqual((j["status"], j["body"]), (200, "success"), j)
                row = self.last_event()
                self.assertEqual((row["verdict"], row["mode"], row["format"]), ("accepted", "plain", fmt))
                self.assertEqual(row["payload"]["List"][0]["SubscribeStatusString"], "accept")

    def test_msgid_as_a_bare_json_number(self):
        openid = uid()
        text = ('{"ToUserName":"gh_1","FromUserName":"%s","CreateTime":1620963428,"MsgType":"event",'
                '"Event":"subscribe_msg_sent_event","List":{"TemplateId":"T","MsgID":1864323726461255680,'
                '"ErrorCode":0,"ErrorStatus":"success"}}' % openid)
        self.assertEqual(self.post_plain(text).status, 200)
        row = self.last_event()
        self.assertEqual(row["payload"]["List"][0]["MsgID"], "1864323726461255680")

    def test_forged_plain_pushes_refused(self):
        openid = uid()
        j = self.push(dict(POPUP, FromUserName=openid), "plain", "json", tamper="signature")
        self.assertEqual(j["status"], 401, j)
        self.assertEqual(self.last_event()["verdict"], "bad_signature")
        self.assertIsNone(self.last_event()["payload"])
        r = self.post_plain(json.dumps(POPUP), token="NotOurToken")
        self.assertError(r, 401, "push_bad_signature")
        # Unsigned junk is refused for its signature, before its body is read.
        r = self.post_plain("{not json", token="NotOurToken")
        self.assertError(r, 401, "push_bad_signature")

    def test_stale_timestamp_refused(self):
        r = self.post_plain(json.dumps(dict(POPUP, FromUserName=uid())), ts=int(time.time()) - 1000)
        self.assertError(r, 403, "push_stale")
        self.assertEqual(self.last_event()["verdict"], "stale")
        j = self.push(dict(POPUP, FromUserName=uid()), "safe", "xml", timestamp=int(time.time()) + 1000)
        self.assertEqual(j["status"], 403, j)

    def test_garbage_bodies(self):
        for text, ctype in (("{not json", "application/json"), ("<xml><a>1</xml>", "text/xml"),
                            ("<!DOCTYPE x><xml/>", "text/xml"), ("", "application/json")):
            with self.subTest(body=text):
                self.assertError(self.post_plain(text, ctype=ctype), 400, "push_bad_body")

    def test_journal_paging_and_access(self):
        env = self.env
        for i in range(3):
            self.post_plain(json.dumps(dict(POPUP, FromUserName=uid(), CreateTime=str(1500000000 + i))))
        page = self.events(limit=2)
        self.assertEqual(len(page["events"]), 2)
        ids = [e["id"] for e in page["events"]]
        self.assertEqual(ids, sorted(ids, reverse=True))
        nxt = self.events(limit=2, before_id=page["next_before_id"])
        self.assertTrue(all(e["id"] < ids[-1] for e in nxt["events"]))
        only = self.events(verdict="accepted")
        self.assertTrue(all(e["verdict"] == "accepted" for e in only["events"]))
        self.assertError(env.call("GET", "/api/v1/admin/wechat/events?limit=0", token=env.hr_key()),
                         400, "invalid_field")
        token = env.login()
        self.assertError(env.call("GET", "/api/v1/admin/wechat/events", token=token), 403, "forbidden")


class PushSafe(PushBase):
    """The console in compatible or safe mode: token and EncodingAESKey."""
    START_SHARED = True
    CONFIG = CONFIG

    def test_plain_pushes_refused_once_encrypted(self):
        """With an EncodingAESKey set every real push is encrypted: a plain one is forged."""
        openid = uid()
        j = self.push(dict(POPUP, FromUserName=openid), "plain", "json")
        self.assertEqual(j["status"], 401, j)
        self.assertEqual(self.last_event()["verdict"], "plaintext_refused")
        self.assertEqual(self.env.count("wx_events", "openid = ? AND verdict = 'accepted'", openid), 0)

    def test_every_mode_and_format(self):
        for mode in ("compat", "safe"):
            for fmt in ("json", "xml"):
                with self.subTest(mode=mode, format=fmt):
                    ev = dict(POPUP, FromUserName=uid(), CreateTime=str(1700000000 + random.randint(0, 10**6)))
                    j = self.push(ev, mode, fmt)
                    self.assertEqual((j["status"], j["body"]), (200, "success"), j)
                    if mode == "safe":
                        self.assertIn("msg_signature=", j["query"])
                        self.assertNotIn("SubscribeStatusString", j["sent"])   # only ciphertext travels
                    row = self.last_event()
                    self.assertEqual((row["verdict"], row["mode"], row["format"]), ("accepted", mode, fmt))
                    self.assertEqual(row["event"], "subscribe_msg_popup_event")
                    self.assertEqual(row["openid"], ev["FromUserName"])
                    lst = row["payload"]["List"]
                    self.assertEqual(lst, [{"TemplateId": POPUP["List"]["TemplateId"],
                                            "SubscribeStatusString": "accept", "PopupScene": "0"}])
                    self.assertEqual(row["payload"]["CreateTime"], ev["CreateTime"])

    def test_msgid_beyond_2_pow_53_kept_exactly(self):
        # in XML, through wxsim, safe mode
        ev = {"ToUserName": "gh_1", "FromUserName": uid(), "CreateTime": "1620963429", "MsgType": "event",
              "Event": "subscribe_msg_sent_event",
              "List": {"TemplateId": "T", "MsgID": "1864323726461255681", "ErrorCode": "0",
                       "ErrorStatus": "success"}}
        j = self.push(ev, "safe", "xml")
        self.assertEqual(j["status"], 200, j)
        self.assertEqual(self.last_event()["payload"]["List"][0]["MsgID"], "1864323726461255681")

    def test_forged_pushes_refused(self):
        env = self.env
        for mode, tamper, verdicts in (("safe", "signature", {"bad_signature"}),
                                       ("safe", "encrypt", {"bad_signature", "decrypt_failed"}),
                                       ("safe", "appid", {"wrong_appid"}),
                                       ("compat", "appid", {"wrong_appid"})):
            with self.subTest(mode=mode, tamper=tamper):
                openid = uid()
                j = self.push(dict(POPUP, FromUserName=openid), mode, "json", tamper=tamper)
                self.assertEqual(j["status"], 401, j)
                self.assertEqual(json.loads(j["body"])["error"]["code"], "push_bad_signature")
                row = self.last_event()
                self.assertIn(row["verdict"], verdicts)
                self.assertIsNone(row["payload"])     # an unverified body is not kept
                self.assertEqual(env.count("wx_events", "openid = ? AND verdict = 'accepted'", openid), 0)
        # No signature at all.
        r = env.call("POST", "/wx/push", raw=json.dumps(POPUP), ctype="application/json")
        self.assertEqual(r.status, 403)   # no timestamp: stale


class PushOff(E2ETestCase):

    def test_not_configured(self):
        r = self.env.call("POST", "/wx/push?signature=x&timestamp=1&nonce=1", raw="{}", ctype="application/json")
        self.assertError(r, 404, "push_not_configured")
        self.assertEqual(self.env.count("wx_events"), 0)


class PushPath(E2ETestCase):
    CONFIG = {"wechat": {"push_token": TOKEN, "push_path": "/hooks/wechat"}}

    def test_configured_path(self):
        env = self.env
        ts, nonce = str(int(time.time())), "9"
        q = "signature=%s&timestamp=%s&nonce=%s" % (signature(TOKEN, ts, nonce), ts, nonce)
        r = env.call("POST", "/hooks/wechat?" + q, raw=json.dumps(dict(POPUP, FromUserName=uid())),
                     ctype="application/json")
        self.assertEqual((r.status, r.text), (200, "success"))
        self.assertError(env.call("POST", "/wx/push?" + q, raw="{}", ctype="application/json"), 404, "not_found")


class PushConfig(E2ETestCase):
    START_SHARED = False

    def test_bad_push_settings_refused_at_start(self):
        for wechat, key in (({"push_aes_key": "short"}, "wechat.push_aes_key"),
                            ({"push_token": "a b"}, "wechat.push_token"),
                            ({"push_path": "wx/push"}, "wechat.push_path")):
            with self.subTest(key=key):
                env = self.fresh(config={"wechat": wechat}, start=False)
                rc, out, err = env.run_daemon_expect_exit()
                self.assertNotEqual(rc, 0)
                self.assertIn(key, err)


if __name__ == "__main__":
    unittest.main()
