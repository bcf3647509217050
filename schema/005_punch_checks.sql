-- 005: punches rebuilt with its CHECK constraints written as OR chains.
--
-- SQLite (3.40, Debian's) checks "x IN ('a', 'b', 'c')" by building a
-- temporary b-tree of the list, on every insert: three of them per punch,
-- about 5 % of the writer's time at shift change (bench). "x = 'a' OR
-- x = 'b' ..." checks the same thing with plain comparisons. Columns,
-- order, indexes and meaning are unchanged. db_migrate runs this with
-- foreign keys off and checks them before it commits (makeups refers to
-- punches).
CREATE TABLE punches_new (
    id                INTEGER PRIMARY KEY,
    employee_id       INTEGER NOT NULL REFERENCES employees(id),
    request_id        TEXT,
    at                INTEGER NOT NULL,       -- the punch time (the phone's for offline punches)
    received_at       INTEGER NOT NULL,       -- the server's clock when it arrived
    client_time       INTEGER,                -- as sent by the phone, if it sent one
    source            TEXT NOT NULL CHECK (source = 'online' OR source = 'offline' OR source = 'field' OR
                                           source = 'makeup' OR source = 'import'),
    att_date          INTEGER NOT NULL,
    shift_version_id  INTEGER NOT NULL REFERENCES shift_versions(id),
    dir               TEXT NOT NULL CHECK (dir = 'in' OR dir = 'out'),   -- as answered
    fixed_dir         INTEGER NOT NULL DEFAULT 0,  -- a make-up: the direction is given, not derived
    verdict_min       INTEGER NOT NULL DEFAULT 0,  -- late (in) or early (out) minutes as answered
    lat               REAL,
    lng               REAL,
    accuracy          REAL,
    distance_m        INTEGER,
    site_code         TEXT,
    wifi_bssid        TEXT,
    location          TEXT NOT NULL CHECK (location = 'fence' OR location = 'wifi' OR location = 'flag' OR
                                           location = 'field' OR location = 'none'),
    field_status      TEXT CHECK (field_status = 'pending' OR field_status = 'approved' OR
                                  field_status = 'rejected'),
    field_alerted     INTEGER NOT NULL DEFAULT 0,  -- in a supervisor's review alert already
    moderation_id     INTEGER REFERENCES moderation(id),
    makeup_id         INTEGER
);
INSERT INTO punches_new SELECT * FROM punches;
DROP TABLE punches;
ALTER TABLE punches_new RENAME TO punches;
-- As in 004: one index for the day's punches and the replay and repeat
-- checks, and the field punches waiting for review.
CREATE INDEX punches_day ON punches(employee_id, att_date);
CREATE INDEX punches_field ON punches(field_status) WHERE field_status = 'pending';
