//! Where a token travels: `Authorization: Bearer`, the password of `Authorization: Basic` (what
//! helm sends), or the `token` query parameter (signed download links). Also finds the token in
//! anything a person pastes (a URL, a header line) for `inspect` and the inspector page.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// How the token arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Bearer,
    Basic,
    Query,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Bearer => "bearer",
            Via::Basic => "basic",
            Via::Query => "query",
        }
    }
}

/// A token and how it arrived.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub via: Via,
    pub token: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Credential").field("via", &self.via).field("token", &"<redacted>").finish()
    }
}

/// Why the credential could not be read. Never contains the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error("more than one credential in the request (use one of: Authorization header, token query parameter)")]
    Multiple,
    #[error("authorization scheme {0:?} is not supported (use Bearer or Basic)")]
    UnsupportedScheme(String),
    /// The header is not `scheme credentials`: it is not echoed, since it may be a bare secret.
    #[error("the Authorization header has no scheme (use Bearer <token> or Basic <user:token>)")]
    NoScheme,
    #[error("Basic credentials are not valid base64 of user:password")]
    BadBasic,
    #[error("Basic credentials need a non-empty username (any value) and the token as password")]
    EmptyBasicUser,
    #[error("the credential is empty")]
    Empty,
    #[error("the token parameter is not UTF-8 once percent-decoded")]
    NotUtf8,
    #[error("no token found in the input")]
    NotFound,
}

/// Reads the credential from the `Authorization` header value and the raw query string.
///
/// Several methods at once, or several `token` parameters, are refused (RFC 6750 §2).
pub fn extract(authorization: Option<&str>, query: Option<&str>) -> Result<Option<Credential>, CredentialError> {
    let from_header = authorization.map(parse_authorization).transpose()?;
    let mut from_query = None;
    for pair in query.unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key == "token" || key == "access_token" {
            if from_query.is_some() {
                return Err(CredentialError::Multiple);
            }
            let value =
                percent_encoding::percent_decode_str(value).decode_utf8().map_err(|_| CredentialError::NotUtf8)?;
            if value.is_empty() {
                return Err(CredentialError::Empty);
            }
            from_query = Some(Credential { via: Via::Query, token: value.into_owned() });
        }
    }
    match (from_header, from_query) {
        (Some(_), Some(_)) => Err(CredentialError::Multiple),
        (h, q) => Ok(h.or(q)),
    }
}

/// The request helm means when it asks for a chart's provenance file of a repository whose URL
/// carries the token (`helm pull --verify`, `helm repo add …?token=`): helm 3 and 4 build the
/// provenance URL by appending `.prov` to the whole chart URL, query included, so
/// `…/sealed-2.3.0.tgz?token=<jwt>` becomes `…/sealed-2.3.0.tgz?token=<jwt>.prov`. Returns the path
/// and query of the request meant (`…/sealed-2.3.0.tgz.prov`, `token=<jwt>`), or `None` for any
/// other request. Only an archive path with a query ending in `.prov` is read this way: no JWT,
/// and no query chartgate writes, ends so.
pub fn helm_provenance_request(path: &str, query: Option<&str>) -> Option<(String, String)> {
    let query = query?.strip_suffix(".prov")?;
    if !path.ends_with(".tgz") || query.is_empty() {
        return None;
    }
    Some((format!("{path}.prov"), query.to_owned()))
}

/// Parses one `Authorization` header value.
pub fn parse_authorization(value: &str) -> Result<Credential, CredentialError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(CredentialError::Empty);
        }
        return Ok(Credential { via: Via::Bearer, token: rest.to_owned() });
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD.decode(rest).map_err(|_| CredentialError::BadBasic)?;
        let decoded = String::from_utf8(decoded).map_err(|_| CredentialError::BadBasic)?;
        let (user, password) = decoded.split_once(':').ok_or(CredentialError::BadBasic)?;
        if user.is_empty() {
            return Err(CredentialError::EmptyBasicUser);
        }
        if password.is_empty() {
            return Err(CredentialError::Empty);
        }
        return Ok(Credential { via: Via::Basic, token: password.to_owned() });
    }
    // Name the scheme only when it looks like one: a bare word may be a secret sent without one.
    let looks_like_scheme = !rest.is_empty()
        && scheme.len() <= 20
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if looks_like_scheme {
        Err(CredentialError::UnsupportedScheme(scheme.to_owned()))
    } else {
        Err(CredentialError::NoScheme)
    }
}

/// What a pasted input puts on the wire: the `Authorization` value and the query string a client
/// would send. A raw token becomes a bearer header; a URL's `user:password@` becomes Basic, as
/// curl and helm send it. Feeding these to [`extract`] (or [`crate::prepare`]) reads the
/// credential exactly as the edge does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pasted {
    pub authorization: Option<String>,
    pub query: Option<String>,
}

