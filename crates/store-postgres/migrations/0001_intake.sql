-- Organisations, certificates, reports and the audit log: the secure intake.
-- Text columns use the "C" collation so that ORDER BY gives the same (byte) order as the
-- SQLite backend; timestamps are fixed-width RFC 3339 text in UTC (microseconds), as there,
-- so both backends return identical values and the audit hashes cover identical text.
CREATE TABLE organisations (
    telematik_id TEXT COLLATE "C" PRIMARY KEY,
    kind         TEXT COLLATE "C" NOT NULL,
    name         TEXT NOT NULL,
    kreise       TEXT NOT NULL,          -- JSON array of Kreisschlüssel
    created_at   TEXT COLLATE "C" NOT NULL
);

CREATE TABLE certificates (
    serial_hex   TEXT COLLATE "C" PRIMARY KEY,
    telematik_id TEXT COLLATE "C" NOT NULL REFERENCES organisations (telematik_id),
    not_before   TEXT COLLATE "C" NOT NULL,
    not_after    TEXT COLLATE "C" NOT NULL,
    issued_at    TEXT COLLATE "C" NOT NULL,
    revoked_at   TEXT COLLATE "C"
);

CREATE TABLE reports (
    id               TEXT COLLATE "C" PRIMARY KEY,
    sender           TEXT COLLATE "C" NOT NULL,
    card_id          TEXT COLLATE "C" NOT NULL,
    received_at      TEXT COLLATE "C" NOT NULL,
    source           TEXT COLLATE "C" NOT NULL,
    media_type       TEXT NOT NULL,
    body             BYTEA NOT NULL,
    body_sha256      TEXT NOT NULL,
    facts            TEXT NOT NULL,
    facts_sha256     TEXT NOT NULL,
    checkup          TEXT COLLATE "C" NOT NULL,
    exam_date        TEXT COLLATE "C" NOT NULL,
    receiving_office TEXT COLLATE "C" NOT NULL,
    UNIQUE (sender, card_id)             -- the idempotency key, across all instances
);
CREATE INDEX reports_received_at ON reports (received_at);

CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);

-- The last entry, written with every append: finds entries deleted from the end. The one
-- row exists from the start (seq 0: no entry yet) so that every append can lock it
-- (SELECT ... FOR UPDATE): appends from all instances form one chain.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
