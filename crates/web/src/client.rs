//! A small HTTP/1.1 client over mutual TLS, as a practice's software would use: for the
//! demo's simulated practices, the end-to-end tests and the benchmark.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
pub use hyper::Method;
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Request};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("connection failed: {0}")]
    Connect(std::io::Error),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
    #[error("invalid request: {0}")]
    Request(String),
    #[error("the connection ended without a response")]
    Closed,
}

/// A response, fully read.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl ApiResponse {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One client identity talking to one gateway. With `keep_alive` it reuses its
/// connection; without, every request opens a new TLS connection.
pub struct ApiClient {
    addr: SocketAddr,
    server_name: ServerName<'static>,
    connector: TlsConnector,
    keep_alive: bool,
    conn: Option<Connection>,
}

/// An open connection: the handle to send on, and the task that drives it.
struct Connection {
    sender: SendRequest<Full<Bytes>>,
    /// Ends with the connection, with its error if it failed.
    task: JoinHandle<Result<(), hyper::Error>>,
}

impl ApiClient {
    pub fn new(
        addr: SocketAddr,
        server_name: &str,
        tls: Arc<rustls::ClientConfig>,
        keep_alive: bool,
    ) -> Result<Self, ClientError> {
        let server_name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| ClientError::Request(format!("server name: {e}")))?;
        Ok(Self { addr, server_name, connector: TlsConnector::from(tls), keep_alive, conn: None })
    }

    async fn connect(&self) -> Result<Connection, ClientError> {
        let tcp = TcpStream::connect(self.addr).await.map_err(ClientError::Connect)?;
        let _ = tcp.set_nodelay(true);
        let tls = self.connector.connect(self.server_name.clone(), tcp).await.map_err(ClientError::Tls)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        let task = tokio::spawn(conn);
        Ok(Connection { sender, task })
    }

    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<ApiResponse, ClientError> {
        let reusable = match self.conn.take() {
            Some(mut c) if self.keep_alive => c.sender.ready().await.is_ok().then_some(c),
            _ => None,
        };
        let Connection { mut sender, mut task } = match reusable {
            Some(c) => c,
            None => self.connect().await?,
        };
        let mut req = Request::builder().method(method).uri(path).header("host", "oegd-gateway");
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if !self.keep_alive {
            req = req.header("connection", "close");
        }
        let req = req.body(Full::new(Bytes::from(body))).map_err(|e| ClientError::Request(e.to_string()))?;
        // hyper hands a connection's error to the request it was sending. But a request queued
        // while the connection fails (a refused certificate is only reported after TLS 1.3's
        // handshake, as an alert) can stay queued unanswered: so the connection's end also ends
        // the wait. A response given before the end is still taken.
        let mut response = std::pin::pin!(sender.send_request(req));
        let resp = tokio::select! {
            biased;
            resp = &mut response => resp?,
            ended = &mut task => match std::future::poll_fn(|cx| Poll::Ready(response.as_mut().poll(cx))).await {
                Poll::Ready(resp) => resp?,
                Poll::Pending => return Err(match ended {
                    Ok(Err(e)) => ClientError::Http(e),
                    _ => ClientError::Closed,
                }),
            },
        };
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        let server_closes =
            parts.headers.get("connection").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        // (a finished task is never kept: its handle must not be polled again)
        if self.keep_alive && !server_closes && !sender.is_closed() && !task.is_finished() {
            self.conn = Some(Connection { sender, task });
        }
        Ok(ApiResponse { status: parts.status.as_u16(), headers: parts.headers, body })
    }

    pub async fn post(&mut self, path: &str, content_type: &str, body: Vec<u8>) -> Result<ApiResponse, ClientError> {
        self.request(Method::POST, path, Some(content_type), body).await
    }

    pub async fn get(&mut self, path: &str) -> Result<ApiResponse, ClientError> {
        self.request(Method::GET, path, None, Vec::new()).await
    }
}
