-- A number raised in the same transaction as every change to what the linker compares
-- reports against: a register delivery, a KVNR remembered or forgotten, an erased child.
-- A long-running linker keeps its index while the number stays the same.
CREATE TABLE link_inputs (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO link_inputs (id, version) VALUES (1, 0);
