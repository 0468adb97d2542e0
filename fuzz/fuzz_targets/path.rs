//! The path normaliser: no panic; a normalised path is idempotent and never has a `.` or `..`
//! segment, an empty segment, a backslash or a NUL.
#![no_main]

use chartgate::{access::{NormalizedPath, Route}};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &str| {
    let Ok(path) = NormalizedPath::parse(raw) else { return };
    let again = NormalizedPath::parse(path.as_str()).expect("a normalised path parses again");
    assert_eq!(again.as_str(), path.as_str());
    assert!(path.as_str().starts_with('/'));
    for segment in path.segments() {
        assert!(!segment.is_empty() && segment != "." && segment != "..", "{raw:?} -> {:?}", path.as_str());
    }
    assert!(!path.as_str().contains(['\\', '\0']));
    for depth in [chartgate::access::Depth::Zero, chartgate::access::Depth::One, chartgate::access::Depth::Two] {
        let _ = Route::parse("GET", &path, depth, &chartgate::access::RepoName::parse("repo").unwrap());
    }
});
