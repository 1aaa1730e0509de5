//! Local files: CloudTrail objects as S3 holds them (gzip of
//! `{"Records":[...]}`), Snyk audit logs (a v1 array or a REST search page),
//! NDJSON, or one JSON object per file (CloudTrail digests).
//!
//! Gzip is recognised by its magic bytes, multi-member gzip is read whole,
//! and arrays are streamed record by record, so memory does not grow with the
//! size of a file.

use super::{NotJson, RawRecord, is_rest_page};
use flate2::read::MultiGzDecoder;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// How a file's records were laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"Records": [...]}` (CloudTrail).
    Records,
    /// A bare JSON array (Snyk v1).
    Array,
    /// A Snyk REST audit-log search page.
    RestPage,
    /// One JSON record per line.
    Ndjson,
    /// The whole file is one record (CloudTrail digest).
    Single,
}

/// Why a file could not be read (wholly or in part).
#[derive(Debug, thiserror::Error)]
pub enum ReadError<E> {
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    #[error("it is not JSON (nor gzip of JSON): {0}")]
    NotJson(String),
    /// The file broke off after some records were read (cut gzip, bad JSON).
    #[error("it is cut off or not valid JSON after record {after}: {reason}")]
    Broken { after: u64, reason: String },
    /// The record sink failed; reading stopped.
    #[error(transparent)]
    Sink(E),
}

/// Opens a file, decompressing it if it starts with the gzip magic bytes.
pub fn open(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let mut file = BufReader::with_capacity(256 * 1024, File::open(path)?);
    let gzip = file.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip { Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(file))) } else { Box::new(file) })
}

/// Reads every record of a file, handing each to `sink` as soon as it is read.
pub fn read<E>(path: &Path, sink: &mut dyn FnMut(RawRecord) -> Result<(), E>) -> Result<Layout, ReadError<E>> {
    let mut reader = open(path)?;
    let first = loop {
        let buf = reader.fill_buf().map_err(|e| ReadError::NotJson(e.to_string()))?;
        let Some(&byte) = buf.first() else { return Ok(Layout::Ndjson) }; // empty file: no records
        if byte.is_ascii_whitespace() {
            reader.consume(1);
            continue;
        }
        break byte;
    };
    let mut state = Stream { sink, count: 0, sink_error: None, layout: None, other_keys: Vec::new() };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let result = match first {
        b'[' => de::Deserializer::deserialize_seq(&mut de, &mut state).map(|_| Layout::Array),
        b'{' => de::Deserializer::deserialize_map(&mut de, &mut state).map(|_| state.layout.unwrap_or(Layout::Single)),
        other => return Err(ReadError::NotJson(format!("it starts with {:?}, where JSON starts with {{ or [", other as char))),
    };
    let layout = match result {
        Ok(layout) => layout,
        Err(e) => {
            if let Some(sink_error) = state.sink_error.take() {
                return Err(ReadError::Sink(sink_error));
            }
            if state.count == 0 && state.layout.is_none() {
                // The first value is not JSON; maybe it is NDJSON with a bad first line.
                return read_ndjson(path, state.sink);
            }
            return Err(ReadError::Broken { after: state.count, reason: e.to_string() });
        }
    };
    let trailing = de.end();
    match layout {
        Layout::Single if trailing.is_err() => read_ndjson(path, state.sink),
        Layout::Single => {
            let keys = std::mem::take(&mut state.other_keys);
            single(keys, state.sink).map(|_| Layout::Single)
        }
        _ if trailing.is_err() => Err(ReadError::Broken { after: state.count, reason: trailing.unwrap_err().to_string() }),
        _ => Ok(layout),
    }
}

/// The top-level object was one record (or a REST page): rebuild it from its
/// keys and hand it on.
fn single<E>(keys: Vec<(String, Box<RawValue>)>, sink: &mut dyn FnMut(RawRecord) -> Result<(), E>) -> Result<(), ReadError<E>> {
    let mut text = String::from("{");
    for (i, (key, value)) in keys.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(&Value::String(key.clone()).to_string());
        text.push(':');
        text.push_str(value.get());
    }
    text.push('}');
    let value: Value = serde_json::from_str(&text).map_err(|e| ReadError::NotJson(e.to_string()))?;
    if let Value::Object(object) = &value
        && is_rest_page(object)
    {
        let items = object["data"]["items"].as_array().cloned().unwrap_or_default();
        for (i, item) in items.into_iter().enumerate() {
            let text = item.to_string();
            let record = RawRecord { text, value: Ok(item), position: i as u64 + 1 };
            sink(record).map_err(ReadError::Sink)?;
        }
        return Ok(());
    }
    sink(RawRecord { text, value: Ok(value), position: 1 }).map_err(ReadError::Sink)
}

fn read_ndjson<E>(path: &Path, sink: &mut dyn FnMut(RawRecord) -> Result<(), E>) -> Result<Layout, ReadError<E>> {
    let mut reader = open(path)?;
    let mut line = String::new();
    let mut number = 0;
    let mut records = 0;
    loop {
        line.clear();
        let read = match reader.read_line(&mut line) {
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::InvalidData && records == 0 => {
                return Err(ReadError::NotJson("it is binary, not text".to_string()));
            }
            Err(e) => return Err(ReadError::Broken { after: records, reason: e.to_string() }),
        };
        if read == 0 {
            break;
        }
        number += 1;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        let value = serde_json::from_str::<Value>(text).map_err(|error| NotJson::Line { line: number, error });
        if records == 0 && value.is_err() && !text.starts_with('{') {
            return Err(ReadError::NotJson(format!("line {number} is not JSON")));
        }
        records += 1;
        sink(RawRecord { text: text.to_string(), value, position: number }).map_err(ReadError::Sink)?;
    }
    Ok(Layout::Ndjson)
}

