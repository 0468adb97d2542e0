//! The ledger's typed interface: one type per call the worker makes of a repository's ledger (its
//! Durable Object), each with the type of its reply, serialized as JSON between the two, and the
//! pure answer to each read. One type per call rather than one enum of every call: serde's code
//! for a call is compiled only where that call is made or answered, so a chart read never
//! compiles a commit's (the read path's first request compiles what it runs, nothing else).
//!
//! On the wire a call is its fields with `"call": "<name>"` beside them ([`Call::NAME`]); the
//! object reads the name first, then the call it names.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ledger::{Change, Ledger, LedgerError, Op, Release};

/// A call to a repository's ledger, and the type of its reply.
pub trait Call: Serialize + DeserializeOwned {
    /// The call's name on the wire.
    const NAME: &'static str;
    type Reply: Serialize + DeserializeOwned;
}

/// The name of the call a request body holds, read before the call itself.
pub fn call_name(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        call: String,
    }
    serde_json::from_slice::<Named>(body).ok().map(|n| n.call)
}

/// A call as sent: its fields and its name.
pub fn to_wire<C: Call>(call: &C) -> serde_json::Result<String> {
    let mut value = serde_json::to_value(call)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("call".into(), C::NAME.into());
    }
    Ok(value.to_string())
}

/// Plans `op` under the deployment's `IMMUTABLE_TAGS` and writes its changes, or refuses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub op: Op,
}
impl Call for Commit {
    const NAME: &'static str = "commit";
    /// The changes written, or the ledger's refusal (nothing changed).
    type Reply = Result<Vec<Change>, LedgerError>;
}

/// The rendered `index.yaml` (answered as raw bytes, not JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {}
impl Call for Index {
    const NAME: &'static str = "index";
    type Reply = ();
}

/// ChartMuseum's API read ([`Ledger::api`]): the document, or `None` when not found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Api {
    pub name: Option<String>,
    pub version: Option<String>,
}
impl Call for Api {
    const NAME: &'static str = "api";
    type Reply = Option<Value>;
}

/// The release (name, version) and content digest an HTTP file name is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub file: String,
}
impl Call for File {
    const NAME: &'static str = "file";
    type Reply = Option<(String, String, String)>;
}

/// One release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetRelease {
    pub name: String,
    pub version: String,
}
impl Call for GetRelease {
    const NAME: &'static str = "release";
    type Reply = Option<Release>;
}

/// The manifest a tag of a chart's OCI repository names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub chart: String,
    pub tag: String,
}
impl Call for Tag {
    const NAME: &'static str = "tag";
    type Reply = Option<String>;
}

/// Every tag of a chart's OCI repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tags {
    pub chart: String,
}
impl Call for Tags {
    const NAME: &'static str = "tags";
    type Reply = Vec<String>;
}

/// Whether a commit made a manifest visible in a chart's OCI repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HasManifest {
    pub chart: String,
    pub manifest: String,
}
impl Call for HasManifest {
    const NAME: &'static str = "has_manifest";
    type Reply = bool;
}

/// Every digest the ledger references (what the collector keeps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referenced {}
impl Call for Referenced {
    const NAME: &'static str = "referenced";
    type Reply = Vec<String>;
}

/// A read the ledger answers by itself, with no write.
pub trait Read: Call {
    fn answer(&self, ledger: &Ledger) -> Self::Reply;
}

impl Read for Api {
    fn answer(&self, l: &Ledger) -> Option<Value> {
        l.api(self.name.as_deref(), self.version.as_deref()).ok()
    }
}
impl Read for File {
    fn answer(&self, l: &Ledger) -> Option<(String, String, String)> {
        l.file(&self.file).map(|(r, d)| (r.meta.name.clone(), r.meta.version.clone(), d.to_owned()))
    }
}
impl Read for GetRelease {
    fn answer(&self, l: &Ledger) -> Option<Release> {
        l.release(&self.name, &self.version).cloned()
    }
}
impl Read for Tag {
    fn answer(&self, l: &Ledger) -> Option<String> {
        l.resolve_tag(&self.chart, &self.tag).map(str::to_owned)
    }
}
impl Read for Tags {
    fn answer(&self, l: &Ledger) -> Vec<String> {
        l.tags_of(&self.chart)
    }
}
impl Read for HasManifest {
    fn answer(&self, l: &Ledger) -> bool {
        l.has_manifest(&self.chart, &self.manifest)
    }
}
impl Read for Referenced {
    fn answer(&self, l: &Ledger) -> Vec<String> {
        l.referenced()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_carry_their_name_and_round_trip() {
        let wire = to_wire(&File { file: "x-1.0.0.tgz".into() }).unwrap();
        assert_eq!(call_name(wire.as_bytes()).as_deref(), Some("file"));
        assert_eq!(serde_json::from_str::<File>(&wire).unwrap(), File { file: "x-1.0.0.tgz".into() });
        let wire = to_wire(&Referenced {}).unwrap();
        assert_eq!(call_name(wire.as_bytes()).as_deref(), Some("referenced"));
        let refused: <Commit as Call>::Reply = Err(LedgerError::Exists);
        let text = serde_json::to_string(&refused).unwrap();
        assert_eq!(serde_json::from_str::<<Commit as Call>::Reply>(&text).unwrap(), refused);
        assert_eq!(call_name(b"{\"no\": 1}"), None);
    }

    #[test]
    fn an_empty_ledger_answers_every_read() {
        let l = Ledger::default();
        assert_eq!(File { file: "x-1.0.0.tgz".into() }.answer(&l), None);
        assert_eq!(Tags { chart: "x".into() }.answer(&l), Vec::<String>::new());
        assert_eq!(Api { name: Some("x".into()), version: Some("1.0.0".into()) }.answer(&l), None);
        assert!(!HasManifest { chart: "x".into(), manifest: "sha256:00".into() }.answer(&l));
    }
}
