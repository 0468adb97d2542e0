//! The ledger's home: one Durable Object per chart repository (`LEDGER`, class `RepoLedger`,
//! SQLite-backed), so every write to a repository, from any isolate anywhere, is one serialized
//! transaction (the rules are [`crate::edge::store::ledger`]'s). Its state lives in one SQLite table of
//! rows (releases, tombstones, tags, visible manifests), loaded once per instance into a
//! [`Ledger`]; a commit plans the op against it and writes the changed rows in one synchronous
//! turn (one implicit transaction: no `await` between the writes), then applies them in memory.
//!
//! The worker reaches it through [`LedgerClient`]: `POST https://ledger/<verb>` with a JSON body.

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{durable_object, DurableObject, Env, Request, RequestInit, Response, Result, SqlStorageValue, State};

use crate::edge::store::ledger::{Change, Ledger, LedgerError, Op, Release};
use crate::edge::{ChartId, EdgeConfig};
use crate::{Digest, RepoName};

/// The Durable Object of one chart repository.
#[durable_object(fetch)]
pub struct RepoLedger {
    state: State,
    env: Env,
    ledger: RefCell<Option<Ledger>>,
    /// The rendered `index.yaml`, until the next commit.
    index: RefCell<Option<Vec<u8>>>,
}

#[derive(Deserialize)]
struct Row {
    value: String,
}

fn now_iso() -> String {
    String::from(js_sys::Date::new_0().to_iso_string())
}

fn json_response(status: u16, body: &Value) -> Result<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS rows (kind TEXT NOT NULL, k1 TEXT NOT NULL, k2 TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (kind, k1, k2));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);";

/// Where a change's row lives: (kind, key 1, key 2), and its value when it is kept.
fn row_of(change: &Change) -> (&'static str, &str, &str, Option<String>) {
    let value = || serde_json::to_string(change).ok();
    match change {
        Change::PutRelease { release } => ("release", &release.meta.name, &release.meta.version, value()),
        Change::DropRelease { name, version } => ("release", name, version, None),
        Change::PutTombstone { name, version, .. } => ("tombstone", name, version, value()),
        Change::PutTag { chart, tag, .. } => ("tag", chart, tag, value()),
        Change::DropTag { chart, tag } => ("tag", chart, tag, None),
        Change::PutManifest { chart, manifest } => ("manifest", chart, manifest, value()),
        Change::DropManifest { chart, manifest } => ("manifest", chart, manifest, None),
    }
}

fn text(s: &str) -> SqlStorageValue {
    SqlStorageValue::String(s.to_owned())
}

impl RepoLedger {
    fn sql(&self) -> worker::SqlStorage {
        self.state.storage().sql()
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        let rows: Vec<Row> = self.sql().exec("SELECT value FROM meta WHERE key = ?", vec![text(key)])?.to_array()?;
        Ok(rows.into_iter().next().map(|r| r.value))
    }

    /// Writes `changes` (one synchronous turn: one transaction) and applies them in memory.
    fn write(&self, changes: &[Change]) -> Result<()> {
        let sql = self.sql();
        for change in changes {
            let (kind, k1, k2, value) = row_of(change);
            match value {
                Some(v) => sql.exec(
                    "INSERT OR REPLACE INTO rows (kind, k1, k2, value) VALUES (?, ?, ?, ?)",
                    vec![text(kind), text(k1), text(k2), text(&v)],
                )?,
                None => sql.exec(
                    "DELETE FROM rows WHERE kind = ? AND k1 = ? AND k2 = ?",
                    vec![text(kind), text(k1), text(k2)],
                )?,
            };
        }
        sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('generated', ?)", vec![text(&now_iso())])?;
        let mut ledger = self.ledger.borrow_mut();
        if let Some(l) = ledger.as_mut() {
            for change in changes {
                l.commit(change);
            }
        }
        *self.index.borrow_mut() = None;
        Ok(())
    }

    /// The ledger, loaded once per instance.
    async fn load(&self) -> Result<()> {
        if self.ledger.borrow().is_some() {
            return Ok(());
        }
        self.sql().exec(SCHEMA, None)?;
        let rows: Vec<Row> = self.sql().exec("SELECT value FROM rows", None)?.to_array()?;
        let changes: Vec<Change> = rows.iter().filter_map(|r| serde_json::from_str(&r.value).ok()).collect();
        *self.ledger.borrow_mut() = Some(Ledger::from_changes(&changes));
        Ok(())
    }

