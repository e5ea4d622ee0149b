//! Fault injection for the crash tests: pauses at the moments a worker may die
//! (`KEFU_WORKER_PAUSE_BEFORE_COMMIT_MS`, `KEFU_WORKER_PAUSE_BEFORE_ACK_MS`). Compiled
//! only with the `fault-injection` feature, which the test build turns on; in any other
//! build these do nothing and the settings are ignored.

/// Waits `ms` (when non-zero) at the moment named by `before`.
#[cfg(feature = "fault-injection")]
pub async fn pause(ms: u64, before: &'static str) {
    if ms > 0 {
        tracing::warn!(ms, before, "fault injection: pausing");
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

#[cfg(not(feature = "fault-injection"))]
pub async fn pause(_ms: u64, _before: &'static str) {}
