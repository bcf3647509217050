-- 004_attendance: sites, shifts, schedules, punches, daily results and
-- make-up requests (issue 5). Dates of attendance ("att_date") are local
-- day numbers in the configured time zone: days since 1970-01-01. Times
-- are Unix seconds.

-- A place where punching counts as on site: fences (JSON array of
-- {lat, lng, radius_m}) and Wi-Fi BSSIDs (JSON array of lower-case
-- "aa:bb:cc:dd:ee:ff"). employees.site names a site by its code.
CREATE TABLE sites (
    code          TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    fences        TEXT NOT NULL,
    wifi          TEXT NOT NULL DEFAULT '[]',
    out_of_range  TEXT NOT NULL CHECK (out_of_range IN ('refuse', 'field', 'flag')),
    updated_at    INTEGER NOT NULL
) WITHOUT ROWID;

-- Every edit of a shift is a new, immutable version; days and punches keep
-- the version they were judged against, so editing a shift never
-- re-judges an old day.
CREATE TABLE shift_versions (
    id                INTEGER PRIMARY KEY,
    code              TEXT NOT NULL,
    name              TEXT NOT NULL,
    start_min         INTEGER NOT NULL,
    end_min           INTEGER NOT NULL,
    break_min         INTEGER NOT NULL,
    open_before_min   INTEGER NOT NULL,
    close_after_min   INTEGER NOT NULL,
    grace_min         INTEGER NOT NULL,
    late_max_min      INTEGER NOT NULL,
    serious_max_min   INTEGER NOT NULL,
    early_grace_min   INTEGER NOT NULL,
    half_day_min      INTEGER NOT NULL,
    absent_below_min  INTEGER NOT NULL,
    created_at        INTEGER NOT NULL
);

-- The current version of each shift code.
CREATE TABLE shifts (
    code        TEXT PRIMARY KEY,
    version_id  INTEGER NOT NULL REFERENCES shift_versions(id)
) WITHOUT ROWID;

-- A department's default week, possibly rotating: weeks is a JSON array of
-- 1..4 arrays of 7 shift codes (Monday first, "" = rest); anchor_day is a
-- day in the first week of the rotation.
CREATE TABLE patterns (
    department  TEXT PRIMARY KEY,
    anchor_day  INTEGER NOT NULL,
    weeks       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Per-person overrides (CSV import): shift_code '' is a rest day.
CREATE TABLE schedule_overrides (
    employee_id  INTEGER NOT NULL REFERENCES employees(id),
    att_date     INTEGER NOT NULL,
    shift_code   TEXT NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (employee_id, att_date)
) WITHOUT ROWID;

CREATE TABLE schedule_imports (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    rows   INTEGER NOT NULL
);

-- Dates whose day rows were created for every active employee.
CREATE TABLE att_plans (
    att_date    INTEGER PRIMARY KEY,
    planned_at  INTEGER NOT NULL
);

-- One row per employee and attendance date: the shift instance (a
-- snapshot: the version and its times) and the result, updated at every
-- punch and made final when the check-out window closes.
CREATE TABLE att_days (
    employee_id       INTEGER NOT NULL REFERENCES employees(id),
    att_date          INTEGER NOT NULL,
    shift_version_id  INTEGER REFERENCES shift_versions(id),  -- NULL: rest
    start_at          INTEGER NOT NULL DEFAULT 0,
    end_at            INTEGER NOT NULL DEFAULT 0,
    open_at           INTEGER NOT NULL DEFAULT 0,
    close_at          INTEGER NOT NULL DEFAULT 0,
    status            TEXT NOT NULL,
    first_in          INTEGER,
    last_out          INTEGER,
    late_min          INTEGER NOT NULL DEFAULT 0,
    early_min         INTEGER NOT NULL DEFAULT 0,
    worked_min        INTEGER NOT NULL DEFAULT 0,
    tier              INTEGER NOT NULL DEFAULT 0,   -- 0 on time, 1 late, 2 serious, 3 absent
    half_day          INTEGER NOT NULL DEFAULT 0,
    excused           INTEGER NOT NULL DEFAULT 0,   -- lateness waived by the monthly allowance
    punches           INTEGER NOT NULL DEFAULT 0,
    final             INTEGER NOT NULL DEFAULT 0,
    digest_done       INTEGER NOT NULL DEFAULT 0,
    reminded          INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (employee_id, att_date)
) WITHOUT ROWID;
CREATE INDEX att_days_date ON att_days(att_date);
CREATE INDEX att_days_closing ON att_days(close_at) WHERE final = 0 AND shift_version_id IS NOT NULL;
CREATE INDEX att_days_digest ON att_days(start_at) WHERE digest_done = 0 AND shift_version_id IS NOT NULL;
CREATE INDEX att_days_remind ON att_days(start_at) WHERE reminded = 0 AND shift_version_id IS NOT NULL;

-- Every punch as received, with the instance it was judged against.
CREATE TABLE punches (
    id                INTEGER PRIMARY KEY,
    employee_id       INTEGER NOT NULL REFERENCES employees(id),
    request_id        TEXT,
    at                INTEGER NOT NULL,       -- the punch time (the phone's for offline punches)
    received_at       INTEGER NOT NULL,       -- the server's clock when it arrived
    client_time       INTEGER,                -- as sent by the phone, if it sent one
    source            TEXT NOT NULL CHECK (source IN ('online', 'offline', 'field', 'makeup', 'import')),
    att_date          INTEGER NOT NULL,
    shift_version_id  INTEGER NOT NULL REFERENCES shift_versions(id),
    dir               TEXT NOT NULL CHECK (dir IN ('in', 'out')),   -- as answered
    fixed_dir         INTEGER NOT NULL DEFAULT 0,  -- a make-up: the direction is given, not derived
    verdict_min       INTEGER NOT NULL DEFAULT 0,  -- late (in) or early (out) minutes as answered
    lat               REAL,
    lng               REAL,
    accuracy          REAL,
    distance_m        INTEGER,
    site_code         TEXT,
    wifi_bssid        TEXT,
    location          TEXT NOT NULL CHECK (location IN ('fence', 'wifi', 'flag', 'field', 'none')),
    field_status      TEXT CHECK (field_status IN ('pending', 'approved', 'rejected')),
    field_alerted     INTEGER NOT NULL DEFAULT 0,  -- in a supervisor's review alert already
    moderation_id     INTEGER REFERENCES moderation(id),
    makeup_id         INTEGER
);
-- One index serves the day's punches, the replay check (request_id) and
-- the repeat check (received_at): both look only at the days around now,
-- and every punch is decided on the one writer thread, so the request_id
-- needs no unique index of its own. At shift change each index costs a
-- random page write per punch, so there are as few as that.
CREATE INDEX punches_day ON punches(employee_id, att_date);
CREATE INDEX punches_field ON punches(field_status) WHERE field_status = 'pending';

-- Make-up requests (补卡): one corrected punch time for one day.
CREATE TABLE makeups (
    id             INTEGER PRIMARY KEY,
    employee_id    INTEGER NOT NULL REFERENCES employees(id),
    att_date       INTEGER NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('in', 'out')),
    at             INTEGER NOT NULL,
    moderation_id  INTEGER REFERENCES moderation(id),   -- the reason
    status         TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    created_at     INTEGER NOT NULL,
    decided_at     INTEGER,
    decided_by     TEXT,
    comment        TEXT,
    punch_id       INTEGER REFERENCES punches(id)
);
CREATE INDEX makeups_employee ON makeups(employee_id, att_date);
CREATE INDEX makeups_status ON makeups(status, id);
