//! Issuer bookkeeping: metrics (tokens issued by grant type, denials by reason, secret hashes
//! computed, request latency) on prometheus-client, the limiter of failed client authentication
//! per address, and the memory of recently verified secrets. The limiter is hand-written:
//! `governor` spends a cell on every check, while this one counts failures only and must be asked
//! without spending.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::addr::limit_key;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabel {
    grant: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

/// The issuer's metrics (prometheus-client), exported in the OpenMetrics text format that
/// Prometheus scrapes.
pub struct Metrics {
    registry: Registry,
    issued: Family<GrantLabel, Counter>,
    denied: Family<ReasonLabel, Counter>,
    hashes: Counter,
    latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let issued = Family::<GrantLabel, Counter>::default();
        let denied = Family::<ReasonLabel, Counter>::default();
        let hashes = Counter::default();
        let latency = Histogram::new(BUCKETS);
        registry.register("chartgate_tokens_issued", "Tokens issued, by grant type", issued.clone());
        registry.register("chartgate_denials", "Refused requests, by reason", denied.clone());
        registry.register("chartgate_secret_hashes", "Client-secret PBKDF2 derivations", hashes.clone());
        registry.register("chartgate_request_duration_seconds", "Request latency", latency.clone());
        Metrics { registry, issued, denied, hashes, latency }
    }
}

impl Metrics {
    pub fn issued(&self, grant: &'static str) {
        self.issued.get_or_create(&GrantLabel { grant }).inc();
    }
    /// One PBKDF2 derivation of a client secret (a real client's or the unknown-client dummy).
    pub fn hashed(&self) {
        self.hashes.inc();
    }
    pub fn denied(&self, reason: &str) {
        self.denied.get_or_create(&ReasonLabel { reason: reason.to_owned() }).inc();
    }
    pub fn observe(&self, elapsed: Duration) {
        self.latency.observe(elapsed.as_secs_f64());
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`].
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Failures allowed per source address within [`WINDOW`].
pub const MAX_FAILURES: u32 = 10;
/// The failure-counting window.
pub const WINDOW: Duration = Duration::from_secs(60);

/// Counts failed authentications per client address (IPv6 per /64, see [`limit_key`]); past the
/// limit, until the window ends, the address is "limited" (the issuer then serializes its PBKDF2
/// work). There is deliberately no per-client lockout: it would let anyone who knows a client id
/// lock that client out from everywhere.
#[derive(Default)]
pub struct Limiter(Mutex<HashMap<IpAddr, (Instant, u32)>>);

impl Limiter {
    /// False when `addr` is over the failure limit.
    pub fn allowed(&self, addr: IpAddr) -> bool {
        let addr = limit_key(addr);
        let Ok(map) = self.0.lock() else { return false };
        map.get(&addr).is_none_or(|(start, n)| start.elapsed() >= WINDOW || *n < MAX_FAILURES)
    }

    pub fn failed(&self, addr: IpAddr) {
        let addr = limit_key(addr);
        let Ok(mut map) = self.0.lock() else { return };
        if map.len() > 100_000 {
            map.retain(|_, (start, _)| start.elapsed() < WINDOW);
        }
        let entry = map.entry(addr).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// How long a verified client secret is remembered (by its SHA-256), so PBKDF2 is not paid per
/// request.
pub const SECRET_CACHE_TTL: Duration = Duration::from_secs(300);

/// Most remembered secrets; past this the memory starts over.
const MAX_REMEMBERED: usize = 10_000;

/// Client secrets verified recently: (client id, SHA-256 of the secret) → when.
#[derive(Default)]
pub struct VerifiedSecrets(HashMap<(String, [u8; 32]), Instant>);

impl VerifiedSecrets {
    /// True when this secret of this client was verified less than [`SECRET_CACHE_TTL`] ago.
    pub fn contains(&self, client: &str, digest: &[u8; 32], now: Instant) -> bool {
        self.0
            .get(&(client.to_owned(), *digest))
            .is_some_and(|at| now.saturating_duration_since(*at) < SECRET_CACHE_TTL)
    }

    /// Remembers a verification at `now` (replacing an older one).
    pub fn remember(&mut self, client: &str, digest: [u8; 32], now: Instant) {
        if self.0.len() >= MAX_REMEMBERED {
            self.0.retain(|_, at| now.saturating_duration_since(*at) < SECRET_CACHE_TTL);
            if self.0.len() >= MAX_REMEMBERED {
                self.0.clear();
            }
        }
        self.0.insert((client.to_owned(), digest), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_blocks_after_max_failures() {
        let l = Limiter::default();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(l.allowed(a));
            l.failed(a);
        }
        assert!(!l.allowed(a), "the guessing address waits");
        assert!(l.allowed(b), "everyone else, for any client, does not");
    }

    #[test]
    fn limiter_counts_ipv6_per_64() {
        let l = Limiter::default();
        for i in 0..MAX_FAILURES {
            l.failed(format!("2001:db8:0:1::{i:x}").parse().unwrap());
        }
        assert!(!l.allowed("2001:db8:0:1::ffff".parse().unwrap()), "rotating within a /64 does not help");
        assert!(l.allowed("2001:db8:0:2::1".parse().unwrap()));
    }

    /// Finding 6 of the second security round: an expired entry was never refreshed
    /// (`or_insert_with`), so after five minutes every request paid PBKDF2 again.
    #[test]
    fn finding_06_verified_secret_memory_refreshes() {
        let mut m = VerifiedSecrets::default();
        let t0 = Instant::now();
        let digest = [7u8; 32];
        m.remember("ci", digest, t0);
        assert!(m.contains("ci", &digest, t0 + Duration::from_secs(299)));
        assert!(!m.contains("ci", &digest, t0 + SECRET_CACHE_TTL), "expired");
        assert!(!m.contains("other", &digest, t0));
        let t1 = t0 + Duration::from_secs(400);
        m.remember("ci", digest, t1); // verified again with PBKDF2
        assert!(m.contains("ci", &digest, t1 + Duration::from_secs(10)), "the new verification counts");
    }

    #[test]
    fn metrics_text() {
        let m = Metrics::default();
        m.issued("client_credentials");
        m.denied("invalid_client");
        m.observe(Duration::from_micros(700));
        let text = m.render();
        assert!(text.contains("chartgate_tokens_issued_total{grant=\"client_credentials\"} 1"));
        assert!(text.contains("chartgate_denials_total{reason=\"invalid_client\"} 1"));
        assert!(text.contains("chartgate_request_duration_seconds_bucket{le=\"0.001\"} 1"));
        assert!(text.contains("chartgate_request_duration_seconds_count 1"));
    }
}
