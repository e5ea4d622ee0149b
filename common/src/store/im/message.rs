//! What Kefu sends to the IM: the body of `v4/desk_http_svc/send_msg` for one message,
//! and how the IM's answers are told apart (delivered, retry, give up).
//!
//! Element choice: text goes as `TIMTextElem`; images, audio and notifications as
//! `TIMCustomElem` whose `Data` is the origin's push payload (`push_type` `service`,
//! question_id, message_id, sender, sender_type, timestamp, type and its fields), so an
//! app parses one format whatever the kind, and no IM-side media upload is needed (the
//! IM's own TIMImageElem / TIMSoundElem want its UUIDs and sizes). `Desc` carries the
//! preview the IM shows in notifications (`[图片]`, `[语音]`, `[通知]`).

use serde_json::{json, Value};

use crate::domain::events::MessageFacts;
use crate::domain::MessageType;

/// The IM refuses bodies over 12 KB (93000).
pub const MAX_BODY_BYTES: usize = 12 * 1024;

/// The origin's push payload of a message.
pub fn push_payload(question_id: &str, m: &MessageFacts) -> Value {
    let mut p = json!({
        "push_type": "service",
        "question_id": question_id,
        "message_id": m.message_id,
        "sender": m.sender,
        "sender_type": m.sender_type,
        "timestamp": m.timestamp as f64 / 1000.0,
        "type": m.msg_type,
    });
    match m.msg_type {
        MessageType::Text => p["text"] = json!(m.text),
        MessageType::Image => p["image_url"] = json!(m.image_url),
        MessageType::Audio => {
            p["audio_url"] = json!(m.audio_url);
            p["audio_len"] = json!(m.audio_len);
        }
        MessageType::Notification => p["action"] = json!(m.action),
    }
    p
}

