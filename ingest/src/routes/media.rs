//! Pictures and voice: send_image, send_audio, and the files they stored.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use kefu_common::domain::command::Command;
use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::infra::media::parse_key;
use serde_json::{json, Value};

use crate::auth::Caller;
use crate::dispatch::dispatch;
use crate::input::{Input, PathParam, Valid};
use crate::media::{decode_base64, sniff_audio, sniff_jpeg, store};
use crate::requests::{SendAudio, SendImage};
use crate::routes::question::{assigned, may_write, sender};
use crate::{ApiError, AppState};

/// The URL a stored file is served at.
pub fn media_url(state: &AppState, key: &str) -> String {
    format!("{}/{key}", state.config.media_base())
}

/// A picture (发送问题聊天图片消息): `image` is a base64 JPEG. Answers the message id and
/// the `image_url` serving the same bytes.
#[utoipa::path(post, path = "/v1/question/{question_id}/message/send_image", operation_id = "send_image", tag = "messages",
    params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
    request_body(content(
        (SendImage = "application/json"),
        (SendImage = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Sent", body = crate::views::ImageSent),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn send_image(
    State(state): State<AppState>,
    PathParam(id): PathParam<ObjectId>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<SendImage>,
) -> Result<Response, ApiError> {
    let sender_type = req.sender_type.0;
    let actor = sender(&caller, sender_type, &req.sender)?;
    may_write(&state, &id, &actor).await?;
    let bytes = decode_base64("image", &req.image, state.config.media_max_bytes)?;
    let kind = sniff_jpeg("image", &bytes)?;
    let media_key = store(&state, kind, bytes).await?;
    let url = media_url(&state, &media_key);
    let message_id = state.ids.next_id();
    let mut out = assigned(&[("message_id", message_id.as_str())]);
    out.insert("image_url".into(), json!(url));
    let command = Command::MessageSendImageV1 {
        question_id: id,
        message_id,
        actor,
        sender_type,
        media_key,
        exclude_from_timeout: req.exclude_from_timeout.unwrap_or_default().0,
    };
    let response = dispatch(&state, &input, caller.token.as_str(), command, out).await?;
    add_field(response, "image_url", &url).await
}

/// A voice message (type 1): `audio` is base64 AMR, AAC, M4A, MP3 or Ogg/Opus (told by
/// its bytes), `audio_len` its seconds. Answers the message id and `audio_url`.
#[utoipa::path(post, path = "/v1/question/{question_id}/message/send_audio", operation_id = "send_audio", tag = "messages",
    params(crate::openapi::QuestionIdPath, crate::openapi::CommandHeaders),
    request_body(content(
        (SendAudio = "application/json"),
        (SendAudio = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 200, description = "Sent", body = crate::views::AudioSent),
        (status = 202, description = "Queued (`Prefer: respond-async`)", body = crate::views::Accepted),
        crate::openapi::Errors,
    ),
    security(("session" = []), ("bearer" = [])))]
#[tracing::instrument(skip_all, fields(question_id = %id))]
pub async fn send_audio(
    State(state): State<AppState>,
    PathParam(id): PathParam<ObjectId>,
    caller: Caller,
    input: Input,
    Valid(req): Valid<SendAudio>,
) -> Result<Response, ApiError> {
    let sender_type = req.sender_type.0;
    let actor = sender(&caller, sender_type, &req.sender)?;
    may_write(&state, &id, &actor).await?;
    let bytes = decode_base64("audio", &req.audio, state.config.media_max_bytes)?;
    let kind = sniff_audio("audio", &bytes)?;
    let media_key = store(&state, kind, bytes).await?;
    let url = media_url(&state, &media_key);
    let message_id = state.ids.next_id();
    let mut out = assigned(&[("message_id", message_id.as_str())]);
    out.insert("audio_url".into(), json!(url));
    let command = Command::MessageSendAudioV1 {
        question_id: id,
        message_id,
        actor,
        sender_type,
        media_key,
        audio_len: req.audio_len.0,
        exclude_from_timeout: req.exclude_from_timeout.unwrap_or_default().0,
    };
    let response = dispatch(&state, &input, caller.token.as_str(), command, out).await?;
    add_field(response, "audio_url", &url).await
}

/// The worker answers the message id; the file's URL is known here.
async fn add_field(response: Response, name: &str, url: &str) -> Result<Response, ApiError> {
    if response.status() != StatusCode::OK {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|e| ApiError::Internal(format!("re-reading an answer: {e}")))?;
    let mut value: Value =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Internal(format!("answer is not JSON: {e}")))?;
    if value["status"] == 200 {
        value[name] = json!(url);
    }
    let mut response = Json(value).into_response();
    *response.status_mut() = parts.status;
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_LENGTH {
            response.headers_mut().insert(k.clone(), v.clone());
        }
    }
    Ok(response)
}

/// A stored image or audio file, by its unguessable content address. Immutable, so
/// cached for a year.
#[utoipa::path(get, path = "/media/{key}", operation_id = "media", tag = "messages",
    params(("key" = String, Path, description = "`<sha256>.<ext>` as in image_url / audio_url")),
    responses(
        (status = 200, description = "The file's bytes", content_type = "application/octet-stream"),
        crate::openapi::Errors,
    ))]
pub async fn get_media(State(state): State<AppState>, Path(key): Path<String>) -> Result<Response, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, "no such file");
    let kind = parse_key(&key).ok_or_else(not_found)?;
    let bytes = state.media.get(&key).await.map_err(|e| {
        tracing::error!(error = %e, "media store read failed");
        ApiError::new(ErrorCode::Unavailable, "the media store is unavailable; retry later")
    })?;
    let bytes = bytes.ok_or_else(not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind.content_type())),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        bytes,
    )
        .into_response())
}
