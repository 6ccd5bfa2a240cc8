//! Hostile and malformed input against the real server: deep nesting, huge strings,
//! numbers out of range, invalid UTF-8, duplicate keys, XML entity bombs and external
//! entities, slow and silent clients, oversized heads and bodies, wrong media types,
//! HTTP/1.0, broken HTTP and garbage before the TLS handshake.
//!
//! For every input: a clear error (status, and an OperationOutcome where the request got
//! as far as a handler), another practice submitting at the same time keeps getting its
//! 201s, the server's peak memory stays bounded, and nothing hostile is stored.

mod common;
mod support;

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use support::*;

/// The server's peak resident memory must stay below this (a resource bound, not a
/// timing): the default body limit is 1 MiB, so nothing here should need more than a few
/// dozen MiB above the idle server.
const PEAK_LIMIT_KIB: u64 = 300 * 1024;

/// What a hostile request got.
#[derive(Debug)]
struct Tried {
    name: String,
    got: String,
}

/// Sends one body with a new connection; the status must be one of `allowed` and the
/// answer an OperationOutcome of reasonable size. `Err` (connection cut) is accepted only
/// where `may_cut`.
async fn body_case(
    tried: &Mutex<Vec<Tried>>,
    addr: std::net::SocketAddr,
    ca: &str,
    certs: &Certs,
    name: &str,
    content_type: &str,
    body: Vec<u8>,
    allowed: &[u16],
    may_cut: bool,
) {
    let mut c = client(addr, ca, Some(certs), false);
    let resp = c.post("/fhir/Bundle", content_type, body).await;
    let got = match resp {
        Ok(resp) => {
            assert!(allowed.contains(&resp.status), "{name}: status {} not in {allowed:?}", resp.status);
            let oo = resp.json().unwrap_or_else(|| panic!("{name}: answer is not JSON"));
            assert_eq!(oo["resourceType"], "OperationOutcome", "{name}");
            let issues = oo["issue"].as_array().unwrap_or_else(|| panic!("{name}: no issues"));
            assert!(!issues.is_empty(), "{name}");
            assert!(issues.iter().all(|i| i["diagnostics"].is_string()), "{name}");
            // A clear error, not an echo of the input.
            assert!(resp.body.len() < 64 * 1024, "{name}: answer of {} bytes", resp.body.len());
            let text = String::from_utf8_lossy(&resp.body);
            assert!(!text.contains("root:x:0:0"), "{name}: a local file leaked into the answer");
            format!("{} OperationOutcome ({})", resp.status, issues[0]["code"].as_str().unwrap_or("?"))
        }
        Err(e) => {
            assert!(may_cut, "{name}: connection failed: {e}");
            "connection closed by the server".to_owned()
        }
    };
    tried.lock().unwrap().push(Tried { name: name.to_owned(), got });
}

/// The outcome of a raw exchange: the status line's code if any, the JSON body if any,
/// and whether the server closed the connection.
struct Raw {
    status: Option<u16>,
    json: Option<serde_json::Value>,
    closed: bool,
}

