//! JSON files as audit logs arrive: CloudTrail objects (gzip of
//! `{"Records":[...]}`), Snyk audit logs (a v1 array or a REST search page),
//! NDJSON, several documents one after another, or one JSON object per file
//! (CloudTrail digests).
//!
//! The reader frames records before it parses them: it finds where each
//! record starts and ends by its brackets and quotes alone, in large
//! decompressed buffers, and hands the record's bytes on. A record whose bytes
//! are not valid JSON (invalid UTF-8, `NaN`, a broken string or number) is
//! therefore one bad record, not the end of the file. When even the brackets
//! do not balance, the reader resynchronises at the next record start (the
//! same opening as the records before it, or `},{` in an array, or a line
//! starting with `{` between documents) and hands the bytes in between on as
//! one broken piece. Memory is bounded by the maximum record size: a record
//! past it is skipped over, keeping only its first bytes.
//!
//! A file that ends inside a record or an array (a download or gzip stream
//! cut short) is an error, [`ReadError::CutShort`]: its records so far have
//! been handed on, and the caller decides whether to keep them.

use flate2::read::MultiGzDecoder;
use memchr::memmem;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// Bytes read from the input at a time.
const READ_SIZE: usize = 1 << 20;
/// Bytes of an oversized or broken piece kept for quarantine.
pub const KEPT_PREFIX: usize = 4096;
/// The default maximum size of one record (CloudTrail events are at most
/// 256 KB, CloudTrail Lake's integration events 1 MB).
pub const DEFAULT_MAX_RECORD: usize = 16 << 20;
/// The largest maximum record size one may ask for: a record must fit one
/// Arrow string (2 GiB) with room to spare.
pub const LIMIT_MAX_RECORD: usize = 1 << 30;

/// Parses a record size as given on the command line: bytes, or a number
/// with `KB`, `MB` or `GB` (powers of 1024; `KiB`, `MiB`, `GiB` too).
///
/// ```
/// assert_eq!(tarn::formats::json::parse_record_size("16MB"), Ok(16 << 20));
/// assert!(tarn::formats::json::parse_record_size("2GB").is_err());
/// ```
pub fn parse_record_size(text: &str) -> Result<usize, String> {
    match crate::size::parse(text)? {
        size @ 1..=LIMIT_MAX_RECORD => Ok(size),
        _ => Err(format!("a record size must be between 1 byte and 1GB, not {}", text.trim())),
    }
}

/// What the reader hands on.
#[derive(Debug)]
pub enum Piece<'a> {
    /// One record's bytes, framed but not yet parsed.
    Record {
        bytes: &'a [u8],
        /// The record number (from 1) in an array, or the line a document starts on.
        position: u64,
    },
    /// Bytes that are not a record: brackets that do not balance, bytes
    /// between records, or a record over the maximum size.
    Broken {
        /// The piece, or its first [`KEPT_PREFIX`] bytes when it is larger.
        bytes: &'a [u8],
        /// The whole piece's size.
        size: u64,
        position: u64,
        reason: String,
    },
}

/// Why a file could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error("cannot read it: {0}")]
    Io(#[source] io::Error),
    #[error("it is not JSON (nor gzip of JSON): {0}")]
    NotJson(String),
    /// The input ended early: the records before `offset` were handed on.
    #[error("it is cut off at byte {offset} (after record {records}): {reason}")]
    CutShort { offset: u64, records: u64, reason: String },
    /// The piece sink failed; reading stopped.
    #[error(transparent)]
    Sink(E),
}

/// What a whole read found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Pieces handed on (records and broken pieces).
    pub pieces: u64,
    /// Bytes read, after decompression.
    pub bytes: u64,
}

/// Opens a file for reading, decompressing it if it starts with the gzip
/// magic bytes (every gzip member in turn); and whether the input says
/// where it ends: a gzip stream does (its trailer is checked), so reaching
/// its end means the file is whole.
fn open(path: &Path) -> io::Result<(Box<dyn Read + Send>, bool)> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < 2 {
        match file.read(&mut magic[got..])? {
            0 => break,
            n => got += n,
        }
    }
    let head = io::Cursor::new(magic[..got].to_vec());
    let whole = head.chain(file);
    Ok(if magic[..got] == [0x1f, 0x8b] {
        (Box::new(MultiGzDecoder::new(io::BufReader::with_capacity(256 * 1024, whole))), true)
    } else {
        (Box::new(whole), false)
    })
}

