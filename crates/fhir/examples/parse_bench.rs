//! Times reading and validating participation cards, for the side-by-side comparison with
//! the KBV's own parser (`bench/mioparser/run.sh`).
//!
//! `cargo run --release -p oegd-fhir --example parse_bench -- DIR ROUNDS` reads every `.json`
//! and `.xml` file below `DIR/valid` and `DIR/invalid`, parses each `ROUNDS` times and prints
//! one JSON object: the verdict per file and the mean time per card in microseconds.

use std::time::Instant;

use oegd_fhir::{MediaType, read_card};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: parse_bench DIR ROUNDS")?);
    let rounds: usize = args.next().ok_or("usage: parse_bench DIR ROUNDS")?.parse()?;
    let mut files = Vec::new();
    for sub in ["valid", "invalid"] {
        let mut names: Vec<_> = std::fs::read_dir(dir.join(sub))?.filter_map(Result::ok).map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let media = match path.extension().and_then(|e| e.to_str()) {
                Some("json") => MediaType::Json,
                Some("xml") => MediaType::Xml,
                _ => continue,
            };
            let name = format!("{sub}/{}", path.file_name().and_then(|n| n.to_str()).unwrap_or_default());
            files.push((name, media, std::fs::read(&path)?));
        }
    }
    let verdicts: serde_json::Map<String, serde_json::Value> =
        files.iter().map(|(name, media, body)| (name.clone(), read_card(*media, body).is_ok().into())).collect();
    let start = Instant::now();
    let mut valid = 0usize;
    for _ in 0..rounds {
        for (_, media, body) in &files {
            valid += usize::from(std::hint::black_box(read_card(*media, body)).is_ok());
        }
    }
    let elapsed = start.elapsed();
    let cards = rounds * files.len();
    let out = serde_json::json!({
        "parser": "oegd-fhir",
        "cards": cards,
        "valid": valid,
        "seconds": elapsed.as_secs_f64(),
        "us_per_card": elapsed.as_secs_f64() * 1e6 / cards.max(1) as f64,
        "verdicts": verdicts,
    });
    println!("{out}");
    Ok(())
}
