-- Registration data (Meldedaten): deliveries and their events, for the check-up programme.
CREATE TABLE registry_deliveries (
    seq         BIGINT PRIMARY KEY,       -- 1, 2, ...: assigned under the audit lock, no gaps
    sha256      TEXT COLLATE "C" NOT NULL UNIQUE,     -- the same file twice is one delivery
    file_name   TEXT NOT NULL,
    imported_at TEXT COLLATE "C" NOT NULL,
    rows        BIGINT NOT NULL,
    rejected    BIGINT NOT NULL
);

CREATE TABLE registry_events (
    delivery   BIGINT NOT NULL REFERENCES registry_deliveries (seq),
    line       BIGINT NOT NULL,
    melde_id   TEXT COLLATE "C" NOT NULL,
    event_date TEXT COLLATE "C" NOT NULL,
    row_json   TEXT NOT NULL,            -- the programme's RegistryRow (personal data)
    PRIMARY KEY (delivery, line)
);
CREATE INDEX registry_events_melde_id ON registry_events (melde_id);

-- What the daily run created: each (kind, child, check-up) at most once, ever.
CREATE TABLE programme_actions (
    kind        TEXT COLLATE "C" NOT NULL,   -- invitation, reminder, escalation, all_clear, deletion
    melde_id    TEXT COLLATE "C" NOT NULL,
    checkup     TEXT COLLATE "C" NOT NULL,   -- '' for a deletion
    created     TEXT COLLATE "C" NOT NULL,   -- the day of the run that created it
    district    TEXT COLLATE "C" NOT NULL,   -- Kreisschlüssel, '' if none
    payload     TEXT NOT NULL,               -- the engine's record as JSON
    recorded_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, melde_id, checkup)
);
