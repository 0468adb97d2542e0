//! Integration tests of the engine and the CLI, one binary with a module per topic.

mod cli;
mod engine;
mod entry;
mod findings;
mod interop;
mod issuer;
mod ledger;
mod props;
mod security;
mod util;
