//! The README's main command works: `demo --once` builds a training environment, the
//! simulated practices' cards are accepted over mutual TLS, and the audit chain is intact.

mod common;

#[test]
fn demo_runs_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("demo");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oegd-gateway"))
        .args([
            "demo",
            "--once",
            "--api-listen",
            "127.0.0.1:0",
            "--ui-listen",
            "127.0.0.1:0",
            "--kohorte",
            "150",
            "--data",
            data.to_str().unwrap(),
        ])
        .env("OEGD_LOG", "warn")
        .env("OEGD_SHARED_DIR", common::shared_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.matches("HTTP 201").count(), 6, "{stdout}");
    assert!(stdout.contains("Dieselbe Karte noch einmal: HTTP 200"), "{stdout}");
    assert!(stdout.contains("Karte ohne Untersuchungsdatum: HTTP 422"), "{stdout}");
    assert!(stdout.contains("Bundle.entry[1].resource.period.start") || stdout.contains("period.start"), "{stdout}");
    assert!(stdout.contains("HTTP 404 (sieht nur eigene Meldungen)"), "{stdout}");
    assert!(stdout.contains("Ohne Client-Zertifikat: Verbindung abgelehnt"), "{stdout}");
    assert!(stdout.contains("Audit-Protokoll: intakt"), "{stdout}");
    assert!(stdout.contains("curl --cacert"), "{stdout}");
    // The programme on the fixture's register and archive, with a letter to look at.
    assert!(stdout.contains("7. Das Vorsorgeprogramm"), "{stdout}");
    assert!(stdout.contains("Eskalationen an Gesundheitsämter"), "{stdout}");
    assert!(std::fs::read(data.join("examples/erinnerung.pdf")).unwrap().starts_with(b"%PDF-"));
    // The synthetic cohort, a year of weekly runs, an account per role and the interface's URL.
    assert!(stdout.contains("8. Eine synthetische Kohorte von 150 Kindern"), "{stdout}");
    assert!(stdout.contains("Meldedaten-Lieferung 4: 150 Geburten"), "{stdout}");
    assert!(stdout.contains("Tageslauf wöchentlich vom"), "{stdout}");
    assert!(stdout.contains("Web-Oberfläche: https://localhost:"), "{stdout}");
    for role in ["landesamt", "gesundheitsamt", "praxis", "betrieb"] {
        let line = stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{role} ")))
            .unwrap_or_else(|| panic!("no login {role}: {stdout}"));
        // login, role, one-time password (20 characters), TOTP secret (base32)
        let fields: Vec<&str> = line.split_whitespace().collect();
        let secret = fields.last().unwrap();
        assert!(
            secret.len() >= 16 && secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
            "{line}"
        );
        assert!(fields.iter().any(|f| f.len() == 20), "{line}");
    }
    // The printed curl line points at files that exist.
    assert!(data.join("examples/fehlerhafte-teilnahmekarte.json").exists());
    assert!(data.join("clients/1-2098123400/client.key").exists());
}
