//! A tar stream read header by header exactly as Go's `archive/tar` `Reader.Next` reads it (helm's
//! loader is built on it), so the path the gate checks is the path helm extracts.
//!
//! Why not the `tar` crate (which the edge uses to find `Chart.yaml`): it reads several headers
//! differently from Go, and each difference is a way to show the gate one tree and helm another:
//! - header-only types (directories, links, devices, FIFOs) with a non-zero size field: Go reads no
//!   data for them, the crate skips `size` bytes, so entries can hide inside a directory's "data";
//! - a `\0` type flag on a name ending in `/` is a directory to Go (no data), a file to the crate;
//! - a PAX header with two `path` records: Go keeps the last, the crate the first; an empty PAX
//!   value keeps the header's field in Go, replaces it in the crate;
//! - GNU headers whose atime/ctime do not parse: Go falls back to reading the USTAR prefix as part
//!   of the name (archives of pre-1.8 Go), the crate never does; STAR headers (trailer `tar\0`)
//!   have a shorter prefix in Go; a USTAR magic with any version reads the prefix in Go only;
//! - GNU long names are cut at their first NUL by Go, only a trailing NUL is removed by the crate;
//! - one zero block followed by a header is an error in Go, the end of the archive for the crate;
//! - the signed-byte checksum that Go also accepts.
//!
//! The reader follows Go's `reader.go`/`strconv.go` (Go 1.22-1.25): the same field offsets,
//! numeric parsing (octal, base-256), PAX record grammar and merge, GNU `L`/`K` handling and
//! end-of-archive rules. Sparse files are reported, not expanded (the gate refuses them).

use std::collections::BTreeMap;
use std::io::{self, Read};

const BLOCK: usize = 512;
/// Go's `maxSpecialFileSize`: the largest PAX or GNU long-name record read.
const MAX_SPECIAL: u64 = 1 << 20;

/// One entry as Go's `Reader.Next` returns it (meta headers already applied).
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub typeflag: u8,
    /// The name, as bytes (a Go string need not be UTF-8).
    pub name: Vec<u8>,
    pub size: i64,
    pub mode: i64,
    /// Old GNU sparse (`S`) or PAX `GNU.sparse.*` records: Go would expand it.
    pub sparse: bool,
}

/// Why Go's reader would fail on the stream (helm then refuses the chart).
#[derive(Debug)]
pub(crate) enum TarError {
    /// `archive/tar: invalid tar header` and friends.
    Header(&'static str),
    /// The stream ended inside an entry.
    UnexpectedEof,
    /// The reader beneath failed (inflate error, size limit).
    Io(io::Error),
}

impl std::fmt::Display for TarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarError::Header(why) => write!(f, "invalid tar header: {why}"),
            TarError::UnexpectedEof => f.write_str("the archive ends inside an entry"),
            TarError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for TarError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            TarError::UnexpectedEof
        } else {
            TarError::Io(e)
        }
    }
}

/// Go's reader over a byte stream.
pub(crate) struct GoTar<R> {
    r: R,
    /// Data bytes of the current entry not yet read.
    remaining: u64,
    pad: u64,
}

fn is_header_only(flag: u8) -> bool {
    matches!(flag, b'1' | b'2' | b'3' | b'4' | b'5' | b'6')
}

impl<R: Read> GoTar<R> {
    pub fn new(r: R) -> Self {
        GoTar { r, remaining: 0, pad: 0 }
    }

    /// The stream beneath.
    pub fn inner(&self) -> &R {
        &self.r
    }

