//! The TLS accept loop of both listeners: the API's (mutual TLS, [`serve`]) and the staff
//! web interface's (server certificate only, [`serve_browsers`]), with the same limits on
//! connections per address, failed handshakes and request heads.
//!
//! Architecture invariant: a request reaches an API handler only over a connection whose
//! client certificate chained to a trusted CA, was not revoked, and carried a readable
//! identity (Telematik-ID and profession OID in the Admission extension). That identity is
//! put on every request of the connection as a [`Sender`] extension; nothing in a request
//! body can change it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use oegd_service::Sender;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tower::ServiceExt;

use crate::errors::outcome;
use crate::limit::{ConnectionCounter, HandshakeGuard, HandshakeLimit, Rate, RateLimiter};

/// Limits that protect the server from slow, greedy or runaway clients.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub handshake_timeout: Duration,
    /// Time to send a request's head; also the longest idle time between keep-alive
    /// requests.
    pub header_read_timeout: Duration,
    /// Largest request head (request line + headers); larger gets `431`.
    pub max_header_bytes: usize,
    /// Open connections in total; further ones wait in the listen queue.
    pub max_connections: usize,
    /// Open connections from one IP address; further ones are closed at once.
    pub max_connections_per_ip: usize,
    /// Requests per client (Telematik-ID); `None`: unlimited.
    pub rate: Option<Rate>,
    /// Failed TLS handshakes per IP address before it is refused for a while; `None`:
    /// unlimited.
    pub failed_handshakes: Option<HandshakeLimit>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            max_connections: 1024,
            max_connections_per_ip: 256,
            rate: Some(Rate { per_second: 200.0, burst: 1000.0 }),
            failed_handshakes: Some(HandshakeLimit { max_failures: 100, cooldown: Duration::from_secs(60) }),
        }
    }
}

/// `429 Too Many Requests` with the whole seconds until the client may send again.
fn too_many_requests(wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut response = outcome(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        &format!(
            "Zu viele Anfragen von dieser Einrichtung; bitte nach {secs} Sekunden erneut senden. / \
             Too many requests from this institution; retry after {secs} seconds."
        ),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Serves `app` on `listener` with mutual TLS until `shutdown` resolves, then lets open
/// requests finish (up to 10 s).
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    accept_loop(listener, tls, app, limits, Clients::Certified, shutdown).await;
}

/// [`serve`] for clients without a certificate (the staff web interface, which has its own
/// login): the same limits on connections, handshakes and request heads; every request
/// carries the peer's address as axum's [`ConnectInfo`] instead of a [`Sender`], and the
/// per-client request rate does not apply.
pub async fn serve_browsers(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    accept_loop(listener, tls, app, limits, Clients::Browsers, shutdown).await;
}

/// Who connects to a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clients {
    /// institutions with a client certificate (the API)
    Certified,
    /// people in a browser, with a server certificate only
    Browsers,
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    limits: ConnectionLimits,
    clients: Clients,
    shutdown: impl Future<Output = ()>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let per_ip = ConnectionCounter::new(limits.max_connections_per_ip.max(1));
    let limiter = limits.rate.filter(|_| clients == Clients::Certified).map(|rate| Arc::new(RateLimiter::new(rate)));
    let guard = limits.failed_handshakes.map(|limit| Arc::new(HandshakeGuard::new(limit)));
    // Each connection watches this; after shutdown we wait until every connection has
    // dropped its receiver.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // A free connection slot first: while all are taken, new connections wait in the
        // kernel's listen queue.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (tcp, peer_addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let ip = peer_addr.ip();
        if guard.as_ref().is_some_and(|g| g.refused(ip)) {
            // Closed before any TLS work: the address failed too many handshakes lately.
            drop(tcp);
            continue;
        }
        let Some(slot) = per_ip.open(ip) else {
            tracing::debug!("too many connections from one address; closed");
            drop(tcp);
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let app = app.clone();
        let limiter = limiter.clone();
        let guard = guard.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            let _slots = (permit, slot);
            let handshake_failed = || {
                if let Some(g) = &guard
                    && g.failed(ip)
                {
                    // An address, not a person's data: the operator needs it to act.
                    tracing::warn!(%ip, "too many failed TLS handshakes; address refused for the cool-down");
                }
            };
            let stream = match tokio::time::timeout(limits.handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake refused");
                    handshake_failed();
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    handshake_failed();
                    return;
                }
            };
            if clients == Clients::Browsers {
                let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer_addr));
                    app.clone().oneshot(req)
                });
                return serve_http(stream, service, &limits, stop).await;
            }
            let Some(cert) = stream.get_ref().1.peer_certificates().and_then(|c| c.first()) else {
                return; // cannot happen with a verifier that requires a certificate
            };
            let sender = match oegd_pki::read_identity(cert.as_ref()) {
                Ok(peer) => Sender { telematik_id: peer.telematik_id, profession: peer.profession },
                Err(e) => {
                    tracing::warn!(error = %e, "client certificate without a usable identity");
                    handshake_failed();
                    return;
                }
            };
            let service = tower::service_fn(move |mut req: hyper::Request<Incoming>| {
                let app = app.clone();
                let allowed = match &limiter {
                    Some(limiter) => limiter.check(sender.telematik_id.as_str()),
                    None => Ok(()),
                };
                req.extensions_mut().insert(sender.clone());
                async move {
                    match allowed {
                        Ok(()) => app.oneshot(req).await,
                        Err(wait) => Ok(too_many_requests(wait)),
                    }
                }
            });
            serve_http(stream, service, &limits, stop).await;
        });
    }
    drop(listener);
    drop(stop_rx);
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(10), stop_tx.closed()).await;
}

/// HTTP/1.1 on an established TLS connection until the client closes it, a limit ends it,
/// or the server stops (then the request in flight finishes).
async fn serve_http<S>(
    stream: TlsStream<TcpStream>,
    service: S,
    limits: &ConnectionLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tower::Service<hyper::Request<Incoming>, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = async { let _ = stop.wait_for(|stopping| *stopping).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
