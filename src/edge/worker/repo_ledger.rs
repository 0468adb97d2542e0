//! The ledger's home: one Durable Object per chart repository (`LEDGER`, class `RepoLedger`,
//! SQLite-backed), so every write to a repository, from any isolate anywhere, is one serialized
//! transaction (the rules are [`crate::edge::store::ledger`]'s). Its state lives in one SQLite table of
//! rows (releases, tombstones, tags, visible manifests), loaded once per instance into a
//! [`Ledger`]; a commit plans the op against it and writes the changed rows in one synchronous
//! turn (one implicit transaction: no `await` between the writes), then applies them in memory.
//!
//! The worker reaches it through [`LedgerClient`], with the typed calls and replies of
//! [`crate::edge::store::ledger_calls`].

use std::cell::RefCell;

use serde::Deserialize;
use serde_json::Value;
use worker::{durable_object, DurableObject, Env, Request, RequestInit, Response, Result, SqlStorageValue, State};

use crate::edge::store::ledger::{Change, Ledger, LedgerError, Op, Release};
use crate::edge::store::ledger_calls::{LedgerCall, LedgerReply};
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
    /// [`LedgerCall::Commit`]: plans `op` against the ledger and writes its changes, or refuses it.
    fn commit(&self, op: &Op, config: &EdgeConfig) -> Result<LedgerReply> {
        match self.with(|l| l.plan(op, config.immutable_tags))? {
            Ok(changes) => {
                self.write(&changes)?;
                Ok(LedgerReply::Committed { changes })
            }
            Err(error) => Ok(LedgerReply::Refused { error }),
        }
    }
}