/// Reads every record of a file, handing each piece to `sink` as soon as it
/// is framed. `max_record` bounds the bytes one record may hold in memory.
pub fn read<E>(path: &Path, max_record: usize, sink: &mut dyn FnMut(Piece<'_>) -> Result<(), E>) -> Result<ReadSummary, ReadError<E>> {
    let (input, whole) = open(path).map_err(ReadError::Io)?;
    read_from(input, whole, max_record, sink)
}

/// [`read`] over any byte stream (already decompressed). `whole` says the
/// stream is known to be complete at its end (a gzip trailer was checked):
/// then JSON that ends inside a record is a broken last record, handed on
/// as a broken piece, not a file cut short.
pub fn read_from<E>(
    input: impl Read,
    whole: bool,
    max_record: usize,
    sink: &mut dyn FnMut(Piece<'_>) -> Result<(), E>,
) -> Result<ReadSummary, ReadError<E>> {
    let mut framer = Framer::new(input, max_record.max(64), sink);
    framer.whole = whole;
    framer.run()?;
    Ok(ReadSummary { pieces: framer.pieces, bytes: framer.base + framer.buf.len() as u64 })
}

thread_local! {
    /// The buffer of the last file this thread read, kept for the next one:
    /// a fresh one per file cost a page fault per 4 KB of it.
    static BUFFERS: std::cell::Cell<Vec<u8>> = std::cell::Cell::new(Vec::with_capacity(READ_SIZE * 2));
}

impl<R, E> Drop for Framer<'_, R, E> {
    fn drop(&mut self) {
        let mut buf = std::mem::take(&mut self.buf);
        if buf.capacity() <= 4 * READ_SIZE {
            buf.clear();
            BUFFERS.with(|kept| kept.set(buf));
        }
    }
}

/// How framing one value ended.
enum Framed {
    /// The value ends before this absolute offset.
    Whole(u64),
    /// The value is larger than the maximum; it ended before this offset and
    /// was this large. Its first bytes are in `Framer::prefix`.
    TooLarge { end: u64, size: u64 },
    /// A closing bracket that does not match, at this offset.
    Unbalanced(u64),
    /// The input ended inside the value.
    Eof,
}

/// Where the reader resynchronises after a broken piece.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    /// Between records in an array.
    Array,
    /// Between documents.
    Top,
}

struct Framer<'s, R, E> {
    input: R,
    /// Bytes from absolute offset `base` on.
    buf: Vec<u8>,
    base: u64,
    /// The absolute offset the buffer must keep from (a record being framed).
    keep: u64,
    eof: bool,
    /// A read that failed after it had got bytes: reported by the next
    /// `fill`, once the records in those bytes have been framed.
    failed: Option<io::Error>,
    max_record: usize,
    /// The input is known to be complete at its end.
    whole: bool,
    sink: &'s mut dyn FnMut(Piece<'_>) -> Result<(), E>,
    /// Records handed on from arrays (their positions).
    records: u64,
    pieces: u64,
    /// Newlines before absolute offset `line_at`.
    lines: u64,
    line_at: u64,
    /// How the records of this file open (`{"eventVersion":`), once known:
    /// the resynchronisation point after a broken record.
    head: Option<Vec<u8>>,
    /// The first bytes of an oversized value.
    prefix: Vec<u8>,
    /// Bracket stack of the value being framed.
    stack: Vec<u8>,
}

