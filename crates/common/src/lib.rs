//! shopsync-common: the vocabulary every shopsync crate shares.
//!
//! Pure domain models and rules, no I/O: the sync tasks and what each one writes, typed task
//! parameters, job queue entries and their statuses, recurrence (weekdays, daily windows,
//! intervals, date formulas, cron, per-entry time zones with DST handling), retry back-off and
//! the status transitions after a run.

pub mod cue;
pub mod date_formula;
pub mod error;
pub mod job;
pub mod params;
pub mod recurrence;
pub mod report;
pub mod shop;
pub mod task;
pub mod text;

pub use error::ValidationError;
pub use job::{
    EntrySpec, FinishedRun, JobStatus, Priority, RetryPolicy, RunOutcome, RunStatus, Transition,
    after_run,
};
pub use params::TaskParams;
pub use recurrence::{CatchUp, Recurrence, Rule, Schedule, Window};
pub use report::{RecordError, RunFailure, RunReport};
pub use task::{Resource, Service, Task};
pub use text::{quoted, validate_text, validate_texts};
