//! Renders every letter variant and reads the PDFs back with `pdftotext` (Debian's
//! poppler-utils; CI installs it with apt). Example PDFs and PNGs for people to look at land in
//! `target/letters-examples/`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use jiff::civil::date;
use oegd_domain::Checkup;
use oegd_letters::{Addressee, Letter, LetterError, LetterKind, LetterRenderer, Sender};

fn renderer() -> &'static LetterRenderer {
    static RENDERER: OnceLock<LetterRenderer> = OnceLock::new();
    RENDERER.get_or_init(|| LetterRenderer::new().expect("renderer"))
}

fn sender_mv() -> Sender {
    Sender {
        name: "Landesamt für Gesundheit und Soziales Mecklenburg-Vorpommern".into(),
        unit: "Servicestelle Kindervorsorge".into(),
        contact: "Team Kindervorsorge".into(),
        street: "Erich-Schlesinger-Straße 35".into(),
        postcode: "18059".into(),
        city: "Rostock".into(),
        phone: "0381 331-59000".into(),
        email: "kindervorsorge@lagus.mv-regierung.de".into(),
        legal_basis: "§ 15b des Gesetzes über den Öffentlichen Gesundheitsdienst im Land \
                      Mecklenburg-Vorpommern (ÖGDG M-V)"
            .into(),
        escalation_recipient: "das für Ihren Wohnort zuständige Gesundheitsamt".into(),
    }
}

fn letter(kind: LetterKind) -> Letter {
    Letter {
        reference: "KV-2026-000123".into(),
        date: date(2026, 1, 15),
        sender: sender_mv(),
        addressee: Addressee {
            lines: vec![
                "An die Sorgeberechtigten von".into(),
                "Mira Behrendt".into(),
                "Lena Jäger und Tom Behrendt".into(),
                "Große Mühlenstraße 4".into(),
                "18055 Rostock".into(),
            ],
        },
        child_name: "Mira Behrendt".into(),
        child_birth_date: date(2025, 1, 20),
        guardians: vec!["Lena Jäger".into(), "Tom Behrendt".into()],
        kind,
    }
}

fn same_checkup() -> LetterKind {
    LetterKind::ReminderSameCheckup { missed: Checkup::U6, deadline: date(2026, 3, 31) }
}

fn next_checkup() -> LetterKind {
    LetterKind::ReminderNextCheckup {
        missed: Checkup::U4,
        next: Checkup::U5,
        next_from: date(2025, 6, 20),
        next_until: date(2025, 8, 19),
    }
}

fn invitation() -> LetterKind {
    LetterKind::Invitation { checkup: Checkup::U5, from: date(2025, 6, 20), until: date(2025, 8, 19) }
}

fn tool(name: &str) -> PathBuf {
    let out = Command::new("which").arg(name).output().expect("run `which`");
    assert!(
        out.status.success(),
        "`{name}` not found: these tests read the PDFs back with Debian's poppler-utils \
         (install with `apt-get install -y poppler-utils`)"
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn examples_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("letters-examples");
    std::fs::create_dir_all(&dir).expect("create examples dir");
    dir
}

/// The text of a PDF, whitespace (including no-break spaces) collapsed to single spaces.
fn pdf_text(pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).expect("write pdf");
    let out = Command::new(tool("pdftotext")).args(["-enc", "UTF-8"]).arg(&path).arg("-").output().expect("pdftotext");
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn page_count(pdf: &[u8]) -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("letter.pdf");
    std::fs::write(&path, pdf).expect("write pdf");
    let out = Command::new(tool("pdfinfo")).arg(&path).output().expect("pdfinfo");
    let info = String::from_utf8_lossy(&out.stdout);
    info.lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("pdfinfo prints the page count")
}

fn assert_pdf(pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF-"), "no PDF header");
    let tail = String::from_utf8_lossy(&pdf[pdf.len().saturating_sub(32)..]);
    assert!(tail.contains("%%EOF"), "no %%EOF at the end: {tail:?}");
}

fn render(letter: &Letter) -> (Vec<u8>, String) {
    let pdf = renderer().render_pdf(letter).expect("render");
    assert_pdf(&pdf);
    let text = pdf_text(&pdf);
    (pdf, text)
}

fn assert_contains(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
}

