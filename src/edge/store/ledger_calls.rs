//! The ledger's typed interface: the calls the worker makes of a repository's ledger (its Durable
//! Object) and their replies, serialized as JSON between the two, and the pure answer to each
//! read ([`Ledger::answer`]). A commit's planning and writing, and the rendered `index.yaml` (raw
//! bytes, not JSON), are the object's own.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ledger::{Change, Ledger, LedgerError, Op, Release};

/// One call to a repository's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum LedgerCall {
    /// Plans `op` under the deployment's `IMMUTABLE_TAGS` and writes its changes, or refuses it.
    Commit { op: Op },
    /// The rendered `index.yaml` (answered as raw bytes).
    Index,
    /// ChartMuseum's API read ([`Ledger::api`]).
    Api { name: Option<String>, version: Option<String> },
    /// The release and content digest of an HTTP file name (`x-1.0.0.tgz`, `x-1.0.0.tgz.prov`).
    File { file: String },
    /// One release.
    Release { name: String, version: String },
    /// The manifest a tag of a chart's OCI repository names.
    Tag { chart: String, tag: String },
    /// Every tag of a chart's OCI repository.
    Tags { chart: String },
    /// Whether a commit made a manifest visible in a chart's OCI repository.
    HasManifest { chart: String, manifest: String },
    /// Every digest the ledger references (what the collector keeps).
    Referenced,
}

/// A ledger's reply to a [`LedgerCall`] other than [`LedgerCall::Index`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum LedgerReply {
    /// The commit's changes, written.
    Committed {
        changes: Vec<Change>,
    },
    /// The ledger refused the call; nothing changed.
    Refused {
        error: LedgerError,
    },
    /// [`LedgerCall::Api`]'s document.
    Api {
        document: Value,
    },
    /// [`LedgerCall::File`]: the release the file is of, and the content's digest.
    File {
        found: Option<(String, String, String)>,
    },
    Release {
        release: Option<Box<Release>>,
    },
    Tag {
        manifest: Option<String>,
    },
    Tags {
        tags: Vec<String>,
    },
    HasManifest {
        visible: bool,
    },
    Referenced {
        digests: Vec<String>,
    },
}

impl Ledger {
    /// The answer to a read call; `None` for [`LedgerCall::Commit`] and [`LedgerCall::Index`],
    /// which the ledger's object answers itself.
    pub fn answer(&self, call: &LedgerCall) -> Option<LedgerReply> {
        Some(match call {
            LedgerCall::Commit { .. } | LedgerCall::Index => return None,
            LedgerCall::Api { name, version } => match self.api(name.as_deref(), version.as_deref()) {
                Ok(document) => LedgerReply::Api { document },
                Err(error) => LedgerReply::Refused { error },
            },
            LedgerCall::File { file } => LedgerReply::File {
                found: self.file(file).map(|(r, d)| (r.meta.name.clone(), r.meta.version.clone(), d.to_owned())),
            },
            LedgerCall::Release { name, version } => {
                LedgerReply::Release { release: self.release(name, version).cloned().map(Box::new) }
            }
            LedgerCall::Tag { chart, tag } => {
                LedgerReply::Tag { manifest: self.resolve_tag(chart, tag).map(str::to_owned) }
            }
            LedgerCall::Tags { chart } => LedgerReply::Tags { tags: self.tags_of(chart) },
            LedgerCall::HasManifest { chart, manifest } => {
                LedgerReply::HasManifest { visible: self.has_manifest(chart, manifest) }
            }
            LedgerCall::Referenced => LedgerReply::Referenced { digests: self.referenced() },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_replies_round_trip_as_json() {
        let calls = [
            LedgerCall::Index,
            LedgerCall::Api { name: Some("hello".into()), version: None },
            LedgerCall::File { file: "hello-1.0.0.tgz".into() },
            LedgerCall::HasManifest { chart: "hello".into(), manifest: "sha256:00".into() },
            LedgerCall::Referenced,
        ];
        for call in calls {
            let text = serde_json::to_string(&call).unwrap();
            assert_eq!(serde_json::from_str::<LedgerCall>(&text).unwrap(), call, "{text}");
        }
        let refused = LedgerReply::Refused { error: LedgerError::Exists };
        let text = serde_json::to_string(&refused).unwrap();
        assert_eq!(serde_json::from_str::<LedgerReply>(&text).unwrap(), refused);
        assert!(serde_json::from_str::<LedgerCall>(r#"{"call": "drop_everything"}"#).is_err(), "no such call");
    }

    #[test]
    fn an_empty_ledger_answers_every_read() {
        let l = Ledger::default();
        let file = l.answer(&LedgerCall::File { file: "x-1.0.0.tgz".into() });
        assert_eq!(file, Some(LedgerReply::File { found: None }));
        assert_eq!(l.answer(&LedgerCall::Tags { chart: "x".into() }), Some(LedgerReply::Tags { tags: vec![] }));
        assert_eq!(l.answer(&LedgerCall::Index), None, "the object renders the index");
        let api = l.answer(&LedgerCall::Api { name: Some("x".into()), version: Some("1.0.0".into()) });
        assert!(matches!(api, Some(LedgerReply::Refused { .. })), "{api:?}");
    }
}
