-- 002_wechat: the WeChat access token shared by every gongyoud on this
-- database, the journal of message pushes, and stored QR codes.

CREATE TABLE wx_tokens (
    appid       TEXT PRIMARY KEY,
    token       TEXT NOT NULL,            -- WeChat's access_token (not ours: needed as is)
    expires_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Every push WeChat delivered, accepted or not: the first place to look
-- when "the pushes don't arrive".
CREATE TABLE wx_events (
    id           INTEGER PRIMARY KEY,
    received_at  INTEGER NOT NULL,
    dedupe_key   TEXT UNIQUE,             -- MsgId, else FromUserName|CreateTime|Event; NULL if refused early
    event        TEXT NOT NULL DEFAULT '',-- Event (or MsgType when not an event)
    openid       TEXT NOT NULL DEFAULT '',
    mode         TEXT NOT NULL,           -- plain | compat | safe
    format       TEXT NOT NULL,           -- json | xml
    verdict      TEXT NOT NULL,           -- accepted | duplicate | bad_signature | ...
    payload      TEXT NOT NULL DEFAULT '' -- the decrypted message, normalised to JSON
);
CREATE INDEX wx_events_time ON wx_events(received_at);
CREATE INDEX wx_events_verdict ON wx_events(verdict, id);

CREATE TABLE qrcodes (
    id          INTEGER PRIMARY KEY,
    scene       TEXT NOT NULL,
    page        TEXT NOT NULL DEFAULT '',
    width       INTEGER NOT NULL,
    png         BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (scene, page, width)
);
