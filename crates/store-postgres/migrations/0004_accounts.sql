-- Staff accounts and sessions of the web interface, and the outcomes the health offices
-- record for escalated cases.
CREATE TABLE users (
    login                TEXT COLLATE "C" PRIMARY KEY,
    organisation         TEXT COLLATE "C" NOT NULL REFERENCES organisations (telematik_id),
    role                 TEXT COLLATE "C" NOT NULL,   -- landesamt, gesundheitsamt, praxis, betrieb
    password_hash        TEXT NOT NULL,               -- Argon2id, PHC string
    totp_secret          TEXT NOT NULL,               -- base32
    must_change_password BOOLEAN NOT NULL,            -- true for a one-time initial password
    failed_logins        BIGINT NOT NULL DEFAULT 0,
    locked_until         TEXT COLLATE "C",
    totp_last_step       BIGINT,                      -- a TOTP code is accepted once
    created_at           TEXT COLLATE "C" NOT NULL
);

-- Only the SHA-256 of a session token is stored: a copy of the database opens no session.
CREATE TABLE sessions (
    token_sha256  TEXT COLLATE "C" PRIMARY KEY,
    login         TEXT COLLATE "C" NOT NULL REFERENCES users (login),
    csrf_token    TEXT NOT NULL,
    second_factor BOOLEAN NOT NULL,                   -- false after the password, true when logged in
    created_at    TEXT COLLATE "C" NOT NULL,
    last_seen     TEXT COLLATE "C" NOT NULL
);
CREATE INDEX sessions_last_seen ON sessions (last_seen);

-- What a health office recorded about an escalation; the history is kept.
CREATE TABLE case_outcomes (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT COLLATE "C" NOT NULL DEFAULT 'escalation' CHECK (kind = 'escalation'),
    melde_id    TEXT COLLATE "C" NOT NULL,
    checkup     TEXT COLLATE "C" NOT NULL,
    outcome     TEXT COLLATE "C" NOT NULL,   -- erreicht, nachgeholt, abgelehnt, nicht_erreichbar, jugendamt
    note        TEXT NOT NULL,               -- personal data
    recorded_by TEXT NOT NULL,
    recorded_at TEXT COLLATE "C" NOT NULL,
    FOREIGN KEY (kind, melde_id, checkup) REFERENCES programme_actions (kind, melde_id, checkup)
);
