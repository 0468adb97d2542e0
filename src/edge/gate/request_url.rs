//! The URL of an incoming request, read from the runtime's serialization of it (the WHATWG URL
//! string `Request.url` gives: `https://host[:port]/path?query#fragment`, already normalised,
//! with no user information) by splitting it, not by running a URL parser: the per-request path
//! needs its path, query and origin, and a first request should not compile a URL parser for them.

use std::ops::Range;

/// An incoming request's URL. Built only from a runtime's serialization: [`RequestUrl::parse`]
/// refuses what is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestUrl {
    text: String,
    /// `scheme://authority`.
    origin: Range<usize>,
    path: Range<usize>,
    query: Option<Range<usize>>,
}

/// Why a request URL cannot be read: it is not an absolute `http(s)` URL with an authority.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an absolute http(s) request URL")]
pub struct RequestUrlError;

impl RequestUrl {
    /// Splits a serialized request URL into origin, path (at least `/`) and query; a fragment is
    /// dropped.
    ///
    /// # Errors
    /// [`RequestUrlError`] for another scheme, no authority, or user information.
    pub fn parse(serialized: &str) -> Result<Self, RequestUrlError> {
        let rest = serialized
            .strip_prefix("https://")
            .or_else(|| serialized.strip_prefix("http://"))
            .ok_or(RequestUrlError)?;
        let scheme_len = serialized.len() - rest.len();
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_len];
        if authority.is_empty() || authority.contains('@') {
            return Err(RequestUrlError);
        }
        let text = serialized.split('#').next().unwrap_or_default();
        let origin_end = scheme_len + authority_len;
        let (path, query) = match text[origin_end..].find('?') {
            Some(q) => (origin_end..origin_end + q, Some(origin_end + q + 1..text.len())),
            None => (origin_end..text.len(), None),
        };
        let mut url = RequestUrl { text: text.to_owned(), origin: 0..origin_end, path, query };
        if url.path.is_empty() {
            url = url.with_path_and_query("/", url.query().map(str::to_owned).as_deref());
        }
        Ok(url)
    }

    /// `scheme://host[:port]`, as RFC 6454 serializes an origin.
    pub fn origin(&self) -> &str {
        &self.text[self.origin.clone()]
    }

    /// The path, percent-encoded as sent; at least `/`.
    pub fn path(&self) -> &str {
        &self.text[self.path.clone()]
    }

    /// The query without its `?`, as sent.
    pub fn query(&self) -> Option<&str> {
        self.query.clone().map(|q| &self.text[q])
    }

    /// The query's `application/x-www-form-urlencoded` pairs, decoded.
    pub fn query_pairs(&self) -> form_urlencoded::Parse<'_> {
        form_urlencoded::parse(self.query().unwrap_or_default().as_bytes())
    }

    /// The same origin with another path and query.
    pub fn with_path_and_query(&self, path: &str, query: Option<&str>) -> Self {
        let origin = self.origin();
        let mut text = String::with_capacity(origin.len() + path.len() + query.map_or(0, |q| q.len() + 1));
        text.push_str(origin);
        text.push_str(path);
        let path = origin.len()..text.len();
        let query = query.map(|q| {
            text.push('?');
            let start = text.len();
            text.push_str(q);
            start..text.len()
        });
        RequestUrl { origin: 0..origin.len(), text, path, query }
    }
}

impl std::fmt::Display for RequestUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_what_the_runtime_serializes() {
        let u = RequestUrl::parse("https://charts.example.com/org1/repo1/index.yaml?token=a%2Bb&x=1#frag").unwrap();
        assert_eq!(u.origin(), "https://charts.example.com");
        assert_eq!(u.path(), "/org1/repo1/index.yaml");
        assert_eq!(u.query(), Some("token=a%2Bb&x=1"));
        let pairs: Vec<_> = u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        assert_eq!(pairs, [("token".into(), "a+b".into()), ("x".into(), "1".into())]);
        let bare = RequestUrl::parse("http://127.0.0.1:8787").unwrap();
        assert_eq!((bare.origin(), bare.path(), bare.query()), ("http://127.0.0.1:8787", "/", None));
        let q = RequestUrl::parse("http://h:1?a=b").unwrap();
        assert_eq!((q.path(), q.query()), ("/", Some("a=b")));
        let empty = RequestUrl::parse("https://h/v2/?").unwrap();
        assert_eq!(empty.query(), Some(""));
        for bad in ["ftp://h/x", "/relative", "https:///x", "https://u:p@h/x", "https://@h/"] {
            assert_eq!(RequestUrl::parse(bad), Err(RequestUrlError), "{bad}");
        }
    }

    #[test]
    fn agrees_with_a_url_parser_on_serialized_urls() {
        // (`%2e%2e` segments are resolved by the serializer before the edge sees them; the
        // engine's own path normalisation runs after this, whatever the runtime did.)
        for text in [
            "https://charts.example.com/org1/repo1/charts/app-1.0.0.tgz?token=x.y.z.prov",
            "http://127.0.0.1:8787/v2/org1/repo1/app/manifests/1.0.0",
            "https://h.example/api/org1/repo1/charts?force",
            "https://h.example/a%20b/%2e%2e/c?q=%2F&r",
            "https://xn--bcher-kva.example:8443/",
        ] {
            // The runtime hands over a serializer's output: compare on that.
            let theirs = url::Url::parse(text).unwrap();
            let ours = RequestUrl::parse(theirs.as_str()).unwrap();
            assert_eq!(ours.path(), theirs.path(), "{text}");
            assert_eq!(ours.query(), theirs.query(), "{text}");
            assert_eq!(ours.origin(), theirs.origin().ascii_serialization(), "{text}");
            assert_eq!(ours.to_string(), theirs.as_str(), "{text}");
        }
    }

    proptest::proptest! {
        /// Whatever a client sends, once a WHATWG serializer (the runtime's, here the `url`
        /// crate's) has written it, splitting gives the path, query and origin a parser gives.
        #[test]
        fn splitting_a_serialized_url_is_parsing_it(
            host in "[a-z0-9.-]{1,12}|\\[::1\\]|xn--[a-z0-9]{2,6}",
            port in proptest::option::of(1u16..),
            path in "[a-zA-Z0-9/._%~:@!$&'()*+,;= \\\\-]{0,40}",
            query in proptest::option::of("[a-zA-Z0-9/._%~:@!$&'()*+,;=?/ -]{0,30}"),
            fragment in proptest::option::of("[a-z#?]{0,5}"),
        ) {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            let fragment = fragment.map(|f| format!("#{f}")).unwrap_or_default();
            let sent = format!("https://{host}{port}/{path}{query}{fragment}");
            if let Ok(theirs) = url::Url::parse(&sent) {
                let ours = RequestUrl::parse(theirs.as_str()).unwrap();
                proptest::prop_assert_eq!(ours.path(), theirs.path());
                proptest::prop_assert_eq!(ours.query(), theirs.query());
                proptest::prop_assert_eq!(ours.origin(), theirs.origin().ascii_serialization());
            }
        }
    }

    #[test]
    fn a_new_path_and_query_keep_the_origin() {
        let u = RequestUrl::parse("https://h/x.tgz?token=a.prov").unwrap();
        let v = u.with_path_and_query("/x.tgz.prov", Some("token=a"));
        assert_eq!(v.to_string(), "https://h/x.tgz.prov?token=a");
        assert_eq!((v.origin(), v.path(), v.query()), ("https://h", "/x.tgz.prov", Some("token=a")));
    }
}
