//! Domain values that can only hold valid contents ("parse, don't validate").
//! Each parser names the limit it enforces; the ingest attaches the field name.

use serde::{Deserialize, Serialize};

/// Why a raw value was refused; the ingest turns it into a `Failure` naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

pub(crate) fn char_len_between(s: &str, min: usize, max: usize) -> Result<(), Invalid> {
    let n = s.chars().count();
    if n < min || n > max {
        return Err(Invalid(if min == max {
            format!("must be exactly {min} characters, got {n}")
        } else {
            format!("must be {min} to {max} characters, got {n}")
        }));
    }
    Ok(())
}

pub(crate) fn no_control_chars(s: &str) -> Result<(), Invalid> {
    if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
        return Err(Invalid("must not contain control characters".into()));
    }
    Ok(())
}

pub(crate) fn no_control_chars_at_all(s: &str) -> Result<(), Invalid> {
    if s.chars().any(char::is_control) {
        return Err(Invalid(
            "must not contain control characters (line breaks and tabs included)".into(),
        ));
    }
    Ok(())
}

/// What [`no_control_chars_at_all`] lets through (identifiers).
pub const NO_CONTROL_CHARS_AT_ALL: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

pub(crate) fn http_url(s: &str) -> Result<(), Invalid> {
    no_control_chars_at_all(s)?;
    if !(s.starts_with("http://") || s.starts_with("https://")) || s.contains(char::is_whitespace) {
        return Err(Invalid("must be an http:// or https:// URL without spaces".into()));
    }
    // Well-formed, with a host: anything else could never be fetched or called.
    match url::Url::parse(s) {
        Ok(u) if u.host_str().is_some_and(|h| !h.is_empty()) => Ok(()),
        Ok(_) => Err(Invalid("the URL has no host".into())),
        Err(e) => Err(Invalid(format!("not a valid URL: {e}"))),
    }
}

/// What [`http_url`] lets through.
pub const HTTP_URL: &str = "^https?://[^\\s\\u0000-\\u001F\\u007F-\\u009F]*$";

