//! Scope strings: no panic, and whatever parses prints back to a string that parses to the same.
#![no_main]

use chartgate::{access::{Scope, ScopeSet}};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(scope) = Scope::parse(text) {
        assert_eq!(Scope::parse(&scope.to_string()).as_ref(), Ok(&scope));
    }
    if let Ok(set) = ScopeSet::parse(text) {
        let again = ScopeSet::parse(&set.to_string()).expect("printed set parses");
        assert_eq!(again, set);
        assert!(set.contains(&set.intersect(&again)));
    }
});
