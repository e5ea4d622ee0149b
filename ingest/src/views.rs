//! JSON shapes of the spec's list responses.

use kefu_common::entity::{message, question, user};
use serde_json::{json, Value};

/// Seconds as the spec's `< float >` timestamps.
pub fn secs(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// question/list and serv/<serv_id>/tasks items.
pub fn agent_question(q: &question::Model, users: &[user::Model]) -> Value {
    let user = users.iter().find(|u| u.app_id == q.app_id && u.user_id == q.user_id);
    json!({
        "question_id": q.id,
        "user_id": q.user_id,
        "user_image_url": user.and_then(|u| u.user_image_url.clone()),
        "user_name": user.map(|u| u.user_name.clone()),
        "title": q.title,
        "status": q.status,
        "labels": serde_json::from_str::<Value>(&q.labels).unwrap_or(Value::Array(vec![])),
        "last_mess_text": q.last_mess_text,
        "last_mess_timestamp": q.last_mess_timestamp.map(secs),
        "last_mess_sender": q.last_mess_sender,
        "last_mess_sender_type": q.last_mess_sender_type,
        "timestamp": secs(q.created_at),
    })
}

/// Which fields a user/<user_id>/… list shows.
#[derive(Clone, Copy)]
pub enum UserList {
    Waits,
    Tasks,
    Overs,
    Alls,
}

pub fn user_question(q: &question::Model, list: UserList) -> Value {
    let mut item = json!({ "question_id": q.id, "timestamp": secs(q.created_at), "title": q.title });
    match list {
        UserList::Waits => {}
        UserList::Tasks | UserList::Overs => item["serv_id"] = json!(q.serv_id),
        UserList::Alls => {
            item["serv_id"] = json!(q.serv_id);
            item["status"] = json!(q.status);
        }
    }
    item
}

pub fn message(m: &message::Model) -> Value {
    let mut item = json!({
        "message_id": m.id,
        "sender": m.sender,
        "sender_type": m.sender_type,
        "timestamp": secs(m.created_at),
        "type": m.msg_type,
    });
    match m.msg_type {
        1 => {
            item["audio_url"] = json!(m.audio_url);
            item["audio_len"] = json!(m.audio_len);
        }
        2 => item["image_url"] = json!(m.image_url),
        3 => item["text"] = json!(m.text),
        _ => item["action"] = json!(m.action),
    }
    item
}
