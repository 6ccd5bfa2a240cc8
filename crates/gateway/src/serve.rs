//! `serve`: wires the data directory, the store, the service core and the API together.

use std::net::SocketAddr;
use std::sync::Arc;

use oegd_domain::Clock;
use oegd_service::config::{Config, LimitsConfig};
use oegd_service::datadir::DataDir;
use oegd_service::{Gateway, ServiceError, admin};
use oegd_web::api::{ApiState, router};
use oegd_web::limit::{HandshakeLimit, Rate};
use oegd_web::tls::ConnectionLimits;
use std::time::Duration;
use tokio::net::TcpListener;

use oegd_programme::Profile;
use oegd_service::config::ProgrammeConfig;
use oegd_service::linking::{self, Arrivals};
use oegd_service::programme;
use oegd_store_any::AnyStore;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// A server started in this process.
pub struct RunningServer {
    pub api_addr: SocketAddr,
    /// The staff web interface, when configured.
    pub ui_addr: Option<SocketAddr>,
    ui: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
    programme_stop: watch::Sender<bool>,
    programme: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets open requests and the programme's current step finish, and
    /// returns when done.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.programme_stop.send(true);
        if let Some((ui_stop, ui_task)) = self.ui {
            let _ = ui_stop.send(());
            let _ = ui_task.await;
        }
        let _ = self.task.await;
        let _ = self.programme.await;
    }
}

/// How often the programme task looks for new reports and the time of the daily run.
const PROGRAMME_TICK: Duration = Duration::from_secs(2);
/// After the daily run was found claimed by another process, ask again after this long
/// (the other may have crashed; its claim then expires).
const CLAIM_RETRY: Duration = Duration::from_secs(300);

/// Links reports shortly after they arrive, and does the daily run at its configured time
/// (Europe/Berlin) unless another process on the same database has done or is doing it.
async fn programme_task(
    gateway: Arc<Gateway<AnyStore>>,
    arrivals: Arc<Arrivals>,
    config: ProgrammeConfig,
    profile: Profile,
    clock: Arc<dyn Clock>,
    mut stop: watch::Receiver<bool>,
) {
    let sender = oegd_service::letters::sender_for(&profile);
    let holder = format!("pid {} started {:.0}", std::process::id(), clock.now());
    let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap_or(jiff::tz::TimeZone::UTC);
    // its first call looks at every report (some may have come in while no one linked)
    let mut linker = linking::Linker::default();
    let mut done_day: Option<jiff::civil::Date> = None;
    let mut next_claim = tokio::time::Instant::now();
    loop {
        match linker.link_arrivals(gateway.store(), &arrivals, clock.now()).await {
            Ok(run) if run.written > 0 => {
                tracing::info!(linked = run.linked, review = run.review, unlinked = run.unlinked, "reports linked");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "linking failed; will retry"),
        }
        let now = clock.now().to_zoned(berlin.clone());
        let today = now.date();
        if config.daily_run
            && now.time() >= config.daily_run_at
            && done_day != Some(today)
            && tokio::time::Instant::now() >= next_claim
        {
            let run =
                programme::scheduled_run(gateway.store(), &profile, &sender, &holder, today, || clock.now()).await;
            match run {
                Ok(Some(run)) => {
                    done_day = Some(today);
                    tracing::info!(as_of = %today, new_actions = run.new_actions, letters = run.letters, "daily run done");
                }
                Ok(None) => next_claim = tokio::time::Instant::now() + CLAIM_RETRY,
                Err(e) => {
                    tracing::warn!(error = %e, "daily run failed; will retry");
                    next_claim = tokio::time::Instant::now() + CLAIM_RETRY;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PROGRAMME_TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Starts the API server (and, with `ui_listen`, the web interface) of a data directory, on
/// the database of `database_url` if given instead of the configured one. Refuses a
/// database whose schema is newer (or older: `migrate`) than this program knows.
pub async fn start_with(
    dir: &DataDir,
    api_listen: Option<SocketAddr>,
    ui_listen: Option<SocketAddr>,
    database_url: Option<&str>,
    clock: Arc<dyn Clock>,
) -> Result<RunningServer, ServiceError> {
    let config = Config::load(&dir.config())?;
    let store = admin::open_store_with(dir, database_url).await?;
    let arrivals = Arc::new(Arrivals::default());
    let gateway = Arc::new(Gateway::new(store, clock.clone()).await?.with_arrivals(arrivals.clone()));

    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| ServiceError::Usage(format!("{} nicht lesbar: {e}", p.display())))
    };
    let mut anchors = vec![read(&dir.ca_cert())?];
    for extra in &config.tls.trusted_ca_files {
        let path = if extra.is_absolute() { extra.clone() } else { dir.root().join(extra) };
        anchors.push(read(&path)?);
    }
    let tls = oegd_pki::server_config(&read(&dir.server_cert())?, &read(&dir.server_key())?, &anchors, &dir.crl())?;

    let addr = api_listen.unwrap_or(config.api.listen);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| ServiceError::Usage(format!("Kann nicht auf {addr} lauschen: {e}")))?;
    let api_addr = listener.local_addr()?;
    let profile = Profile::by_state(&config.state).map_err(|e| ServiceError::Usage(e.to_string()))?;
    let (programme_stop, programme_stopped) = watch::channel(false);
    let programme = tokio::spawn(programme_task(
        gateway.clone(),
        arrivals,
        config.programme.clone(),
        profile.clone(),
        clock.clone(),
        programme_stopped,
    ));
    let ui = match ui_listen.or(config.ui.listen) {
        Some(addr) => Some(start_ui(dir, &config, addr, gateway.clone(), profile, clock.clone()).await?),
        None => None,
    };
    let ui_addr = ui.as_ref().map(|(addr, _, _)| *addr);
    let ui = ui.map(|(_, stop, task)| (stop, task));
    let app = router(ApiState { gateway, max_body_bytes: config.api.max_report_bytes });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(oegd_web::tls::serve(listener, tls, app, connection_limits(&config.limits), async {
        let _ = stopped.await;
    }));
    tracing::info!(%api_addr, "FHIR API listening (mutual TLS)");
    Ok(RunningServer { api_addr, ui_addr, ui, stop, task, programme_stop, programme })
}

/// The staff web interface: TLS with the server certificate, no client certificate.
async fn start_ui(
    dir: &DataDir,
    config: &Config,
    addr: SocketAddr,
    gateway: Arc<Gateway<AnyStore>>,
    profile: Profile,
    clock: Arc<dyn Clock>,
) -> Result<(SocketAddr, oneshot::Sender<()>, JoinHandle<()>), ServiceError> {
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| ServiceError::Usage(format!("{} nicht lesbar: {e}", p.display())))
    };
    let tls = oegd_pki::server_config_without_client_auth(&read(&dir.server_cert())?, &read(&dir.server_key())?)?;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| ServiceError::Usage(format!("Kann nicht auf {addr} lauschen: {e}")))?;
    let ui_addr = listener.local_addr()?;
    let idle = jiff::SignedDuration::from_mins(i64::from(config.ui.session_idle_minutes.max(1)));
    let store = gateway.store().clone();
    let app = oegd_ui::router(oegd_ui::UiState {
        store,
        clock,
        session_idle: idle,
        gateway,
        profile: Arc::new(profile),
        data_dir: Some(dir.clone()),
        office_views: Arc::default(),
    });
    let (stop, stopped) = oneshot::channel::<()>();
    let task =
        tokio::spawn(oegd_web::tls::serve_browsers(listener, tls, app, connection_limits(&config.limits), async {
            let _ = stopped.await;
        }));
    tracing::info!(%ui_addr, "web interface listening (TLS)");
    Ok((ui_addr, stop, task))
}

