//! The wasm32 platform: RS256 through the runtime's WebCrypto ([`webcrypto`]), shared by the edge
//! worker and the inspector page, and the page's exports ([`inspector`], with the `inspector`
//! feature).

#[cfg(feature = "inspector")]
mod inspector;
pub mod webcrypto;
