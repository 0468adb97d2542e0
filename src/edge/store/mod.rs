//! The store: what the edge keeps and serves once the gate has allowed a request. The storage
//! layout in one place ([`layout`]); each chart repository's ledger and its rules ([`ledger`]),
//! and the typed calls the worker makes of it ([`ledger_calls`]); publishing through
//! ChartMuseum's API ([`publish`]); what the entry gate's verdict does to a version entering
//! ([`entry`], the gate itself is the engine's `crate::entry`); the OCI distribution rules (manifests, uploads, tag pages,
//! referrers: [`oci`]); what a push commits to the ledger ([`push`]); reading a chart archive ([`chart_archive`]); and
//! the HTTP serving rules of what is stored ([`serving`]). All pure and natively tested; the worker
//! glue only moves bytes between these rules and R2, the cache and the ledger's Durable Object.

pub(crate) mod chart_archive;
pub mod entry;
pub mod layout;
pub mod ledger;
pub mod ledger_calls;
pub mod oci;
pub mod publish;
pub mod push;
pub(crate) mod serving;
