use super::*;
use std::io::Write;

/// What the reader handed on: ("R"|"B", text, position) per piece.
type Seen = Vec<(&'static str, String, u64)>;

fn pieces(bytes: &[u8], max_record: usize) -> (Result<ReadSummary, String>, Seen) {
    let mut seen = Vec::new();
    let input = open_bytes(bytes);
    let whole = bytes.starts_with(&[0x1f, 0x8b]);
    let result = read_from::<io::Error>(input, whole, max_record, &mut |piece| {
        seen.push(match piece {
            Piece::Record { bytes, position } => ("R", String::from_utf8_lossy(bytes).into_owned(), position),
            Piece::Broken { bytes, position, reason, size } => {
                assert!(bytes.len() as u64 <= size && bytes.len() <= KEPT_PREFIX, "a broken piece keeps at most its prefix");
                ("B", format!("{} | {reason}", String::from_utf8_lossy(bytes)), position)
            }
        });
        Ok(())
    });
    (result.map_err(|e| e.to_string()), seen)
}

/// Bytes as `open` would present them: gunzipped if gzip.
fn open_bytes(bytes: &[u8]) -> Box<dyn Read> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(MultiGzDecoder::new(io::Cursor::new(bytes.to_vec())))
    } else {
        Box::new(io::Cursor::new(bytes.to_vec()))
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn kinds(seen: &Seen) -> String {
    seen.iter().map(|s| s.0).collect()
}

fn event(n: usize) -> String {
    format!(r#"{{"eventVersion":"1.08","eventID":"e{n}","eventName":"Get"}}"#)
}

fn records_file(events: &[String]) -> String {
    format!(r#"{{"Records":[{}]}}"#, events.join(","))
}

#[test]
fn cloudtrail_records_in_multi_member_gzip() {
    let mut bytes = gzip(br#"{"Records":[{"a":1},"#);
    bytes.extend(gzip(br#"{"a":2}]}"#));
    let (result, seen) = pieces(&bytes, DEFAULT_MAX_RECORD);
    assert_eq!(result.unwrap().pieces, 2);
    assert_eq!(seen, vec![("R", r#"{"a":1}"#.into(), 1), ("R", r#"{"a":2}"#.into(), 2)]);
}

#[test]
fn two_gzip_members_each_a_whole_document_are_both_read() {
    let first: Vec<String> = (0..5).map(event).collect();
    let second: Vec<String> = (5..10).map(event).collect();
    let mut bytes = gzip(records_file(&first).as_bytes());
    bytes.extend(gzip(records_file(&second).as_bytes()));
    let (result, seen) = pieces(&bytes, DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RRRRRRRRRR");
    assert_eq!(seen.iter().map(|s| s.2).collect::<Vec<_>>(), (1..=10).collect::<Vec<u64>>());
}

#[test]
fn snyk_v1_array_and_rest_page() {
    let (_, seen) = pieces(br#"[{"event":"x"},{"event":"y"}]"#, DEFAULT_MAX_RECORD);
    assert_eq!(kinds(&seen), "RR");
    let page = r#"{"data":{"type":"audit_log_search","items":[{"org_id":"o","event":"e"}, {"event":"f"}]},"jsonapi":{"version":"1.0"},"links":{}}"#;
    let (_, seen) = pieces(page.as_bytes(), DEFAULT_MAX_RECORD);
    assert_eq!(seen, vec![("R", r#"{"org_id":"o","event":"e"}"#.into(), 1), ("R", r#"{"event":"f"}"#.into(), 2)]);
}

#[test]
fn ndjson_with_a_bad_line_delivers_every_line() {
    let (result, seen) = pieces(b"{\"a\":1}\n{oops\n\n{\"a\":3}\n", DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(seen.iter().map(|s| (s.0, s.2)).collect::<Vec<_>>(), vec![("R", 1), ("B", 2), ("R", 4)]);
    assert!(seen[1].1.starts_with("{oops | not JSON"), "{}", seen[1].1);
}

#[test]
fn ndjson_line_with_invalid_utf8_is_one_record() {
    let (result, seen) = pieces(b"{\"a\":1}\n{\"a\":\"\xff\xfe\"}\n{\"a\":3}\n", DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RRR");
    assert_eq!(seen[2], ("R", "{\"a\":3}".into(), 3));
}

#[test]
fn a_single_object_is_one_record() {
    let (_, seen) = pieces(b"{\n  \"digestEndTime\": \"2024-01-01T00:00:00Z\",\n  \"logFiles\": []\n}\n", DEFAULT_MAX_RECORD);
    assert_eq!(kinds(&seen), "R");
}

#[test]
fn garbage_is_not_json() {
    let (result, seen) = pieces(b"\x00\x01binary", DEFAULT_MAX_RECORD);
    assert!(result.unwrap_err().starts_with("it is not JSON"));
    assert!(seen.is_empty());
    let (result, seen) = pieces(b"  \n", DEFAULT_MAX_RECORD);
    assert_eq!((result.unwrap().pieces, seen.len()), (0, 0));
}

#[test]
fn a_cut_gzip_is_cut_short() {
    let events: Vec<String> = (0..50).map(event).collect();
    let whole = gzip(records_file(&events).as_bytes());
    let (result, seen) = pieces(&whole[..whole.len() - 30], DEFAULT_MAX_RECORD);
    assert!(result.unwrap_err().contains("cut off"));
    // The records complete before the cut are handed on, though the read
    // that failed is the file's first.
    assert!(!seen.is_empty() && seen.len() < 50, "{}", seen.len());
    assert!(seen.iter().enumerate().all(|(i, s)| s.0 == "R" && s.1 == event(i)));
}

#[test]
fn cut_json_is_cut_short() {
    let events: Vec<String> = (0..3).map(event).collect();
    let text = records_file(&events);
    for cut in [text.len() - 1, text.len() - 2, text.len() - 10, 20] {
        let (result, _) = pieces(&text.as_bytes()[..cut], DEFAULT_MAX_RECORD);
        assert!(result.unwrap_err().contains("cut off"), "cut at {cut}");
    }
    let (result, seen) = pieces(b"{\"a\":1}\n{\"b\":", DEFAULT_MAX_RECORD);
    assert!(result.unwrap_err().contains("cut off"));
    assert_eq!(kinds(&seen), "R");
}

#[test]
fn invalid_utf8_and_nan_are_single_records() {
    let mut events: Vec<String> = (0..8).map(event).collect();
    events[2] = r#"{"eventVersion":"1.08","eventID":"bad","x":NaN}"#.into();
    let mut bytes = records_file(&events).into_bytes();
    let at = memmem::find(&bytes, b"e5").unwrap();
    bytes[at + 1] = 0xff;
    let (result, seen) = pieces(&bytes, DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RRRRRRRR");
}

#[test]
fn an_unterminated_string_resynchronises_at_the_next_record() {
    let mut events: Vec<String> = (0..8).map(event).collect();
    events[3] = r#"{"eventVersion":"1.08","eventID":"e3,"eventName":"Get"}"#.into();
    let (result, seen) = pieces(records_file(&events).as_bytes(), DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RRRBRRRR", "{seen:?}");
    assert_eq!(seen[4].1, event(4));
    assert_eq!(seen[4].2, 5);
}

#[test]
fn unbalanced_brackets_resynchronise() {
    let mut events: Vec<String> = (0..6).map(event).collect();
    events[1] = r#"{"eventVersion":"1.08","x":[1,2}"#.into();
    let (result, seen) = pieces(records_file(&events).as_bytes(), DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RBRRRR", "{seen:?}");
    // Before any good record: the `},{` boundary.
    let text = r#"[{"a":[1},{"a":2},{"a":3}]"#;
    let (result, seen) = pieces(text.as_bytes(), DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "BRR", "{seen:?}");
}

#[test]
fn a_second_records_key_is_read_too() {
    let text = format!(r#"{{"Records":[{}],"Other":{{"x":[1]}},"Records":[{}]}}"#, event(1), event(2));
    let (result, seen) = pieces(text.as_bytes(), DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RR");
}

#[test]
fn several_documents_in_one_file_are_all_read() {
    let text = format!("{}\n{}{}", records_file(&[event(1), event(2)]), records_file(&[event(3)]), records_file(&[event(4)]));
    let (result, seen) = pieces(text.as_bytes(), DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RRRR");
}

#[test]
fn a_records_key_that_is_not_first_is_still_a_wrapper() {
    let text = format!(r#"{{"Other":1,"Records":[{},{}]}}"#, event(1), event(2));
    let (_, seen) = pieces(text.as_bytes(), DEFAULT_MAX_RECORD);
    assert_eq!(seen.iter().map(|s| s.1.clone()).collect::<Vec<_>>(), vec![event(1), event(2)]);
}

#[test]
fn a_record_over_the_maximum_is_broken_with_its_size() {
    let big = format!(r#"{{"eventVersion":"1.08","blob":"{}"}}"#, "x".repeat(3 * READ_SIZE));
    let events = vec![event(1), big.clone(), event(3)];
    let (result, seen) = pieces(records_file(&events).as_bytes(), 1 << 20);
    result.unwrap();
    assert_eq!(kinds(&seen), "RBR");
    assert!(seen[1].1.contains(&format!("the record is {} bytes, over the maximum record size", big.len())), "{}", seen[1].1);
    // The same record under a larger maximum lands.
    let (_, seen) = pieces(records_file(&events).as_bytes(), 8 << 20);
    assert_eq!(kinds(&seen), "RRR");
}

#[test]
fn records_straddling_reads_are_framed() {
    let events: Vec<String> = (0..60_000).map(|n| format!(r#"{{"eventVersion":"1.08","n":{n},"s":"a\"b\\"}}"#)).collect();
    let text = records_file(&events);
    assert!(text.len() > 2 * READ_SIZE);
    let (result, seen) = pieces(&gzip(text.as_bytes()), 4096);
    assert_eq!(result.unwrap().bytes, text.len() as u64);
    assert_eq!(seen.len(), 60_000);
    assert!(seen.iter().zip(&events).all(|(s, e)| s.0 == "R" && &s.1 == e));
}

#[test]
fn trailing_garbage_is_a_broken_piece_not_a_cut() {
    let text = format!("{}\nxyz", records_file(&[event(1)]));
    let (result, seen) = pieces(text.as_bytes(), DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RB");
    assert_eq!(seen[1].2, 2, "the line it is on");
}

#[test]
fn a_broken_last_record_of_a_whole_gzip_is_a_broken_piece_not_a_cut() {
    let mut events: Vec<String> = (0..5).map(event).collect();
    events[4] = r#"{"eventVersion":"1.08","eventID":"e4,"eventName":"Get"}"#.into();
    let (result, seen) = pieces(&gzip(records_file(&events).as_bytes()), DEFAULT_MAX_RECORD);
    result.unwrap();
    assert_eq!(kinds(&seen), "RRRRB", "{seen:?}");
    // The same bytes uncompressed could be a copy cut short: refused whole.
    let (result, _) = pieces(records_file(&events).as_bytes(), DEFAULT_MAX_RECORD);
    assert!(result.unwrap_err().contains("cut off"));
}

#[test]
/// Found by the fuzzer (tests/fuzz.rs): a wrapper cut after a comma between
/// its keys looped forever instead of saying the file was cut short.
fn regression_a_wrapper_cut_after_a_comma_ends_instead_of_looping() {
    for tail in [", ", ",", ",\n\n  ", ",   \t"] {
        let text = format!(r#"{{"Records":[{}]{tail}"#, event(1));
        let (result, seen) = pieces(text.as_bytes(), 1 << 20);
        assert_eq!(kinds(&seen), "R", "{text}");
        let error = result.unwrap_err();
        assert!(error.contains("ends inside its top-level object"), "{error}");
    }
}