    /// Go's `tryReadFull`: `Ok(n)` with `n < buf.len()` only at the end of the stream.
    fn try_read_full(&mut self, buf: &mut [u8]) -> Result<usize, TarError> {
        let mut n = 0;
        while n < buf.len() {
            match self.r.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(n)
    }

    /// Go's `io.ReadFull` on a header block: `None` at a clean end (no byte read).
    fn read_block(&mut self) -> Result<Option<[u8; BLOCK]>, TarError> {
        let mut blk = [0u8; BLOCK];
        match self.try_read_full(&mut blk)? {
            0 => Ok(None),
            BLOCK => Ok(Some(blk)),
            _ => Err(TarError::UnexpectedEof),
        }
    }

    /// The rest of the current entry's data and its padding. `Ok(false)`: the stream ended in
    /// the padding, which Go takes as the end of the archive.
    fn skip_rest(&mut self) -> Result<bool, TarError> {
        let mut sink = [0u8; 4096];
        while self.remaining > 0 {
            let want = self.remaining.min(sink.len() as u64) as usize;
            let got = self.try_read_full(&mut sink[..want])?;
            if got < want {
                return Err(TarError::UnexpectedEof);
            }
            self.remaining -= got as u64;
        }
        let pad = self.pad as usize;
        self.pad = 0;
        Ok(self.try_read_full(&mut sink[..pad])? == pad)
    }

    /// Go's `handleRegularFile`.
    fn set_data(&mut self, typeflag: u8, size: i64) -> Result<(), TarError> {
        let nb = if is_header_only(typeflag) { 0 } else { size };
        if nb < 0 {
            return Err(TarError::Header("negative size"));
        }
        self.remaining = nb as u64;
        self.pad = (BLOCK as u64 - nb as u64 % BLOCK as u64) % BLOCK as u64;
        Ok(())
    }

    /// Go's `readSpecialFile`: the whole data of a meta entry, at most 1 MiB.
    fn read_special(&mut self) -> Result<Vec<u8>, TarError> {
        if self.remaining > MAX_SPECIAL {
            return Err(TarError::Header("a PAX or GNU long-name record is larger than 1 MiB"));
        }
        let mut buf = vec![0u8; self.remaining as usize];
        self.read_exact_data(&mut buf)?;
        Ok(buf)
    }

    fn read_exact_data(&mut self, buf: &mut [u8]) -> Result<(), TarError> {
        let got = self.try_read_full(buf)?;
        self.remaining -= got as u64;
        if got < buf.len() {
            return Err(TarError::UnexpectedEof);
        }
        Ok(())
    }

    /// The next entry, as `Reader.Next`; `None` at the end of the archive.
    pub fn next_entry(&mut self) -> Result<Option<Header>, TarError> {
        let mut pax: Option<BTreeMap<Vec<u8>, Vec<u8>>> = None;
        let mut long_name: Vec<u8> = Vec::new();
        let mut long_link_seen = false;
        loop {
            if !self.skip_rest()? {
                return Ok(None);
            }
            let Some(blk) = self.read_block()? else { return Ok(None) };
            if blk.iter().all(|&b| b == 0) {
                return match self.read_block()? {
                    None => Ok(None),
                    Some(second) if second.iter().all(|&b| b == 0) => Ok(None),
                    Some(_) => Err(TarError::Header("a zero block followed by a header")),
                };
            }
            let mut hdr = parse_header(&blk)?;
            self.set_data(hdr.typeflag, hdr.size)?;
            match hdr.typeflag {
                b'x' | b'g' => {
                    let records = parse_pax(&self.read_special()?)?;
                    if hdr.typeflag == b'g' {
                        merge_pax(&mut hdr, &records)?;
                        return Ok(Some(hdr));
                    }
                    pax = Some(records);
                }
                b'L' | b'K' => {
                    let data = self.read_special()?;
                    let value = cstr(&data).to_vec();
                    if hdr.typeflag == b'L' {
                        long_name = value;
                    } else {
                        long_link_seen = !value.is_empty() || long_link_seen;
                    }
                }
                _ => {
                    if let Some(records) = &pax {
                        merge_pax(&mut hdr, records)?;
                        hdr.sparse |= records.keys().any(|k| k.starts_with(b"GNU.sparse."));
                    }
                    if !long_name.is_empty() {
                        hdr.name = long_name;
                    }
                    if hdr.typeflag == 0 {
                        hdr.typeflag = if hdr.name.ends_with(b"/") { b'5' } else { b'0' };
                    }
                    self.set_data(hdr.typeflag, hdr.size)?;
                    hdr.sparse |= hdr.typeflag == b'S';
                    let _ = long_link_seen; // link targets are never followed: links are refused
                    return Ok(Some(hdr));
                }
            }
        }
    }

    /// Reads the current entry's data into `out`, at most `limit` bytes kept (the rest is
    /// skipped by the next call to [`GoTar::next_entry`]).
    pub fn read_data(&mut self, limit: u64, out: &mut Vec<u8>) -> Result<(), TarError> {
        let take = self.remaining.min(limit) as usize;
        let start = out.len();
        out.resize(start + take, 0);
        self.read_exact_data(&mut out[start..])
    }
}

/// Go's `parser.parseString`: up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(n) => &b[..n],
        None => b,
    }
}

