//! What an agent's stream says of a question offered to it (`event: offer`) or
//! transferred to it (`event: transferred`), from the event's data.

use serde_json::{json, Value};

/// A question offered to an agent, or transferred to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    pub serv_id: String,
    pub event: &'static str,
    pub data: Value,
}

impl Handover {
    pub fn of(event_type: &str, data: &Value) -> Option<Handover> {
        let q = &data["question"];
        let base = |extra: Value| {
            let mut d = json!({
                "question_id": q["question_id"],
                "identify": data["identify"],
                "user_id": q["user_id"],
                "title": q["title"],
            });
            d.as_object_mut()?.extend(extra.as_object()?.clone());
            Some(d)
        };
        match event_type {
            "kefu.question.offered" => Some(Handover {
                serv_id: data["serv_id"].as_str()?.to_owned(),
                event: "offer",
                data: base(json!({ "expires_at": data["expires_at"].as_f64()? / 1000.0 }))?,
            }),
            "kefu.question.transferred" => Some(Handover {
                serv_id: q["serv_id"].as_str()?.to_owned(),
                event: "transferred",
                data: base(json!({ "from_serv_id": data["from_serv_id"], "note": data["note"] }))?,
            }),
            _ => None,
        }
    }
}
