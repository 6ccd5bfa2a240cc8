//! The hash-chained audit log.
//!
//! Each entry stores the hash of its predecessor, and its own hash covers its sequence
//! number, time, actor, action, object, details and that predecessor hash. Changing,
//! inserting, deleting or reordering any entry therefore breaks the chain at that entry.
//! Deleting entries at the end is caught by the separately stored [`ChainHead`], written in
//! the same transaction as every append.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One stored entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    /// RFC 3339 timestamp, as stored.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object: String,
    /// Canonical JSON text, as stored.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The last entry as recorded when it was appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

/// The hash of an entry: SHA-256 over its fields, each length-prefixed so that no two
/// different entries can serialise to the same bytes.
pub fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    object: &str,
    details: &str,
) -> String {
    let mut h = Sha256::new();
    for field in [prev_hash, &seq.to_string(), at, actor, action, object, details] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Builds the next entry after `prev` (None for the first).
pub fn next_entry(
    prev: Option<&ChainHead>,
    at: &str,
    actor: &str,
    action: &str,
    object: &str,
    details: &str,
) -> AuditEntry {
    let (seq, prev_hash) = match prev {
        Some(head) => (head.seq + 1, head.hash.clone()),
        None => (1, GENESIS.to_owned()),
    };
    let hash = entry_hash(&prev_hash, seq, at, actor, action, object, details);
    AuditEntry {
        seq,
        at: at.to_owned(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        object: object.to_owned(),
        details: details.to_owned(),
        prev_hash,
        hash,
    }
}

/// A verified chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub entries: u64,
    pub head: Option<ChainHead>,
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("audit chain broken at entry {seq}: {reason}")]
pub struct ChainBreak {
    /// The first entry that does not verify (or the missing one's number).
    pub seq: i64,
    pub reason: String,
}

/// Checks every entry (given in stored order) and the recorded head.
pub fn verify(entries: &[AuditEntry], head: Option<&ChainHead>) -> Result<Verified, ChainBreak> {
    let mut prev: Option<ChainHead> = None;
    for e in entries {
        let expected_seq = prev.as_ref().map_or(1, |p| p.seq + 1);
        let expected_prev = prev.as_ref().map_or(GENESIS, |p| p.hash.as_str());
        if e.seq != expected_seq {
            let reason = if e.seq > expected_seq {
                format!("entry {expected_seq} is missing (next stored entry is {})", e.seq)
            } else {
                format!("entry number {} appears out of order (expected {expected_seq})", e.seq)
            };
            return Err(ChainBreak { seq: expected_seq, reason });
        }
        if e.prev_hash != expected_prev {
            return Err(ChainBreak { seq: e.seq, reason: "predecessor hash does not match the previous entry".into() });
        }
        let recomputed = entry_hash(&e.prev_hash, e.seq, &e.at, &e.actor, &e.action, &e.object, &e.details);
        if recomputed != e.hash {
            return Err(ChainBreak {
                seq: e.seq,
                reason: "content does not match its hash (entry was changed)".into(),
            });
        }
        prev = Some(ChainHead { seq: e.seq, hash: e.hash.clone() });
    }
    // Every stored entry verified; now the recorded head, which tells what the log's end
    // was when the gateway last appended.
    let last_seq = prev.as_ref().map_or(0, |p| p.seq);
    match (head, &prev) {
        (None, None) => {}
        (Some(h), Some(p)) if h == p => {}
        (None, Some(p)) => {
            return Err(ChainBreak { seq: p.seq, reason: "the recorded head of the chain is missing".into() });
        }
        (Some(h), _) if h.seq > last_seq => {
            return Err(ChainBreak {
                seq: last_seq + 1,
                reason: format!("entries {}..={} are missing at the end of the log", last_seq + 1, h.seq),
            });
        }
        (Some(h), _) if h.seq < last_seq && entries.iter().any(|e| e.seq == h.seq && e.hash == h.hash) => {
            // The chain up to the recorded head is the gateway's; what follows was added
            // without writing the head, i.e. not by the gateway.
            return Err(ChainBreak {
                seq: h.seq + 1,
                reason: format!("entries {}..={last_seq} were added after the recorded head of the chain", h.seq + 1),
            });
        }
        (Some(h), _) => {
            // A consistent chain that does not pass through the recorded head: the log was
            // rewritten (hashes recomputed) at or before the head's entry.
            return Err(ChainBreak {
                seq: h.seq.clamp(1, last_seq.max(1)),
                reason: format!("entry {} does not match the recorded head of the chain (rewritten log)", h.seq),
            });
        }
    }
    Ok(Verified { entries: entries.len() as u64, head: prev })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> (Vec<AuditEntry>, ChainHead) {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = entries.last().map(|e| ChainHead { seq: e.seq, hash: e.hash.clone() });
            entries.push(next_entry(prev.as_ref(), "2026-01-01T00:00:00Z", "operator", "test", &format!("o{i}"), "{}"));
        }
        let last = entries.last().unwrap();
        let head = ChainHead { seq: last.seq, hash: last.hash.clone() };
        (entries, head)
    }

    #[test]
    fn intact_chain_verifies() {
        let (entries, head) = chain(5);
        assert_eq!(verify(&entries, Some(&head)).unwrap().entries, 5);
        assert!(verify(&[], None).is_ok());
    }

    #[test]
    fn change_insert_delete_reorder_are_found() {
        let (entries, head) = chain(5);

        let mut changed = entries.clone();
        changed[2].object = "forged".into();
        assert_eq!(verify(&changed, Some(&head)).unwrap_err().seq, 3);

        let mut deleted = entries.clone();
        deleted.remove(1);
        assert_eq!(verify(&deleted, Some(&head)).unwrap_err().seq, 2);

        let mut reordered = entries.clone();
        reordered.swap(1, 2);
        assert_eq!(verify(&reordered, Some(&head)).unwrap_err().seq, 2);

        let mut inserted = entries.clone();
        let forged = next_entry(Some(&ChainHead { seq: 2, hash: entries[1].hash.clone() }), "x", "a", "b", "c", "{}");
        inserted.insert(2, forged);
        assert_eq!(verify(&inserted, Some(&head)).unwrap_err().seq, 4);

        let mut truncated = entries.clone();
        truncated.pop();
        assert_eq!(verify(&truncated, Some(&head)).unwrap_err().seq, 5);
    }

    #[test]
    fn the_recorded_head_names_the_first_entry_it_does_not_vouch_for() {
        let (entries, head) = chain(5);

        // a well-chained entry appended without updating the head
        let mut appended = entries.clone();
        appended.push(next_entry(Some(&head), "x", "a", "b", "c", "{}"));
        let err = verify(&appended, Some(&head)).unwrap_err();
        assert_eq!(err.seq, 6, "{err}");

        // every entry deleted, the head kept
        assert_eq!(verify(&[], Some(&head)).unwrap_err().seq, 1);

        // the head deleted
        assert_eq!(verify(&entries, None).unwrap_err().seq, 5);

        // entries 3.. rewritten with recomputed hashes, one more than before
        let mut rewritten: Vec<AuditEntry> = entries[..2].to_vec();
        for i in 0..4 {
            let prev = rewritten.last().map(|e| ChainHead { seq: e.seq, hash: e.hash.clone() });
            rewritten.push(next_entry(prev.as_ref(), "x", "a", "b", &format!("forged{i}"), "{}"));
        }
        assert_eq!(verify(&rewritten, Some(&head)).unwrap_err().seq, 5);

        // the last entry rewritten with a recomputed hash
        let mut last_rewritten = entries.clone();
        let prev = ChainHead { seq: 4, hash: entries[3].hash.clone() };
        last_rewritten[4] = next_entry(Some(&prev), "x", "a", "b", "forged", "{}");
        assert_eq!(verify(&last_rewritten, Some(&head)).unwrap_err().seq, 5);
    }
}