/// Go's `parser.parseNumeric`: base-256 when the top bit is set, else octal.
fn parse_numeric(b: &[u8]) -> Result<i64, TarError> {
    const BAD: TarError = TarError::Header("a numeric field does not parse");
    if let Some(&first) = b.first() {
        if first & 0x80 != 0 {
            let inv = if first & 0x40 != 0 { 0xff } else { 0 };
            let mut x: u64 = 0;
            for (i, &c) in b.iter().enumerate() {
                let mut c = c ^ inv;
                if i == 0 {
                    c &= 0x7f;
                }
                if x >> 56 > 0 {
                    return Err(BAD);
                }
                x = (x << 8) | u64::from(c);
            }
            if x >> 63 > 0 {
                return Err(BAD);
            }
            return Ok(if inv == 0xff { !(x as i64) } else { x as i64 });
        }
    }
    parse_octal(b)
}

/// Go's `parser.parseOctal`: spaces and NULs trimmed at both ends, then up to a NUL, in base 8.
fn parse_octal(b: &[u8]) -> Result<i64, TarError> {
    let trim = |c: &u8| *c == b' ' || *c == 0;
    let start = b.iter().position(|c| !trim(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !trim(c)).map_or(start, |e| e + 1);
    let b = &b[start..end];
    if b.is_empty() {
        return Ok(0);
    }
    let s = cstr(b);
    if s.is_empty() {
        return Err(TarError::Header("a numeric field does not parse"));
    }
    let mut x: u64 = 0;
    for &c in s {
        if !(b'0'..=b'7').contains(&c) {
            return Err(TarError::Header("a numeric field does not parse"));
        }
        x = x
            .checked_mul(8)
            .and_then(|x| x.checked_add(u64::from(c - b'0')))
            .ok_or(TarError::Header("a numeric field overflows"))?;
    }
    Ok(x as i64)
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign, then decimal digits.
pub(crate) fn go_parse_int(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut x: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        x = x.checked_mul(10)?;
        x = if negative { x.checked_sub(d)? } else { x.checked_add(d)? };
    }
    Some(x)
}

/// Go's `block.getFormat` and `Reader.readHeader` for one header block.
fn parse_header(blk: &[u8; BLOCK]) -> Result<Header, TarError> {
    // Checksum: unsigned or signed sum, the checksum field counted as spaces.
    let stored = parse_octal(&blk[148..156]).map_err(|_| TarError::Header("bad checksum field"))?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &c) in blk.iter().enumerate() {
        let c = if (148..156).contains(&i) { b' ' } else { c };
        unsigned += i64::from(c);
        signed += i64::from(c as i8);
    }
    if stored != unsigned && stored != signed {
        return Err(TarError::Header("checksum mismatch"));
    }
    let magic = &blk[257..263];
    let version = &blk[263..265];
    #[derive(PartialEq)]
    enum Format {
        V7,
        Ustar,
        Star,
        Gnu,
    }
    let format = if magic == b"ustar\0" && &blk[508..512] == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && version == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    };
    let typeflag = blk[156];
    let mut name = cstr(&blk[0..100]).to_vec();
    let size = parse_numeric(&blk[124..136])?;
    let mode = parse_numeric(&blk[100..108])?;
    parse_numeric(&blk[108..116])?; // uid
    parse_numeric(&blk[116..124])?; // gid
    parse_numeric(&blk[136..148])?; // mtime
    if format != Format::V7 {
        parse_numeric(&blk[329..337])?; // devmajor
        parse_numeric(&blk[337..345])?; // devminor
        let prefix: &[u8] = match format {
            Format::Ustar => cstr(&blk[345..500]),
            Format::Star => {
                parse_numeric(&blk[476..488])?;
                parse_numeric(&blk[488..500])?;
                cstr(&blk[345..476])
            }
            _ => {
                // GNU: atime and ctime where USTAR has its prefix. When they do not parse, Go
                // reads the field as a prefix after all (pre-Go 1.8 writers), if it is ASCII.
                let atime = &blk[345..357];
                let ctime = &blk[357..369];
                let bad = (atime[0] != 0 && parse_numeric(atime).is_err())
                    || (ctime[0] != 0 && parse_numeric(ctime).is_err());
                let prefix = cstr(&blk[345..500]);
                if bad && prefix.iter().all(|&c| c < 0x80) {
                    prefix
                } else {
                    &[]
                }
            }
        };
        if !prefix.is_empty() {
            let mut full = prefix.to_vec();
            full.push(b'/');
            full.extend_from_slice(&name);
            name = full;
        }
    }
    Ok(Header { typeflag, name, size, mode, sparse: false })
}

