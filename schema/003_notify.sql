-- 003_notify: the outbox of notifications, each attempt's history, and the
-- ledger of one-time subscription credits.

-- A notification is written in the same transaction as the change that
-- causes it, then delivered by the worker. status: pending -> sending ->
-- sent | failed (permanent) | skipped (no consent / not bound); a skipped
-- one may have been routed to a robot (routed_to).
CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    channel          TEXT NOT NULL CHECK (channel IN ('wechat', 'robot')),
    employee_no      TEXT NOT NULL DEFAULT '',   -- wechat: the recipient
    robot            TEXT NOT NULL DEFAULT '',   -- robot: its name in notify.robots
    fold_key         TEXT NOT NULL DEFAULT '',   -- robot: rows folded into one message
    fields           TEXT NOT NULL,              -- JSON object the feature gave
    status           TEXT NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'skipped')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    deadline_at      INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    errcode          INTEGER,
    errmsg           TEXT,
    msgid            TEXT,
    routed_to        INTEGER REFERENCES notifications(id)
);
CREATE INDEX notifications_due ON notifications(status, next_attempt_at);
CREATE INDEX notifications_kind ON notifications(kind, created_at);
CREATE INDEX notifications_fold ON notifications(fold_key, status);
CREATE INDEX notifications_status ON notifications(status, id);

CREATE TABLE notification_attempts (
    id               INTEGER PRIMARY KEY,
    notification_id  INTEGER NOT NULL REFERENCES notifications(id),
    at               INTEGER NOT NULL,
    errcode          INTEGER NOT NULL,
    errmsg           TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notification_attempts_of ON notification_attempts(notification_id);

-- One-time subscription credits per (openid, template): +1 per accepted
-- tap, -1 per successful send, 0 on reject, ban or 43101.
CREATE TABLE consent (
    openid       TEXT NOT NULL,
    template_id  TEXT NOT NULL,
    credits      INTEGER NOT NULL DEFAULT 0,
    last_status  TEXT NOT NULL,               -- accept | reject | ban | filter | spent
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (openid, template_id)
) WITHOUT ROWID;

-- Each tap as reported by the mini-program and by WeChat's push, so one
-- tap reported both ways counts once.
CREATE TABLE consent_taps (
    id           INTEGER PRIMARY KEY,
    openid       TEXT NOT NULL,
    template_id  TEXT NOT NULL,
    status       TEXT NOT NULL,
    source       TEXT NOT NULL CHECK (source IN ('client', 'push')),
    at           INTEGER NOT NULL,
    matched      INTEGER NOT NULL DEFAULT 0   -- paired with a report from the other source
);
CREATE INDEX consent_taps_pair ON consent_taps(openid, template_id, status, at);

-- A stand-in for a business change, used by tests (testing.clock only)
-- to show that a change and its notifications commit together.
CREATE TABLE testing_events (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Text one worker shows to others (survey comments, ticket descriptions,
-- field-punch reasons), as WeChat's msg_sec_check judged it. "held" text is
-- shown to nobody but its author until HR releases it; "refused" was risky
-- and never stored elsewhere.
CREATE TABLE moderation (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,            -- what the text is (survey_comment, ticket_description ...)
    openid      TEXT NOT NULL,
    text        TEXT NOT NULL,
    suggest     TEXT NOT NULL,            -- pass | review | risky | unchecked
    label       INTEGER NOT NULL DEFAULT 0,
    trace_id    TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL CHECK (status IN ('visible', 'held', 'released', 'rejected', 'refused')),
    created_at  INTEGER NOT NULL,
    decided_at  INTEGER,
    decided_by  TEXT
);
CREATE INDEX moderation_status ON moderation(status, id);
