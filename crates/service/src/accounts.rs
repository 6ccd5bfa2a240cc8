//! Staff accounts of the web interface: passwords (Argon2id), the second factor (TOTP,
//! RFC 6238), lockout after repeated failures, and server-side sessions.
//!
//! A login has two steps. The password opens a *half session* that can do nothing but take
//! the TOTP code; the code replaces it by a full session with a new token (no fixation).
//! Tokens are 256 random bits; the store keeps only their SHA-256. Every failure, unknown
//! login, wrong password, locked account or wrong code, looks the same to the caller
//! ([`None`]), so the interface cannot tell whether a login exists.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jiff::{SignedDuration, Timestamp};
use oegd_domain::TelematikId;
use oegd_store::{Actor, Organisation, SessionRecord, Store, StoreError, UserAccount, UserRole};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Secret, TOTP};

use crate::ServiceError;

/// Failed attempts in a row (password or code) that lock an account.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// How long a locked account stays locked.
pub const LOCKOUT: SignedDuration = SignedDuration::from_mins(15);
/// How long a half session (password given, code not yet) lives.
pub const SECOND_FACTOR_WINDOW: SignedDuration = SignedDuration::from_mins(5);
/// The longest a session lives however active it is.
pub const SESSION_MAX_AGE: SignedDuration = SignedDuration::from_hours(12);
/// Shortest password a person may choose.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// TOTP parameters (those every authenticator app assumes).
const TOTP_DIGITS: usize = 6;
const TOTP_STEP: u64 = 30;
/// The issuer shown in authenticator apps.
pub const TOTP_ISSUER: &str = "oegd-gateway";

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(e.to_string())
}

/// `n` random bytes from the operating system's CSPRNG.
fn random_bytes<const N: usize>() -> Result<[u8; N], ServiceError> {
    let mut buf = [0u8; N];
    SystemRandom::new().fill(&mut buf).map_err(|_| internal("no randomness"))?;
    Ok(buf)
}

/// A new random token (256 bits, hex).
pub fn new_token() -> Result<String, ServiceError> {
    Ok(hex::encode(random_bytes::<32>()?))
}

/// SHA-256 (hex) of a token: what the store keeps.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, as OWASP recommends) in PHC form.
pub fn hash_password(password: &str) -> Result<String, ServiceError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?).map_err(internal)?;
    Ok(Argon2::default().hash_password(password.as_bytes(), &salt).map_err(internal)?.to_string())
}

fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A hash to verify against when the login is unknown, so that the answer takes as long.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("kein Konto / no account").unwrap_or_default())
}

/// Runs the (deliberately slow) Argon2 work off the async threads, at most one per core at
/// a time (19 MiB each): a flood of logins queues instead of starting a thread each.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ServiceError> {
    crate::intake::cpu_bound(f).await
}

fn totp(secret_base32: &str) -> Result<TOTP, ServiceError> {
    let bytes = Secret::Encoded(secret_base32.to_owned()).to_bytes().map_err(|_| internal("TOTP secret unreadable"))?;
    TOTP::new(Algorithm::SHA1, TOTP_DIGITS, 0, TOTP_STEP, bytes).map_err(internal)
}

/// The TOTP code of `secret_base32` at `at` (for tests and for people setting up an app).
pub fn totp_code(secret_base32: &str, at: Timestamp) -> Result<String, ServiceError> {
    Ok(totp(secret_base32)?.generate(u64::try_from(at.as_second()).unwrap_or(0)))
}