/// A bounded, control-character-free string type (used here and in `crate::domain::leave`).
macro_rules! string_type {
    // An identifier: no control character at all (no line breaks or tabs either).
    (ident $(#[$meta:meta])* $name:ident, $min:expr, $max:expr) => {
        string_type!(@with $crate::domain::no_control_chars_at_all, Some($crate::domain::NO_CONTROL_CHARS_AT_ALL), $(#[$meta])* $name, $min, $max);
    };
    ($(#[$meta:meta])* $name:ident, $min:expr, $max:expr) => {
        string_type!(@with $crate::domain::no_control_chars, None, $(#[$meta])* $name, $min, $max);
    };
    (@with $check:path, $pattern:expr, $(#[$meta:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub const MIN: usize = $min;
            pub const MAX: usize = $max;

            pub fn parse(s: &str) -> Result<Self, Invalid> {
                $crate::domain::char_len_between(s, $min, $max)?;
                $check(s)?;
                Ok(Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = Invalid;
            fn try_from(s: String) -> Result<Self, Invalid> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::domain::string_schema($min, $max, $pattern)
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

/// What [`no_control_chars`] lets through, as an ECMA-262 pattern for the OpenAPI schemas.
pub const NO_CONTROL_CHARS: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$";

/// The OpenAPI schema of a bounded string (lengths in characters); without a pattern of
/// its own it refuses control characters, as the parsers do.
#[cfg(feature = "openapi")]
pub fn string_schema(
    min: usize,
    max: usize,
    pattern: Option<&str>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern.unwrap_or(NO_CONTROL_CHARS)))
        .into()
}

string_type!(
    ident
    /// An agent account (客服账号), 1–20 characters.
    ServId, 1, 20
);
string_type!(
    /// An agent password as typed, 1–20 characters; only ever stored as an argon2 hash.
    Password, 1, 20
);
/// A password an operator sets (create, set-password): at least
/// [`NewPassword::MIN`] characters. Logins still take any [`Password`], so accounts
/// made before the rule keep working.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct NewPassword(Password);

impl NewPassword {
    pub const MIN: usize = 8;

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let n = s.chars().count();
        if n < Self::MIN {
            return Err(Invalid(format!(
                "must be at least {} characters (and at most {}), got {n}",
                Self::MIN,
                Password::MAX
            )));
        }
        Password::parse(s).map(Self)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl TryFrom<String> for NewPassword {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for NewPassword {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(Self::MIN, Password::MAX, None)
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for NewPassword {}

string_type!(
    ident
    /// An app's package name (APP包名), 1–80 characters.
    Identify, 1, 80
);
string_type!(
    ident
    /// The app's id of its customer, 1–64 characters.
    UserId, 1, 64
);
string_type!(
    /// A display name, 1–64 characters.
    UserName, 1, 64
);
string_type!(
    ident
    /// A device id, 1–64 characters.
    DeviceId, 1, 64
);
string_type!(
    /// A question title, 0–200 characters.
    Title, 0, 200
);
string_type!(
    /// What the agent who hands a question over tells the next one, 1–200 characters.
    TransferNote, 1, 200
);
string_type!(
    /// What a user says with a rating, 1–500 characters.
    RatingComment, 1, 500
);
string_type!(
    ident
    /// One question label, 1–32 characters.
    Label, 1, 32
);
string_type!(
    /// A chat text, 1–4000 characters.
    Text, 1, 4000
);
string_type!(@with crate::domain::http_url, Some(crate::domain::HTTP_URL),
    /// An http(s) URL given by the app (avatar), 1–512 characters.
    Url, 1, 512
);
string_type!(
    ident
    /// A Tencent IM account (the administrator identifier, the customer-service
    /// FromAccount), 1–64 characters.
    ImAccount, 1, 64
);
string_type!(
    ident
    /// The secret key UserSigs are made from, 1–256 characters.
    ImSecretKey, 1, 256
);
string_type!(
    ident
    /// A Tencent IM customer-service session id (send_msg `SessionId`), 1–128 characters.
    ImSessionId, 1, 128
);
string_type!(
    /// An app display name, 1–64 characters.
    AppName, 1, 64
);

string_type!(
    /// A quick-answer template's title, 1–100 characters.
    TemplateTitle, 1, 100
);
string_type!(
    /// The question of a quick answer, 1–500 characters.
    AnswerQuestion, 1, 500
);
string_type!(
    /// The answer of a quick answer, 1–4000 characters.
    AnswerContent, 1, 4000
);
string_type!(
    /// A search keyword, 1–100 characters.
    Keyword, 1, 100
);

/// A 12-character session token: `[A-Za-z0-9]{12}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionToken(String);

impl SessionToken {
    pub const LEN: usize = 12;

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() != Self::LEN || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Invalid(format!("must be {} letters or digits", Self::LEN)));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn generate() -> Self {
        use rand::distributions::{Alphanumeric, DistString};
        Self(Alphanumeric.sample_string(&mut rand::thread_rng(), Self::LEN))
    }

    /// A token derived from `material` under `key` (HMAC-SHA256): the same signed
    /// session/new request yields the same session without the token being stored.
    pub fn derive(key: &[u8], material: &[u8]) -> Self {
        use hmac::{Hmac, Mac};
        const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(b"kefu-session\n");
        mac.update(material);
        let bytes = mac.finalize().into_bytes();
        // 12 base-62 digits from a 128-bit prefix: ~71 bits, no noticeable bias.
        let mut n = u128::from_be_bytes(bytes[..16].try_into().expect("32-byte MAC"));
        let token = (0..Self::LEN)
            .map(|_| {
                let c = ALPHABET[(n % 62) as usize] as char;
                n /= 62;
                c
            })
            .collect();
        Self(token)
    }

    /// What the database keeps instead of the token.
    pub fn digest(&self) -> SessionDigest {
        use sha2::Digest;
        SessionDigest(hex::encode(sha2::Sha256::digest(self.0.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The SHA-256 (lowercase hex) of a session token: how sessions and bindings are
/// stored and how commands name a session. A leaked table or queue gives no usable
/// session (the tokens carry ~71 random bits, so a fast hash suffices).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionDigest(String);

impl SessionDigest {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        if s.len() != 64 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Invalid("must be 64 lowercase hex digits".into()));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SessionDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for SessionDigest {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<SessionDigest> for String {
    fn from(v: SessionDigest) -> String {
        v.0
    }
}

impl TryFrom<String> for SessionToken {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<SessionToken> for String {
    fn from(v: SessionToken) -> String {
        v.0
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for SessionToken {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(Self::LEN, Self::LEN, Some("^[A-Za-z0-9]{12}$"))
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for SessionToken {}

/// Up to 10 distinct labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Labels(Vec<Label>);

impl Labels {
    pub const MAX: usize = 10;

    pub fn parse(raw: Vec<String>) -> Result<Self, Invalid> {
        if raw.len() > Self::MAX {
            return Err(Invalid(format!("at most {} labels, got {}", Self::MAX, raw.len())));
        }
        let mut labels: Vec<Label> = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let label = Label::parse(s).map_err(|e| Invalid(format!("label {i}: {e}")))?;
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        Ok(Self(labels))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("labels serialize")
    }
}

string_type!(
    /// A user group the app names in session/new, 1–64 characters.
    Group, 1, 64
);

/// Up to 100 distinct groups of a user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Groups(Vec<Group>);

impl Groups {
    pub const MAX: usize = 100;

    pub fn parse(raw: Vec<String>) -> Result<Self, Invalid> {
        if raw.len() > Self::MAX {
            return Err(Invalid(format!("at most {} groups, got {}", Self::MAX, raw.len())));
        }
        let mut groups: Vec<Group> = Vec::with_capacity(raw.len());
        for (i, s) in raw.iter().enumerate() {
            let group = Group::parse(s).map_err(|e| Invalid(format!("group {i}: {e}")))?;
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        Ok(Self(groups))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("groups serialize")
    }
}

/// List order (sort): 1 oldest first, -1 newest first (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sort {
    Asc,
    Desc,
}

/// Pagination of every list of the spec: page 0–50, num 1–50, a cursor id, sort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub page: u64,
    pub num: u64,
    pub cursor: Option<crate::domain::ids::ObjectId>,
    pub sort: Sort,
}

impl Page {
    pub const MAX_PAGE: u64 = 50;
    pub const MAX_NUM: u64 = 50;
    pub const DEFAULT_NUM: u64 = 20;

    /// Rows to skip: with a cursor the cursor positions the page, so `page` is ignored.
    pub fn offset(&self) -> u64 {
        if self.cursor.is_some() {
            0
        } else {
            self.page * self.num
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_well_formed_http_with_a_host() {
        for good in [
            "https://example.com/a.png",
            "http://127.0.0.1:8080/hook",
            "http://[::1]:9/x?a=[1]",
        ] {
            assert!(Url::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "ftp://example.com",
            "http://[",
            "http://a]b/",
            "https://",
            "http://ex ample.com",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_enforced() {
        assert!(ServId::parse("").is_err());
        assert!(ServId::parse(&"a".repeat(20)).is_ok());
        assert!(ServId::parse(&"a".repeat(21)).is_err());
        assert!(Identify::parse(&"客".repeat(80)).is_ok());
        assert!(Identify::parse(&"客".repeat(81)).is_err());
        assert!(SessionToken::parse("abcdefABCDEF").is_ok());
        assert!(SessionToken::parse("abcdefABCDE").is_err());
        assert!(SessionToken::parse("abcdefABCDE!").is_err());
        assert!(Labels::parse(vec!["a".into(); 11]).is_err());
        assert_eq!(Labels::parse(vec!["a".into(), "a".into()]).unwrap().iter().count(), 1);
        assert_eq!(SessionToken::generate().as_str().len(), 12);
    }
}
