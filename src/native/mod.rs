//! The native platform: signing and verification on the system's OpenSSL ([`crypto`]), the token
//! service ([`issuer`]), the command line ([`cli`]) and its repository copier ([`mirror`]).

pub mod cli;
pub mod credentials;
pub mod crypto;
pub mod issuer;
pub mod login;
pub mod mirror;
pub mod session;