/// The time step whose code `code` is: the current one or one step either side (clock drift).
fn matching_step(secret_base32: &str, code: &str, at: Timestamp) -> Result<Option<i64>, ServiceError> {
    let totp = totp(secret_base32)?;
    let now = at.as_second();
    let step = i64::try_from(TOTP_STEP).unwrap_or(30);
    let code = code.trim();
    for s in [now / step - 1, now / step, now / step + 1] {
        let t = u64::try_from(s * step).unwrap_or(0);
        if constant_time_eq(&totp.generate(t), code) {
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// The `otpauth://` URI an authenticator app reads (usually as a QR code).
pub fn otpauth_uri(login: &str, secret_base32: &str) -> String {
    format!(
        "otpauth://totp/{TOTP_ISSUER}:{login}?secret={secret_base32}&issuer={TOTP_ISSUER}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP}"
    )
}

/// What `user add` prints once.
#[derive(Clone, serde::Serialize)]
pub struct NewCredentials {
    pub login: String,
    pub role: UserRole,
    pub organisation: TelematikId,
    /// One-time: must be changed at the first login.
    pub initial_password: String,
    pub totp_uri: String,
}

impl std::fmt::Debug for NewCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCredentials").field("login", &self.login).finish_non_exhaustive()
    }
}

fn valid_login(login: &str) -> bool {
    (3..=64).contains(&login.len())
        && login.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_'))
}

/// A random password of 20 characters without look-alikes (about 110 bits).
fn initial_password() -> Result<String, ServiceError> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let bytes = random_bytes::<20>()?;
    // 55 symbols; the modulo bias of 256 % 55 is negligible for a one-time password
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET.get(usize::from(*b) % ALPHABET.len()).copied().unwrap_or(b'x')))
        .collect())
}

/// Creates an account for a member of a registered organisation whose kind fits the role;
/// returns the one-time initial password and the TOTP URI.
pub async fn add_user<S: Store>(
    store: &S,
    login: &str,
    organisation: &TelematikId,
    role: UserRole,
    now: Timestamp,
) -> Result<NewCredentials, ServiceError> {
    add_user_by(store, login, organisation, role, now, &Actor::Operator).await
}

/// [`add_user`] recorded in the audit log as done by `actor` (an operator in the web
/// interface: `user:LOGIN`).
pub async fn add_user_by<S: Store>(
    store: &S,
    login: &str,
    organisation: &TelematikId,
    role: UserRole,
    now: Timestamp,
    actor: &Actor,
) -> Result<NewCredentials, ServiceError> {
    if !valid_login(login) {
        return Err(ServiceError::Usage(
            "Der Benutzername muss 3 bis 64 Zeichen lang sein: Kleinbuchstaben a–z, Ziffern, Punkt, Binde- und Unterstrich."
                .into(),
        ));
    }
    let org = store
        .organisation(organisation)
        .await?
        .ok_or_else(|| ServiceError::NotFound(format!("Organisation {organisation} ist nicht registriert.")))?;
    if !role.fits(org.kind) {
        return Err(ServiceError::Usage(format!(
            "Die Rolle {} passt nicht zu {} ({}).",
            role.as_str(),
            org.name,
            org.kind.label()
        )));
    }
    let password = initial_password()?;
    let hash = {
        let p = password.clone();
        blocking(move || hash_password(&p)).await??
    };
    let secret = Secret::Raw(random_bytes::<20>()?.to_vec()).to_encoded().to_string();
    let user = UserAccount {
        login: login.to_owned(),
        organisation: organisation.clone(),
        role,
        password_hash: hash,
        totp_secret: secret.clone(),
        must_change_password: true,
        failed_logins: 0,
        locked_until: None,
        totp_last_step: None,
        created_at: now,
    };
    store.add_user(&user, actor).await.map_err(|e| match e {
        StoreError::AlreadyExists(_) => ServiceError::Usage(format!("Den Benutzer {login} gibt es bereits.")),
        other => other.into(),
    })?;
    Ok(NewCredentials {
        login: login.to_owned(),
        role,
        organisation: organisation.clone(),
        initial_password: password,
        totp_uri: otpauth_uri(login, &secret),
    })
}

/// A half session: the password was right, the code is still due.
#[derive(Clone)]
pub struct HalfSession {
    /// The token for the browser (never stored).
    pub token: String,
    pub csrf_token: String,
}

