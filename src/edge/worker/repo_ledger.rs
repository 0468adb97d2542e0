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

use crate::edge::store::ledger::{Change, Ledger, Op, Release};
use crate::edge::store::ledger_calls::{
    call_name, to_wire, Api, Call, Commit, File, GetRelease, HasManifest, Index, Read, Referenced, Tag, Tags,
};
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
    /// [`Commit`]: plans `op` against the ledger and writes its changes, or refuses it.
    fn commit(&self, op: &Op, config: &EdgeConfig) -> Result<<Commit as Call>::Reply> {
        match self.with(|l| l.plan(op, config.immutable_tags))? {
            Ok(changes) => {
                self.write(&changes)?;
                Ok(Ok(changes))
            }
            Err(error) => Ok(Err(error)),
        }
    }

    /// A read call answered from the ledger, as JSON.
    fn read<C: Read>(&self, body: &[u8]) -> Result<Response> {
        let call: C = serde_json::from_slice(body).map_err(|e| worker::Error::RustError(e.to_string()))?;
        Response::from_json(&self.with(|l| call.answer(l))?)
    }

    /// A commit: its plan and write, compiled only when a commit comes.
    async fn commit_call(&self, body: &[u8]) -> Result<Response> {
        let Commit { op } = serde_json::from_slice(body).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let isolate = super::isolate::isolate(&self.env).map_err(worker::Error::RustError)?;
        Response::from_json(&self.commit(&op, &isolate.config)?)
    }
}

impl DurableObject for RepoLedger {
    fn new(state: State, env: Env) -> Self {
        RepoLedger { state, env, ledger: RefCell::new(None), index: RefCell::new(None) }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        // Sent by this worker only; bounded all the same (an op is at most a few entries' bytes).
        let Some(body) = super::body::read_bounded(&mut req, 4 * 1024 * 1024).await? else {
            return Response::error("ledger call too large", 413);
        };
        let Some(name) = call_name(&body) else { return Response::error("not a ledger call", 400) };
        super::apart(self.load()).await?;
        // Each call is its own function (V8 compiles a wasm function on its first call): a read
        // compiles its own call's code, never a commit's plan and write.
        match name.as_str() {
            Commit::NAME => super::apart(self.commit_call(&body)).await,
            Index::NAME => Response::from_bytes(self.index()?),
            Api::NAME => super::apart(async { self.read::<Api>(&body) }).await,
            File::NAME => super::apart(async { self.read::<File>(&body) }).await,
            GetRelease::NAME => super::apart(async { self.read::<GetRelease>(&body) }).await,
            Tag::NAME => super::apart(async { self.read::<Tag>(&body) }).await,
            Tags::NAME => super::apart(async { self.read::<Tags>(&body) }).await,
            HasManifest::NAME => super::apart(async { self.read::<HasManifest>(&body) }).await,
            Referenced::NAME => super::apart(async { self.read::<Referenced>(&body) }).await,
            _ => Response::error("no such ledger call", 400),
        }
    }
}

/// The worker's side: the ledger of one chart repository, called with the calls of
/// [`crate::edge::store::ledger_calls`].
pub(super) struct LedgerClient {
    stub: worker::Stub,
}

/// What a commit answered: the changes it made, or the ledger's refusal.
pub(super) type Committed = <Commit as Call>::Reply;

impl LedgerClient {
    pub(super) fn new(env: &Env, repo: &RepoName) -> Result<LedgerClient> {
        Ok(LedgerClient { stub: env.durable_object("LEDGER")?.get_by_name(repo.as_str())? })
    }

    async fn send<C: Call>(&self, call: &C) -> Result<Response> {
        let mut init = RequestInit::new();
        init.with_method(worker::Method::Post).with_body(Some(to_wire(call)?.into()));
        let req = Request::new_with_init("https://ledger/", &init)?;
        let res = self.stub.fetch_with_request(req).await?;
        match res.status_code() {
            200 => Ok(res),
            status => Err(worker::Error::RustError(format!("the ledger answered {status} to {}", C::NAME))),
        }
    }

    async fn call<C: Call>(&self, call: C) -> Result<C::Reply> {
        self.send(&call).await?.json().await
    }

    /// Commits one op: `Err` is the ledger's refusal (nothing changed).
    pub(super) async fn commit(&self, op: &Op) -> Result<Committed> {
        self.call(Commit { op: op.clone() }).await
    }

    /// `index.yaml`, rendered from the ledger.
    pub(super) async fn index(&self) -> Result<Vec<u8>> {
        self.send(&Index {}).await?.bytes().await
    }

    /// ChartMuseum's API read of `name` and `version` (see [`Ledger::api`]): `None` when not found.
    pub(super) async fn api(&self, name: Option<&str>, version: Option<&str>) -> Result<Option<Value>> {
        self.call(Api { name: name.map(str::to_owned), version: version.map(str::to_owned) }).await
    }

    /// The release and content digest of an HTTP file (`x-1.0.0.tgz` or `.prov`).
    pub(super) async fn file(&self, file: &str) -> Result<Option<(ChartId, Digest)>> {
        let found = self.call(File { file: file.to_owned() }).await?;
        Ok(found.and_then(|(name, version, digest)| Some((ChartId { name, version }, Digest::parse(&digest).ok()?))))
    }

    pub(super) async fn release(&self, id: &ChartId) -> Result<Option<Release>> {
        self.call(GetRelease { name: id.name.clone(), version: id.version.clone() }).await
    }

    /// The manifest a tag of `chart`'s OCI repository names.
    pub(super) async fn tag(&self, chart: &str, tag: &str) -> Result<Option<Digest>> {
        let found = self.call(Tag { chart: chart.to_owned(), tag: tag.to_owned() }).await?;
        Ok(found.and_then(|m| Digest::parse(&m).ok()))
    }

    pub(super) async fn tags(&self, chart: &str) -> Result<Vec<String>> {
        self.call(Tags { chart: chart.to_owned() }).await
    }

    /// Every digest the ledger references (what the garbage collector keeps).
    pub(super) async fn referenced(&self) -> Result<Vec<String>> {
        self.call(Referenced {}).await
    }

    /// True when a commit made `digest` visible in `chart`'s OCI repository.
    pub(super) async fn has_manifest(&self, chart: &str, digest: &Digest) -> Result<bool> {
        self.call(HasManifest { chart: chart.to_owned(), manifest: digest.to_string() }).await
    }
}
