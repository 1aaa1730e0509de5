//! Formats: bytes in, framed records out. A reader here knows how records are
//! laid out in a file or an API page (gzip members, `{"Records":[...]}`,
//! arrays, NDJSON, Snyk REST pages) and nothing of schemas, lakes or
//! sources, so every source reads its bytes through the same code.

pub mod json;