/// The configured limits in the web layer's terms.
fn connection_limits(c: &LimitsConfig) -> ConnectionLimits {
    ConnectionLimits {
        handshake_timeout: Duration::from_secs(u64::from(c.handshake_timeout_secs)),
        header_read_timeout: Duration::from_secs(u64::from(c.header_read_timeout_secs)),
        max_connections: usize::try_from(c.max_connections).unwrap_or(usize::MAX),
        max_connections_per_ip: usize::try_from(c.max_connections_per_ip).unwrap_or(usize::MAX),
        rate: (c.requests_per_second > 0)
            .then(|| Rate { per_second: f64::from(c.requests_per_second), burst: f64::from(c.request_burst.max(1)) }),
        failed_handshakes: (c.failed_handshakes_per_ip > 0).then(|| HandshakeLimit {
            max_failures: c.failed_handshakes_per_ip,
            cooldown: Duration::from_secs(u64::from(c.failed_handshake_cooldown_secs.max(1))),
        }),
        ..ConnectionLimits::default()
    }
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(
    dir: &DataDir,
    api_listen: Option<SocketAddr>,
    ui_listen: Option<SocketAddr>,
    database_url: Option<&str>,
    clock: Arc<dyn Clock>,
) -> Result<(), ServiceError> {
    let server = start_with(dir, api_listen, ui_listen, database_url, clock).await?;
    println!("oegd-gateway: FHIR-API auf https://{}/fhir (mTLS); Beenden mit Strg-C", server.api_addr);
    if let Some(addr) = server.ui_addr {
        println!("oegd-gateway: Web-Oberfläche auf https://{addr}/ (Anmeldung mit Passwort und TOTP)");
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.stop().await;
    Ok(())
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
