//! System tables: what tarn itself writes beside the sources' rows —
//! quarantined records, drop-off alarms and detection alerts. Each is a lake
//! table with a fixed schema, partitioned by when its row was written.

mod alarms;
mod alerts;
mod quarantine;

pub use alarms::{ALARMS_TABLE, AlarmRow, alarms_batch, alarms_schema};
pub use alerts::{ALERTS_TABLE, AlertRow, alerts_batch, alerts_schema};
pub(crate) use quarantine::quarantine_batch;
pub use quarantine::{QUARANTINE_TABLE, QuarantineRow, quarantine_schema};
