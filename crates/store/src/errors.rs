//! Database errors by class: what a caller can retry and what it cannot. Services map the
//! classes to gRPC codes in their `error.rs`.

/// What a database error means for the call that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorClass {
    /// The database cannot be reached or is not accepting work right now (connection refused
    /// or lost, pool timed out, server shutting down or out of connections): retry later.
    Unavailable,
    /// A concurrent transaction got in the way (serialization failure, deadlock): retry.
    Conflict,
    /// Anything else (a bug, a constraint, a corrupt row): retrying will not help.
    Other,
}

impl DbErrorClass {
    pub fn retryable(self) -> bool {
        !matches!(self, DbErrorClass::Other)
    }
}

/// The class of a database error.
pub fn classify(e: &sqlx::Error) -> DbErrorClass {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => DbErrorClass::Unavailable,
        sqlx::Error::Database(d) => match d.code().as_deref() {
            // serialization_failure, deadlock_detected
            Some("40001" | "40P01") => DbErrorClass::Conflict,
            // Class 08 (connection exception); admin_shutdown, crash_shutdown,
            // cannot_connect_now; too_many_connections; read_only_sql_transaction (a
            // failover's old primary).
            Some(c)
                if c.starts_with("08")
                    || matches!(c, "57P01" | "57P02" | "57P03" | "53300" | "25006") =>
            {
                DbErrorClass::Unavailable
            }
            _ => DbErrorClass::Other,
        },
        _ => DbErrorClass::Other,
    }
}
