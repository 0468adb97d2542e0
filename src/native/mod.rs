//! The native platform: signing and verification on the system's OpenSSL ([`crypto`]), the token
//! service ([`issuer`]) and the command line ([`cli`]).

pub mod cli;
pub mod crypto;
pub mod issuer;
