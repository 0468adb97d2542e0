//! Native micro-benchmarks (criterion): the full decision for an RS256 token (CLI and issuer
//! engine), issuer signing, and how decision time grows with token size and with keys in the JWKS.
//! `scripts/bench` turns the results into ratios against `openssl speed rsa2048` from the same run.

use std::time::Duration;

use chartgate::{
    access::{Policy, Request, ScopeSet},
    crypto::{NativeVerifier, SigningKey},
    key::KeySet,
    token::MintRequest,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

const NOW: u64 = 1_800_000_000;

fn token(key: &SigningKey, padding: usize) -> String {
    let req = MintRequest {
        scopes: ScopeSet::parse("artifact-repository:org1/repo1:pull").unwrap(),
        sub: Some("x".repeat(padding)),
        jti: Some("bench".into()),
        ..Default::default()
    };
    key.sign(&req.claims(NOW)).unwrap()
}

fn decide(token: &str, keys: &KeySet, backend: &NativeVerifier) -> bool {
    let auth = format!("Bearer {token}");
    let req = Request { method: "GET", path: "/org1/repo1/index.yaml", query: None, authorization: Some(&auth) };
    chartgate::access::decide(&req, keys, &Policy::default(), NOW, backend).is_ok()
}

fn benches(c: &mut Criterion) {
    let key = SigningKey::generate(2048).unwrap();
    let keys = KeySet::new(vec![key.public()]).unwrap();
    let backend = NativeVerifier::new(&keys);
    let t = token(&key, 0);
    assert!(decide(&t, &keys, &backend));
    c.bench_function("native_verify", |b| b.iter(|| decide(&t, &keys, &backend)));

    let claims =
        MintRequest { scopes: ScopeSet::parse("artifact-repository:org1/repo1:pull").unwrap(), ..Default::default() }
            .claims(NOW);
    c.bench_function("issuer_sign", |b| b.iter(|| key.sign(&claims).unwrap()));

    let mut group = c.benchmark_group("token_size");
    for kib in [1usize, 2, 4, 8] {
        // Pad the subject so the whole token is close to (and under) kib KiB.
        let base = token(&key, 0).len();
        let pad = (kib * 1024).saturating_sub(base + 64) * 3 / 4;
        let t = token(&key, pad);
        assert!(t.len() <= chartgate::token::MAX_TOKEN_LEN && decide(&t, &keys, &backend), "{kib} KiB: {}", t.len());
        group.bench_with_input(BenchmarkId::from_parameter(kib), &t, |b, t| b.iter(|| decide(t, &keys, &backend)));
    }
    group.finish();

    let mut group = c.benchmark_group("jwks_keys");
    let others: Vec<SigningKey> = (0..49).map(|_| SigningKey::generate(2048).unwrap()).collect();
    for n in [1usize, 10, 50] {
        // The token's key is the last of n: selection scans past n - 1 others.
        let mut list: Vec<_> = others[..n - 1].iter().map(|k| k.public()).collect();
        list.push(key.public());
        let set = KeySet::new(list).unwrap();
        let backend = NativeVerifier::new(&set);
        group.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| b.iter(|| decide(&t, set, &backend)));
    }
    group.finish();
}

criterion_group! {
    name = engine;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    targets = benches
}
criterion_main!(engine);
