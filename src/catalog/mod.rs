//! The catalog: what the lake's tables are shown as and kept for. Event data
//! stores (CloudTrail Lake's named, id-addressed views over tables, from
//! `tarn.yml` and the lake's own catalog file) and the retention they imply.

pub mod eds;
pub mod retention;
