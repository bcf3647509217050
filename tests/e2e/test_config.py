"""The config file: unknown keys and bad values refused with one line, env overrides."""
import os
import unittest

from harness import E2ETestCase, uid


class BadConfig(E2ETestCase):
    START_SHARED = False

    def refused(self, overrides=None, raw=None, env=None):
        """Start gongyoud with a bad config; returns its stderr (one line)."""
        e = self.fresh(start=False, sim=False, env=env)
        if raw is not None:
            with open(e.config_path, "w", encoding="utf-8") as f:
                f.write(raw)
        else:
            cfg = e.config()
            for dotted, value in overrides.items():
                node = cfg
                *parents, leaf = dotted.split(".")
                for p in parents:
                    node = node.setdefault(p, {})
                node[leaf] = value
            e.write_config(cfg)
        rc, out, err = e.run_daemon_expect_exit()
        self.assertNotEqual(rc, 0, err)
        self.assertNotIn("listening on", out)
        lines = [l for l in err.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, err)
        self.assertFalse(os.path.exists(e.db_path), "a refused config must not create the database")
        return lines[0]

    def test_unknown_top_level_key(self):
        line = self.refused({"colour": "blue"})
        self.assertIn("colour", line)

    def test_unknown_nested_key(self):
        line = self.refused({"wechat.app_id": "wx1"})
        self.assertIn("wechat.app_id", line)

    def test_bad_listen(self):
        line = self.refused({"listen": "nope"})
        self.assertIn("listen", line)

    def test_bad_values_name_the_key(self):
        cases = {
            "wechat.timeout_ms": "fast",
            "wechat.max_retries": 99,
            "session.ttl_s": 1.5,
            "testing.clock": "yes",
            "db.synchronous": "OFF",
            "log_level": "loud",
            "wechat.api_base": "ftp://example.com",
            "timezone": "Mars/Olympus",
            "http.max_body": 10,
        }
        for key, value in cases.items():
            with self.subTest(key=key):
                self.assertIn(key, self.refused({key: value}))

    def test_sync_thread_needs_full(self):
        line = self.refused({"writer.sync_thread": True, "db.synchronous": "NORMAL"})
        self.assertIn("writer.sync_thread", line)

    def test_not_json(self):
        line = self.refused(raw='{"listen": "127.0.0.1:0",')
        self.assertIn("config", line)

    def test_bad_env_value_names_the_key(self):
        line = self.refused({}, env={"GONGYOU_LISTEN": "nope"})
        self.assertIn("GONGYOU_LISTEN", line)

    def test_missing_config_file(self):
        e = self.fresh(start=False, sim=False)
        os.unlink(e.config_path)
        rc, out, err = e.run_daemon_expect_exit()
        self.assertNotEqual(rc, 0)
        self.assertIn(e.config_path, err)


class SecretFromEnv(E2ETestCase):
    START_SHARED = False

    def test_env_secret_overrides_file(self):
        # wxsim knows the real secret; the file has a wrong one; the env has the real one.
        real = uid("s")
        env = self.fresh(start=False, sim_secret=real, env={"GONGYOU_WX_SECRET": real})
        self.assertNotEqual(env.secret, real)
        env.start()
        body = self.assertOk(env.login_response())
        self.assertTrue(body["token"])
        calls = env.calls()
        self.assertEqual(len(calls), 1)
        self.assertTrue(calls[0]["secret_ok"])
        self.assertNotIn(real, env.log_text())

    def test_wrong_secret_without_env_fails(self):
        env = self.fresh(start=False, sim_secret=uid("s"))
        env.start()
        r = env.login_response()
        self.assertError(r, 502, "wechat_error")
        self.assertEqual(env.count("wx_users"), 0)
        self.assertFalse(env.calls()[0]["secret_ok"])

    def test_data_dir_created(self):
        env = self.fresh(start=False, config={})
        env.overrides = {"data_dir": os.path.join(env.dir, "a", "b", "c")}
        env.data_dir = env.overrides["data_dir"]
        env.db_path = os.path.join(env.data_dir, "gongyou.db")
        env.write_config()
        env.start()
        self.assertOk(env.call("GET", "/healthz"))
        self.assertTrue(os.path.exists(env.db_path))


if __name__ == "__main__":
    unittest.main()