/// What every letter says, whatever its kind.
fn assert_common(text: &str) {
    assert_contains(
        text,
        &[
            "Landesamt für Gesundheit und Soziales Mecklenburg-Vorpommern",
            "Erich-Schlesinger-Straße 35 · 18059 Rostock", // return address
            "An die Sorgeberechtigten von",
            "Lena Jäger und Tom Behrendt",
            "Große Mühlenstraße 4",
            "18055 Rostock",
            "Unser Zeichen",
            "KV-2026-000123",
            "Ansprechpartner",
            "Team Kindervorsorge",
            "Datum",
            "15.01.2026",
            "Guten Tag Lena Jäger und Tom Behrendt,",
            "Mira Behrendt, geboren am 20. Januar 2025",
            "§ 15b des Gesetzes über den Öffentlichen Gesundheitsdienst",
            "Kinderuntersuchungsheft (U-Heft)",
            "Die Praxis meldet die Untersuchung direkt an uns",
            "nicht antworten",
            "gegenstandslos",
            "0381 331-59000",
            "kindervorsorge@lagus.mv-regierung.de",
            "Mit freundlichen Grüßen",
        ],
    );
    assert!(!text.contains("Seite 1 von"), "a one-page letter has no page numbers");
}

#[test]
fn reminder_same_checkup() {
    let (pdf, text) = render(&letter(same_checkup()));
    assert_common(&text);
    assert_contains(
        &text,
        &[
            "Erinnerung an die Früherkennungsuntersuchung U6 Ihres Kindes Mira Behrendt",
            "Für die Früherkennungsuntersuchung U6 Ihres Kindes Mira Behrendt",
            "Termin für die U6",
            "bis zum 31. März 2026",
            "Hat die U6 Ihres Kindes bereits stattgefunden",
            "Meldung über die U6",
            "das für Ihren Wohnort zuständige Gesundheitsamt",
        ],
    );
    assert!(!text.contains("nächste Früherkennungsuntersuchung"));
    assert_eq!(page_count(&pdf), 1);
}

#[test]
fn reminder_next_checkup() {
    let (pdf, text) = render(&letter(next_checkup()));
    assert_common(&text);
    assert_contains(
        &text,
        &[
            "Erinnerung an die Früherkennungsuntersuchung U4 Ihres Kindes Mira Behrendt",
            "Der empfohlene Zeitraum für die U4 ist inzwischen überschritten",
            "die nächste Früherkennungsuntersuchung wahrnimmt, die U5",
            "vom 20. Juni 2025 bis zum 19. August 2025",
            "Hat die U4 Ihres Kindes bereits stattgefunden",
            "Meldung über die U5",
        ],
    );
    assert!(!text.contains("kann noch bis zum"));
    assert_eq!(page_count(&pdf), 1);
}

#[test]
fn invitation_letter() {
    let (pdf, text) = render(&letter(invitation()));
    assert_common(&text);
    assert_contains(
        &text,
        &[
            "Einladung zur Früherkennungsuntersuchung U5 Ihres Kindes Mira Behrendt",
            "laden wir Sie nach § 15b",
            "steht demnächst die Früherkennungsuntersuchung U5 an",
            "vom 20. Juni 2025 bis zum 19. August 2025",
            "ist diese Einladung für Sie gegenstandslos",
        ],
    );
    assert!(!text.contains("Erinnerung"));
    assert!(!text.contains("gesetzlich verpflichtet"), "an invitation does not mention the escalation");
    assert_eq!(page_count(&pdf), 1);
}

#[test]
fn variants_are_worded_differently() {
    let same = render(&letter(same_checkup())).1;
    let next = render(&letter(next_checkup())).1;
    let invite = render(&letter(invitation())).1;
    assert_ne!(same, next);
    assert_ne!(next, invite);
    assert_ne!(same, invite);
    assert!(same.contains("kann noch bis zum") && !next.contains("kann noch bis zum"));
    assert!(next.contains("nächste Früherkennungsuntersuchung") && !same.contains("nächste"));
}

#[test]
fn no_escalation_sentence_without_recipient_and_general_salutation_without_guardians() {
    let mut l = letter(same_checkup());
    l.sender.escalation_recipient.clear();
    l.guardians.clear();
    let (_, text) = render(&l);
    assert!(!text.contains("gesetzlich verpflichtet"));
    assert_contains(&text, &["Sehr geehrte Eltern, sehr geehrte Sorgeberechtigte,"]);
}