/// Go's `parsePAX`: records `"%d %s=%s\n"`, the last of a key winning.
fn parse_pax(data: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, TarError> {
    const BAD: TarError = TarError::Header("a malformed PAX record");
    let mut records = BTreeMap::new();
    let mut sparse_map: Vec<Vec<u8>> = Vec::new();
    let mut s = data;
    while !s.is_empty() {
        let sp = s.iter().position(|&c| c == b' ').ok_or(BAD)?;
        let n = go_parse_int(&s[..sp]).ok_or(BAD)?;
        if n < 5 || n as u64 > s.len() as u64 {
            return Err(BAD);
        }
        let n = n as usize;
        if n <= sp + 1 {
            return Err(BAD);
        }
        let rest = &s[sp + 1..];
        let len = n - (sp + 1);
        let (rec, nl, rem) = (&rest[..len - 1], rest[len - 1], &rest[len..]);
        if nl != b'\n' {
            return Err(BAD);
        }
        let eq = rec.iter().position(|&c| c == b'=').ok_or(BAD)?;
        let (k, v) = (&rec[..eq], &rec[eq + 1..]);
        let valid = !k.is_empty()
            && match k {
                b"path" | b"linkpath" | b"uname" | b"gname" => !v.contains(&0),
                _ => !k.contains(&0),
            };
        if !valid {
            return Err(BAD);
        }
        if k == b"GNU.sparse.offset" || k == b"GNU.sparse.numbytes" {
            let expect: &[u8] =
                if sparse_map.len().is_multiple_of(2) { b"GNU.sparse.offset" } else { b"GNU.sparse.numbytes" };
            if k != expect || v.contains(&b',') {
                return Err(BAD);
            }
            sparse_map.push(v.to_vec());
        } else {
            records.insert(k.to_vec(), v.to_vec());
        }
        s = rem;
    }
    if !sparse_map.is_empty() {
        records.insert(b"GNU.sparse.map".to_vec(), sparse_map.join(&b','));
    }
    Ok(records)
}

/// Go's `mergePAX`: known keys overwrite the header's fields; an empty value keeps the field.
fn merge_pax(hdr: &mut Header, records: &BTreeMap<Vec<u8>, Vec<u8>>) -> Result<(), TarError> {
    const BAD: TarError = TarError::Header("a PAX record's value does not parse");
    for (k, v) in records {
        if v.is_empty() {
            continue;
        }
        match k.as_slice() {
            b"path" => hdr.name = v.clone(),
            b"size" => hdr.size = go_parse_int(v).ok_or(BAD)?,
            b"uid" | b"gid" => {
                go_parse_int(v).ok_or(BAD)?;
            }
            b"atime" | b"mtime" | b"ctime" => {
                let (secs, frac) = match v.iter().position(|&c| c == b'.') {
                    Some(p) => (&v[..p], &v[p + 1..]),
                    None => (&v[..], &[][..]),
                };
                go_parse_int(secs).ok_or(BAD)?;
                if !frac.iter().all(u8::is_ascii_digit) {
                    return Err(BAD);
                }
            }
            _ => {}
        }
    }
    Ok(())
}
