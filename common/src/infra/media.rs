//! The media store: images and audio of chat messages, content-addressed
//! (`<sha256>.<ext>`), in a directory (`KEFU_MEDIA_DIR`) or, built with the `s3` feature,
//! an S3-compatible bucket (`KEFU_MEDIA_STORE_URL=s3://bucket/prefix`, credentials from
//! the usual `AWS_*` variables).
//!
//! A blob is recorded in `media_blobs` and written before the command that refers to it
//! is published, so no message ever points at a missing file; blobs no message refers
//! to are collected after `KEFU_MEDIA_GC_GRACE_SECS`.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use crate::infra::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media store: {0}")]
    Store(#[from] object_store::Error),
    #[error("media store: {0}")]
    Config(String),
}

/// What kind of file a blob is, from its bytes (never from the client's word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Jpeg,
    Amr,
    Aac,
    M4a,
    Mp3,
    Ogg,
}

impl MediaKind {
    pub const ALL: [MediaKind; 6] = [Self::Jpeg, Self::Amr, Self::Aac, Self::M4a, Self::Mp3, Self::Ogg];

    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Amr => "amr",
            Self::Aac => "aac",
            Self::M4a => "m4a",
            Self::Mp3 => "mp3",
            Self::Ogg => "ogg",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Amr => "audio/amr",
            Self::Aac => "audio/aac",
            Self::M4a => "audio/mp4",
            Self::Mp3 => "audio/mpeg",
            Self::Ogg => "audio/ogg",
        }
    }

    pub fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.extension() == ext)
    }
}

/// A blob's name: 64 lowercase hex characters of SHA-256, a dot, the extension.
pub fn key_for(bytes: &[u8], kind: MediaKind) -> String {
    use sha2::{Digest, Sha256};
    format!("{}.{}", hex::encode(Sha256::digest(bytes)), kind.extension())
}

/// The kind of a well-formed key, `None` for anything else (so a path never escapes).
pub fn parse_key(key: &str) -> Option<MediaKind> {
    let (hash, ext) = key.split_once('.')?;
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    MediaKind::from_extension(ext)
}

#[derive(Clone)]
pub struct MediaStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl MediaStore {
    pub fn from_config(config: &Config) -> Result<Self, MediaError> {
        let url = config.media_store_url.trim();
        if url.is_empty() {
            std::fs::create_dir_all(&config.media_dir)
                .map_err(|e| MediaError::Config(format!("KEFU_MEDIA_DIR {}: {e}", config.media_dir)))?;
            let store = object_store::local::LocalFileSystem::new_with_prefix(&config.media_dir)?;
            return Ok(Self {
                store: Arc::new(store),
                prefix: Path::default(),
            });
        }
        Self::remote(url)
    }

    #[cfg(feature = "s3")]
    fn remote(url: &str) -> Result<Self, MediaError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            MediaError::Config(format!("KEFU_MEDIA_STORE_URL must be s3://bucket[/prefix], got {url}"))
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()?;
        Ok(Self {
            store: Arc::new(store),
            prefix: Path::from(prefix),
        })
    }

    #[cfg(not(feature = "s3"))]
    fn remote(url: &str) -> Result<Self, MediaError> {
        Err(MediaError::Config(format!(
            "KEFU_MEDIA_STORE_URL={url}: this kefu was built without the s3 feature (cargo build --features s3)"
        )))
    }

    fn path(&self, key: &str) -> Path {
        self.prefix.clone().join(key)
    }

    /// Writes a blob (idempotent: the same content has the same key).
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), MediaError> {
        self.store.put(&self.path(key), PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// A blob's bytes, `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, MediaError> {
        match self.store.get(&self.path(key)).await {
            Ok(found) => Ok(Some(found.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), MediaError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_content_addresses_and_parse_strictly() {
        let key = key_for(b"abc", MediaKind::Jpeg);
        assert_eq!(
            key,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.jpg"
        );
        assert_eq!(parse_key(&key), Some(MediaKind::Jpeg));
        assert_eq!(parse_key("../etc/passwd"), None);
        assert_eq!(parse_key(&key.replace(".jpg", ".exe")), None);
        assert_eq!(parse_key(&key.to_uppercase()), None);
    }
}
