//! The programme while `serve` runs: a report that arrives over the API gets its link
//! decision within seconds, and the daily run happens by itself at the configured time, once.

mod common;

use std::time::{Duration, Instant};

use common::*;

const PRAXIS: &str = "1-2098123400";

fn json(env: &Env, args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(&env.cli_ok(&all)).unwrap()
}

/// Polls `check` every 200 ms until it holds, for at most `limit` (a liveness bound).
fn eventually(limit: Duration, mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    check()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_links_arriving_reports_and_does_the_daily_run_once() {
    let env = Env::init();
    for i in 1..=3 {
        let file = fixture(&format!("programme/small/meldedaten_{i}.csv"));
        env.cli_ok(&["registry", "import", file.to_str().unwrap()]);
    }
    env.cli_ok(&["reports", "import", fixture("programme/small/reports.jsonl").to_str().unwrap()]);
    // The daily run at midnight: whenever the test runs, today's run is due at start-up.
    let config_path = env.data.join("config.toml");
    let config = std::fs::read_to_string(&config_path).unwrap();
    assert!(config.contains("daily_run_at"), "init writes the programme section: {config}");
    let config: String = config
        .lines()
        .map(|l| if l.starts_with("daily_run_at") { "daily_run_at = \"00:00\"" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config_path, config).unwrap();
    assert!(json(&env, &["escalations", "list"]).as_array().unwrap().is_empty());

    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS);
    let certs = env.issue(PRAXIS);
    let mut server = env.start();
    let mut practice = client(server.addr, &env.ca(), Some(&certs), true);
    let card = std::fs::read(fixture("mio-pc/valid/01-u2-v101-kvnr-prac.json")).unwrap();
    let resp = practice.post("/fhir/Bundle", "application/fhir+json", card).await.unwrap();
    assert_eq!(resp.status, 201);
    let report_id = resp.header("location").unwrap().trim_start_matches("/fhir/Bundle/").to_owned();

    // The linker decides the new report without anyone asking.
    let decided = eventually(Duration::from_secs(30), || {
        json(&env, &["reports", "list"])
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"].as_str() == Some(report_id.as_str()) && !r["link_state"].is_null())
    });
    assert!(decided, "the report submitted over the API got no link decision");

    // Today's daily run happens by itself: actions appear, letters are typeset.
    let ran = eventually(Duration::from_secs(60), || {
        !json(&env, &["escalations", "list"]).as_array().unwrap().is_empty()
            && !json(&env, &["letters", "list"]).as_array().unwrap().is_empty()
    });
    assert!(ran, "serve did not do the daily run");
    server.terminate();

    // It was done completely: a manual run for today adds nothing, and every letter has its PDF.
    let run = json(&env, &["jobs", "run"]);
    assert_eq!(run["new_actions"], 0, "{run}");
    assert_eq!(run["letters"], 0, "{run}");
    let letters = json(&env, &["letters", "list"]);
    let id = letters.as_array().unwrap().last().unwrap()["id"].as_str().unwrap(); // the newest: its child is not deleted
    let pdf = env.tmp.path().join("l.pdf");
    env.cli_ok(&["letters", "pdf", id, "--out", pdf.to_str().unwrap()]);
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF-"));

    // A second start on the same day does not run it again.
    let mut again = env.start();
    std::thread::sleep(Duration::from_secs(3));
    again.terminate();
    assert_eq!(json(&env, &["jobs", "run"])["new_actions"], 0);
    assert!(env.cli(&["audit", "verify"]).status.success());
}