    fn with<T>(&self, f: impl FnOnce(&Ledger) -> T) -> Result<T> {
        let ledger = self.ledger.borrow();
        let l = ledger.as_ref().ok_or_else(|| worker::Error::RustError("ledger not loaded".into()))?;
        Ok(f(l))
    }

    fn index(&self) -> Result<Vec<u8>> {
        if let Some(bytes) = self.index.borrow().as_ref() {
            return Ok(bytes.clone());
        }
        let generated = self.meta("generated")?.unwrap_or_else(now_iso);
        let bytes = self.with(|l| l.render_index(&generated))?;
        *self.index.borrow_mut() = Some(bytes.clone());
        Ok(bytes)
    }
}

impl RepoLedger {
    /// The `commit` verb: plans the operation in `body["op"]` against the ledger and writes its changes.
    async fn commit(&self, body: &Value, config: &EdgeConfig) -> Result<Response> {
        let op: Op = match serde_json::from_value(body.get("op").cloned().unwrap_or_default()) {
            Ok(op) => op,
            Err(e) => return json_response(400, &json!({"message": e.to_string()})),
        };
        let planned = self.with(|l| l.plan(&op, config.immutable_tags))?;
        match planned {
            Ok(changes) => {
                self.write(&changes)?;
                json_response(200, &json!({"changes": changes}))
            }
            Err(e) => json_response(e.status(), &json!({"error": e})),
        }
    }
}

impl DurableObject for RepoLedger {
    fn new(state: State, env: Env) -> Self {
        RepoLedger { state, env, ledger: RefCell::new(None), index: RefCell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let verb = req.path().trim_start_matches('/').to_owned();
        // Sent by this worker only; bounded all the same (an op is at most a few entries' bytes).
        let Some(bytes) = super::body::read_bounded(&mut req, 4 * 1024 * 1024).await? else {
            return json_response(413, &json!({"message": "ledger request too large"}));
        };
        let body: Value = serde_json::from_slice(&bytes).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let config = match super::isolate::isolate(&self.env) {
            Ok(i) => i,
            Err(e) => return json_response(500, &json!({"message": e})),
        };
        let config = &config.config;
        let Ok(_repo) = RepoName::parse(&field("repo")) else {
            return json_response(400, &json!({"message": "no repository"}));
        };
        // Boxed apart (V8 compiles a wasm function on its first call): a read does not compile the
        // commit's plan and write.
        super::apart(self.load()).await?;
        match verb.as_str() {
            "commit" => super::apart(self.commit(&body, config)).await,
            "index" => Ok(Response::from_bytes(self.index()?)?),
            "api" => {
                let (name, version) =
                    (body.get("name").and_then(Value::as_str), body.get("version").and_then(Value::as_str));
                match self.with(|l| l.api(name, version))? {
                    Ok(value) => json_response(200, &value),
                    Err(e) => json_response(404, &json!({"error": e})),
                }
            }
            "file" => {
                let found = self.with(|l| l.file(&field("file")).map(|(r, d)| (r.id(), d.to_owned())))?;
                match found {
                    Some((id, digest)) => {
                        json_response(200, &json!({"name": id.name, "version": id.version, "digest": digest}))
                    }
                    None => json_response(404, &json!({})),
                }
            }
            "release" => match self.with(|l| l.release(&field("name"), &field("version")).cloned())? {
                Some(r) => json_response(200, &serde_json::to_value(r)?),
                None => json_response(404, &json!({})),
            },
            "tag" => match self.with(|l| l.resolve_tag(&field("chart"), &field("tag")).map(str::to_owned))? {
                Some(m) => json_response(200, &json!({"manifest": m})),
                None => json_response(404, &json!({})),
            },
            "tags" => json_response(200, &json!(self.with(|l| l.tags_of(&field("chart")))?)),
            "manifest" => {
                let visible = self.with(|l| l.has_manifest(&field("chart"), &field("digest")))?;
                json_response(if visible { 200 } else { 404 }, &json!({}))
            }
            "referenced" => json_response(200, &json!(self.with(|l| l.referenced())?)),
            _ => json_response(404, &json!({"message": "no such verb"})),
        }
    }
}

/// The worker's side: the ledger of one chart repository.
pub(super) struct LedgerClient {
    stub: worker::Stub,
    repo: String,
}

/// What a commit answered: the changes it made, or the ledger's refusal.
pub(super) type Committed = std::result::Result<Vec<Change>, LedgerError>;

impl LedgerClient {
    pub(super) fn new(env: &Env, repo: &RepoName) -> Result<LedgerClient> {
        let stub = env.durable_object("LEDGER")?.get_by_name(repo.as_str())?;
        Ok(LedgerClient { stub, repo: repo.to_string() })
    }

