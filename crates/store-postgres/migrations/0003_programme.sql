-- The programme at work: link decisions per report, KVNRs remembered after confirmed links,
-- the daily run claim, letters, erased children.
CREATE TABLE link_decisions (
    report_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES reports (id),
    state      TEXT COLLATE "C" NOT NULL,   -- linked, review, unlinked, confirmed, rejected
    melde_id   TEXT COLLATE "C",            -- the child, for linked and confirmed
    effective  TEXT COLLATE "C" NOT NULL,   -- the day from which the link counts
    decision   TEXT NOT NULL,               -- the linker's score, reason and comparison (JSON, no names)
    decided_by TEXT NOT NULL,
    decided_at TEXT COLLATE "C" NOT NULL,
    version    BIGINT NOT NULL              -- raised with every change (optimistic concurrency)
);
CREATE INDEX link_decisions_state ON link_decisions (state);

CREATE TABLE remembered_kvnrs (
    melde_id  TEXT COLLATE "C" PRIMARY KEY,
    kvnr      TEXT COLLATE "C" NOT NULL UNIQUE,   -- personal data
    report_id TEXT COLLATE "C" NOT NULL REFERENCES reports (id),   -- the confirmed link it came from
    since     TEXT COLLATE "C" NOT NULL           -- the day that link counts from
);

-- The daily run: one claim per day across all instances on this database. A claim not
-- finished within its lease (a crashed instance) may be taken over.
CREATE TABLE daily_runs (
    as_of       TEXT COLLATE "C" PRIMARY KEY,
    holder      TEXT NOT NULL,
    claimed_at  TEXT COLLATE "C" NOT NULL,
    finished_at TEXT COLLATE "C"
);

-- Letters typeset as PDF, one per reminder or invitation.
CREATE TABLE letters (
    kind        TEXT COLLATE "C" NOT NULL,
    melde_id    TEXT COLLATE "C" NOT NULL,
    checkup     TEXT COLLATE "C" NOT NULL,
    pdf         BYTEA NOT NULL,          -- personal data
    pdf_sha256  TEXT NOT NULL,
    rendered_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (kind, melde_id, checkup),
    FOREIGN KEY (kind, melde_id, checkup) REFERENCES programme_actions (kind, melde_id, checkup)
);

-- Children whose personal data was erased at the end of retention (the remaining
-- pseudonymous events serve the statistics).
CREATE TABLE erased_children (
    melde_id  TEXT COLLATE "C" PRIMARY KEY,
    erased_at TEXT COLLATE "C" NOT NULL
);
