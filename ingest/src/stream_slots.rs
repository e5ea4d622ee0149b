//! How many live streams each session and each user holds open on this ingest, so one
//! session cannot take a file descriptor and a task per stream without bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kefu_common::domain::outcome::ErrorCode;

use crate::realtime::Viewer;
use crate::ApiError;

/// How many streams one session, and one user, may hold open on this ingest.
#[derive(Debug, Clone, Copy)]
pub struct StreamCaps {
    pub per_session: usize,
    pub per_user: usize,
}

/// Open streams per session and per user, on this ingest.
#[derive(Clone, Default)]
pub struct Slots(Arc<Mutex<HashMap<String, usize>>>);

/// A stream's place in [`Slots`], given back when the stream ends.
pub struct Slot {
    slots: Slots,
    keys: [String; 2],
}

impl Slots {
    pub(crate) fn take(&self, viewer: &Viewer, caps: &StreamCaps) -> Result<Slot, ApiError> {
        let keys = [
            format!("session:{}", viewer.digest.as_str()),
            format!("user:{}:{}", viewer.app_id, viewer.user_id),
        ];
        let mut open = self.0.lock().expect("stream slots");
        let (session_n, user_n) = (
            open.get(&keys[0]).copied().unwrap_or(0),
            open.get(&keys[1]).copied().unwrap_or(0),
        );
        if session_n >= caps.per_session || user_n >= caps.per_user {
            let (what, max) = if session_n >= caps.per_session {
                ("this session", caps.per_session)
            } else {
                ("this user", caps.per_user)
            };
            return Err(ApiError::field(
                ErrorCode::TooManyStreams,
                "session",
                format!("{what} already holds {max} live streams here; close one first"),
            ));
        }
        for key in &keys {
            *open.entry(key.clone()).or_insert(0) += 1;
        }
        Ok(Slot {
            slots: self.clone(),
            keys,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.0.lock().expect("stream slots");
        for key in &self.keys {
            if let Some(n) = open.get_mut(key) {
                *n -= 1;
                if *n == 0 {
                    open.remove(key);
                }
            }
        }
    }
}