impl<'s, R: Read, E> Framer<'s, R, E> {
    fn new(input: R, max_record: usize, sink: &'s mut dyn FnMut(Piece<'_>) -> Result<(), E>) -> Self {
        Framer {
            input,
            buf: BUFFERS.with(|kept| kept.take()),
            base: 0,
            keep: 0,
            eof: false,
            failed: None,
            max_record,
            whole: false,
            sink,
            records: 0,
            pieces: 0,
            lines: 0,
            line_at: 0,
            head: None,
            prefix: Vec::new(),
            stack: Vec::new(),
        }
    }

    fn end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// The byte at absolute offset `at`, reading more input if needed.
    fn byte(&mut self, at: u64) -> Result<Option<u8>, ReadError<E>> {
        while at >= self.end() {
            if !self.fill()? {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[(at - self.base) as usize]))
    }

    /// Reads more input, dropping bytes before `keep`. False at the end.
    fn fill(&mut self) -> Result<bool, ReadError<E>> {
        if let Some(e) = self.failed.take() {
            return Err(self.read_failed(e));
        }
        if self.eof {
            return Ok(false);
        }
        let drop = (self.keep.saturating_sub(self.base) as usize).min(self.buf.len());
        if drop >= READ_SIZE || (drop > 0 && self.buf.len() + READ_SIZE > self.buf.capacity()) {
            self.count_lines(self.base + drop as u64);
            self.buf.drain(..drop);
            self.base += drop as u64;
        }
        let old = self.buf.len();
        self.buf.resize(old + READ_SIZE, 0);
        let mut got = 0;
        while got < READ_SIZE {
            match self.input.read(&mut self.buf[old + got..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old + got);
                    if got > 0 {
                        // Frame the records these bytes complete first.
                        self.failed = Some(e);
                        return Ok(true);
                    }
                    return Err(self.read_failed(e));
                }
            }
        }
        self.buf.truncate(old + got);
        Ok(got > 0)
    }

    /// A failed read as the error of the whole read.
    fn read_failed(&self, e: io::Error) -> ReadError<E> {
        let offset = self.end();
        if offset == 0 {
            return ReadError::NotJson(e.to_string());
        }
        ReadError::CutShort { offset, records: self.records, reason: read_failure(&e) }
    }

    /// Counts newlines up to absolute offset `to` (which must be buffered).
    fn count_lines(&mut self, to: u64) {
        if to > self.line_at {
            let from = (self.line_at - self.base) as usize;
            let upto = (to - self.base) as usize;
            self.lines += memchr::memchr_iter(b'\n', &self.buf[from..upto]).count() as u64;
            self.line_at = to;
        }
    }

    /// The line (from 1) absolute offset `at` is on.
    fn line_of(&mut self, at: u64) -> u64 {
        self.count_lines(at);
        self.lines + 1
    }

    /// The first offset from `at` that is not whitespace (None at the end).
    fn skip_space(&mut self, mut at: u64) -> Result<Option<u64>, ReadError<E>> {
        loop {
            match self.byte(at)? {
                None => return Ok(None),
                Some(b' ' | b'\t' | b'\n' | b'\r') => at += 1,
                Some(_) => return Ok(Some(at)),
            }
        }
    }

    fn slice(&self, from: u64, to: u64) -> &[u8] {
        &self.buf[(from - self.base) as usize..(to - self.base) as usize]
    }

    fn emit(&mut self, piece: Piece<'_>) -> Result<(), ReadError<E>> {
        self.pieces += 1;
        (self.sink)(piece).map_err(ReadError::Sink)
    }

    fn emit_record(&mut self, from: u64, to: u64, position: u64) -> Result<(), ReadError<E>> {
        self.pieces += 1;
        let bytes = &self.buf[(from - self.base) as usize..(to - self.base) as usize];
        (self.sink)(Piece::Record { bytes, position }).map_err(ReadError::Sink)
    }

    fn emit_too_large(&mut self, size: u64, position: u64) -> Result<(), ReadError<E>> {
        let prefix = std::mem::take(&mut self.prefix);
        let reason = format!(
            "the record is {size} bytes, over the maximum record size of {} bytes (raise it with --max-record-size)",
            self.max_record
        );
        let result = self.emit(Piece::Broken { bytes: &prefix, size, position, reason });
        self.prefix = prefix;
        result
    }

    fn run(&mut self) -> Result<(), ReadError<E>> {
        let Some(mut at) = self.skip_space(0)? else { return Ok(()) }; // an empty file holds no records
        if self.slice(at, (at + 3).min(self.end())) == b"\xEF\xBB\xBF" {
            at += 3; // a UTF-8 byte order mark
        }
        match self.byte(at)? {
            Some(b'{' | b'[') | None => {}
            Some(other) => {
                return Err(ReadError::NotJson(format!("it starts with byte 0x{other:02x}, where JSON starts with {{ or [")));
            }
        }
        while let Some(start) = self.skip_space(at)? {
            at = self.document(start)?;
        }
        Ok(())
    }

    /// Reads one top-level document starting at `start`; returns where the next one may start.
    fn document(&mut self, start: u64) -> Result<u64, ReadError<E>> {
        self.keep = start;
        match self.byte(start)? {
            Some(b'[') => self.array(start + 1),
            Some(b'{') => {
                if let Some(array) = self.records_key(start + 1)? {
                    let end = self.array(array)?;
                    return self.wrapper_rest(end);
                }
                let line = self.line_of(start);
                match self.frame(start)? {
                    Framed::Whole(end) => {
                        self.whole_document(start, end, line)?;
                        Ok(end)
                    }
                    Framed::TooLarge { end, size } => {
                        self.emit_too_large(size, line)?;
                        Ok(end)
                    }
                    Framed::Unbalanced(at) => self.broken(start, at, Level::Top, false, line),
                    Framed::Eof => self.broken(start, self.end(), Level::Top, true, line),
                }
            }
            _ => {
                let line = self.line_of(start);
                self.broken(start, start, Level::Top, false, line)
            }
        }
    }

    /// If the object whose body starts at `at` opens with a `Records` key
    /// holding an array, the offset just inside that array.
    fn records_key(&mut self, at: u64) -> Result<Option<u64>, ReadError<E>> {
        let Some(key) = self.skip_space(at)? else { return Ok(None) };
        for (i, expected) in b"\"Records\"".iter().enumerate() {
            if self.byte(key + i as u64)? != Some(*expected) {
                return Ok(None);
            }
        }
        let Some(colon) = self.skip_space(key + 9)? else { return Ok(None) };
        if self.byte(colon)? != Some(b':') {
            return Ok(None);
        }
        let Some(open) = self.skip_space(colon + 1)? else { return Ok(None) };
        Ok((self.byte(open)? == Some(b'[')).then_some(open + 1))
    }

    /// After a `Records` array: the rest of its wrapper object (more keys,
    /// a second `Records` array, read too) up to its closing brace.
    fn wrapper_rest(&mut self, mut at: u64) -> Result<u64, ReadError<E>> {
        loop {
            let Some(next) = self.skip_space(at)? else { return self.ends_inside(at, "the file ends inside its top-level object") };
            self.keep = next;
            match self.byte(next)? {
                Some(b'}') => return Ok(next + 1),
                Some(b',') => {
                    let Some(key_start) = self.skip_space(next + 1)? else {
                        return self.ends_inside(next + 1, "the file ends inside its top-level object");
                    };
                    if let Some(array) = self.records_key_at(key_start)? {
                        at = self.array(array)?;
                        continue;
                    }
                    // Another key: its value is not records; skip over it.
                    let key_end = match self.frame(key_start)? {
                        Framed::Whole(end) => end,
                        _ => return self.resync_in_wrapper(next),
                    };
                    let colon = self.skip_space(key_end)?;
                    let value = match colon {
                        Some(c) if self.byte(c)? == Some(b':') => self.skip_space(c + 1)?,
                        _ => return self.resync_in_wrapper(next),
                    };
                    let Some(value) = value else { return self.ends_inside(at, "the file ends inside its top-level object") };
                    at = match self.frame(value)? {
                        Framed::Whole(end) | Framed::TooLarge { end, .. } => end,
                        Framed::Eof => return self.ends_inside(value, "the file ends inside its top-level object"),
                        Framed::Unbalanced(_) => return self.resync_in_wrapper(next),
                    };
                }
                Some(_) => return self.resync_in_wrapper(next),
                None => return self.ends_inside(next, "the file ends inside its top-level object"),
            }
        }
    }

    /// `"Records": [` at `at` (a key after the first).
    fn records_key_at(&mut self, at: u64) -> Result<Option<u64>, ReadError<E>> {
        if self.byte(at)? != Some(b'"') {
            return Ok(None);
        }
        self.records_key(at)
    }

    /// Bytes in a wrapper that are neither keys nor records: resynchronise
    /// at the next record and go on as inside the `Records` array.
    fn resync_in_wrapper(&mut self, from: u64) -> Result<u64, ReadError<E>> {
        self.records += 1;
        let next = self.broken(from, from, Level::Array, true, self.records)?;
        let end = self.array(next)?;
        self.wrapper_rest(end)
    }

    /// Reads the records of an array whose body starts at `at`; returns the
    /// offset after its closing bracket.
    fn array(&mut self, mut at: u64) -> Result<u64, ReadError<E>> {
        loop {
            let Some(next) = self.skip_space(at)? else { return self.ends_inside(at, "the file ends inside an array of records") };
            self.keep = next;
            match self.byte(next)? {
                Some(b']') => return Ok(next + 1),
                Some(b',') => at = next + 1,
                Some(_) => {
                    let position = self.records + 1;
                    at = match self.frame(next)? {
                        Framed::Whole(end) => {
                            self.records += 1;
                            self.learn_head(next, end);
                            self.emit_record(next, end, position)?;
                            end
                        }
                        Framed::TooLarge { end, size } => {
                            self.records += 1;
                            self.emit_too_large(size, position)?;
                            end
                        }
                        Framed::Unbalanced(at) => {
                            self.records += 1;
                            self.broken(next, at, Level::Array, true, position)?
                        }
                        Framed::Eof => {
                            self.records += 1;
                            self.broken(next, self.end(), Level::Array, true, position)?
                        }
                    };
                }
                None => return self.ends_inside(next, "the file ends inside an array of records"),
            }
        }
    }

    /// Remembers how the first good record of the file opens.
    fn learn_head(&mut self, from: u64, to: u64) {
        if self.head.is_some() {
            return;
        }
        let bytes = self.slice(from, to);
        if bytes.first() != Some(&b'{') {
            return;
        }
        // Up to the first key's colon, if the key is short and plain.
        if let Some(colon) = bytes.iter().take(64).position(|&b| b == b':')
            && bytes[1..colon].iter().filter(|&&b| b == b'"').count() == 2
        {
            self.head = Some(bytes[..=colon].to_vec());
        }
    }

    /// A top-level document of one value: one record, a REST page's items,
    /// or the records of a wrapper whose `Records` key is not first.
    fn whole_document(&mut self, from: u64, to: u64, line: u64) -> Result<(), ReadError<E>> {
        let bytes = self.slice(from, to);
        let may_hold_records = memmem::find(bytes, b"\"Records\"").is_some() || memmem::find(bytes, b"\"items\"").is_some();
        if may_hold_records && let Some(items) = contained_records(bytes) {
            let base = bytes.as_ptr() as usize;
            let ranges: Vec<(u64, u64)> = items
                .iter()
                .map(|item| {
                    let start = from + (item.get().as_ptr() as usize - base) as u64;
                    (start, start + item.get().len() as u64)
                })
                .collect();
            for (start, end) in ranges {
                self.records += 1;
                let position = self.records;
                self.emit_record(start, end, position)?;
            }
            return Ok(());
        }
        self.emit_record(from, to, line)
    }

    /// Frames one value starting at `start` by its brackets and quotes.
    fn frame(&mut self, start: u64) -> Result<Framed, ReadError<E>> {
        self.keep = start;
        self.stack.clear();
        self.prefix.clear();
        let Some(first) = self.byte(start)? else { return Ok(Framed::Eof) };
        if matches!(first, b'}' | b']' | b',' | b':') {
            return Ok(Framed::Unbalanced(start));
        }
        let scalar = !matches!(first, b'{' | b'[' | b'"');
        let mut in_string = false;
        let mut escape = false;
        let mut at = start;
        let mut too_large = false;
        loop {
            if at >= self.end() {
                if too_large {
                    self.keep = at;
                } else if at - start > self.max_record as u64 {
                    too_large = true;
                    let upto = (start + KEPT_PREFIX as u64).min(self.end());
                    self.prefix = self.slice(start, upto).to_vec();
                    self.keep = at;
                }
                if !self.fill()? {
                    return Ok(if scalar { self.framed(start, at, too_large) } else { Framed::Eof });
                }
                continue;
            }
            let bytes = &self.buf[(at - self.base) as usize..];
            let mut i = 0;
            let n = bytes.len();
            let mut ended = None;
            while i < n {
                if in_string {
                    if escape {
                        escape = false;
                        i += 1;
                        continue;
                    }
                    match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                        None => i = n,
                        Some(j) => {
                            if bytes[i + j] == b'\\' {
                                escape = true;
                            } else {
                                in_string = false;
                                if self.stack.is_empty() {
                                    ended = Some(i + j + 1); // a string value
                                    break;
                                }
                            }
                            i += j + 1;
                        }
                    }
                    continue;
                }
                let b = bytes[i];
                if scalar {
                    if matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r' | b'{' | b'[' | b'"') {
                        ended = Some(i);
                        break;
                    }
                    i += 1;
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' => self.stack.push(b'}'),
                    b'[' => self.stack.push(b']'),
                    b'}' | b']' => {
                        if self.stack.pop() != Some(b) {
                            return Ok(Framed::Unbalanced(at + i as u64));
                        }
                        if self.stack.is_empty() {
                            ended = Some(i + 1);
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            match ended {
                Some(len) => return Ok(self.framed(start, at + len as u64, too_large)),
                None => at += n as u64,
            }
        }
    }

    fn framed(&mut self, start: u64, end: u64, too_large: bool) -> Framed {
        let size = end - start;
        if too_large || size > self.max_record as u64 {
            if !too_large {
                let upto = (start + KEPT_PREFIX as u64).min(end);
                self.prefix = self.slice(start, upto).to_vec();
            }
            return Framed::TooLarge { end, size };
        }
        Framed::Whole(end)
    }

    /// A piece starting at `start` that does not frame (the framer gave up
    /// at `failed`): hands it on as broken up to the next place a record (or
    /// document) starts, and returns that place. When no such place follows,
    /// the input is cut short if it ended inside a value (`in_value`) or an
    /// array; otherwise the rest of the input is the broken piece.
    fn broken(&mut self, start: u64, failed: u64, level: Level, in_value: bool, position: u64) -> Result<u64, ReadError<E>> {
        // A value past the maximum size is no longer buffered from its start:
        // its first bytes are in `prefix`.
        let retained = start >= self.base;
        let from = if retained { start + 1 } else { failed.max(self.base) };
        self.keep = if retained { start } else { from };
        let (resume, retained) = self.find_resync(from, level, retained.then_some(start))?;
        if resume.is_none() && (in_value || level == Level::Array) && !self.whole {
            return Err(self.cut_short(start, "the file ends inside a record"));
        }
        let end = resume.unwrap_or_else(|| self.end());
        let piece: Vec<u8> = if retained { self.slice(start, end).to_vec() } else { std::mem::take(&mut self.prefix) };
        let trimmed = trim_separators(&piece);
        if trimmed.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(end);
        }
        let reason = match serde_json::from_slice::<serde::de::IgnoredAny>(trimmed) {
            Err(e) => format!("not JSON: {e}"),
            Ok(_) => "bytes between records that are not a record".to_string(),
        };
        let shown = &trimmed[..trimmed.len().min(KEPT_PREFIX)];
        self.emit(Piece::Broken { bytes: shown, size: end - start, position, reason })?;
        Ok(end)
    }

    /// The next offset from `from` where a record (`Array`) or document
    /// (`Top`) starts, reading on as needed; None at the end of the input.
    /// Bytes from `retain` on stay buffered while they fit the maximum
    /// record size; the second value says whether they did.
    fn find_resync(&mut self, from: u64, level: Level, mut retain: Option<u64>) -> Result<(Option<u64>, bool), ReadError<E>> {
        let mut at = from;
        loop {
            let hay = &self.buf[(at - self.base) as usize..];
            let head = self.head.as_deref().and_then(|head| memmem::find(hay, head));
            let found = match level {
                // Records of one file open alike: once that opening is
                // known, only it marks a record (a `},{` may be nested).
                Level::Array if self.head.is_some() => head,
                Level::Array => find_object_after_comma(hay),
                Level::Top => match (head, find_line_start(hay)) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                },
            };
            if let Some(i) = found {
                return Ok((Some(at + i as u64), retain.is_some()));
            }
            // Search again from a little before the end, so a start that
            // straddles two reads is found.
            let end = self.end();
            at = end.saturating_sub(80).max(at);
            if let Some(start) = retain
                && end - start > self.max_record as u64
            {
                self.prefix = self.slice(start, (start + KEPT_PREFIX as u64).min(end)).to_vec();
                retain = None;
            }
            self.keep = retain.unwrap_or(at);
            if !self.fill()? {
                return Ok((None, retain.is_some()));
            }
        }
    }

    /// The input ended inside a value or an array, at `at`: cut short,
    /// unless it is known to be whole; then what is left from `at` is a
    /// broken piece, and the read ends.
    fn ends_inside(&mut self, at: u64, reason: &str) -> Result<u64, ReadError<E>> {
        if !self.whole {
            return Err(self.cut_short(at, reason));
        }
        let end = self.end();
        let from = at.max(self.base);
        let piece = trim_separators(self.slice(from, end)).to_vec();
        if !piece.is_empty() {
            let position = self.records + 1;
            let reason = format!("not JSON: {reason} (the file is complete: its compression says so)");
            let shown = &piece[..piece.len().min(KEPT_PREFIX)];
            self.emit(Piece::Broken { bytes: shown, size: piece.len() as u64, position, reason })?;
        }
        Ok(end)
    }

    fn cut_short(&self, at: u64, reason: &str) -> ReadError<E> {
        ReadError::CutShort { offset: at, records: self.records, reason: reason.to_string() }
    }
}