/// `MsgRandom`: fixed per message (the IM de-duplicates retries by it).
pub fn msg_random(message_id: &str) -> u32 {
    use sha2::Digest;
    let d = sha2::Sha256::digest(message_id.as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Who the message goes to: the question's IM session, or the user's account.
pub enum Recipient<'a> {
    Session(&'a str),
    Account { from: &'a str, to: &'a str },
}

impl<'a> Recipient<'a> {
    /// The question's IM session when question/new gave one, else the app's
    /// customer-service account to the user.
    pub fn of(
        q: &'a crate::store::entity::question::Model,
        im: &'a crate::store::entity::app_im_settings::Model,
    ) -> Self {
        match &q.im_session_id {
            Some(session) => Recipient::Session(session),
            None => Recipient::Account {
                from: &im.from_account,
                to: &q.user_id,
            },
        }
    }
}

/// The send_msg body for one message.
pub fn send_msg_body(question_id: &str, m: &MessageFacts, to: &Recipient<'_>) -> Value {
    let element = match m.msg_type {
        MessageType::Text => {
            json!({ "MsgType": "TIMTextElem", "MsgContent": { "Text": m.text.clone().unwrap_or_default() } })
        }
        kind => {
            let desc = match kind {
                MessageType::Image => "[图片]",
                MessageType::Audio => "[语音]",
                _ => "[通知]",
            };
            json!({ "MsgType": "TIMCustomElem", "MsgContent": {
                "Data": push_payload(question_id, m).to_string(), "Desc": desc } })
        }
    };
    let mut body = json!({
        "MsgRandom": msg_random(&m.message_id),
        "MsgBody": [element],
        "CloudCustomData": json!({ "question_id": question_id, "message_id": m.message_id }).to_string(),
    });
    match to {
        Recipient::Session(id) => body["SessionId"] = json!(id),
        Recipient::Account { from, to } => {
            body["FromAccount"] = json!(from);
            body["ToAccount"] = json!(to);
        }
    }
    // Notifications, and messages the agent excluded, do not start or reset the IM's
    // user-reply countdown.
    if m.msg_type == MessageType::Notification || m.exclude_from_timeout {
        body["ExcludeFromUserRespTimeout"] = json!(1);
    }
    body
}

/// The size of the message's send_msg body when the IM would refuse it (over
/// [`MAX_BODY_BYTES`]): such a message could never be delivered.
pub fn too_large(question_id: &str, m: &MessageFacts, to: &Recipient<'_>) -> Option<usize> {
    let size = send_msg_body(question_id, m, to).to_string().len();
    (size > MAX_BODY_BYTES).then_some(size)
}

/// What an IM answer means for the delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Worth another try: a connection error, a timeout, HTTP 5xx or 429, 141002, a rate
    /// limit, or a code not known to be final.
    Retry(String),
    /// Trying again cannot help (malformed, too long, no such session…): marked failed.
    Fail(String),
    /// The app's IM settings are wrong (UserSig, admin rights): failed and reported.
    BadSettings(String),
}

/// Reads an answer: the HTTP status, then the body's `ErrorCode`.
pub fn verdict(http_status: u16, body: &str) -> Verdict {
    if http_status == 429 || http_status >= 500 {
        return Verdict::Retry(format!("HTTP {http_status}"));
    }
    if !(200..300).contains(&http_status) {
        return Verdict::Fail(format!("HTTP {http_status}"));
    }
    let Ok(answer) = serde_json::from_str::<Value>(body) else {
        return Verdict::Retry("an answer that is not JSON".into());
    };
    let code = answer["ErrorCode"].as_i64().unwrap_or(-1);
    let info = answer["ErrorInfo"].as_str().unwrap_or("");
    let why = format!("ErrorCode {code}: {info}");
    match code {
        0 => Verdict::Delivered,
        // 90009: the identifier is not an IM administrator; 70001 / 70009 and the other
        // 70xxx: the UserSig (the key or sdkappid is wrong).
        90009 | 70001..=70049 | 70051..=70999 => Verdict::BadSettings(why),
        90001 | 90005 | 90007 | 93000 | 141004 | 141005 => Verdict::Fail(why),
        _ => Verdict::Retry(why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NotifyAction, SenderType};

    fn message(kind: MessageType) -> MessageFacts {
        MessageFacts {
            message_id: "01a2295982fc0000bb6e2122".into(),
            sender: "alice".into(),
            sender_type: SenderType::Agent,
            msg_type: kind,
            text: (kind == MessageType::Text).then(|| "您好".to_owned()),
            action: (kind == MessageType::Notification).then_some(NotifyAction::Serve),
            image_url: (kind == MessageType::Image).then(|| "https://kefu.example.com/media/x.jpg".to_owned()),
            audio_url: None,
            audio_len: None,
            timestamp: 1_700_000_000_123,
            exclude_from_timeout: false,
        }
    }

    #[test]
    fn text_and_notification_bodies() {
        let to = Recipient::Account {
            from: "@customer_service_account",
            to: "user45",
        };
        let text = send_msg_body("q1", &message(MessageType::Text), &to);
        assert_eq!(text["MsgBody"][0]["MsgType"], "TIMTextElem");
        assert_eq!(text["MsgBody"][0]["MsgContent"]["Text"], "您好");
        assert_eq!(text["FromAccount"], "@customer_service_account");
        assert_eq!(text["ToAccount"], "user45");
        assert!(text.get("ExcludeFromUserRespTimeout").is_none());
        let excluded = MessageFacts {
            exclude_from_timeout: true,
            ..message(MessageType::Text)
        };
        assert_eq!(send_msg_body("q1", &excluded, &to)["ExcludeFromUserRespTimeout"], 1);
        let custom: Value = serde_json::from_str(text["CloudCustomData"].as_str().unwrap()).unwrap();
        assert_eq!(custom["message_id"], "01a2295982fc0000bb6e2122");
        let note = send_msg_body("q1", &message(MessageType::Notification), &Recipient::Session("s-1"));
        assert_eq!(note["SessionId"], "s-1");
        assert_eq!(note["ExcludeFromUserRespTimeout"], 1);
        let data: Value = serde_json::from_str(note["MsgBody"][0]["MsgContent"]["Data"].as_str().unwrap()).unwrap();
        assert_eq!(
            (
                data["push_type"].as_str(),
                data["action"].as_i64(),
                data["type"].as_i64()
            ),
            (Some("service"), Some(1), Some(4))
        );
        assert_eq!(text["MsgRandom"], note["MsgRandom"], "fixed per message id");
    }

    #[test]
    fn texts_over_the_ims_limit_are_told() {
        let to = Recipient::Session("s-1");
        let with = |text: String| MessageFacts {
            text: Some(text),
            ..message(MessageType::Text)
        };
        assert_eq!(too_large("q1", &with("长".repeat(4000)), &to), None, "12,000 bytes fit");
        let size = too_large("q1", &with("😀".repeat(4000)), &to).expect("16,000 bytes do not");
        assert!(size > MAX_BODY_BYTES);
    }

    #[test]
    fn answers_are_told_apart() {
        assert_eq!(
            verdict(200, r#"{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0}"#),
            Verdict::Delivered
        );
        assert!(matches!(verdict(200, r#"{"ErrorCode":141002}"#), Verdict::Retry(_)));
        assert!(matches!(verdict(200, r#"{"ErrorCode":70050}"#), Verdict::Retry(_)));
        assert!(matches!(verdict(503, ""), Verdict::Retry(_)));
        assert!(matches!(verdict(429, ""), Verdict::Retry(_)));
        assert!(matches!(verdict(200, r#"{"ErrorCode":141005}"#), Verdict::Fail(_)));
        assert!(matches!(verdict(200, r#"{"ErrorCode":93000}"#), Verdict::Fail(_)));
        assert!(matches!(verdict(404, ""), Verdict::Fail(_)));
        assert!(matches!(
            verdict(200, r#"{"ErrorCode":70009}"#),
            Verdict::BadSettings(_)
        ));
        assert!(matches!(
            verdict(200, r#"{"ErrorCode":90009}"#),
            Verdict::BadSettings(_)
        ));
    }
}
