//! `oegd-gateway`: the secure gateway of a state's public health service.

/// `println!` for this binary: a closed stdout (`oegd-gateway letters list | head`) ends the
/// program quietly, as with other Unix tools, instead of panicking.
macro_rules! println {
    () => { $crate::print_line(format_args!("")) };
    ($($arg:tt)*) => { $crate::print_line(format_args!($($arg)*)) };
}

mod cli;
mod demo;
mod progress;
mod review;
mod serve;

use std::process::ExitCode;

use clap::Parser;

/// Many small buffers allocated on one thread and freed on another per request (TLS, HTTP,
/// the card, the group commit): mimalloc's thread-local free lists cost less CPU per card
/// than glibc's malloc (docs/PERFORMANCE.md, "An allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141); // what a shell reports for a program ended by SIGPIPE
        }
        eprintln!("Fehler: Ausgabe nicht schreibbar: {e}");
        std::process::exit(1);
    }
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("OEGD_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Fehler: Laufzeitumgebung nicht startbar: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("Fehler: {e}");
            ExitCode::FAILURE
        }
    }
}