fn locked(user: &UserAccount, now: Timestamp) -> bool {
    user.locked_until.is_some_and(|until| until > now)
}

async fn failed<S: Store>(store: &S, login: &str, now: Timestamp) -> Result<(), ServiceError> {
    if store.record_failed_login(login, MAX_FAILED_LOGINS, now + LOCKOUT, now).await? {
        // the login is a staff member's name at work, not a child's data
        tracing::warn!(login, "account locked after repeated failed logins");
    }
    Ok(())
}

/// Step one: the password. `None` for every kind of failure.
pub async fn login_password<S: Store>(
    store: &S,
    login: &str,
    password: &str,
    now: Timestamp,
) -> Result<Option<HalfSession>, ServiceError> {
    let user = store.user(login).await?;
    // An unknown login costs the same Argon2 verification as a known one (against a dummy
    // hash, made once and off the async threads too), so timing does not tell them apart.
    let phc = user.as_ref().map(|u| u.password_hash.clone());
    let given = password.to_owned();
    let right = blocking(move || match phc {
        Some(phc) => verify_password(&given, &phc),
        None => {
            verify_password(&given, dummy_hash());
            false
        }
    })
    .await?;
    let Some(user) = user else { return Ok(None) };
    if locked(&user, now) {
        return Ok(None);
    }
    if !right {
        failed(store, login, now).await?;
        return Ok(None);
    }
    let half = HalfSession { token: new_token()?, csrf_token: new_token()? };
    let record = SessionRecord {
        token_sha256: token_hash(&half.token),
        login: user.login.clone(),
        csrf_token: half.csrf_token.clone(),
        second_factor: false,
        created_at: now,
        last_seen: now,
    };
    store.start_session(&record, now - SESSION_MAX_AGE).await?;
    Ok(Some(half))
}

/// The half session of a token, if it is still good for the code.
pub async fn half_session<S: Store>(
    store: &S,
    token: &str,
    now: Timestamp,
) -> Result<Option<SessionRecord>, ServiceError> {
    Ok(store
        .session(&token_hash(token))
        .await?
        .filter(|s| !s.second_factor && now.duration_since(s.created_at) <= SECOND_FACTOR_WINDOW))
}

