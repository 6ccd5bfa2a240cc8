//! The UI tests' browser: an HTTPS client for the staff web interface with one cookie jar and
//! a new TLS connection per request (server certificate only, optionally from another
//! loopback address), forms URL-encoded or multipart, bodies kept as bytes (CSV, PDF, ZIP
//! downloads); users made by the CLI, and `serve` with the web interface.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;

use crate::common::{self, BIN, Env};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub bytes: Vec<u8>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
    /// The value of the first hidden `_csrf` field.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"_csrf\" value=\"").expect("page without CSRF field") + 20;
        self.body[at..].split('"').next().unwrap().to_owned()
    }
}

pub struct Browser {
    addr: SocketAddr,
    tls: TlsConnector,
    pub cookies: HashMap<String, String>,
    /// Every `Set-Cookie` received, as sent.
    pub set_cookies: Vec<String>,
    /// The local address to connect from (another loopback address for per-address limits).
    pub source: Option<std::net::IpAddr>,
}

pub enum Body<'a> {
    None,
    Form(&'a [(&'a str, &'a str)]),
    /// Text fields, then one file: (field, file name, bytes).
    Multipart(&'a [(&'a str, &'a str)], (&'a str, &'a str, &'a [u8])),
}

impl Browser {
    pub fn new(addr: SocketAddr, ca: &str) -> Browser {
        let config: Arc<rustls::ClientConfig> = oegd_pki::client_config(ca, None).unwrap();
        Browser {
            addr,
            tls: TlsConnector::from(config),
            cookies: HashMap::new(),
            set_cookies: Vec::new(),
            source: None,
        }
    }

    pub async fn send(&mut self, method: &str, path: &str, body: Body<'_>) -> Resp {
        let tcp = match self.source {
            Some(ip) => {
                let socket = tokio::net::TcpSocket::new_v4().unwrap();
                socket.bind(SocketAddr::new(ip, 0)).unwrap();
                socket.connect(self.addr).await.unwrap()
            }
            None => TcpStream::connect(self.addr).await.unwrap(),
        };
        let tls = self.tls.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.unwrap();
        tokio::spawn(conn);
        let host = format!("{}", self.addr);
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", &host);
        if !self.cookies.is_empty() {
            let jar: Vec<String> = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            req = req.header("cookie", jar.join("; "));
        }
        let bytes: Vec<u8> = match body {
            Body::None => Vec::new(),
            Body::Form(fields) => {
                req = req
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("origin", format!("https://{host}"));
                fields.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&").into_bytes()
            }
            Body::Multipart(fields, (field, name, data)) => {
                let boundary = "----oegd-test-boundary-7MA4YWxkTrZu0gW";
                req = req
                    .header("content-type", format!("multipart/form-data; boundary={boundary}"))
                    .header("origin", format!("https://{host}"));
                let mut out = Vec::new();
                for (k, v) in fields {
                    out.extend_from_slice(
                        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n")
                            .as_bytes(),
                    );
                }
                out.extend_from_slice(
                    format!(
                        "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\nContent-Type: text/csv\r\n\r\n"
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(data);
                out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
                out
            }
        };
        let resp = sender.send_request(req.body(Full::new(Bytes::from(bytes))).unwrap()).await.unwrap();
        let (parts, body) = resp.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes().to_vec();
        for c in parts.headers.get_all("set-cookie") {
            let c = c.to_str().unwrap().to_owned();
            let (name, value) = c.split(';').next().unwrap().split_once('=').unwrap();
            if value.is_empty() || c.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
            self.set_cookies.push(c);
        }
        Resp {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, Body::None).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        self.send("POST", path, Body::Form(form)).await
    }

    /// Password, then the TOTP code from the secret; returns the answer to the code.
    pub async fn login(&mut self, user: &User) -> Resp {
        let page = self.get("/anmelden").await;
        assert_eq!(page.status, 200);
        let r = self
            .post("/anmelden", &[("_csrf", &page.csrf()), ("benutzer", &user.login), ("passwort", &user.password)])
            .await;
        if r.status != 303 {
            return r;
        }
        let page = self.get("/anmelden/code").await;
        let code = oegd_service::accounts::totp_code(&user.secret, jiff::Timestamp::now()).unwrap();
        self.post("/anmelden/code", &[("_csrf", &page.csrf()), ("code", &code)]).await
    }

    /// Logs in and replaces the one-time password.
    pub async fn login_and_set_password(&mut self, user: &mut User) {
        let r = self.login(user).await;
        assert_eq!((r.status, r.header("location")), (303, "/"), "{}", r.body);
        let page = self.get("/passwort").await;
        let new = format!("{}-eigenes-Passwort", user.login);
        let r = self
            .post(
                "/passwort",
                &[("_csrf", &page.csrf()), ("bisher", &user.password), ("neu", &new), ("wiederholung", &new)],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        user.password = new;
    }
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub struct User {
    pub login: String,
    pub password: String,
    pub secret: String,
}

/// The secret of an `otpauth://` URI.
pub fn secret_of(uri: &str) -> String {
    uri.split("secret=").nth(1).unwrap().split('&').next().unwrap().to_owned()
}

/// A staff account made with `oegd-gateway user add`.
pub fn add_user(env: &Env, org: &str, role: &str, login: &str) -> User {
    let out: serde_json::Value =
        serde_json::from_str(&env.cli_ok(&["user", "add", "--org", org, "--role", role, "--name", login, "--json"]))
            .unwrap();
    let uri = out["totp_uri"].as_str().unwrap();
    assert!(uri.starts_with(&format!("otpauth://totp/oegd-gateway:{login}?secret=")));
    User {
        login: login.to_owned(),
        password: out["initial_password"].as_str().unwrap().to_owned(),
        secret: secret_of(uri),
    }
}

/// `serve` with the API and the UI on free ports: (process, API address, UI address).
pub fn serve(env: &Env) -> (common::Server, SocketAddr, SocketAddr) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            env.data.to_str().unwrap(),
            "--api-listen",
            "127.0.0.1:0",
            "--ui-listen",
            "127.0.0.1:0",
        ])
        .env("OEGD_LOG", "warn")
        .env_remove("OEGD_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let addr_of = |line: &str| -> SocketAddr {
        line.split("https://").nth(1).and_then(|r| r.split('/').next()).unwrap().parse().unwrap()
    };
    let mut api = String::new();
    out.read_line(&mut api).unwrap();
    let mut ui = String::new();
    out.read_line(&mut ui).unwrap();
    // "oegd-gateway: Web-Oberfläche auf https://127.0.0.1:PORT/ (...)"
    assert!(ui.contains("Web-Oberfläche"), "no UI line: {ui:?}");
    let (api, ui) = (addr_of(&api), addr_of(&ui));
    std::thread::spawn(move || for _ in out.lines() {});
    (common::Server { child, addr: api }, api, ui)
}
