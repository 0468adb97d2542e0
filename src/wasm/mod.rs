//! The wasm32 platform: RS256 and ES256 through the runtime's WebCrypto ([`webcrypto`]) and the
//! one async decision built on it (`decide`), shared by the edge worker and the inspector page,
//! and the page's exports (`inspector`, with the `inspector` feature).

#[cfg(any(feature = "inspector", feature = "edge"))]
pub(crate) mod decide;
#[cfg(feature = "inspector")]
mod inspector;
pub mod webcrypto;
