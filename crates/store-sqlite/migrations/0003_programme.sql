-- The programme at work: link decisions per report, KVNRs remembered after confirmed links,
-- the daily run claim, letters.
CREATE TABLE link_decisions (
    report_id  TEXT PRIMARY KEY REFERENCES reports (id),
    state      TEXT NOT NULL,            -- linked, review, unlinked, confirmed, rejected
    melde_id   TEXT,                     -- the child, for linked and confirmed
    effective  TEXT NOT NULL,            -- the day from which the link counts
    decision   TEXT NOT NULL,            -- the linker's score, reason and comparison (JSON, no names)
    decided_by TEXT NOT NULL,
    decided_at TEXT NOT NULL,
    version    INTEGER NOT NULL          -- raised with every change (optimistic concurrency)
) STRICT;
CREATE INDEX link_decisions_state ON link_decisions (state);

CREATE TABLE remembered_kvnrs (
    melde_id  TEXT PRIMARY KEY,
    kvnr      TEXT NOT NULL UNIQUE,      -- personal data
    report_id TEXT NOT NULL REFERENCES reports (id),   -- the confirmed link it came from
    since     TEXT NOT NULL              -- the day that link counts from
) STRICT;

-- The daily run: one claim per day across all processes on this database. A claim not
-- finished within its lease (a crashed process) may be taken over.
CREATE TABLE daily_runs (
    as_of       TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    claimed_at  TEXT NOT NULL,
    finished_at TEXT
) STRICT;

-- Letters typeset as PDF, one per reminder or invitation.
CREATE TABLE letters (
    kind        TEXT NOT NULL,
    melde_id    TEXT NOT NULL,
    checkup     TEXT NOT NULL,
    pdf         BLOB NOT NULL,           -- personal data
    pdf_sha256  TEXT NOT NULL,
    rendered_at TEXT NOT NULL,
    PRIMARY KEY (kind, melde_id, checkup),
    FOREIGN KEY (kind, melde_id, checkup) REFERENCES programme_actions (kind, melde_id, checkup)
) STRICT;

-- Children whose personal data was erased at the end of retention (the remaining
-- pseudonymous events serve the statistics).
CREATE TABLE erased_children (
    melde_id  TEXT PRIMARY KEY,
    erased_at TEXT NOT NULL
) STRICT;
