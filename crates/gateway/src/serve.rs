//! `serve`: wires the data directory, the store, the service core and the API together.

use std::net::SocketAddr;
use std::sync::Arc;

use oegd_domain::Clock;
use oegd_service::config::Config;
use oegd_service::datadir::DataDir;
use oegd_service::{Gateway, ServiceError, admin};
use oegd_web::api::{ApiState, router};
use oegd_web::tls::ConnectionLimits;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server started in this process.
pub struct RunningServer {
    pub api_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets open requests finish, and returns when done.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Starts the API server of a data directory.
pub async fn start(
    dir: &DataDir,
    api_listen: Option<SocketAddr>,
    clock: Arc<dyn Clock>,
) -> Result<RunningServer, ServiceError> {
    let config = Config::load(&dir.config())?;
    let store = admin::open_store(dir).await?;
    let gateway = Arc::new(Gateway::new(store, clock).await?);

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
    let app = router(ApiState { gateway, max_body_bytes: config.api.max_report_bytes });
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(oegd_web::tls::serve(listener, tls, app, ConnectionLimits::default(), async {
        let _ = stopped.await;
    }));
    tracing::info!(%api_addr, "FHIR API listening (mutual TLS)");
    Ok(RunningServer { api_addr, stop, task })
}

/// Runs until Ctrl-C or SIGTERM.
pub async fn run(dir: &DataDir, api_listen: Option<SocketAddr>, clock: Arc<dyn Clock>) -> Result<(), ServiceError> {
    let server = start(dir, api_listen, clock).await?;
    println!("oegd-gateway: FHIR-API auf https://{}/fhir (mTLS); Beenden mit Strg-C", server.api_addr);
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