/// The streaming visitor: the top-level value of a file.
struct Stream<'s, E> {
    sink: &'s mut dyn FnMut(RawRecord) -> Result<(), E>,
    count: u64,
    sink_error: Option<E>,
    layout: Option<Layout>,
    /// Keys of a top-level object that is not a `Records` wrapper.
    other_keys: Vec<(String, Box<RawValue>)>,
}

impl<E> Stream<'_, E> {
    fn deliver(&mut self, raw: &RawValue) -> Result<(), String> {
        self.count += 1;
        let text = raw.get().to_string();
        let value = serde_json::from_str::<Value>(&text).map_err(NotJson::Record);
        let record = RawRecord { text, value, position: self.count };
        (self.sink)(record).map_err(|e| {
            self.sink_error = Some(e);
            "stopped".to_string()
        })
    }
}

impl<'de, E> Visitor<'de> for &mut Stream<'_, E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or array of records")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            self.deliver(&raw).map_err(de::Error::custom)?;
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "Records" && self.layout.is_none() {
                self.layout = Some(Layout::Records);
                map.next_value_seed(RecordsSeed(&mut *self))?;
            } else {
                let value: Box<RawValue> = map.next_value()?;
                self.other_keys.push((key, value));
            }
        }
        Ok(())
    }
}

/// Streams the `Records` array.
struct RecordsSeed<'a, 's, E>(&'a mut Stream<'s, E>);

impl<'de, E> DeserializeSeed<'de> for RecordsSeed<'_, '_, E> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// (value or reason, is JSON, position) of each record.
    type Seen = Vec<(String, bool, u64)>;

    fn records(bytes: &[u8]) -> (Result<Layout, String>, Seen) {
        let dir = std::env::temp_dir().join(format!("tarn-file-test-{:x}", crate::unique_seed()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("input");
        std::fs::write(&path, bytes).unwrap();
        let mut seen = Vec::new();
        let layout = read::<std::io::Error>(&path, &mut |r| {
            seen.push((r.value.as_ref().map(|v| v.to_string()).unwrap_or_else(|e| e.to_string()), r.value.is_ok(), r.position));
            Ok(())
        });
        std::fs::remove_dir_all(&dir).unwrap();
        (layout.map_err(|e| e.to_string()), seen)
    }

    fn gzip(text: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn cloudtrail_records_in_multi_member_gzip() {
        let mut bytes = gzip(r#"{"Records":[{"a":1},"#);
        bytes.extend(gzip(r#"{"a":2}]}"#));
        let (layout, seen) = records(&bytes);
        assert_eq!(layout, Ok(Layout::Records));
        assert_eq!(seen, vec![(r#"{"a":1}"#.into(), true, 1), (r#"{"a":2}"#.into(), true, 2)]);
    }

    #[test]
    fn snyk_v1_array_and_rest_page() {
        let (layout, seen) = records(br#"[{"event":"x"},{"event":"y"}]"#);
        assert_eq!((layout, seen.len()), (Ok(Layout::Array), 2));
        let page = r#"{"data":{"type":"audit_log_search","items":[{"org_id":"o","event":"e","created":"2024-01-01T00:00:00Z"}]},"jsonapi":{"version":"1.0"},"links":{}}"#;
        let (layout, seen) = records(page.as_bytes());
        assert_eq!(layout, Ok(Layout::Single));
        assert_eq!(seen[0].0, r#"{"created":"2024-01-01T00:00:00Z","event":"e","org_id":"o"}"#);
    }

    #[test]
    fn ndjson_with_a_bad_line_delivers_every_line() {
        let (layout, seen) = records(b"{\"a\":1}\n{oops\n\n{\"a\":3}\n");
        assert_eq!(layout, Ok(Layout::Ndjson));
        assert_eq!(seen.iter().map(|s| (s.1, s.2)).collect::<Vec<_>>(), vec![(true, 1), (false, 2), (true, 4)]);
        assert!(seen[1].0.starts_with("line 2 is not JSON"));
    }

    #[test]
    fn a_single_object_is_one_record() {
        let (layout, seen) = records(b"{\n  \"digestEndTime\": \"2024-01-01T00:00:00Z\",\n  \"logFiles\": []\n}\n");
        assert_eq!((layout, seen.len()), (Ok(Layout::Single), 1));
    }

    #[test]
    fn garbage_is_not_json_and_a_cut_file_is_broken() {
        let (layout, seen) = records(b"\x00\x01binary");
        assert!(layout.unwrap_err().starts_with("it is not JSON"));
        assert!(seen.is_empty());
        let whole = gzip(r#"{"Records":[{"a":1},{"a":2},{"a":3}]}"#);
        let (layout, seen) = records(&whole[..whole.len() - 12]);
        assert!(layout.unwrap_err().starts_with("it is cut off or not valid JSON after record"), "");
        assert!(!seen.is_empty() && seen.len() < 3);
    }
}
