//! Time-ordered 24-hex-character ids for questions and messages.
//!
//! Layout (12 bytes): 48-bit millisecond timestamp, 16-bit sequence, 32 random bits
//! fixed per generator. Ids from one generator are strictly increasing, so the spec's
//! cursor ("id of the last item of the previous page") is an ordinary `id < cursor`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectId(String);

#[derive(Debug, thiserror::Error)]
#[error("must be 24 lowercase hexadecimal characters")]
pub struct InvalidObjectId;

impl ObjectId {
    pub fn parse(s: &str) -> Result<Self, InvalidObjectId> {
        if s.len() == 24 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidObjectId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ObjectId {
    type Error = InvalidObjectId;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ObjectId> for String {
    fn from(id: ObjectId) -> Self {
        id.0
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for ObjectId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::domain::string_schema(24, 24, Some("^[0-9a-f]{24}$"))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for ObjectId {}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Generator of [`ObjectId`]s; one per process, kept in the application state.
#[derive(Debug)]
pub struct IdGen {
    /// `(ms << 16) | seq`, advanced monotonically.
    last: AtomicU64,
    node: u32,
}

impl Default for IdGen {
    fn default() -> Self {
        Self {
            last: AtomicU64::new(0),
            node: rand::random(),
        }
    }
}

impl IdGen {
    pub fn next_id(&self) -> ObjectId {
        let now = (crate::now_ms() as u64) << 16;
        let mut prev = self.last.load(Ordering::Relaxed);
        let value = loop {
            let candidate = now.max(prev + 1);
            match self
                .last
                .compare_exchange_weak(prev, candidate, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break candidate,
                Err(actual) => prev = actual,
            }
        };
        ObjectId(format!("{:016x}{:08x}", value, self.node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex_and_strictly_increasing() {
        let gen = IdGen::default();
        let mut prev = gen.next_id();
        for _ in 0..10_000 {
            let id = gen.next_id();
            assert_eq!(id.as_str().len(), 24);
            assert!(ObjectId::parse(id.as_str()).is_ok());
            assert!(id > prev, "{id} !> {prev}");
            prev = id;
        }
    }

    #[test]
    fn parse_rejects_bad_ids() {
        assert!(ObjectId::parse("0123456789abcdef01234567").is_ok());
        assert!(ObjectId::parse("0123456789ABCDEF01234567").is_err());
        assert!(ObjectId::parse("0123456789abcdef0123456").is_err());
        assert!(ObjectId::parse("0123456789abcdef0123456g").is_err());
    }
}
