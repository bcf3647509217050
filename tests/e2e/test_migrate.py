"""Schema migrations and the operator subcommands (migrate, apikey create)."""
import glob
import os
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

    def test_upgrade_keeps_punches_and_their_references(self):
        # A version-4 database with a make-up that refers to its punch:
        # migration 5 rebuilds punches (foreign keys off, checked before commit).
        env = self.fresh(start=False, sim=False)
        schema = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                               "..", "..", "schema", "00[1-4]_*.sql")))
        self.assertEqual(len(schema), 4)
        os.makedirs(env.data_dir, exist_ok=True)
        c = sqlite3.connect(env.db_path)
        for f in schema:
            with open(f, encoding="utf-8") as fh:
                c.executescript(fh.read())
        c.executescript("""
            PRAGMA user_version = 4;
            INSERT INTO employees (id, employee_no, name, roles, created_at, updated_at)
                VALUES (1, 'E1', '张伟', 'worker', 0, 0);
            INSERT INTO shift_versions VALUES (1, 'A', '早班', 480, 1020, 60, 60, 240, 5, 30, 120, 5, 240, 60, 0);
            INSERT INTO punches (id, employee_id, request_id, at, received_at, source, att_date, shift_version_id,
                                 dir, location, field_status)
                VALUES (7, 1, 'r1', 100, 100, 'makeup', 20000, 1, 'in', 'none', NULL),
                       (8, 1, 'r2', 200, 200, 'field', 20000, 1, 'out', 'field', 'pending');
            INSERT INTO makeups (id, employee_id, att_date, kind, at, status, created_at, punch_id)
                VALUES (1, 1, 20000, 'in', 100, 'approved', 0, 7);
        """)
        c.commit()
        c.close()
        p = env.gongyoud_cmd(["migrate"])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(env.q1("PRAGMA user_version"), SCHEMA_VERSION)
        self.assertEqual(env.q("SELECT id, request_id, source, dir, location, field_status FROM punches ORDER BY id"),
                         [(7, "r1", "makeup", "in", "none", None), (8, "r2", "field", "out", "field", "pending")])
        self.assertEqual(env.q("SELECT punch_id FROM makeups"), [(7,)])
        self.assertEqual(env.q("PRAGMA foreign_key_check"), [])
        self.assertEqual({r[0] for r in env.q("SELECT name FROM sqlite_master WHERE tbl_name = 'punches' "
                                              "AND type = 'index'")}, {"punches_day", "punches_field"})
        # The constraints still hold.
        c = sqlite3.connect(env.db_path)
        with self.assertRaises(sqlite3.IntegrityError):
            c.execute("INSERT INTO punches (employee_id, at, received_at, source, att_date, shift_version_id, "
                      "dir, location) VALUES (1, 1, 1, 'carrier_pigeon', 1, 1, 'in', 'none')")
        c.close()

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
