//! A progress bar on stderr, drawn only when stderr is a terminal (never into logs or pipes).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

const WIDTH: usize = 30;
/// Redraw at most this often: drawing must not slow down the work it reports on.
const EVERY: Duration = Duration::from_millis(100);

pub struct Progress {
    enabled: bool,
    label: String,
    last: Option<Instant>,
}

impl Progress {
    pub fn new() -> Self {
        Progress { enabled: std::io::stderr().is_terminal(), label: String::new(), last: None }
    }

    /// Shows `done` of `total` under `label`; a new label starts a new line.
    pub fn show(&mut self, label: &str, done: usize, total: usize) {
        if !self.enabled {
            return;
        }
        let finished = done >= total;
        if label == self.label && !finished && self.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        let mut err = std::io::stderr().lock();
        if label != self.label && !self.label.is_empty() {
            let _ = writeln!(err);
        }
        self.label = label.to_owned();
        self.last = Some(Instant::now());
        let filled = (done * WIDTH).checked_div(total).unwrap_or(WIDTH).min(WIDTH);
        let percent = (done * 100).checked_div(total).unwrap_or(100);
        let _ = write!(
            err,
            "\r{label:<22} [{}{}] {percent:>3} % ({done}/{total})",
            "#".repeat(filled),
            " ".repeat(WIDTH - filled)
        );
        let _ = err.flush();
    }

    /// Ends the bar's line.
    pub fn finish(&mut self) {
        if self.enabled && !self.label.is_empty() {
            let _ = writeln!(std::io::stderr());
            self.label.clear();
        }
    }
}
