//! Leave messages (留言) as the leave-message API defines them: the values a message may
//! hold, each with the spec's limit (in characters, not bytes).

use serde::{Deserialize, Serialize};

use crate::domain::Invalid;

string_type!(
    /// 联系人的称呼: 2–32 characters.
    Contact, 2, 32
);
string_type!(
    /// 留言主题: 1–50 characters.
    Subject, 1, 50
);
string_type!(
    /// 留言内容: at most 2000 characters.
    MessageContent, 0, 2000
);
string_type!(
    /// The app's id of the user, at most 50 characters.
    LeaveUserId, 1, 50
);
string_type!(
    /// 标签: what agents note on a message (e.g. "called back"), 1–45 characters.
    Tag, 1, 45
);

/// 回复方式: how the customer wants to be called back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Callback {
    Email,
    Fax,
    Sms,
    Tel,
}

impl Callback {
    pub fn as_str(self) -> &'static str {
        match self {
            Callback::Email => "email",
            Callback::Fax => "fax",
            Callback::Sms => "sms",
            Callback::Tel => "tel",
        }
    }

    /// tel, fax and sms need a phone number.
    pub fn needs_tel(self) -> bool {
        self != Callback::Email
    }

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        match s {
            "email" => Ok(Callback::Email),
            "fax" => Ok(Callback::Fax),
            "sms" => Ok(Callback::Sms),
            "tel" => Ok(Callback::Tel),
            other => Err(Invalid(format!("must be one of email, fax, sms, tel; got {other:?}"))),
        }
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Callback {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(["email", "fax", "sms", "tel"]))
            .into()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Callback {}

/// A phone number: digits, with an optional leading `+` and country code — a landline
/// with its area code (07522026666), a mobile number, a short service number; 5–20
/// digits, at most 45 characters (the column).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tel(String);

impl Tel {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let digits = s.strip_prefix('+').unwrap_or(s);
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid("must be digits, with an optional leading +country code".into()));
        }
        if !(5..=20).contains(&digits.len()) || s.len() > 45 {
            return Err(Invalid(format!("must have 5 to 20 digits, got {}", digits.len())));
        }
        Ok(Tel(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tel {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<Tel> for String {
    fn from(v: Tel) -> String {
        v.0
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Tel {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        // The pattern alone bounds the length (5–21 characters).
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^\+?[0-9]{5,20}$"))
            .into()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Tel {}

/// A well-formed e-mail address (RFC 5322 addr-spec), at most 100 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX: usize = 100;

    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let n = s.chars().count();
        if n > Self::MAX {
            return Err(Invalid(format!("must be at most {} characters, got {n}", Self::MAX)));
        }
        // A domain with a dot: addresses at bare hosts are not reachable from outside.
        let has_dotted_domain = s
            .rsplit_once('@')
            .is_some_and(|(_, d)| d.contains('.') && !d.ends_with('.'));
        if !email_address::EmailAddress::is_valid(s) || !has_dotted_domain {
            return Err(Invalid("must be an e-mail address like name@example.com".into()));
        }
        Ok(Email(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(v: Email) -> String {
        v.0
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Email {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Email,
            )))
            .max_length(Some(Self::MAX))
            .into()
    }
}
#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Email {}

/// `user_data`: any JSON, at most 2000 characters serialized (the column).
pub const USER_DATA_MAX: usize = 2000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_count_characters() {
        assert!(Subject::parse(&"空".repeat(50)).is_ok());
        assert!(Subject::parse(&"空".repeat(51)).is_err());
        assert!(Subject::parse(&"😀".repeat(50)).is_ok());
        assert!(Contact::parse("王").is_err());
        assert!(Contact::parse("王五").is_ok());
        assert!(Tel::parse("07522026666").is_ok());
        assert!(Tel::parse("+8613800138000").is_ok());
        assert!(Tel::parse("0752-2026666").is_err());
        assert!(Email::parse("wangwu@163.com").is_ok());
        assert!(Email::parse("wangwu@").is_err());
        assert!(Email::parse("wang wu@163.com").is_err());
        assert!(Callback::parse("pigeon").is_err());
    }
}
