//! Request-path normalisation: percent-decoding under a strict alphabet, and refusal of hostile
//! paths (traversal, encoded separators, double encoding, control bytes) before any
//! authorization decision is taken.

use std::fmt;

/// Longest accepted raw request path, in bytes.
pub const MAX_PATH: usize = 1024;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path must start with '/'")]
    NotAbsolute,
    #[error("path is longer than {MAX_PATH} bytes")]
    TooLong,
    #[error("empty path segment ('//' or trailing '/')")]
    EmptySegment,
    #[error("'.' and '..' segments are not allowed")]
    DotSegment,
    #[error("segments may not start or end with '.'")]
    EdgeDot,
    #[error("percent-encoded {0} is not allowed")]
    EncodedReserved(&'static str),
    #[error("percent-encoded {0:?} is not canonical: send letters and digits unencoded")]
    EncodedAlphanumeric(char),
    #[error("malformed percent escape")]
    BadEscape,
    #[error("character {0:?} is not allowed in a path")]
    Forbidden(char),
    #[error("byte 0x{0:02x} is not allowed in a path")]
    ForbiddenByte(u8),
}

/// A decoded, canonical request path: starts with `/`, segments are non-empty, made of
/// `A-Z a-z 0-9 - . _ ~ +`, and none is `.`/`..` or starts or ends with a dot.
///
/// Normalising a `NormalizedPath`'s text again yields the same path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NormalizedPath(String);

fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+')
}

/// The error for a byte outside the path alphabet.
fn forbidden(b: u8) -> PathError {
    if b.is_ascii_graphic() {
        PathError::Forbidden(b as char)
    } else {
        PathError::ForbiddenByte(b)
    }
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl NormalizedPath {
    /// A path checked by another grammar (the registry's, [`crate::registry::canonical_path`]).
    pub(crate) fn trusted(path: String) -> Self {
        NormalizedPath(path)
    }

    /// Decodes and checks a raw (still percent-encoded) path, without query or fragment.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        let bytes = raw.as_bytes();
        if bytes.len() > MAX_PATH {
            return Err(PathError::TooLong);
        }
        if bytes.first() != Some(&b'/') {
            return Err(PathError::NotAbsolute);
        }
        // The common case has no escape: the checked input is the output.
        if !bytes.contains(&b'%') {
            if let Some(&b) = bytes.iter().find(|&&b| b != b'/' && !plain(b)) {
                return Err(forbidden(b));
            }
            return NormalizedPath(raw.to_owned()).checked();
        }
        let mut out = String::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let decoded = match b {
                b'%' => {
                    let (Some(hi), Some(lo)) =
                        (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
                    else {
                        return Err(PathError::BadEscape);
                    };
                    i += 2;
                    match (hi << 4) | lo {
                        b'/' => return Err(PathError::EncodedReserved("'/'")),
                        b'\\' => return Err(PathError::EncodedReserved("'\\'")),
                        b'.' => return Err(PathError::EncodedReserved("'.'")),
                        b'%' => return Err(PathError::EncodedReserved("'%' (double encoding)")),
                        d if d.is_ascii_alphanumeric() => return Err(PathError::EncodedAlphanumeric(d as char)),
                        d if plain(d) => d,
                        d => return Err(forbidden(d)),
                    }
                }
                b'/' => b'/',
                b if plain(b) => b,
                b => return Err(forbidden(b)),
            };
            out.push(decoded as char);
            i += 1;
        }
        NormalizedPath(out).checked()
    }

    /// Checks the segments of a decoded path.
    fn checked(self) -> Result<Self, PathError> {
        let path = self;
        if path.0.len() > 1 {
            for segment in path.segments() {
                if segment.is_empty() {
                    return Err(PathError::EmptySegment);
                }
                if segment == "." || segment == ".." {
                    return Err(PathError::DotSegment);
                }
                if segment.starts_with('.') || segment.ends_with('.') {
                    return Err(PathError::EdgeDot);
                }
            }
        }
        Ok(path)
    }

    /// The decoded path, starting with `/`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments after the leading `/` (none for the root path).
    pub fn segments(&self) -> impl DoubleEndedIterator<Item = &str> {
        let rest = &self.0[1..];
        rest.split('/').filter(move |_| !rest.is_empty())
    }
}

impl fmt::Display for NormalizedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_chart_paths() {
        for ok in ["/", "/index.yaml", "/org1/repo1/charts/my-chart-0.1.0+build.1.tgz", "/health"] {
            assert_eq!(NormalizedPath::parse(ok).unwrap().as_str(), ok);
        }
        assert_eq!(NormalizedPath::parse("/org1/repo1/my%2Dchart").unwrap().as_str(), "/org1/repo1/my-chart");
        assert_eq!(NormalizedPath::parse("/a/b").unwrap().segments().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(NormalizedPath::parse("/").unwrap().segments().count(), 0);
    }

    #[test]
    fn refuses_hostile_paths() {
        for bad in [
            "",
            "org1/repo1/index.yaml",
            "/org1/../index.yaml",
            "/org1/./index.yaml",
            "/org1/%2e%2e/index.yaml",
            "/org1/%2E%2E/index.yaml",
            "/org1/%252e%252e/index.yaml",
            "/org1%2frepo1/index.yaml",
            "/org1%5crepo1/index.yaml",
            "/org1\\repo1/index.yaml",
            "//org1/repo1/index.yaml",
            "/org1/repo1/",
            "/org1/repo1/index.yaml;x=1",
            "/org1/repo1/index.yaml%00",
            "/org1/repo1/index.yaml\0",
            "/org1/repo1/index.yaml.",
            "/org1/repo1/.index.yaml",
            "/org1/repo1/inde\u{301}x.yaml",
            "/org1/repo1/%",
            "/org1/repo1/%g0",
            "/org1/repo1/a b",
            "/org1/repo1/index.yaml?x",
            "/%6frg1/repo1/index.yaml",
            "/org1/repo%31/index.yaml",
        ] {
            assert!(NormalizedPath::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(NormalizedPath::parse(&format!("/{}", "a".repeat(MAX_PATH))), Err(PathError::TooLong));
    }
}
