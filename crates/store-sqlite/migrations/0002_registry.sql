-- Registration data (Meldedaten): deliveries and their events, for the check-up programme.
CREATE TABLE registry_deliveries (
    seq         INTEGER PRIMARY KEY,
    sha256      TEXT NOT NULL UNIQUE,     -- the same file twice is one delivery
    file_name   TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    rows        INTEGER NOT NULL,
    rejected    INTEGER NOT NULL
) STRICT;

CREATE TABLE registry_events (
    delivery   INTEGER NOT NULL REFERENCES registry_deliveries (seq),
    line       INTEGER NOT NULL,
    melde_id   TEXT NOT NULL,
    event_date TEXT NOT NULL,
    row_json   TEXT NOT NULL,            -- the programme's RegistryRow (personal data)
    PRIMARY KEY (delivery, line)
) STRICT;
CREATE INDEX registry_events_melde_id ON registry_events (melde_id);

-- What the daily run created: each (kind, child, check-up) at most once, ever.
CREATE TABLE programme_actions (
    kind        TEXT NOT NULL,            -- invitation, reminder, escalation, all_clear, deletion
    melde_id    TEXT NOT NULL,
    checkup     TEXT NOT NULL,            -- '' for a deletion
    created     TEXT NOT NULL,            -- the day of the run that created it
    district    TEXT NOT NULL,            -- Kreisschlüssel, '' if none
    payload     TEXT NOT NULL,            -- the engine's record as JSON
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (kind, melde_id, checkup)
) STRICT;
