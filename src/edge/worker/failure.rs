//! The glue's one failure type: a refusal by the store's rules (the registry's, the ChartMuseum
//! API's, the ledger's), answered with its status in its protocol's body, or a failure of the
//! platform (R2, the cache, a Durable Object), logged whole and answered `502` with little said.
//! `?` works for every kind, and [`Failure::into_response`] is the one mapping to responses.

use worker::{console_error, Response};

use super::respond;
use crate::edge::store::ledger::LedgerError;
use crate::edge::store::oci::RegistryError;
use crate::edge::store::publish::PublishError;

/// Why an allowed request was not served.
#[derive(Debug)]
pub(super) enum Failure {
    /// The OCI registry's refusal: `{"errors": [...]}`.
    Registry(RegistryError),
    /// ChartMuseum's API refusal: `{"error": "…"}`.
    Publish(PublishError),
    /// The ledger's refusal of a commit, over ChartMuseum's API: `{"error": "…"}`.
    Ledger(LedgerError),
    /// R2, the edge cache or a Durable Object failed.
    Platform(worker::Error),
}

/// What the glue's handlers return.
pub(super) type Reply<T = Response> = std::result::Result<T, Failure>;

impl From<worker::Error> for Failure {
    fn from(e: worker::Error) -> Self {
        Failure::Platform(e)
    }
}
impl From<RegistryError> for Failure {
    fn from(e: RegistryError) -> Self {
        Failure::Registry(e)
    }
}
impl From<PublishError> for Failure {
    fn from(e: PublishError) -> Self {
        Failure::Publish(e)
    }
}
impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Failure::Ledger(e)
    }
}

impl Failure {
    /// The response: a refusal in its protocol's shape; a platform failure logged (the log says
    /// everything) and answered `502` (the client is told little).
    pub(super) fn into_response(self) -> worker::Result<Response> {
        match self {
            Failure::Registry(e) => respond::registry_error(e.status(), &e.body()),
            Failure::Publish(e) => respond::json(e.status(), &e.body()),
            Failure::Ledger(e) => respond::json(e.status(), &serde_json::json!({"error": e.to_string()}).to_string()),
            Failure::Platform(e) => {
                console_error!("chartgate: serving failed: {e}");
                respond::error(502, "bad_gateway", "the chart store (R2 or the repository ledger) failed")
            }
        }
    }
}