fn raw_exchange(addr: std::net::SocketAddr, ca: &str, certs: &Certs, request: &[u8]) -> Raw {
    let mut tls = RawTls::connect(addr, ca, Some(certs)).unwrap();
    tls.set_read_timeout(Duration::from_secs(30));
    // The server may answer and close before it has read everything (431): a failed
    // write is part of the answer, not a test failure.
    let _ = tls.send(request);
    let (response, err) = tls.read_to_close(1 << 20);
    let timed_out =
        err.as_ref().is_some_and(|e| matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    Raw { status: raw_status(&response), json: raw_json_body(&response), closed: !timed_out }
}

fn header_case(tried: &Mutex<Vec<Tried>>, name: &str, raw: Raw, allowed: &[u16], needs_outcome: bool) {
    assert!(raw.closed, "{name}: the server kept the connection open");
    match raw.status {
        Some(s) => {
            assert!(allowed.contains(&s), "{name}: status {s} not in {allowed:?}");
            // Where the request reached a handler: JSON, an OperationOutcome for errors.
            if needs_outcome {
                let json = raw.json.as_ref().unwrap_or_else(|| panic!("{name}: no JSON body"));
                if s >= 400 {
                    assert_eq!(json["resourceType"], "OperationOutcome", "{name}");
                }
            }
        }
        // Closed before answering: acceptable only for errors, never for a request that
        // should have been served.
        None => assert!(!allowed.iter().any(|s| *s < 400), "{name}: no answer"),
    }
    let got = match raw.status {
        Some(s) => match raw.json.as_ref().and_then(|j| j["resourceType"].as_str()) {
            Some(resource) => format!("{s} {resource}"),
            None => s.to_string(),
        },
        None => "connection closed without an answer".to_owned(),
    };
    tried.lock().unwrap().push(Tried { name: name.to_owned(), got });
}

fn nested(open: &str, close: &str, depth: usize, inner: &str) -> Vec<u8> {
    let mut s = String::with_capacity((open.len() + close.len()) * depth + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s.into_bytes()
}

fn with_field(path: &[&str], value: serde_json::Value) -> Vec<u8> {
    let mut card = card_template();
    let mut at = &mut card;
    for p in path.iter().take(path.len() - 1) {
        at = match p.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[*p],
        };
    }
    at[*path.last().unwrap()] = value;
    serde_json::to_vec(&card).unwrap()
}

/// A valid card as XML (from the fixtures), to build hostile XML around.
fn xml_card() -> String {
    std::fs::read_to_string(fixture("mio-pc/valid/01-u2-v101-kvnr-prac.xml")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_input_gets_clear_errors_changes_nothing_and_others_are_served() {
    let env = Env::init();
    env.add_org("praxis", "Kinderarztpraxis Dr. Möller", PRAXIS_A);
    env.add_org("praxis", "Praxis Schulz", PRAXIS_B);
    // Short timeouts keep the slow-client cases short; the defaults are 10 s.
    set_config(&env, "limits", "header_read_timeout_secs", "3");
    set_config(&env, "limits", "handshake_timeout_secs", "3");
    let attacker = Arc::new(env.issue(PRAXIS_A));
    let honest = Arc::new(env.issue(PRAXIS_B));
    let server = env.start();
    let pid = server.child.id();
    let addr = server.addr;
    let ca = Arc::new(env.ca());
    let (rss_idle, _) = memory_kib(pid);

    // An honest practice submits all the time; every submission must get its 201.
    let stop = Arc::new(AtomicBool::new(false));
    let honest_acks: Arc<Mutex<Vec<String>>> = Arc::default();
    let good = {
        let (stop, acks, ca, honest) = (stop.clone(), honest_acks.clone(), ca.clone(), honest.clone());
        tokio::spawn(async move {
            let mut c = client(addr, &ca, Some(&honest), true);
            while !stop.load(Ordering::Relaxed) {
                let (card_id, body) = fresh_card();
                let resp = c.post("/fhir/Bundle", "application/fhir+json", body).await.unwrap();
                assert_eq!(resp.status, 201, "honest practice: {}", String::from_utf8_lossy(&resp.body));
                acks.lock().unwrap().push(card_id);
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        })
    };

    let tried: Arc<Mutex<Vec<Tried>>> = Arc::default();

    // Slow and silent clients run in threads while everything else happens.
    let mut slow = Vec::new();
    {
        // Slowloris: a request head, one byte a second. The server must drop it after its
        // header timeout (3 s here); the bound of 60 bytes is for liveness only.
        let (ca, certs, tried) = (ca.clone(), attacker.clone(), tried.clone());
        slow.push(std::thread::spawn(move || {
            let mut tls = RawTls::connect(addr, &ca, Some(&certs)).unwrap();
            tls.set_read_timeout(Duration::from_secs(1));
            let head =
                b"POST /fhir/Bundle HTTP/1.1\r\nHost: oegd-gateway\r\nContent-Type: application/fhir+json\r\nX-Slow: ";
            let mut sent = 0usize;
            let mut answer = Vec::new();
            let dropped = loop {
                let byte = head.get(sent).copied().unwrap_or(b'a');
                if tls.send(&[byte]).is_err() {
                    break true;
                }
                sent += 1;
                let mut buf = [0u8; 4096];
                match std::io::Read::read(&mut tls.stream, &mut buf) {
                    Ok(0) => break true,
                    Ok(n) => answer.extend_from_slice(&buf[..n]),
                    Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                    Err(_) => break true,
                }
                assert!(sent < 60, "slowloris: still connected after {sent} bytes, one a second");
            };
            assert!(dropped);
            let status = raw_status(&answer);
            assert!(status.is_none_or(|s| s == 408), "slowloris got {status:?}");
            tried.lock().unwrap().push(Tried {
                name: "slowloris: request head one byte a second".into(),
                got: format!("dropped after {sent} bytes{}", status.map(|s| format!(" with {s}")).unwrap_or_default()),
            });
        }));
    }
    {
        // A complete head announcing a body that never comes: 400 after the body timeout
        // (10 s), or the connection closed.
        let (ca, certs, tried) = (ca.clone(), attacker.clone(), tried.clone());
        slow.push(std::thread::spawn(move || {
            let raw = raw_exchange(
                addr,
                &ca,
                &certs,
                b"POST /fhir/Bundle HTTP/1.1\r\nHost: oegd-gateway\r\nContent-Type: application/fhir+json\r\nContent-Length: 5000\r\n\r\n{\"resourceType\"",
            );
            header_case(&tried, "body announced but never sent", raw, &[400, 408], false);
        }));
    }
    {
        // A TLS connection that sends nothing: closed after the header timeout.
        let (ca, certs, tried) = (ca.clone(), attacker.clone(), tried.clone());
        slow.push(std::thread::spawn(move || {
            let raw = raw_exchange(addr, &ca, &certs, b"");
            header_case(&tried, "idle TLS connection without a request", raw, &[408], false);
        }));
    }
    {
        // A TCP connection that never starts TLS: closed after the handshake timeout.
        let tried = tried.clone();
        slow.push(std::thread::spawn(move || {
            let mut tcp = TcpStream::connect(addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let mut buf = [0u8; 64];
            let r = std::io::Read::read(&mut tcp, &mut buf);
            assert!(
                !matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
                "silent TCP connection still open after 30 s"
            );
            tried
                .lock()
                .unwrap()
                .push(Tried { name: "TCP connection without TLS handshake".into(), got: "closed".into() });
        }));
    }

    // Garbage instead of a TLS handshake: refused, no HTTP answer.
    for (name, bytes) in [
        ("plain HTTP instead of TLS", b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("random bytes instead of TLS", (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
        ("a TLS record header announcing 16 MiB", vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0x00, 0xff, 0xff]),
    ] {
        let tried = tried.clone();
        tokio::task::spawn_blocking(move || {
            let mut tcp = TcpStream::connect(addr).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            let _ = std::io::Write::write_all(&mut tcp, &bytes);
            let mut answer = Vec::new();
            let r = std::io::Read::read_to_end(&mut tcp, &mut answer);
            assert!(
                !matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
                "{name}: still open"
            );
            assert!(!answer.starts_with(b"HTTP/"), "{name}: answered in plain HTTP");
            tried.lock().unwrap().push(Tried { name: name.into(), got: "refused (TLS alert or close)".into() });
        })
        .await
        .unwrap();
    }

    // Bodies.
    let (a, c) = (&*attacker, &*ca);
    let json = "application/fhir+json";
    let xml = "application/fhir+xml";
    let t = &*tried;
    body_case(t, addr, c, a, "JSON: 100 000 nested arrays", json, nested("[", "]", 100_000, ""), &[400], false).await;
    body_case(t, addr, c, a, "JSON: 100 000 nested objects", json, nested("{\"a\":", "}", 100_000, "1"), &[400], false)
        .await;
    let inside_card = {
        let card = String::from_utf8(card_with_id("6f1d2c9e-0000-4000-8000-000000000003")).unwrap();
        let deep = String::from_utf8(nested("[", "]", 100_000, "")).unwrap();
        card.replacen('{', &format!("{{\"extension\":{deep},"), 1).into_bytes()
    };
    body_case(t, addr, c, a, "JSON: 100 000 nested arrays inside a card", json, inside_card, &[400], false).await;
    body_case(
        t,
        addr,
        c,
        a,
        "XML: 100 000 nested elements",
        xml,
        nested("<a>", "</a>", 100_000, ""),
        &[400, 422],
        false,
    )
    .await;
    let big = "A".repeat(1000 * 1024);
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: 1000 KiB string as Bundle.identifier.value",
        json,
        with_field(&["identifier", "value"], big.clone().into()),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: 1000 KiB string as the patient's family name",
        json,
        with_field(&["entry", "2", "resource", "name", "0", "family"], big.clone().into()),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: 1000 KiB key",
        json,
        format!("{{\"resourceType\":\"Bundle\",\"{big}\":1}}").into_bytes(),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: 1000 KiB of backslash escapes",
        json,
        format!("{{\"resourceType\":\"Bundle\",\"id\":\"{}\"}}", "\\u0041".repeat(170 * 1024)).into_bytes(),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: 3 MiB string (over the body limit)",
        json,
        with_field(&["identifier", "value"], "A".repeat(3 << 20).into()),
        &[413],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: 5 MiB of spaces (over the limit, drained)",
        json,
        vec![b' '; 5 << 20],
        &[413],
        false,
    )
    .await;
    body_case(t, addr, c, a, "JSON: 20 MiB body (over the drain cap)", json, vec![b'['; 20 << 20], &[413], true).await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: number 1e999999",
        json,
        b"{\"resourceType\":\"Bundle\",\"total\":1e999999}".to_vec(),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: integer of 400 digits",
        json,
        format!("{{\"resourceType\":\"Bundle\",\"total\":{}}}", "9".repeat(400)).into_bytes(),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: 2^64 - 1 in a card",
        json,
        with_field(&["total"], serde_json::json!(18446744073709551615u64)),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: birth date in the year 99999",
        json,
        with_field(&["entry", "2", "resource", "birthDate"], "99999-01-01".into()),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: date 2025-02-30",
        json,
        with_field(&["entry", "1", "resource", "period", "start"], "2025-02-30".into()),
        &[400, 422],
        false,
    )
    .await;
    let mut invalid_utf8 = card_with_id("6f1d2c9e-0000-4000-8000-000000000001");
    let pos = invalid_utf8.windows(7).position(|w| w == b"\"Bundle").unwrap() + 1;
    invalid_utf8.splice(pos..pos, [0xff, 0xfe, 0xc0, 0xaf]);
    body_case(t, addr, c, a, "JSON: invalid UTF-8 in a string", json, invalid_utf8, &[400], false).await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: UTF-16 byte order mark and text",
        json,
        [0xff, 0xfe, b'{', 0, b'}', 0].to_vec(),
        &[400],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: lone surrogate escape",
        json,
        b"{\"resourceType\":\"Bundle\",\"id\":\"\\ud800\"}".to_vec(),
        &[400, 422],
        false,
    )
    .await;
    body_case(t, addr, c, a, "JSON: NUL bytes", json, vec![0u8; 4096], &[400], false).await;
    let card = String::from_utf8(card_with_id("6f1d2c9e-0000-4000-8000-000000000002")).unwrap();
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: duplicate key resourceType",
        json,
        card.replacen("{", "{\"resourceType\":\"Patient\",", 1).into_bytes(),
        &[400],
        false,
    )
    .await;
    body_case(t, addr, c, a, "JSON: duplicate key identifier", json, card.replacen("\"identifier\"", "\"identifier\":{\"system\":\"urn:ietf:rfc:3986\",\"value\":\"urn:uuid:6f1d2c9e-0000-4000-8000-0000000000ff\"},\"identifier\"", 1).into_bytes(), &[400], false).await;
    body_case(
        t,
        addr,
        c,
        a,
        "JSON: trailing garbage after the card",
        json,
        format!("{card}{{}}").into_bytes(),
        &[400],
        false,
    )
    .await;
    body_case(t, addr, c, a, "JSON: empty body", json, Vec::new(), &[400], false).await;
    let xml_text = xml_card();
    let body_start = xml_text.find("<Bundle").unwrap();
    let billion_laughs = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Bundle [\n<!ENTITY lol \"lol\">\n{}]>\n{}",
        (1..=9)
            .map(|i| format!(
                "<!ENTITY lol{i} \"{}\">\n",
                format!("&lol{};", if i == 1 { String::new() } else { (i - 1).to_string() }).repeat(10)
            ))
            .collect::<String>(),
        xml_text[body_start..].replacen("<id value=\"", "<id value=\"&lol9;", 1)
    );
    body_case(t, addr, c, a, "XML: billion laughs entity bomb", xml, billion_laughs.into_bytes(), &[400], false).await;
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Bundle [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        xml_text[body_start..].replacen("<id value=\"", "<id value=\"&xxe;", 1)
    );
    body_case(t, addr, c, a, "XML: external entity file:///etc/passwd", xml, xxe.into_bytes(), &[400], false).await;
    let xxe_param = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE Bundle [<!ENTITY % ext SYSTEM \"http://127.0.0.1:9/evil.dtd\"> %ext;]>\n{}",
        &xml_text[body_start..]
    );
    body_case(t, addr, c, a, "XML: external parameter entity (network)", xml, xxe_param.into_bytes(), &[400], false)
        .await;
    body_case(
        t,
        addr,
        c,
        a,
        "XML: undeclared entity reference",
        xml,
        xml_text.replacen("<id value=\"", "<id value=\"&undeclared;", 1).into_bytes(),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "XML: processing instruction and CDATA",
        xml,
        xml_text.replacen("<id value=\"", "<?evil x?><![CDATA[x]]><id value=\"", 1).into_bytes(),
        &[400, 422],
        false,
    )
    .await;
    let mut xml_bad_utf8 = xml_text.clone().into_bytes();
    let pos = xml_bad_utf8.windows(7).position(|w| w == b"<Bundle").unwrap() + 1;
    xml_bad_utf8.splice(pos..pos, [0xff, 0xc3]);
    body_case(t, addr, c, a, "XML: invalid UTF-8 in a name", xml, xml_bad_utf8, &[400], false).await;
    body_case(
        t,
        addr,
        c,
        a,
        "XML: 1000 KiB attribute value",
        xml,
        xml_text.replacen("<id value=\"", &format!("<id value=\"{big}"), 1).into_bytes(),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "XML: 100 000 attributes",
        xml,
        format!(
            "<Bundle xmlns=\"http://hl7.org/fhir\" {}/>",
            (0..100_000).map(|i| format!("a{i}=\"\" ")).collect::<String>()
        )
        .into_bytes()
        .into_iter()
        .take(1000 * 1024)
        .collect(),
        &[400, 422],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "XML: unclosed root",
        xml,
        b"<Bundle xmlns=\"http://hl7.org/fhir\">".to_vec(),
        &[400],
        false,
    )
    .await;
    body_case(t, addr, c, a, "JSON body sent as XML", xml, card.clone().into_bytes(), &[400], false).await;
    body_case(t, addr, c, a, "XML body sent as JSON", json, xml_text.clone().into_bytes(), &[400], false).await;
    body_case(t, addr, c, a, "media type text/plain", "text/plain", card.clone().into_bytes(), &[415], false).await;
    body_case(
        t,
        addr,
        c,
        a,
        "media type multipart/form-data",
        "multipart/form-data; boundary=x",
        card.clone().into_bytes(),
        &[415],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "media type application/fhir+json with charset latin1",
        "application/fhir+json; charset=iso-8859-1",
        card.clone().into_bytes(),
        &[415],
        false,
    )
    .await;
    body_case(
        t,
        addr,
        c,
        a,
        "media type with 10 KiB of parameters",
        &format!("application/fhir+json; {}", "a=b; ".repeat(2000)),
        card.clone().into_bytes(),
        &[400, 415, 431],
        false,
    )
    .await;

    // Many hostile bodies at once: memory stays bounded, the honest practice is served.
    let mut burst = Vec::new();
    for i in 0..16 {
        let (ca, certs, tried) = (ca.clone(), attacker.clone(), tried.clone());
        let body = if i % 2 == 0 {
            with_field(&["entry", "2", "resource", "name", "0", "family"], "B".repeat(1000 * 1024).into())
        } else {
            nested("[", "]", 500_000, "")
        };
        burst.push(tokio::spawn(async move {
            body_case(
                &tried,
                addr,
                &ca,
                &certs,
                &format!("concurrent burst #{i}: 1 MiB card or 500 000 brackets"),
                json,
                body,
                &[400, 413, 422],
                false,
            )
            .await;
        }));
    }
    for b in burst {
        b.await.unwrap();
    }

    // Request heads and HTTP itself.
    let raw_cases: Vec<(&str, Vec<u8>, &[u16], bool)> = vec![
        (
            "1 MiB header",
            [b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec(), vec![b'a'; 1 << 20], b"\r\n\r\n".to_vec()]
                .concat(),
            &[431],
            false,
        ),
        (
            "64 KiB request target",
            [b"GET /fhir/Bundle/".to_vec(), vec![b'a'; 64 << 10], b" HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()].concat(),
            &[414, 431, 400],
            false,
        ),
        (
            "500 headers",
            [
                b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n".to_vec(),
                (0..500).flat_map(|i| format!("X-H{i}: v\r\n").into_bytes()).collect(),
                b"\r\n".to_vec(),
            ]
            .concat(),
            &[431],
            false,
        ),
        ("HTTP/1.0 GET metadata", b"GET /fhir/metadata HTTP/1.0\r\nHost: x\r\n\r\n".to_vec(), &[200], true),
        (
            "HTTP/1.0 POST unreadable card",
            b"POST /fhir/Bundle HTTP/1.0\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 2\r\n\r\n{]"
                .to_vec(),
            &[400],
            true,
        ),
        ("HTTP/0.9 request", b"GET /fhir/metadata\r\n\r\n".to_vec(), &[400], false),
        ("HTTP/2 preface over HTTP/1.1 ALPN", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), &[400, 505], false),
        ("garbage request line", b"\x00\x01\x02 hello \xff\xfe\r\n\r\n".to_vec(), &[400], false),
        (
            "Content-Length and Transfer-Encoding together",
            b"POST /fhir/Bundle HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                .to_vec(),
            &[400],
            false,
        ),
        (
            "two different Content-Lengths",
            b"POST /fhir/Bundle HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{]x"
                .to_vec(),
            &[400],
            false,
        ),
        (
            "Content-Length of 2^64",
            b"POST /fhir/Bundle HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 18446744073709551616\r\n\r\n"
                .to_vec(),
            &[400, 413],
            false,
        ),
        (
            "Content-Length 1 GiB announced",
            b"POST /fhir/Bundle HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nContent-Length: 1073741824\r\n\r\n{"
                .to_vec(),
            &[413],
            true,
        ),
        (
            "chunked body with a chunk size of 2^64",
            b"POST /fhir/Bundle HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n10000000000000000\r\n{"
                .to_vec(),
            &[400, 413],
            false,
        ),
        (
            "unknown method",
            b"BREW /fhir/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            &[404, 405],
            false,
        ),
        (
            "path traversal",
            b"GET /fhir/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            &[400, 404],
            false,
        ),
        (
            "Bundle id with encoded NUL and quotes",
            b"GET /fhir/Bundle/%00%22%27;DROP%20TABLE%20reports HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            &[400, 404],
            true,
        ),
    ];
    for (name, request, allowed, needs_outcome) in raw_cases {
        let (ca, certs, tried) = (ca.clone(), attacker.clone(), tried.clone());
        tokio::task::spawn_blocking(move || {
            let raw = raw_exchange(addr, &ca, &certs, &request);
            header_case(&tried, name, raw, allowed, needs_outcome);
        })
        .await
        .unwrap();
    }

    for s in slow {
        s.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    good.await.unwrap();

    // The honest practice was served throughout, and only its cards were stored.
    let (rss_end, peak) = memory_kib(pid);
    let acks = honest_acks.lock().unwrap().clone();
    assert!(acks.len() >= 10, "the honest practice got only {} answers", acks.len());
    let stored = stored_reports(&env);
    assert_eq!(stored.len(), acks.len(), "only the honest practice's cards are stored");
    for r in &stored {
        assert_eq!(r["sender"], PRAXIS_B, "a hostile request was stored: {r}");
    }
    assert_audit_ok(&env);
    assert!(peak < PEAK_LIMIT_KIB, "server peak memory {peak} KiB");

    let tried = tried.lock().unwrap();
    println!("hostile inputs tried: {}", tried.len());
    for t in tried.iter() {
        println!("  {:<60} {}", t.name, t.got);
    }
    println!(
        "honest practice: {} cards acknowledged meanwhile; server memory: idle {} KiB, end {} KiB, peak {} KiB",
        acks.len(),
        rss_idle,
        rss_end,
        peak
    );
}
