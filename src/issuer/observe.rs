//! Issuer bookkeeping: Prometheus metrics (tokens issued by grant type, denials by reason,
//! secret hashes computed, request latency), the limiter of failed client authentication per
//! address, and the memory of recently verified secrets.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::addr::limit_key;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 10] = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0];

#[derive(Default)]
struct Counts {
    hashes: u64,
    issued: HashMap<&'static str, u64>,
    denied: HashMap<String, u64>,
    latency: [u64; BUCKETS.len() + 1],
    latency_sum: f64,
    requests: u64,
}

/// Counters, exported in the Prometheus text format.
#[derive(Default)]
pub struct Metrics(Mutex<Counts>);

impl Metrics {
    pub fn issued(&self, grant: &'static str) {
        if let Ok(mut c) = self.0.lock() {
            *c.issued.entry(grant).or_default() += 1;
        }
    }
    /// One PBKDF2 derivation of a client secret (a real client's or the unknown-client dummy).
    pub fn hashed(&self) {
        if let Ok(mut c) = self.0.lock() {
            c.hashes += 1;
        }
    }
    pub fn denied(&self, reason: &str) {
        if let Ok(mut c) = self.0.lock() {
            *c.denied.entry(reason.to_owned()).or_default() += 1;
        }
    }
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        if let Ok(mut c) = self.0.lock() {
            let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
            c.latency[i] += 1;
            c.latency_sum += secs;
            c.requests += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let Ok(c) = self.0.lock() else { return String::new() };
        let mut out = String::new();
        out.push_str("# HELP chartgate_tokens_issued_total Tokens issued, by grant type.\n# TYPE chartgate_tokens_issued_total counter\n");
        let mut issued: Vec<_> = c.issued.iter().collect();
        issued.sort();
        for (grant, n) in issued {
            let _ = writeln!(out, "chartgate_tokens_issued_total{{grant=\"{grant}\"}} {n}");
        }
        out.push_str(
            "# HELP chartgate_denials_total Refused requests, by reason.\n# TYPE chartgate_denials_total counter\n",
        );
        let mut denied: Vec<_> = c.denied.iter().collect();
        denied.sort();
        for (reason, n) in denied {
            let _ = writeln!(out, "chartgate_denials_total{{reason=\"{reason}\"}} {n}");
        }
        out.push_str("# HELP chartgate_secret_hashes_total Client-secret PBKDF2 derivations.\n# TYPE chartgate_secret_hashes_total counter\n");
        let _ = writeln!(out, "chartgate_secret_hashes_total {}", c.hashes);
        out.push_str("# HELP chartgate_request_duration_seconds Request latency.\n# TYPE chartgate_request_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, bound) in BUCKETS.iter().enumerate() {
            cumulative += c.latency[i];
            let _ = writeln!(out, "chartgate_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "chartgate_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", c.requests);
        let _ = writeln!(out, "chartgate_request_duration_seconds_sum {}", c.latency_sum);
        let _ = writeln!(out, "chartgate_request_duration_seconds_count {}", c.requests);
        out
    }
}

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