/// Step two: the TOTP code. Returns the token of the full session, or `None` for every kind
/// of failure (a wrong code counts as a failed attempt; a code is accepted once).
pub async fn login_second_factor<S: Store>(
    store: &S,
    half_token: &str,
    code: &str,
    now: Timestamp,
) -> Result<Option<String>, ServiceError> {
    let Some(half) = half_session(store, half_token, now).await? else { return Ok(None) };
    let Some(user) = store.user(&half.login).await? else { return Ok(None) };
    if locked(&user, now) {
        return Ok(None);
    }
    let Some(step) = matching_step(&user.totp_secret, code, now)? else {
        failed(store, &user.login, now).await?;
        return Ok(None);
    };
    let token = new_token()?;
    let session = SessionRecord {
        token_sha256: token_hash(&token),
        login: user.login.clone(),
        csrf_token: new_token()?,
        second_factor: true,
        created_at: now,
        last_seen: now,
    };
    match store.complete_login(&half.token_sha256, &session, step).await {
        Ok(()) => Ok(Some(token)),
        Err(StoreError::Conflict(_)) => {
            failed(store, &user.login, now).await?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// A logged-in staff member, as every page sees them.
#[derive(Clone)]
pub struct StaffSession {
    pub login: String,
    pub role: UserRole,
    pub organisation: Organisation,
    pub csrf_token: String,
    pub must_change_password: bool,
    pub token_sha256: String,
}

impl std::fmt::Debug for StaffSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSession").field("login", &self.login).field("role", &self.role).finish_non_exhaustive()
    }
}

/// The full session of a token, unless it was idle longer than `idle`, is older than
/// [`SESSION_MAX_AGE`], or its account is locked; an expired session is ended.
pub async fn session<S: Store>(
    store: &S,
    token: &str,
    idle: SignedDuration,
    now: Timestamp,
) -> Result<Option<StaffSession>, ServiceError> {
    let hash = token_hash(token);
    let Some(record) = store.session(&hash).await? else { return Ok(None) };
    if !record.second_factor {
        return Ok(None);
    }
    if now.duration_since(record.last_seen) > idle || now.duration_since(record.created_at) > SESSION_MAX_AGE {
        store.end_session(&hash, now, &Actor::System).await?;
        return Ok(None);
    }
    let Some(user) = store.user(&record.login).await? else { return Ok(None) };
    if locked(&user, now) {
        return Ok(None);
    }
    let Some(organisation) = store.organisation(&user.organisation).await? else { return Ok(None) };
    // one write a minute at most per session
    if now.duration_since(record.last_seen) > SignedDuration::from_secs(60) {
        store.touch_session(&hash, now).await?;
    }
    Ok(Some(StaffSession {
        login: user.login,
        role: user.role,
        organisation,
        csrf_token: record.csrf_token,
        must_change_password: user.must_change_password,
        token_sha256: hash,
    }))
}

/// Ends the session of a token (logout).
pub async fn logout<S: Store>(store: &S, token: &str, now: Timestamp) -> Result<(), ServiceError> {
    let hash = token_hash(token);
    let actor = match store.session(&hash).await? {
        Some(s) => Actor::User(s.login),
        None => return Ok(()),
    };
    store.end_session(&hash, now, &actor).await?;
    Ok(())
}

/// A person replaces their password; the current one must be given. Errors are German
/// sentences for the form.
pub async fn change_password<S: Store>(
    store: &S,
    login: &str,
    current: &str,
    new: &str,
    repeated: &str,
    now: Timestamp,
) -> Result<(), ServiceError> {
    if new != repeated {
        return Err(ServiceError::Usage("Die beiden neuen Passwörter stimmen nicht überein.".into()));
    }
    if new.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ServiceError::Usage(format!(
            "Das neue Passwort muss mindestens {MIN_PASSWORD_CHARS} Zeichen lang sein."
        )));
    }
    let user = store.user(login).await?.ok_or_else(|| ServiceError::NotFound("Konto nicht gefunden.".into()))?;
    let (given, phc) = (current.to_owned(), user.password_hash.clone());
    if !blocking(move || verify_password(&given, &phc)).await? {
        failed(store, login, now).await?;
        return Err(ServiceError::Usage("Das bisherige Passwort ist nicht richtig.".into()));
    }
    if current == new {
        return Err(ServiceError::Usage("Das neue Passwort muss sich vom bisherigen unterscheiden.".into()));
    }
    let new = new.to_owned();
    let hash = blocking(move || hash_password(&new)).await??;
    store.set_password(login, &hash, now, &Actor::User(login.to_owned())).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B, secret "12345678901234567890", truncated to 6 digits
        let secret = Secret::Raw(b"12345678901234567890".to_vec()).to_encoded().to_string();
        for (t, code) in [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")] {
            assert_eq!(totp_code(&secret, Timestamp::from_second(t).unwrap()).unwrap(), code);
        }
    }

    #[test]
    fn a_code_matches_its_step_and_the_neighbours_only() {
        let secret = Secret::Raw(vec![7; 20]).to_encoded().to_string();
        let t = Timestamp::from_second(1_800_000_000).unwrap();
        let code = totp_code(&secret, t).unwrap();
        assert_eq!(matching_step(&secret, &code, t).unwrap(), Some(60_000_000));
        assert!(matching_step(&secret, &code, t + SignedDuration::from_secs(30)).unwrap().is_some());
        assert!(matching_step(&secret, &code, t + SignedDuration::from_secs(90)).unwrap().is_none());
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let h = hash_password("richtig und lang").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("richtig und lang", &h));
        assert!(!verify_password("falsch", &h));
    }
}
