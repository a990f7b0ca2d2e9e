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

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A server error with a SQLSTATE, as PostgreSQL would send it.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "error {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "error"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn db(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Sqlstate(code)))
    }

    #[test]
    fn errors_are_classed_by_what_a_retry_can_do() {
        use DbErrorClass::*;
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(classify(&sqlx::Error::Io(refused)), Unavailable);
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), Unavailable);
        assert_eq!(classify(&sqlx::Error::PoolClosed), Unavailable);
        for code in ["08006", "08001", "57P01", "57P03", "53300"] {
            assert_eq!(classify(&db(code)), Unavailable, "{code}");
        }
        assert_eq!(classify(&db("40001")), Conflict);
        assert_eq!(classify(&db("40P01")), Conflict);
        // A bug or bad data: NUL in text, a unique key, a syntax error, a missing row.
        for code in ["22021", "23505", "42601"] {
            assert_eq!(classify(&db(code)), Other, "{code}");
        }
        assert_eq!(classify(&sqlx::Error::RowNotFound), Other);
        assert!(Unavailable.retryable() && Conflict.retryable() && !Other.retryable());
    }
}