    async fn call(&self, verb: &str, mut body: Value) -> Result<Response> {
        body["repo"] = self.repo.clone().into();
        let mut init = RequestInit::new();
        init.with_method(worker::Method::Post).with_body(Some(body.to_string().into()));
        let req = Request::new_with_init(&format!("https://ledger/{verb}"), &init)?;
        self.stub.fetch_with_request(req).await
    }

    async fn json(&self, verb: &str, body: Value) -> Result<Option<Value>> {
        let mut res = self.call(verb, body).await?;
        match res.status_code() {
            200 => Ok(Some(res.json().await?)),
            404 => Ok(None),
            status => Err(worker::Error::RustError(format!("the ledger answered {status} to {verb}"))),
        }
    }

    /// Commits one op: `Err` is the ledger's refusal (nothing changed).
    pub(super) async fn commit(&self, op: &Op) -> Result<Committed> {
        let mut res = self.call("commit", json!({"op": op})).await?;
        let ok = res.status_code() == 200;
        let body: Value = res.json().await?;
        if ok {
            let changes = body.get("changes").cloned().map(serde_json::from_value::<Vec<Change>>);
            return match changes {
                Some(Ok(changes)) => Ok(Ok(changes)),
                _ => Err(worker::Error::RustError(format!("the ledger answered a commit with {body}"))),
            };
        }
        match body.get("error").cloned().map(serde_json::from_value::<LedgerError>) {
            Some(Ok(e)) => Ok(Err(e)),
            _ => Err(worker::Error::RustError(format!("the ledger failed: {body}"))),
        }
    }

    /// `index.yaml`, rendered from the ledger.
    pub(super) async fn index(&self) -> Result<Vec<u8>> {
        self.call("index", json!({})).await?.bytes().await
    }

    /// ChartMuseum's API read of `name` and `version` (see [`Ledger::api`]): `None` when not found.
    pub(super) async fn api(&self, name: Option<&str>, version: Option<&str>) -> Result<Option<Value>> {
        self.json("api", json!({"name": name, "version": version})).await
    }

    /// The release and content digest of an HTTP file (`x-1.0.0.tgz` or `.prov`).
    pub(super) async fn file(&self, file: &str) -> Result<Option<(ChartId, Digest)>> {
        let Some(v) = self.json("file", json!({"file": file})).await? else { return Ok(None) };
        let field = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let Ok(digest) = Digest::parse(&field("digest")) else { return Ok(None) };
        Ok(Some((ChartId { name: field("name"), version: field("version") }, digest)))
    }

    pub(super) async fn release(&self, id: &ChartId) -> Result<Option<Release>> {
        let found = self.json("release", json!({"name": id.name, "version": id.version})).await?;
        Ok(found.and_then(|v| serde_json::from_value(v).ok()))
    }

    /// The manifest a tag of `chart`'s OCI repository names.
    pub(super) async fn tag(&self, chart: &str, tag: &str) -> Result<Option<Digest>> {
        let found = self.json("tag", json!({"chart": chart, "tag": tag})).await?;
        Ok(found.and_then(|v| Digest::parse(v.get("manifest")?.as_str()?).ok()))
    }

    pub(super) async fn tags(&self, chart: &str) -> Result<Vec<String>> {
        let found = self.json("tags", json!({"chart": chart})).await?;
        Ok(found.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
    }

    /// Every digest the ledger references (what the garbage collector keeps).
    pub(super) async fn referenced(&self) -> Result<Vec<String>> {
        let found = self.json("referenced", json!({})).await?;
        Ok(found.and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default())
    }

    /// True when a commit made `digest` visible in `chart`'s OCI repository.
    pub(super) async fn has_manifest(&self, chart: &str, digest: &Digest) -> Result<bool> {
        Ok(self.json("manifest", json!({"chart": chart, "digest": digest.to_string()})).await?.is_some())
    }
}
