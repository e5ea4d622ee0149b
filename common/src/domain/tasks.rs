//! The task queues' payloads: one `#[serde(tag = "type")]` enum per queue, versioned like
//! the commands. Tasks queued by releases before the tag read through their old,
//! untagged shape.

use serde::{Deserialize, Serialize};

/// A task of the `im-deliveries` queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ImTask {
    /// Send a question's pending IM deliveries, in commit order.
    DeliverQuestionV1 { question_id: String },
}

/// A task of the `http-deliveries` queue (webhooks and push).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum HttpTask {
    /// Send one webhook or push delivery.
    DeliverV1 { id: String },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ImWire {
    Tagged(ImTask),
    Untagged { question_id: String },
}

#[derive(Deserialize)]
#[serde(untagged)]
enum HttpWire {
    Tagged(HttpTask),
    Untagged { id: String },
}

/// A task's bytes: the tagged form, or (`untagged`) the shape before the tag.
fn read<Wire: serde::de::DeserializeOwned, Task>(
    bytes: &[u8],
    from_wire: impl FnOnce(Wire) -> Task,
) -> Result<Task, serde_json::Error> {
    serde_json::from_slice(bytes).map(from_wire)
}

impl ImTask {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("tasks serialize")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        read(bytes, |wire| match wire {
            ImWire::Tagged(task) => task,
            ImWire::Untagged { question_id } => ImTask::DeliverQuestionV1 { question_id },
        })
    }
}

impl HttpTask {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("tasks serialize")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        read(bytes, |wire| match wire {
            HttpWire::Tagged(task) => task,
            HttpWire::Untagged { id } => HttpTask::DeliverV1 { id },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_carry_their_type_and_old_ones_still_read() {
        let task = ImTask::DeliverQuestionV1 {
            question_id: "q1".into(),
        };
        let text = String::from_utf8(task.to_bytes()).unwrap();
        assert_eq!(text, r#"{"type":"DeliverQuestionV1","question_id":"q1"}"#);
        assert_eq!(ImTask::from_bytes(text.as_bytes()).unwrap(), task);
        assert_eq!(ImTask::from_bytes(br#"{"question_id":"q1"}"#).unwrap(), task);
        let http = HttpTask::DeliverV1 { id: "msg_1".into() };
        assert_eq!(HttpTask::from_bytes(&http.to_bytes()).unwrap(), http);
        assert_eq!(HttpTask::from_bytes(br#"{"id":"msg_1"}"#).unwrap(), http);
        assert!(ImTask::from_bytes(br#"{"type":"Nope"}"#).is_err());
    }
}
