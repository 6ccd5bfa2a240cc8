-- Organisations, certificates, reports and the audit log: the secure intake.
CREATE TABLE organisations (
    telematik_id TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    kreise       TEXT NOT NULL,          -- JSON array of Kreisschlüssel
    created_at   TEXT NOT NULL
) STRICT;

CREATE TABLE certificates (
    serial_hex   TEXT PRIMARY KEY,
    telematik_id TEXT NOT NULL REFERENCES organisations (telematik_id),
    not_before   TEXT NOT NULL,
    not_after    TEXT NOT NULL,
    issued_at    TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;

CREATE TABLE reports (
    id               TEXT PRIMARY KEY,
    sender           TEXT NOT NULL,
    card_id          TEXT NOT NULL,
    received_at      TEXT NOT NULL,
    source           TEXT NOT NULL,
    media_type       TEXT NOT NULL,
    body             BLOB NOT NULL,
    body_sha256      TEXT NOT NULL,
    facts            TEXT NOT NULL,
    facts_sha256     TEXT NOT NULL,
    checkup          TEXT NOT NULL,
    exam_date        TEXT NOT NULL,
    receiving_office TEXT NOT NULL,
    UNIQUE (sender, card_id)
) STRICT;
CREATE INDEX reports_received_at ON reports (received_at);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
) STRICT;

-- The last entry, written with every append: finds entries deleted from the end.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
) STRICT;
