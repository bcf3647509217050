-- 001_init: WeChat users, sessions, API keys, the roster and binding.
-- Times are Unix seconds (UTC); tokens and keys are stored only as the
-- lower-case hex SHA-256 of the value handed out.

CREATE TABLE wx_users (
    id            INTEGER PRIMARY KEY,
    openid        TEXT NOT NULL UNIQUE,
    unionid       TEXT,
    session_key   TEXT NOT NULL,          -- secret: never returned or logged
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,         -- sha256 of the bearer token
    user_id     INTEGER NOT NULL REFERENCES wx_users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,         -- slides forward with use
    touched_at  INTEGER NOT NULL          -- last time expires_at was moved
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expiry ON sessions(expires_at);

CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    key_hash    TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('worker', 'technician', 'supervisor', 'hr')),
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE employees (
    id             INTEGER PRIMARY KEY,
    employee_no    TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    department     TEXT NOT NULL DEFAULT '',
    phone          TEXT NOT NULL DEFAULT '',
    site           TEXT NOT NULL DEFAULT '',
    roles          TEXT NOT NULL,          -- "worker|technician", canonical order
    supervisor_no  TEXT,                   -- another employee_no, or NULL
    active         INTEGER NOT NULL DEFAULT 1,
    wx_user_id     INTEGER UNIQUE REFERENCES wx_users(id),
    bound_at       INTEGER,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX employees_supervisor ON employees(supervisor_no);

-- Every bind attempt, so failures can be rate-limited across restarts.
CREATE TABLE bind_attempts (
    id           INTEGER PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES wx_users(id) ON DELETE CASCADE,
    at           INTEGER NOT NULL,
    ok           INTEGER NOT NULL,
    employee_no  TEXT NOT NULL
);
CREATE INDEX bind_attempts_user ON bind_attempts(user_id, at);

CREATE TABLE roster_imports (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    source       TEXT NOT NULL,            -- "cli" or "api"
    rows         INTEGER NOT NULL,
    added        INTEGER NOT NULL,
    updated      INTEGER NOT NULL,
    deactivated  INTEGER NOT NULL,
    unchanged    INTEGER NOT NULL
);
