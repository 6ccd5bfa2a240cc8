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
