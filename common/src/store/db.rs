//! Database connection and the one place constraint violations are recognised.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, SqlErr};

/// Connects to the configured database. SQLite gets WAL and a single connection: one
/// writer at a time is what SQLite allows, and one connection avoids `SQLITE_BUSY` on
/// read-to-write upgrades inside transactions.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    connect_with(url, Duration::from_secs(5)).await
}

/// [`connect`] with the time a caller waits for a pooled connection before the database
/// counts as unavailable (`KEFU_DB_ACQUIRE_TIMEOUT_MS`).
pub async fn connect_with(url: &str, acquire_timeout: Duration) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    let url = url.replacen("mariadb:", "mysql:", 1);
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(if sqlite { 1 } else { 16 })
        .min_connections(1)
        .connect_timeout(acquire_timeout.min(Duration::from_secs(10)))
        .acquire_timeout(acquire_timeout)
        .sqlx_logging(false);
    let db = Database::connect(options).await?;
    if sqlite {
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
        db.execute_unprepared("PRAGMA busy_timeout=5000").await?;
    }
    Ok(db)
}

/// True when the error is a unique or primary-key violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// True when the database could not be reached (connection lost or refused, pool
/// exhausted or closed): the caller may retry later. Anything else is a bug or a
/// constraint and is not.
pub fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::RuntimeErr;
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e,
                Sqlx::Io(_) | Sqlx::Tls(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed
            )
        }
        DbErr::Conn(_) => true,
        _ => false,
    }
}
