"""Schema migrations and the operator subcommands (migrate, apikey create)."""
import sqlite3
import unittest

from harness import SCHEMA_VERSION, E2ETestCase, sha256_hex


class Migrate(E2ETestCase):
    START_SHARED = False

    def test_migrate_creates_schema(self):
        env = self.fresh(start=False, sim=False)
        p = env.gongyoud_cmd(["migrate"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("schema version %d" % SCHEMA_VERSION, p.stdout)
        self.assertEqual(env.q1("PRAGMA user_version"), SCHEMA_VERSION)
        tables = {r[0] for r in env.q("SELECT name FROM sqlite_master WHERE type = 'table'")}
        self.assertTrue({"wx_users", "sessions", "api_keys", "employees", "bind_attempts",
                         "roster_imports", "wx_tokens", "wx_events", "qrcodes"} <= tables, tables)
        # again: nothing to do, still fine
        p = env.gongyoud_cmd(["migrate"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(env.q1("PRAGMA user_version"), SCHEMA_VERSION)

    def test_newer_database_is_refused(self):
        env = self.fresh(start=False)
        self.assertEqual(env.gongyoud_cmd(["migrate"]).returncode, 0)
        c = sqlite3.connect(env.db_path)
        c.execute("PRAGMA user_version = 99")
        c.commit()
        c.close()
        rc, out, err = env.run_daemon_expect_exit()
        self.assertNotEqual(rc, 0)
        self.assertNotIn("listening on", out)
        self.assertIn("schema version", err)
        self.assertIn("99", err)
        p = env.gongyoud_cmd(["migrate"])
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("schema version", p.stderr)
        p = env.gongyoud_cmd(["roster", "import", env.write_file("r.csv", "x")])
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(env.q1("PRAGMA user_version"), 99)

    def test_apikey_create(self):
        env = self.fresh(start=False, sim=False)
        p = env.gongyoud_cmd(["apikey", "create", "--role", "hr", "--name", "人事系统"])
        self.assertEqual(p.returncode, 0, p.stderr)
        key = p.stdout.strip()
        self.assertEqual(p.stdout.count("\n"), 1)
        self.assertRegex(key, r"^gyk_[A-Za-z0-9_-]{43}$")
        self.assertEqual(env.q("SELECT key_hash, name, role, revoked_at FROM api_keys"),
                         [(sha256_hex(key), "人事系统", "hr", None)])
        self.assertNotIn(key.encode(), env.db_files_bytes())
        for bad in (["apikey", "create", "--role", "boss", "--name", "x"],
                    ["apikey", "create", "--role", "hr|worker", "--name", "x"],
                    ["apikey", "create", "--role", "hr", "--name", ""],
                    ["apikey", "create", "--role", "hr"]):
            with self.subTest(args=bad):
                p = env.gongyoud_cmd(bad)
                self.assertNotEqual(p.returncode, 0)
                self.assertEqual(p.stdout, "")
        self.assertEqual(env.count("api_keys"), 1)


if __name__ == "__main__":
    unittest.main()
