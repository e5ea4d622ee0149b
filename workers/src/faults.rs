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

/// Says so at start when a pause is configured in a build that ignores it.
pub fn warn_if_ignored(config: &kefu_common::infra::config::Config) {
    let configured = config.worker_pause_before_ack_ms > 0 || config.worker_pause_before_commit_ms > 0;
    if configured && cfg!(not(feature = "fault-injection")) {
        tracing::warn!("KEFU_WORKER_PAUSE_BEFORE_* are set, but this build has no fault-injection feature: ignored");
    }
}