/// The records inside one top-level object: a REST page's `data.items`, or
/// the `Records` arrays of a wrapper whose first key is not `Records` (every
/// one of them, in order). None if it has neither (it is one record itself).
fn contained_records(bytes: &[u8]) -> Option<Vec<&RawValue>> {
    let wrapper: Wrapper<'_> = serde_json::from_slice(bytes).ok()?;
    if let Some(records) = wrapper.records {
        return Some(records);
    }
    wrapper.items.filter(|_| wrapper.page)
}

/// The keys of a top-level object that may hold records. A repeated
/// `Records` key adds its records (a derived struct refuses a repeated key).
#[derive(Default)]
struct Wrapper<'a> {
    records: Option<Vec<&'a RawValue>>,
    items: Option<Vec<&'a RawValue>>,
    /// It has `jsonapi` or `links`, as a REST page does.
    page: bool,
}

impl<'de> Deserialize<'de> for Wrapper<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Data<'a> {
            #[serde(borrow)]
            items: Option<Vec<&'a RawValue>>,
        }
        struct Keys;
        impl<'de> serde::de::Visitor<'de> for Keys {
            type Value = Wrapper<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Wrapper<'de>, A::Error> {
                let mut wrapper = Wrapper::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "Records" => {
                            if let Some(records) = map.next_value::<Option<Vec<&'de RawValue>>>()? {
                                wrapper.records.get_or_insert_with(Vec::new).extend(records);
                            }
                        }
                        "data" => wrapper.items = map.next_value::<Option<Data<'de>>>()?.and_then(|d| d.items),
                        "jsonapi" | "links" => wrapper.page |= map.next_value::<Option<&'de RawValue>>()?.is_some(),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(wrapper)
            }
        }
        deserializer.deserialize_map(Keys)
    }
}