impl Pasted {
    /// Reads a raw token, a URL with `?token=` or `user:token@`, or an `Authorization: …` line.
    pub fn parse(input: &str) -> Pasted {
        let input = input.trim();
        if input.is_empty() {
            return Pasted::default();
        }
        if let Some((name, value)) = input.split_once(':') {
            if name.trim().eq_ignore_ascii_case("authorization") {
                return Pasted { authorization: Some(value.trim().to_owned()), query: None };
            }
        }
        let first_word = input.split(' ').next().unwrap_or("");
        if first_word.eq_ignore_ascii_case("bearer") || first_word.eq_ignore_ascii_case("basic") {
            return Pasted { authorization: Some(input.to_owned()), query: None };
        }
        let Some((_, after_scheme)) = input.split_once("://") else {
            return Pasted { authorization: Some(format!("Bearer {input}")), query: None };
        };
        let (before_query, query) = after_scheme.split_once('?').unwrap_or((after_scheme, ""));
        let query = query.split('#').next().unwrap_or("");
        let authority = before_query.split('/').next().unwrap_or("");
        let authorization = authority.rsplit_once('@').map(|(userinfo, _)| {
            let userinfo = percent_encoding::percent_decode_str(userinfo).decode_utf8_lossy();
            format!("Basic {}", STANDARD.encode(userinfo.as_bytes()))
        });
        Pasted { authorization, query: (!query.is_empty()).then(|| query.to_owned()) }
    }
}

/// Finds a token in pasted text (see [`Pasted::parse`]).
pub fn find_token(input: &str) -> Result<Credential, CredentialError> {
    let pasted = Pasted::parse(input);
    extract(pasted.authorization.as_deref(), pasted.query.as_deref())?.ok_or(CredentialError::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Security round 3, item 10: `helm pull --verify` of a `?token=` repository.
    #[test]
    fn helms_provenance_url_after_the_query_is_the_provenance_file() {
        let (path, query) = helm_provenance_request("/o/r/sealed-2.3.0.tgz", Some("token=a.b.c.prov")).unwrap();
        assert_eq!((path.as_str(), query.as_str()), ("/o/r/sealed-2.3.0.tgz.prov", "token=a.b.c"));
        let token = extract(None, Some(&query)).unwrap().unwrap();
        assert_eq!(token.token, "a.b.c");
        assert_eq!(helm_provenance_request("/o/r/sealed-2.3.0.tgz", Some("token=a.b.c")), None);
        assert_eq!(helm_provenance_request("/o/r/index.yaml", Some("token=a.b.c.prov")), None);
        assert_eq!(helm_provenance_request("/o/r/x.tgz", Some(".prov")), None);
        assert_eq!(helm_provenance_request("/o/r/x.tgz", None), None);
    }

    fn basic(s: &str) -> String {
        format!("Basic {}", STANDARD.encode(s))
    }

    #[test]
    fn the_three_methods() {
        assert_eq!(extract(Some("Bearer abc"), None).unwrap().unwrap().token, "abc");
        let c = extract(Some(&basic("token:abc")), None).unwrap().unwrap();
        assert_eq!((c.via, c.token.as_str()), (Via::Basic, "abc"));
        let c = extract(None, Some("x=1&token=a%2Eb")).unwrap().unwrap();
        assert_eq!((c.via, c.token.as_str()), (Via::Query, "a.b"));
        assert_eq!(extract(None, Some("x=1")).unwrap(), None);
        assert_eq!(extract(None, None).unwrap(), None);
    }

    #[test]
    fn refuses_ambiguous_or_broken_credentials() {
        assert_eq!(extract(Some("Bearer a"), Some("token=b")), Err(CredentialError::Multiple));
        assert_eq!(extract(None, Some("token=a&token=b")), Err(CredentialError::Multiple));
        assert_eq!(extract(Some(&basic(":abc")), None), Err(CredentialError::EmptyBasicUser));
        assert_eq!(extract(Some(&basic("u:")), None), Err(CredentialError::Empty));
        assert_eq!(extract(Some("Basic !!!"), None), Err(CredentialError::BadBasic));
        assert!(matches!(extract(Some("Digest x"), None), Err(CredentialError::UnsupportedScheme(_))));
        assert_eq!(extract(Some("s3cr3t-without-scheme"), None), Err(CredentialError::NoScheme));
        assert_eq!(extract(Some(":\u{5fd6}1\u{479f} x"), None), Err(CredentialError::NoScheme));
        assert_eq!(extract(Some("Bearer "), None), Err(CredentialError::Empty));
        assert_eq!(extract(None, Some("token=%FF%FE")), Err(CredentialError::NotUtf8));
    }

    #[test]
    fn errors_never_echo_the_token() {
        let e = extract(Some("Bearer secret"), Some("token=secret")).unwrap_err();
        assert!(!e.to_string().contains("secret"));
        assert!(!format!("{:?}", find_token("secret").unwrap()).contains("secret"));
    }

    #[test]
    fn finds_tokens_in_pasted_text() {
        assert_eq!(find_token(" a.b.c ").unwrap().token, "a.b.c");
        assert_eq!(find_token("https://h/org1/repo1/x.tgz?token=a.b.c").unwrap().token, "a.b.c");
        assert_eq!(find_token("https://user:a.b.c@h/org1/repo1").unwrap().token, "a.b.c");
        assert_eq!(find_token("Authorization: Bearer a.b.c").unwrap().token, "a.b.c");
        assert_eq!(find_token(&format!("authorization: {}", basic("u:a.b.c"))).unwrap().token, "a.b.c");
        assert_eq!(find_token("https://h/org1/repo1/index.yaml"), Err(CredentialError::NotFound));
        assert_eq!(find_token(""), Err(CredentialError::NotFound));
        assert_eq!(find_token("https://:a.b.c@h/org1/repo1"), Err(CredentialError::EmptyBasicUser));
        assert_eq!(find_token("https://u:a@h/x?token=b"), Err(CredentialError::Multiple));
    }
}
