//! Uploads: base64 decoded, size-bounded, recognised from their bytes, and stored
//! (recorded in `media_blobs`, then written) before any command refers to them.

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use kefu_common::domain::outcome::ErrorCode;
use kefu_common::infra::media::{key_for, MediaKind};
use kefu_common::now_ms;
use kefu_common::store::db::is_unique_violation;
use kefu_common::store::entity::media_blob;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use crate::{ApiError, AppState};

const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// Decodes standard or URL-safe base64, padded or not, ignoring line breaks and a
/// `data:…;base64,` prefix (what mobile clients send), a space read as `+`. Anything
/// else outside the alphabet is 10031.
pub fn decode_base64(field: &str, raw: &str, max: usize) -> Result<Vec<u8>, ApiError> {
    let raw = match raw.split_once(";base64,") {
        Some((head, rest)) if head.starts_with("data:") => rest,
        _ => raw,
    };
    // Form decoding turns an unescaped `+` into a space, and no base64 alphabet has a
    // space: read it back as `+`. Line breaks (MIME wrapping) are dropped; anything else
    // outside the alphabet is left for the decoder to refuse.
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .map(|c| if c == ' ' { '+' } else { c })
        .collect();
    if compact.is_empty() {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            field,
            format!("{field} is empty"),
        ));
    }
    if compact.len() / 4 * 3 > max + 3 {
        return Err(too_large(field, max));
    }
    let bytes = STANDARD
        .decode(&compact)
        .or_else(|_| URL_SAFE.decode(&compact))
        .map_err(|e| ApiError::field(ErrorCode::BadBase64, field, format!("{field} is not valid base64: {e}")))?;
    if bytes.len() > max {
        return Err(too_large(field, max));
    }
    Ok(bytes)
}

fn too_large(field: &str, max: usize) -> ApiError {
    ApiError::field(
        ErrorCode::BodyTooLarge,
        field,
        format!("{field} is larger than {max} bytes (KEFU_MEDIA_MAX_BYTES)"),
    )
}

/// A JPEG: the magic bytes and a header that parses (with its dimensions).
pub fn sniff_jpeg(field: &str, bytes: &[u8]) -> Result<MediaKind, ApiError> {
    let parses = infer::image::is_jpeg(bytes)
        && matches!(imagesize::image_type(bytes), Ok(imagesize::ImageType::Jpeg))
        && imagesize::blob_size(bytes).is_ok_and(|s| s.width > 0 && s.height > 0);
    if parses {
        Ok(MediaKind::Jpeg)
    } else {
        Err(ApiError::field(
            ErrorCode::InvalidField,
            field,
            format!("{field} must be a JPEG image"),
        ))
    }
}

/// AMR, AAC (ADTS), M4A/MP4 audio, MP3 or Ogg (Opus, Vorbis), told by its bytes.
pub fn sniff_audio(field: &str, bytes: &[u8]) -> Result<MediaKind, ApiError> {
    use infer::audio;
    let kind = if audio::is_amr(bytes) {
        MediaKind::Amr
    } else if audio::is_m4a(bytes) || infer::video::is_mp4(bytes) {
        MediaKind::M4a
    } else if audio::is_ogg(bytes) || audio::is_ogg_opus(bytes) {
        MediaKind::Ogg
    } else if audio::is_mp3(bytes) {
        MediaKind::Mp3
    } else if audio::is_aac(bytes) {
        MediaKind::Aac
    } else {
        return Err(ApiError::field(
            ErrorCode::InvalidField,
            field,
            format!("{field} must be AMR, AAC, M4A, MP3 or Ogg/Opus audio"),
        ));
    };
    Ok(kind)
}

/// Records the blob (or refreshes the record of the same content) and writes it. The
/// record comes first: the collector (workers' janitor) deletes a blob only together
/// with an old record, under that record's lock, so a re-upload racing with it either
/// waits for it or finds no record and writes both anew.
#[tracing::instrument(skip_all, fields(kind = ?kind, size = bytes.len()))]
pub async fn store(state: &AppState, kind: MediaKind, bytes: Vec<u8>) -> Result<String, ApiError> {
    let key = key_for(&bytes, kind);
    let now = now_ms();
    let touched = media_blob::Entity::update_many()
        .col_expr(media_blob::Column::CreatedAt, Expr::value(now))
        .filter(media_blob::Column::Key.eq(key.as_str()))
        .exec(&state.db)
        .await?;
    if touched.rows_affected == 0 {
        let row = media_blob::ActiveModel {
            key: Set(key.clone()),
            content_type: Set(kind.content_type().to_owned()),
            size: Set(bytes.len() as i64),
            created_at: Set(now),
        };
        match row.insert(&state.db).await {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    state.media.put(&key, bytes.into()).await.map_err(|e| {
        tracing::error!(error = %e, "media store write failed");
        ApiError::new(ErrorCode::Unavailable, "the media store is unavailable; retry later")
    })?;
    Ok(key)
}
