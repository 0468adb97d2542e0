//! The `chartgate` binary: exit codes, output, and the walkthrough of docs/cli.md.

use std::process::{Command, Output};

use crate::util::*;

fn chartgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chartgate")).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `verify --request` decides registry requests with the same mapping the edge uses.
#[test]
fn verify_decides_oci_requests() {
    let dir = tempdir("oci");
    assert!(chartgate(&["keygen", "--out", &dir]).status.success());
    let private = format!("{dir}/private.pem");
    let keys = format!("{dir}/jwks.json");
    let token = stdout(&chartgate(&["token", "--key", &private, "--scope", "artifact-repository:org1/repo1:pull"]));
    let token = token.trim();
    let pull = chartgate(&["verify", "--keys", &keys, "--request", "GET /v2/org1/repo1/hello/manifests/0.1.0", token]);
    assert_eq!(pull.status.code(), Some(0), "{pull:?}");
    assert!(stdout(&pull).contains("needs repository:org1/repo1/hello:pull"), "{}", stdout(&pull));
    let push = chartgate(&["verify", "--keys", &keys, "--request", "PUT /v2/org1/repo1/hello/manifests/0.1.0", token]);
    assert_eq!(push.status.code(), Some(1));
    assert!(stdout(&push).contains(r#"scope="repository:org1/repo1/hello:push""#), "{}", stdout(&push));
    let prefix = chartgate(&["verify", "--keys", &keys, "--request", "GET /v2/org1/repo10/hello/tags/list", token]);
    assert_eq!(prefix.status.code(), Some(1), "org1/repo1 never covers org1/repo10/…");
    let oci = stdout(&chartgate(&["token", "--key", &private, "--scope", "repository:org1/repo1/hello:pull"]));
    let chart = chartgate(&["verify", "--keys", &keys, "--request", "GET /org1/repo1/index.yaml", oci.trim()]);
    assert_eq!(chart.status.code(), Some(1), "an OCI grant never reaches the chart repository");
}

#[test]
fn keygen_token_verify_walkthrough() {
    let dir = tempdir("walk");
    let out = chartgate(&["keygen", "--out", &dir]);
    assert!(out.status.success(), "{out:?}");
    let private = format!("{dir}/private.pem");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
    }
    // keygen refuses to overwrite.
    assert_eq!(chartgate(&["keygen", "--out", &dir]).status.code(), Some(2));

    let out = chartgate(&["token", "--key", &private, "--scope", "artifact-repository:org1/repo1:pull", "--sub", "ci"]);
    assert!(out.status.success(), "{out:?}");
    let token = stdout(&out).trim().to_owned();
    assert_eq!(token.split('.').count(), 3);

    for keys in ["jwks.json", "public.pem"] {
        let keys = format!("{dir}/{keys}");
        let ok = chartgate(&["verify", "--keys", &keys, "--request", "GET /org1/repo1/index.yaml", &token]);
        assert_eq!(ok.status.code(), Some(0), "{ok:?}");
        assert!(stdout(&ok).starts_with("allowed"));
        let denied = chartgate(&["verify", "--keys", &keys, "--request", "GET /org2/repo1/index.yaml", &token]);
        assert_eq!(denied.status.code(), Some(1));
        assert!(stdout(&denied).contains("insufficient_scope"));
        assert!(!stdout(&denied).contains(&token));
    }
    let json = chartgate(&["verify", "--json", "--keys", &format!("{dir}/jwks.json"), &token]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["claims"]["sub"], "ci");
}

#[test]
fn verify_exit_codes() {
    let dir = key_dir();
    let jwks = dir.join("jwks.json");
    let jwks = jwks.to_str().unwrap();
    let token = mint("artifact-repository:org1/repo1:pull", 300);
    let at = NOW.to_string();
    assert_eq!(chartgate(&["verify", "--keys", jwks, "--at", &at, &token]).status.code(), Some(0));
    let later = (NOW + 1000).to_string();
    let expired = chartgate(&["verify", "--keys", jwks, "--at", &later, &token]);
    assert_eq!(expired.status.code(), Some(1));
    assert!(stdout(&expired).contains("expired"), "{}", stdout(&expired));
    let json = chartgate(&["verify", "--json", "--keys", jwks, "--at", &later, &token]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!((v["reason"].as_str(), v["status"].as_u64()), (Some("expired"), Some(401)));
    // Usage and configuration errors: 2, with a message naming the problem.
    let missing = chartgate(&["verify", "--keys", "/nonexistent/keys.json", &token]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/keys.json"));
    let broken = tempdir("broken");
    std::fs::write(format!("{broken}/k.json"), "{\"keys\": [").unwrap();
    let out = chartgate(&["verify", "--keys", &format!("{broken}/k.json"), &token]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("JSON is malformed"));
    assert_eq!(chartgate(&["verify", "--keys", jwks, "--leeway", "999", &token]).status.code(), Some(2));
    assert_eq!(chartgate(&["verify", "--keys", jwks, "--request", "nonsense", &token]).status.code(), Some(2));
    assert_eq!(chartgate(&["token", "--key", jwks, "--scope", "artifact-repository:a:pull"]).status.code(), Some(2));
    // A failure of the system is not a usage error: 3, with the cause.
    let file = tempdir("not-a-dir");
    std::fs::write(format!("{file}/f"), "x").unwrap();
    let io = chartgate(&["keygen", "--out", &format!("{file}/f/keys")]);
    assert_eq!(io.status.code(), Some(3), "{io:?}");
    assert!(String::from_utf8_lossy(&io.stderr).starts_with("error: "), "{io:?}");
}

#[test]
fn sign_url_binds_one_path() {
    let dir = key_dir();
    let private = dir.join("private.pem");
    let jwks = dir.join("jwks.json");
    let (private, jwks) = (private.to_str().unwrap(), jwks.to_str().unwrap());
    let out = chartgate(&["sign-url", "--key", private, "https://charts.example.com/org1/repo1/charts/app-0.1.0.tgz"]);
    assert!(out.status.success(), "{out:?}");
    let url = stdout(&out).trim().to_owned();
    assert!(url.starts_with("https://charts.example.com/org1/repo1/charts/app-0.1.0.tgz?token="));
    assert_eq!(chartgate(&["verify", "--keys", jwks, &url]).status.code(), Some(0));
    let other = chartgate(&["verify", "--keys", jwks, "--request", "GET /org1/repo1/charts/app-0.2.0.tgz", &url]);
    assert_eq!(other.status.code(), Some(1));
    assert!(stdout(&other).contains("path_not_bound"));
    let inspect = chartgate(&["inspect", "--json", &url]);
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    let ttl = v["claims"]["exp"].as_u64().unwrap() - v["claims"]["iat"].as_u64().unwrap();
    assert_eq!(ttl, 600, "default signed URL lifetime is 10 minutes");
    assert_eq!(v["claims"]["paths"][0], "/org1/repo1/charts/app-0.1.0.tgz");
    // Not an artifact route: refused with a reason.
    let bad = chartgate(&["sign-url", "--key", private, "https://h/org1/../x.tgz"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn inspect_reads_every_input_form() {
    let token = mint("artifact-repository:org1/repo1:pull", 300);
    for input in [
        token.clone(),
        format!("http://h/org1/repo1/index.yaml?token={token}"),
        format!("https://helm:{token}@h/org1/repo1"),
        format!("Authorization: Bearer {token}"),
    ] {
        let out = chartgate(&["inspect", "--json", "--at", &NOW.to_string(), &input]);
        assert!(out.status.success(), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["claims"]["access"][0]["name"], "org1/repo1");
        assert_eq!(v["times"]["exp"]["relative"], "in 5 min");
        assert_eq!(v["verified"], false);
    }
    let garbage = chartgate(&["inspect", "not-a-token"]);
    assert_eq!(garbage.status.code(), Some(1));
    assert!(stdout(&garbage).contains("not a decodable token"));
}

#[test]
fn token_from_parent_downscopes_offline() {
    let dir = key_dir();
    let private = dir.join("private.pem");
    let private = private.to_str().unwrap();
    let parent = stdout(&chartgate(&[
        "token",
        "--key",
        private,
        "--scope",
        "artifact-repository:org1/a:pull,push",
        "--scope",
        "artifact-repository:org1/b:pull",
        "--ttl",
        "10m",
    ]))
    .trim()
    .to_owned();
    let child = chartgate(&[
        "token",
        "--key",
        private,
        "--from",
        &parent,
        "--scope",
        "artifact-repository:org1/a:pull",
        "--ttl",
        "1h",
    ]);
    assert!(child.status.success(), "{child:?}");
    let child = stdout(&child).trim().to_owned();
    let (p, c) =
        (chartgate::token::dangerous_decode(&parent).unwrap().1, chartgate::token::dangerous_decode(&child).unwrap().1);
    assert!(c["exp"].as_u64() <= p["exp"].as_u64(), "the child never outlives its parent");
    assert_eq!(c["lineage"][0], p["jti"]);
    assert_eq!(c["access"].as_array().unwrap().len(), 1);
    let broader =
        chartgate(&["token", "--key", private, "--from", &parent, "--scope", "artifact-repository:org2/x:pull"]);
    assert_eq!(broader.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broader.stderr).contains("not granted by the subject token"));
}

#[test]
fn help_has_examples() {
    let out = chartgate(&["--help"]);
    assert!(stdout(&out).contains("Examples:"));
    for cmd in
        ["keygen", "token", "sign-url", "inspect", "verify", "serve", "hash-secret", "mirror", "credential-helper"]
    {
        assert!(stdout(&chartgate(&[cmd, "--help"])).contains("chartgate "), "{cmd} --help has no example");
    }
    // Each command is listed with its own description (a misplaced doc comment once gave the
    // mirror's text to another command and left mirror without one).
    let help = stdout(&out);
    for (cmd, says) in
        [("mirror", "Copy an HTTP chart repository"), ("credential-helper", "The Docker credential-helper protocol")]
    {
        let line = help.lines().find(|l| l.trim_start().starts_with(cmd)).unwrap_or_default();
        assert!(line.contains(says), "{cmd}: {line:?}");
    }
    assert!(!stdout(&chartgate(&["credential-helper", "--help"])).contains("Copy an HTTP chart repository"));
}

fn tempdir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("chartgate-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_str().unwrap().to_owned()
}

/// `verify --trust`: the edge's TRUST_POLICIES document decides a workload token offline with the
/// same engine, naming the rule that decided, and a broken document names its line.
#[test]
fn verify_with_trust_policies() {
    let dir = tempdir("trust");
    let signer = other_key();
    let jwks = chartgate::key::KeySet::new(vec![signer.public()]).unwrap().to_jwks().to_string();
    let policy = serde_json::json!([{
        "name": "github", "issuer": "https://token.actions.githubusercontent.com", "audience": "https://charts.example.com",
        "keys": jwks,
        "rules": [
            {"name": "release", "match": {"repository": "acme/app", "ref": "refs/tags/v.*"}, "scopes": ["artifact-repository:acme/charts:pull,push"]},
            {"name": "org-pull", "match": {"repository_owner": "acme"}, "scopes": ["artifact-repository:{repository_owner}/*:pull"]}
        ]
    }]);
    let path = format!("{dir}/trust.json");
    std::fs::write(&path, serde_json::to_string_pretty(&policy).unwrap()).unwrap();
    let now = chartgate::issuer::now();
    let token = |repo: &str, git_ref: &str| {
        let claims = serde_json::json!({"iss": "https://token.actions.githubusercontent.com", "aud": "https://charts.example.com",
            "sub": format!("repo:{repo}:ref:{git_ref}"), "repository": repo, "repository_owner": repo.split('/').next().unwrap(),
            "ref": git_ref, "iat": now - 5, "exp": now + 300});
        let header = serde_json::json!({"alg": "RS256", "kid": signer.kid()}).to_string();
        signer.sign_raw(header.as_bytes(), claims.to_string().as_bytes()).unwrap()
    };
    let release = token("acme/app", "refs/tags/v1.0.0");
    let out = chartgate(&["verify", "--trust", &path, &release]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        stdout(&out).contains(r#"rule "release" grants artifact-repository:acme/charts:pull,push"#),
        "{}",
        stdout(&out)
    );
    let push =
        chartgate(&["verify", "--trust", &path, "--request", "PUT /v2/acme/charts/web/manifests/1.0.0", &release]);
    assert_eq!(push.status.code(), Some(0), "{push:?}");
    let branch = token("acme/deploy", "refs/heads/main");
    let json = chartgate(&["verify", "--trust", &path, "--json", "--request", "GET /acme/tools/index.yaml", &branch]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!((v["allowed"].as_bool(), v["trusted"]["rule"].as_str()), (Some(true), Some("org-pull")), "{v}");
    let push =
        chartgate(&["verify", "--trust", &path, "--request", "PUT /v2/acme/charts/web/manifests/1.0.0", &branch]);
    assert_eq!(push.status.code(), Some(1));
    let fork = chartgate(&["verify", "--trust", &path, "--json", &token("evil/app", "refs/tags/v1.0.0")]);
    let v: serde_json::Value = serde_json::from_slice(&fork.stdout).unwrap();
    assert_eq!((fork.status.code(), v["reason"].as_str()), (Some(1), Some("no_trust_rule")), "{v}");
    // A chartgate token still needs --keys; with them both kinds are decided.
    let keydir = tempdir("trust-keys");
    assert!(chartgate(&["keygen", "--out", &keydir]).status.success());
    let own = stdout(&chartgate(&[
        "token",
        "--key",
        &format!("{keydir}/private.pem"),
        "--scope",
        "artifact-repository:acme/charts:pull",
    ]));
    assert_eq!(chartgate(&["verify", "--trust", &path, own.trim()]).status.code(), Some(1));
    let both = chartgate(&["verify", "--trust", &path, "--keys", &format!("{keydir}/jwks.json"), own.trim()]);
    assert_eq!(both.status.code(), Some(0), "{both:?}");
    std::fs::write(&path, "[{\"name\": \"github\",\n  \"issuer\": ,\n}]").unwrap();
    let broken = chartgate(&["verify", "--trust", &path, &release]);
    assert_eq!(broken.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&broken.stderr).contains("line 2 column"), "{broken:?}");
}

/// A trust policy document with inline `keys` and `rules`, written to a file of `dir`.
fn trust_file(dir: &str, name: &str, keys: serde_json::Value, rules: serde_json::Value) -> String {
    let mut policy = serde_json::json!({"name": "github", "issuer": "https://token.actions.githubusercontent.com",
        "audience": "https://charts.example.com", "rules": rules});
    match keys {
        serde_json::Value::String(jwks_url) if jwks_url.starts_with("http") => policy["jwks_url"] = jwks_url.into(),
        keys => policy["keys"] = keys,
    }
    let path = format!("{dir}/{name}");
    std::fs::write(&path, serde_json::to_string_pretty(&serde_json::json!([policy])).unwrap()).unwrap();
    path
}

/// `verify --trust` prints the engine's warnings (`TrustPolicies::warnings`, which the inspector
/// page shows too) on stderr for a push rule that binds the repository by name only; the exit
/// status and stdout are the verdict's alone.
#[test]
fn verify_trust_warns_about_push_rules_bound_by_name_only() {
    let dir = tempdir("trust-warn");
    let signer = other_key();
    let jwks = chartgate::key::KeySet::new(vec![signer.public()]).unwrap().to_jwks().to_string();
    let now = chartgate::issuer::now();
    let claims = serde_json::json!({"iss": "https://token.actions.githubusercontent.com", "aud": "https://charts.example.com",
        "repository": "acme/app", "repository_id": "892364310", "repository_owner": "acme", "repository_owner_id": "74563812",
        "ref": "refs/tags/v1.0.0", "iat": now - 5, "exp": now + 300});
    let header = serde_json::json!({"alg": "RS256", "kid": signer.kid()}).to_string();
    let token = signer.sign_raw(header.as_bytes(), claims.to_string().as_bytes()).unwrap();
    let by_name = trust_file(
        &dir,
        "by-name.json",
        jwks.clone().into(),
        serde_json::json!([
            {"name": "release", "match": {"repository": "acme/app", "ref": "refs/tags/v.*"}, "scopes": ["artifact-repository:acme/charts:pull,push"]},
            {"name": "org-pull", "match": {"repository_owner": "acme"}, "scopes": ["artifact-repository:acme/*:pull"]}
        ]),
    );
    let out = chartgate(&["verify", "--trust", &by_name, "--json", &token]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a warning is not an error: {out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the verdict's JSON alone");
    assert_eq!(v["trusted"]["rule"].as_str(), Some("release"));
    assert!(
        stderr.contains(r#"warning: "#)
            && stderr.contains(r#"trust policy "github", rule "release": name_without_id: "#),
        "{stderr}"
    );
    assert!(stderr.contains("`repository_id`"), "{stderr}");
    assert!(!stderr.contains(r#"rule "org-pull""#), "a pull rule draws no warning: {stderr}");
    let by_id = trust_file(
        &dir,
        "by-id.json",
        jwks.into(),
        serde_json::json!([
            {"name": "release", "match": {"repository_id": "892364310", "repository": "acme/app", "ref": "refs/tags/v.*"},
             "scopes": ["artifact-repository:acme/charts:pull,push"]}
        ]),
    );
    let out = chartgate(&["verify", "--trust", &by_id, &token]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"), "{out:?}");
}

/// Finding 11 (security round 4): `verify --trust` exited 2 (a usage error) when a policy's keys
/// could not be fetched; a server that cannot be reached is the system failing, exit 3, under the
/// code the edge answers with (`keys_unavailable`).
#[test]
fn finding_11_verify_trust_with_unreachable_keys_exits_3() {
    let dir = tempdir("trust-unreachable");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = trust_file(
        &dir,
        "trust.json",
        format!("http://127.0.0.1:{port}/jwks").into(),
        serde_json::json!([{"name": "release", "match": {"repository_id": "1"}, "scopes": ["artifact-repository:acme/charts:pull"]}]),
    );
    let out = chartgate(&["verify", "--trust", &path, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(stderr.contains("keys_unavailable") && stderr.contains(r#"trust policy "github""#), "{stderr}");
}

/// Writes a small chart directory `demo` 0.1.0 under `root`.
fn chart_dir(root: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(root).join("demo-src");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(dir.join("Chart.yaml"), "apiVersion: v2\nname: demo\nversion: 0.1.0\n").unwrap();
    std::fs::write(dir.join("values.yaml"), "replicas: 1\n").unwrap();
    std::fs::write(dir.join("templates/cm.yaml"), "kind: ConfigMap\n").unwrap();
    dir
}

/// `check` runs the entry gate on a directory (packaged in memory under the chart's name, as
/// `helm package` does) and on an archive: exit 0 accepted, 1 refused with each code and file,
/// `--json` the verdict, `--claim` an OCI config's claims, 2 when the input cannot be read.
#[test]
fn check_gives_the_entry_gate_verdict() {
    let root = tempdir("check");
    let dir = chart_dir(&root);
    let dir_arg = dir.to_str().unwrap();
    let out = chartgate(&["check", dir_arg]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("accepted: demo 0.1.0 (3 files)"), "{}", stdout(&out));

    let out = chartgate(&["check", "--claim", "demo:0.2.0", dir_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("version_mismatch demo/Chart.yaml"), "{}", stdout(&out));

    // CVE-2025-53547's shape: a symlinked Chart.lock.
    std::os::unix::fs::symlink("/etc/passwd", dir.join("Chart.lock")).unwrap();
    let out = chartgate(&["check", dir_arg]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("dependency_not_regular demo/Chart.lock"), "{}", stdout(&out));
    let out = chartgate(&["check", "--json", dir_arg]);
    assert_eq!(out.status.code(), Some(1));
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["verdict"], "refused");
    assert_eq!(verdict["refusals"][0]["code"], "dependency_not_regular");
    assert_eq!(verdict["refusals"][0]["file"], "demo/Chart.lock");

    // An archive, with a path helm would refuse to extract.
    let mut builder = tar::Builder::new(Vec::new());
    for (path, text) in [("demo/Chart.yaml", "apiVersion: v2\nname: demo\nversion: 0.1.0\n"), ("other/x", "a")] {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, text.as_bytes()).unwrap();
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &builder.into_inner().unwrap()).unwrap();
    let tgz = format!("{root}/demo-0.1.0.tgz");
    std::fs::write(&tgz, gz.finish().unwrap()).unwrap();
    let out = chartgate(&["check", &tgz]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("outside_chart_dir other/x"), "{}", stdout(&out));
    let out = chartgate(&["check", "--json", &tgz]);
    let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(verdict["refusals"][0]["code"], "outside_chart_dir");

    assert_eq!(chartgate(&["check", &format!("{root}/missing.tgz")]).status.code(), Some(2));
}