#[test]
fn hostile_values_print_literally() {
    let hostile = [
        r#"#import "x""#,
        "*bold*",
        "]",
        "_under_ $x^2$",
        r#"#panic("boom")"#,
        "<label> @ref",
        r"\ // not a comment",
        "= Heading",
    ];
    let mut l = letter(same_checkup());
    l.child_name = hostile.first().copied().unwrap_or_default().to_owned();
    l.guardians = hostile.iter().skip(1).take(3).map(|s| s.to_string()).collect();
    l.addressee.lines = hostile.iter().skip(4).map(|s| s.to_string()).collect();
    l.reference = "[ref] #1".into();
    let (_, text) = render(&l);
    for needle in hostile {
        assert!(text.contains(needle), "{needle:?} did not print literally in:\n{text}");
    }
    assert_contains(&text, &[r#"Ihres Kindes #import "x""#, "Guten Tag *bold*, ] und _under_ $x^2$,", "[ref] #1"]);
}

#[test]
fn long_letter_gets_page_numbers() {
    let mut l = letter(same_checkup());
    l.child_name = std::iter::repeat_n("Mira-Sophie-Charlotte Behrendt-Jäger", 80).collect::<Vec<_>>().join(" ");
    let (pdf, text) = render(&l);
    let pages = page_count(&pdf);
    assert!(pages >= 2, "expected a second page, got {pages}");
    assert_contains(&text, &["Seite 1 von", "Seite 2 von", "Unser Zeichen KV-2026-000123 · 15.01.2026"]);
    std::fs::write(examples_dir().join("long-name-two-pages.pdf"), &pdf).unwrap();
}

#[test]
fn same_letter_same_bytes() {
    let a = renderer().render_pdf(&letter(same_checkup())).expect("render");
    let b = renderer().render_pdf(&letter(same_checkup())).expect("render");
    assert_eq!(a, b, "rendering is deterministic (no clock, stable document id)");
}

#[test]
fn twenty_letters_with_one_renderer() {
    let renderer = LetterRenderer::new().expect("renderer");
    let start = std::time::Instant::now();
    for i in 0..20u32 {
        let mut l = letter(if i % 2 == 0 { same_checkup() } else { next_checkup() });
        l.reference = format!("KV-2026-{i:06}");
        l.child_name = format!("Kind Nummer {i}");
        let pdf = renderer.render_pdf(&l).expect("render");
        assert_pdf(&pdf);
    }
    eprintln!("20 letters in {:?}", start.elapsed());
}

#[test]
fn renderer_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LetterRenderer>();
    std::thread::scope(|scope| {
        for kind in [same_checkup(), next_checkup(), invitation()] {
            scope.spawn(move || assert_pdf(&renderer().render_pdf(&letter(kind)).expect("render")));
        }
    });
}

#[test]
fn invalid_letters_are_refused() {
    let mut too_long = letter(same_checkup());
    too_long.addressee.lines = (1..=7).map(|i| format!("Zeile {i}")).collect();
    let mut backwards = letter(next_checkup());
    backwards.kind = LetterKind::ReminderNextCheckup {
        missed: Checkup::U5,
        next: Checkup::U4,
        next_from: date(2025, 6, 20),
        next_until: date(2025, 8, 19),
    };
    let mut empty = letter(invitation());
    empty.addressee.lines.clear();
    let mut window: Letter = letter(invitation());
    window.kind = LetterKind::Invitation { checkup: Checkup::U5, from: date(2025, 8, 19), until: date(2025, 6, 20) };
    for l in [too_long, backwards, empty, window] {
        assert!(matches!(renderer().render_pdf(&l), Err(LetterError::InvalidLetter(_))), "{:?}", l.kind);
    }
}

/// Writes one PDF per variant (and a PNG of each first page) for people to look at.
#[test]
fn write_examples() {
    let dir = examples_dir();
    let examples: [(&str, LetterKind); 3] =
        [("reminder-u6-same", same_checkup()), ("reminder-u4-next", next_checkup()), ("invitation-u5", invitation())];
    for (name, kind) in examples {
        let pdf = renderer().render_pdf(&letter(kind)).expect("render");
        let path = dir.join(format!("{name}.pdf"));
        std::fs::write(&path, &pdf).expect("write example");
        let status = Command::new(tool("pdftoppm"))
            .args(["-png", "-r", "60", "-singlefile"])
            .arg(&path)
            .arg(dir.join(name))
            .status()
            .expect("pdftoppm");
        assert!(status.success());
    }
    eprintln!("examples in {}", dir.display());
}
