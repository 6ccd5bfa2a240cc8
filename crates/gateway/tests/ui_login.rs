//! Login abuse in the staff web interface, over real HTTPS against `serve --ui-listen`:
//! the same answer for an unknown login, a wrong password and a locked account; a per-address
//! rate limit on login attempts (`429`, `Retry-After`, a German page) that leaves other
//! addresses alone and locks no account.

mod common;
mod support;
mod uiclient;

use common::Env;
use support::LAGUS;
use uiclient::*;

/// The text of the page's alert.
fn alert(r: &Resp) -> String {
    r.body.split("role=\"alert\">").nth(1).and_then(|s| s.split('<').next()).unwrap_or("").to_owned()
}

async fn try_login(b: &mut Browser, login: &str, password: &str) -> Resp {
    let page = b.get("/anmelden").await;
    assert_eq!(page.status, 200);
    b.post("/anmelden", &[("_csrf", &page.csrf()), ("benutzer", login), ("passwort", password)]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_failures_look_alike_and_one_address_is_rate_limited() {
    let env = Env::init();
    let mut anna = add_user(&env, LAGUS, "landesamt", "anna");
    let bert = add_user(&env, LAGUS, "landesamt", "bert");
    let (_server, _api, ui) = serve(&env);
    let ca = env.ca();

    // Unknown login, wrong password, locked account: one status, one message.
    let mut b = Browser::new(ui, &ca);
    let unknown = try_login(&mut b, "niemand", "irgendwas").await;
    let wrong = try_login(&mut b, "bert", "falsch").await;
    for _ in 0..4 {
        assert_eq!(try_login(&mut b, "bert", "falsch").await.status, 401);
    }
    let locked = try_login(&mut b, "bert", &bert.password).await;
    for r in [&unknown, &wrong, &locked] {
        assert_eq!(r.status, 401);
        assert_eq!(alert(r), alert(&unknown));
    }
    assert!(alert(&unknown).contains("Anmeldung fehlgeschlagen"), "{}", alert(&unknown));
    // (10 attempts from this address so far.)

    // An address that keeps trying gets 429 with Retry-After and a German page; the burst
    // is 30 attempts and one more every 2 s (100 attempts bound the loop: they cannot all
    // pass unless each took seconds).
    let mut throttled = None;
    let mut tried = 0;
    for _ in 0..100 {
        tried += 1;
        let r = try_login(&mut b, "niemand", "geraten").await;
        match r.status {
            401 => {}
            429 => {
                throttled = Some(r);
                break;
            }
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    let r = throttled.expect("no 429 within 110 login attempts from one address");
    println!("429 after {} attempts", 10 + tried);
    let retry: u64 = r.header("retry-after").parse().expect("Retry-After in seconds");
    assert!(retry >= 1, "Retry-After {retry}");
    assert!(r.body.contains("<html lang=\"de\">"));
    assert!(alert(&r).contains("Zu viele Anmeldeversuche"), "{}", alert(&r));
    assert!(r.body.contains("name=\"_csrf\""), "the login form is still there");
    // The code step counts too. (A token comes back every 2 s and the 429 came when less
    // than one was left, so one attempt may just pass — 303, no half session — and take it.)
    let page = b.get("/anmelden").await;
    let mut code = b.post("/anmelden/code", &[("_csrf", &page.csrf()), ("code", "000000")]).await;
    if code.status == 303 {
        code = b.post("/anmelden/code", &[("_csrf", &page.csrf()), ("code", "000000")]).await;
    }
    assert_eq!(code.status, 429);

    // Another address is not affected: anna logs in from 127.0.0.2, the flood locked no
    // account of hers (it tried an unknown login).
    let mut other = Browser::new(ui, &ca);
    other.source = Some([127, 0, 0, 2].into());
    other.login_and_set_password(&mut anna).await;
    let start = other.get("/").await;
    assert_eq!(start.status, 200, "{}", start.body);
}