impl DurableObject for RepoLedger {
    fn new(state: State, env: Env) -> Self {
        RepoLedger { state, env, ledger: RefCell::new(None), index: RefCell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Sent by this worker only; bounded all the same (an op is at most a few entries' bytes).
        let Some(bytes) = super::body::read_bounded(&mut req, 4 * 1024 * 1024).await? else {
            return Response::error("ledger call too large", 413);
        };
        let call: LedgerCall = match serde_json::from_slice(&bytes) {
            Ok(call) => call,
            Err(e) => return Response::error(format!("not a ledger call: {e}"), 400),
        };
        let isolate = match super::isolate::isolate(&self.env) {
            Ok(i) => i,
            Err(e) => return Response::error(e, 500),
        };
        // Boxed apart (V8 compiles a wasm function on its first call): a read does not compile the
        // commit's plan and write.
        super::apart(self.load()).await?;
        let reply = match &call {
            LedgerCall::Commit { op } => super::apart(async { self.commit(op, &isolate.config) }).await?,
            LedgerCall::Index => return Response::from_bytes(self.index()?),
            read => match self.with(|l| l.answer(read))? {
                Some(reply) => reply,
                None => return Response::error("no such call", 400),
            },
        };
        Response::from_json(&reply)
    }
}

/// The worker's side: the ledger of one chart repository, called through [`LedgerCall`].
pub(super) struct LedgerClient {
    stub: worker::Stub,
}

/// What a commit answered: the changes it made, or the ledger's refusal.
pub(super) type Committed = std::result::Result<Vec<Change>, LedgerError>;

impl LedgerClient {
    pub(super) fn new(env: &Env, repo: &RepoName) -> Result<LedgerClient> {
        Ok(LedgerClient { stub: env.durable_object("LEDGER")?.get_by_name(repo.as_str())? })
    }

    async fn send(&self, call: &LedgerCall) -> Result<Response> {
        let mut init = RequestInit::new();
        init.with_method(worker::Method::Post).with_body(Some(serde_json::to_string(call)?.into()));
        let req = Request::new_with_init("https://ledger/", &init)?;
        let res = self.stub.fetch_with_request(req).await?;
        match res.status_code() {
            200 => Ok(res),
            status => Err(worker::Error::RustError(format!("the ledger answered {status} to a call"))),
        }
    }

    async fn call(&self, call: LedgerCall) -> Result<LedgerReply> {
        self.send(&call).await?.json().await
    }

    /// Commits one op: `Err` is the ledger's refusal (nothing changed).
    pub(super) async fn commit(&self, op: &Op) -> Result<Committed> {
        match self.call(LedgerCall::Commit { op: op.clone() }).await? {
            LedgerReply::Committed { changes } => Ok(Ok(changes)),
            LedgerReply::Refused { error } => Ok(Err(error)),
            other => Err(unexpected(&other)),
        }
    }

    /// `index.yaml`, rendered from the ledger.
    pub(super) async fn index(&self) -> Result<Vec<u8>> {
        self.send(&LedgerCall::Index).await?.bytes().await
    }

    /// ChartMuseum's API read of `name` and `version` (see [`Ledger::api`]): `None` when not found.
    pub(super) async fn api(&self, name: Option<&str>, version: Option<&str>) -> Result<Option<Value>> {
        let call = LedgerCall::Api { name: name.map(str::to_owned), version: version.map(str::to_owned) };
        match self.call(call).await? {
            LedgerReply::Api { document } => Ok(Some(document)),
            LedgerReply::Refused { .. } => Ok(None),
            other => Err(unexpected(&other)),
        }
    }

    /// The release and content digest of an HTTP file (`x-1.0.0.tgz` or `.prov`).
    pub(super) async fn file(&self, file: &str) -> Result<Option<(ChartId, Digest)>> {
        match self.call(LedgerCall::File { file: file.to_owned() }).await? {
            LedgerReply::File { found } => Ok(found
                .and_then(|(name, version, digest)| Some((ChartId { name, version }, Digest::parse(&digest).ok()?)))),
            other => Err(unexpected(&other)),
        }
    }

    pub(super) async fn release(&self, id: &ChartId) -> Result<Option<Release>> {
        match self.call(LedgerCall::Release { name: id.name.clone(), version: id.version.clone() }).await? {
            LedgerReply::Release { release } => Ok(release.map(|r| *r)),
            other => Err(unexpected(&other)),
        }
    }

    /// The manifest a tag of `chart`'s OCI repository names.
    pub(super) async fn tag(&self, chart: &str, tag: &str) -> Result<Option<Digest>> {
        match self.call(LedgerCall::Tag { chart: chart.to_owned(), tag: tag.to_owned() }).await? {
            LedgerReply::Tag { manifest } => Ok(manifest.and_then(|m| Digest::parse(&m).ok())),
            other => Err(unexpected(&other)),
        }
    }

    pub(super) async fn tags(&self, chart: &str) -> Result<Vec<String>> {
        match self.call(LedgerCall::Tags { chart: chart.to_owned() }).await? {
            LedgerReply::Tags { tags } => Ok(tags),
            other => Err(unexpected(&other)),
        }
    }

    /// Every digest the ledger references (what the garbage collector keeps).
    pub(super) async fn referenced(&self) -> Result<Vec<String>> {
        match self.call(LedgerCall::Referenced).await? {
            LedgerReply::Referenced { digests } => Ok(digests),
            other => Err(unexpected(&other)),
        }
    }

    /// True when a commit made `digest` visible in `chart`'s OCI repository.
    pub(super) async fn has_manifest(&self, chart: &str, digest: &Digest) -> Result<bool> {
        let call = LedgerCall::HasManifest { chart: chart.to_owned(), manifest: digest.to_string() };
        match self.call(call).await? {
            LedgerReply::HasManifest { visible } => Ok(visible),
            other => Err(unexpected(&other)),
        }
    }
}

/// A reply of another call than the one made: the object and the worker disagree.
fn unexpected(reply: &LedgerReply) -> worker::Error {
    worker::Error::RustError(format!("the ledger answered another call: {reply:?}"))
}
