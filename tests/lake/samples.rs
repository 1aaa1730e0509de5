//! Reads `samples.sql` beside this file: the Lake-style queries, by name.
//! Shared by `tests/lake_samples.rs` and `benches/query.rs`.

/// (name, query) of each `-- name:` section, in file order.
pub fn samples() -> Vec<(String, String)> {
    include_str!("samples.sql")
        .split("-- name: ")
        .skip(1)
        .map(|part| {
            let (name, query) = part.split_once('\n').expect("a name line, then the query");
            (name.trim().to_string(), query.trim().to_string())
        })
        .collect()
}
