//! The entry gate on arbitrary bytes, raw and gzipped: never panics, and with small limits each
//! input costs bounded time and memory.
#![no_main]

use chartgate::entry::{check_archive, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_inflated: 4 * 1024 * 1024, ..Limits::default() };
    let verdict = check_archive(data, &limits);
    if let chartgate::entry::Verdict::Accepted(p) = &verdict {
        let prefix = format!("{}/", p.name);
        assert!(p.files.iter().all(|f| f.starts_with(&prefix)));
    }
    // The same bytes as the tar stream inside a gzip member, to reach the tar reader.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, data).unwrap();
    let _ = check_archive(&gz.finish().unwrap(), &limits);
});
