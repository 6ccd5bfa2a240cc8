//! Per-client rate limits and connection counting.
//!
//! - [`RateLimiter`]: one token bucket per client (the Telematik-ID of its certificate).
//!   A bucket holds up to `burst` tokens and refills at `per_second`; each request takes
//!   one. A client whose bucket is empty gets `429 Too Many Requests` with the seconds until
//!   the next token in `Retry-After`. Written out here rather than taken from a crate: it is
//!   twenty lines, and its behaviour is easy to read and to test.
//! - [`ConnectionCounter`]: open connections per peer IP address, known before any TLS
//!   work is done, so that one address cannot hold every connection slot.
//! - [`HandshakeGuard`]: failed TLS handshakes per peer IP address (no certificate, another
//!   CA, revoked, expired, garbage, too slow). An address that fails `max` times within the
//!   cool-down is refused (its connections closed before any TLS work) for the cool-down;
//!   other addresses are not affected.
//!
//! Both use the monotonic clock of the runtime (`tokio::time::Instant`): they measure
//! intervals, never the time of day.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// A request rate: `per_second` on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(rate.burst);
        self.updated = now;
    }
}

/// Above this many tracked clients, buckets that have refilled completely (idle clients)
/// are forgotten: a forgotten bucket and a full one behave the same.
const PRUNE_ABOVE: usize = 4096;

/// Token buckets keyed by client.
#[derive(Debug)]
pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `client`: `Ok(())`, or `Err(wait)` with the time until the next
    /// token.
    pub fn check(&self, client: &str) -> Result<(), Duration> {
        self.check_at(client, Instant::now())
    }

    fn check_at(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let rate = self.rate;
        // A poisoned lock only means another request panicked mid-update of a number;
        // the map is still usable.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                b.refill(rate, now);
                b.tokens < rate.burst
            });
        }
        let bucket = buckets.entry(client.to_owned()).or_insert(Bucket { tokens: rate.burst, updated: now });
        bucket.refill(rate, now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(Duration::from_secs_f64(missing / rate.per_second))
        }
    }
}

/// Open connections per peer address.
#[derive(Debug, Clone)]
pub struct ConnectionCounter {
    per_ip: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; dropping it frees its slot.
#[derive(Debug)]
pub struct ConnectionSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnectionCounter {
    pub fn new(per_ip: usize) -> Self {
        Self { per_ip, open: Arc::default() }
    }

    /// A slot for a new connection from `ip`, or `None` when that address already holds
    /// its maximum.
    pub fn open(&self, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.per_ip {
            return None;
        }
        *n += 1;
        Some(ConnectionSlot { ip, open: self.open.clone() })
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// How many failed handshakes from one address, within what time, shut it out for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeLimit {
    pub max_failures: u32,
    pub cooldown: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    refused_until: Option<Instant>,
}

/// Failed TLS handshakes per peer address, with a cool-down.
#[derive(Debug)]
pub struct HandshakeGuard {
    limit: HandshakeLimit,
    by_ip: Mutex<HashMap<IpAddr, Failures>>,
}

impl HandshakeGuard {
    pub fn new(limit: HandshakeLimit) -> Self {
        Self { limit, by_ip: Mutex::new(HashMap::new()) }
    }

    /// Whether connections from `ip` are refused now (before any TLS work).
    pub fn refused(&self, ip: IpAddr) -> bool {
        self.refused_at(ip, Instant::now())
    }

    /// Counts a failed handshake of `ip`; `true` when this failure shuts the address out.
    pub fn failed(&self, ip: IpAddr) -> bool {
        self.failed_at(ip, Instant::now())
    }

    fn refused_at(&self, ip: IpAddr, now: Instant) -> bool {
        let by_ip = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        by_ip.get(&ip).and_then(|f| f.refused_until).is_some_and(|until| now < until)
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) -> bool {
        let cooldown = self.limit.cooldown;
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if by_ip.len() > PRUNE_ABOVE {
            // Addresses neither refused nor with a failure within the cool-down behave as
            // unknown ones.
            by_ip.retain(|_, f| {
                f.refused_until.is_some_and(|until| now < until) || now.saturating_duration_since(f.since) < cooldown
            });
        }
        let f = by_ip.entry(ip).or_insert(Failures { count: 0, since: now, refused_until: None });
        if now.saturating_duration_since(f.since) >= cooldown {
            // Failures older than the cool-down are forgotten.
            f.count = 0;
            f.since = now;
        }
        f.count = f.count.saturating_add(1);
        if f.count >= self.limit.max_failures.max(1) {
            f.count = 0;
            f.since = now;
            f.refused_until = Some(now + cooldown);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_the_rate() {
        let limiter = RateLimiter::new(Rate { per_second: 2.0, burst: 3.0 });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check_at("a", t0), Ok(()));
        }
        let wait = limiter.check_at("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Another client has its own bucket.
        assert_eq!(limiter.check_at("b", t0), Ok(()));
        // Half a second later one token is back, and only one.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(limiter.check_at("a", t1), Ok(()));
        assert!(limiter.check_at("a", t1).is_err());
        // Long idle: the bucket is full again, never more than the burst.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limiter.check_at("a", t2), Ok(()));
        }
        assert!(limiter.check_at("a", t2).is_err());
    }

    #[test]
    fn idle_clients_are_forgotten_when_many() {
        let limiter = RateLimiter::new(Rate { per_second: 1.0, burst: 2.0 });
        let t0 = Instant::now();
        for i in 0..=PRUNE_ABOVE {
            assert!(limiter.check_at(&format!("c{i}"), t0).is_ok());
        }
        let later = t0 + Duration::from_secs(10);
        assert!(limiter.check_at("new", later).is_ok());
        assert_eq!(limiter.buckets.lock().unwrap().len(), 1);
    }

    #[test]
    fn connection_slots_are_counted_per_address() {
        let counter = ConnectionCounter::new(2);
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let s1 = counter.open(a).unwrap();
        let _s2 = counter.open(a).unwrap();
        assert!(counter.open(a).is_none());
        assert!(counter.open(b).is_some());
        drop(s1);
        assert!(counter.open(a).is_some());
    }

    #[test]
    fn failed_handshakes_shut_one_address_out_for_the_cooldown() {
        let guard = HandshakeGuard::new(HandshakeLimit { max_failures: 3, cooldown: Duration::from_secs(60) });
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let t0 = Instant::now();
        assert!(!guard.failed_at(a, t0));
        assert!(!guard.failed_at(a, t0));
        assert!(!guard.refused_at(a, t0));
        assert!(guard.failed_at(a, t0), "the third failure shuts the address out");
        assert!(guard.refused_at(a, t0 + Duration::from_secs(59)));
        assert!(!guard.refused_at(b, t0), "another address is not affected");
        assert!(!guard.refused_at(a, t0 + Duration::from_secs(60)), "served again after the cool-down");
        // Failures spread wider than the cool-down never add up.
        let t1 = t0 + Duration::from_secs(120);
        for i in 0..10 {
            assert!(!guard.failed_at(b, t1 + Duration::from_secs(61 * i)));
            assert!(!guard.failed_at(b, t1 + Duration::from_secs(61 * i + 1)));
        }
        assert!(!guard.refused_at(b, t1 + Duration::from_secs(700)));
    }
}
