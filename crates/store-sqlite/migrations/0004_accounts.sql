-- Staff accounts and sessions of the web interface, and the outcomes the health offices
-- record for escalated cases.
CREATE TABLE users (
    login                TEXT PRIMARY KEY,
    organisation         TEXT NOT NULL REFERENCES organisations (telematik_id),
    role                 TEXT NOT NULL,          -- landesamt, gesundheitsamt, praxis, betrieb
    password_hash        TEXT NOT NULL,          -- Argon2id, PHC string
    totp_secret          TEXT NOT NULL,          -- base32
    must_change_password INTEGER NOT NULL,       -- 1 for a one-time initial password
    failed_logins        INTEGER NOT NULL DEFAULT 0,
    locked_until         TEXT,
    totp_last_step       INTEGER,                -- a TOTP code is accepted once
    created_at           TEXT NOT NULL
) STRICT;

-- Only the SHA-256 of a session token is stored: a copy of the database opens no session.
CREATE TABLE sessions (
    token_sha256  TEXT PRIMARY KEY,
    login         TEXT NOT NULL REFERENCES users (login),
    csrf_token    TEXT NOT NULL,
    second_factor INTEGER NOT NULL,             -- 0 after the password, 1 when logged in
    created_at    TEXT NOT NULL,
    last_seen     TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_last_seen ON sessions (last_seen);

-- What a health office recorded about an escalation; the history is kept.
CREATE TABLE case_outcomes (
    seq         INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL DEFAULT 'escalation' CHECK (kind = 'escalation'),
    melde_id    TEXT NOT NULL,
    checkup     TEXT NOT NULL,
    outcome     TEXT NOT NULL,   -- erreicht, nachgeholt, abgelehnt, nicht_erreichbar, jugendamt
    note        TEXT NOT NULL,   -- personal data
    recorded_by TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    FOREIGN KEY (kind, melde_id, checkup) REFERENCES programme_actions (kind, melde_id, checkup)
) STRICT;
