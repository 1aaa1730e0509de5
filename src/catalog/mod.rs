//! The catalog: what the lake's tables are shown as and kept for. Event data
//! stores (CloudTrail Lake's named, id-addressed views over tables, from
//! `tarn.yml` and the lake's own catalog file), the channels that put
//! events into them, the retention they imply,
//! the compaction of their files, and the DDL that registers the tables in
//! other engines.

pub mod channels;
pub mod ddl;
pub mod eds;
pub mod optimize;
pub mod retention;