/// `}` `,` `{` with optional whitespace: the `{`'s index in `hay`.
fn find_object_after_comma(hay: &[u8]) -> Option<usize> {
    let mut state = 0u8;
    for (i, &b) in hay.iter().enumerate() {
        state = match (state, b) {
            (_, b'}') => 1,
            (1, b',') => 2,
            (2, b'{') => return Some(i),
            (s @ (1 | 2), b' ' | b'\t' | b'\n' | b'\r') => s,
            _ => 0,
        };
    }
    None
}

/// A line that starts with `{` or `[`: the bracket's index in `hay`.
fn find_line_start(hay: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', hay).find(|&i| matches!(hay.get(i + 1), Some(b'{' | b'['))).map(|i| i + 1)
}

/// A broken piece without the separators around it.
fn trim_separators(bytes: &[u8]) -> &[u8] {
    let is_separator = |b: &u8| b.is_ascii_whitespace() || *b == b',';
    let start = bytes.iter().position(|b| !is_separator(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !is_separator(b)).map_or(start, |i| i + 1);
    &bytes[start..end.max(start)]
}

/// A read error as a reason: a cut gzip stream says so.
fn read_failure(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::UnexpectedEof => "the gzip stream ends early (a download or copy cut short?)".to_string(),
        _ => format!("cannot decompress it: {error}"),
    }
}

#[cfg(test)]
mod tests;
