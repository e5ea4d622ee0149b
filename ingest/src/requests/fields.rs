//! The field types requests are built from: lenient integers and flags (forms and query
//! strings carry numbers as text), pages, label lists, and the bounded numbers of the
//! API, each with its OpenAPI schema.

use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::{Group, Groups, Invalid, Label, Labels, Page, QuestionStatus, SenderType, Sort};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

/// An integer given as a JSON number or as a string of digits (forms, query strings).
#[derive(Debug, Clone, Copy)]
pub struct LenientInt(pub i64);

impl<'de> Deserialize<'de> for LenientInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = LenientInt;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientInt, E> {
                Ok(LenientInt(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientInt, E> {
                i64::try_from(v)
                    .map(LenientInt)
                    .map_err(|_| E::custom("must be a smaller integer"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientInt, E> {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    Ok(LenientInt(v as i64))
                } else {
                    Err(E::custom(format!("must be an integer, got {v}")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientInt, E> {
                v.trim()
                    .parse()
                    .map(LenientInt)
                    .map_err(|_| E::custom(format!("must be an integer, got {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

pub(super) fn bounded(v: i64, min: i64, max: i64) -> Result<i64, Invalid> {
    if v < min || v > max {
        return Err(Invalid(format!("must be between {min} and {max}, got {v}")));
    }
    Ok(v)
}

pub(super) fn int_schema(min: i64, max: i64, default: Option<i64>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min))
        .maximum(Some(max))
        .default(default.map(Value::from))
        .description(Some(description))
        .into()
}

/// `page`: 0–50 (default 0); ignored when a cursor is given.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "LenientInt")]
pub struct PageNo(u64);

impl TryFrom<LenientInt> for PageNo {
    type Error = Invalid;
    fn try_from(v: LenientInt) -> Result<Self, Invalid> {
        bounded(v.0, 0, Page::MAX_PAGE as i64).map(|v| PageNo(v as u64))
    }
}

impl PageNo {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl PartialSchema for PageNo {
    fn schema() -> RefOr<Schema> {
        int_schema(0, Page::MAX_PAGE as i64, Some(0), "page number (页数)")
    }
}
impl ToSchema for PageNo {}

/// `num`: 1–50 (default 20).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "LenientInt")]
pub struct PageSize(u64);

impl TryFrom<LenientInt> for PageSize {
    type Error = Invalid;
    fn try_from(v: LenientInt) -> Result<Self, Invalid> {
        bounded(v.0, 1, Page::MAX_NUM as i64).map(|v| PageSize(v as u64))
    }
}

impl PageSize {
    pub fn get(self) -> u64 {
        self.0
    }
}

impl PartialSchema for PageSize {
    fn schema() -> RefOr<Schema> {
        int_schema(
            1,
            Page::MAX_NUM as i64,
            Some(Page::DEFAULT_NUM as i64),
            "items per page (每页数目)",
        )
    }
}
impl ToSchema for PageSize {}

/// `sort`: 1 oldest first, -1 newest first (default).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "LenientInt")]
pub struct SortOrder(Sort);

impl TryFrom<LenientInt> for SortOrder {
    type Error = Invalid;
    fn try_from(v: LenientInt) -> Result<Self, Invalid> {
        match v.0 {
            1 => Ok(SortOrder(Sort::Asc)),
            -1 => Ok(SortOrder(Sort::Desc)),
            other => Err(Invalid(format!("must be 1 or -1, got {other}"))),
        }
    }
}

impl SortOrder {
    pub fn is_asc(self) -> bool {
        self.0 == Sort::Asc
    }
}

impl PartialSchema for SortOrder {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some([1, -1]))
            .default(Some(Value::from(-1)))
            .description(Some("1 oldest first, -1 newest first"))
            .into()
    }
}
impl ToSchema for SortOrder {}

/// A yes/no given as JSON `true`/`false`, `1`/`0`, or those as strings (forms).
#[derive(Debug, Clone, Copy, Default)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false, 1 or 0")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Flag, E> {
                match v {
                    0 => Ok(Flag(false)),
                    1 => Ok(Flag(true)),
                    _ => Err(E::custom(format!("must be true, false, 1 or 0, got {v}"))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Flag, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(2))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                match v {
                    "true" | "1" => Ok(Flag(true)),
                    "false" | "0" => Ok(Flag(false)),
                    _ => Err(E::custom(format!("must be true, false, 1 or 0, got {v:?}"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl PartialSchema for Flag {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::OneOfBuilder;
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .enum_values(Some([0, 1])),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["true", "false", "1", "0"])),
            )
            .into()
    }
}
impl ToSchema for Flag {}

/// `sender_type` from a form or JSON: 1 user, 2 agent.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "LenientInt")]
pub struct SenderTypeField(pub SenderType);

impl TryFrom<LenientInt> for SenderTypeField {
    type Error = Invalid;
    fn try_from(v: LenientInt) -> Result<Self, Invalid> {
        let v = i16::try_from(v.0).map_err(|_| Invalid(format!("must be 1 (user) or 2 (agent), got {}", v.0)))?;
        SenderType::try_from(v).map(SenderTypeField)
    }
}

impl PartialSchema for SenderTypeField {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .enum_values(Some([1, 2]))
            .description(Some("1 user, 2 agent"))
            .into()
    }
}
impl ToSchema for SenderTypeField {}

pub(super) fn string_list(value: &Value) -> Result<Vec<String>, Invalid> {
    let Value::Array(items) = value else {
        return Err(Invalid("must be a JSON array of strings, e.g. [\"a\",\"b\"]".into()));
    };
    items
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| Invalid("must contain only strings".into()))
        })
        .collect()
}

/// A JSON array of plain strings, written without spaces: `["a","b"]`.
const JSON_STRING_ARRAY: &str =
    r#"^\[("[^"\\\u0000-\u001F\u007F-\u009F]{1,32}"(,"[^"\\\u0000-\u001F\u007F-\u009F]{1,32}"){0,9})?\]$"#;

pub(super) fn labels_schema(description: &str, single: bool) -> RefOr<Schema> {
    let array = ArrayBuilder::new().items(Label::schema()).max_items(Some(Labels::MAX));
    let text = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(if single {
            kefu_common::domain::NO_CONTROL_CHARS
        } else {
            JSON_STRING_ARRAY
        }))
        .description(Some(if single {
            "one label, or a JSON array of labels as a string"
        } else {
            "a JSON array of labels as a string, e.g. '[\"激活\",\"安卓4.3\"]'"
        }));
    OneOfBuilder::new()
        .item(array)
        .item(text)
        .description(Some(description))
        .into()
}

/// question/new's `label`: a JSON array, or a string holding one (`'["激活","安卓4.3"]'`).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub struct LabelsField(pub Labels);

impl TryFrom<Value> for LabelsField {
    type Error = Invalid;
    fn try_from(value: Value) -> Result<Self, Invalid> {
        let raw = match &value {
            Value::String(s) if s.trim().is_empty() => Vec::new(),
            Value::String(s) => string_list(
                &serde_json::from_str(s)
                    .map_err(|_| Invalid("must be a JSON array of strings, e.g. [\"a\",\"b\"]".into()))?,
            )?,
            other => string_list(other)?,
        };
        Labels::parse(raw).map(LabelsField)
    }
}

impl PartialSchema for LabelsField {
    fn schema() -> RefOr<Schema> {
        labels_schema(
            "question labels (问题标签列表), at most 10, each 1–32 characters",
            false,
        )
    }
}
impl ToSchema for LabelsField {}

/// session/new's `groups`: a JSON array, or a string holding one.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub struct GroupsField(pub Groups);

impl TryFrom<Value> for GroupsField {
    type Error = Invalid;
    fn try_from(value: Value) -> Result<Self, Invalid> {
        let raw = match &value {
            Value::String(s) if s.trim().is_empty() => Vec::new(),
            Value::String(s) => string_list(
                &serde_json::from_str(s)
                    .map_err(|_| Invalid("must be a JSON array of strings, e.g. [\"vip\"]".into()))?,
            )?,
            other => string_list(other)?,
        };
        Groups::parse(raw).map(GroupsField)
    }
}

impl PartialSchema for GroupsField {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(Group::schema())
            .max_items(Some(Groups::MAX))
            .description(Some(
                "the groups the user belongs to (the user page's group count), at most 100",
            ))
            .into()
    }
}
impl ToSchema for GroupsField {}

/// send_audio's `audio_len`: seconds, 1–300.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "LenientInt")]
pub struct AudioLen(pub i32);

impl AudioLen {
    pub const MAX: i64 = 300;
}

impl TryFrom<LenientInt> for AudioLen {
    type Error = Invalid;
    fn try_from(v: LenientInt) -> Result<Self, Invalid> {
        bounded(v.0, 1, Self::MAX).map(|v| AudioLen(v as i32))
    }
}

impl PartialSchema for AudioLen {
    fn schema() -> RefOr<Schema> {
        int_schema(1, Self::MAX, None, "length in seconds (语音长度)")
    }
}
impl ToSchema for AudioLen {}

/// question/list's `label`: one label, or the JSON array form of question/new; a
/// question matches when it carries every given label.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Value")]
pub struct LabelFilter(pub Labels);

impl TryFrom<Value> for LabelFilter {
    type Error = Invalid;
    fn try_from(value: Value) -> Result<Self, Invalid> {
        match &value {
            Value::String(s) if s.trim().is_empty() => Ok(LabelFilter(Labels::default())),
            Value::String(s) if s.trim_start().starts_with('[') => {
                LabelsField::try_from(value).map(|l| LabelFilter(l.0))
            }
            Value::String(s) => Labels::parse(vec![s.clone()]).map(LabelFilter),
            other => Labels::parse(string_list(other)?).map(LabelFilter),
        }
    }
}

impl PartialSchema for LabelFilter {
    fn schema() -> RefOr<Schema> {
        labels_schema("only questions carrying all of these labels", true)
    }
}
impl ToSchema for LabelFilter {}

/// The spec's list parameters, turned into a [`Page`].
pub(super) fn page(
    page: Option<PageNo>,
    num: Option<PageSize>,
    cursor: Option<ObjectId>,
    sort: Option<SortOrder>,
) -> Page {
    Page {
        page: page.map_or(0, |p| p.0),
        num: num.map_or(Page::DEFAULT_NUM, |n| n.0),
        cursor,
        sort: sort.map_or(Sort::Desc, |s| s.0),
    }
}

/// Seconds since the epoch, from 1970 to the year 9999.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "LenientInt")]
pub struct EpochSecs(pub i64);

impl EpochSecs {
    const MAX: i64 = 253_402_300_799;
}

impl TryFrom<LenientInt> for EpochSecs {
    type Error = Invalid;
    fn try_from(v: LenientInt) -> Result<Self, Invalid> {
        bounded(v.0, 0, Self::MAX).map(EpochSecs)
    }
}

impl PartialSchema for EpochSecs {
    fn schema() -> RefOr<Schema> {
        int_schema(0, Self::MAX, None, "seconds since the epoch")
    }
}
impl ToSchema for EpochSecs {}

/// A question status to filter by: 1 waiting, 2 serving, 3 finished.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "LenientInt")]
pub struct StatusFilter(pub QuestionStatus);

impl TryFrom<LenientInt> for StatusFilter {
    type Error = Invalid;
    fn try_from(v: LenientInt) -> Result<Self, Invalid> {
        let number = bounded(v.0, 1, 3)?;
        i16::try_from(number)
            .map_err(|_| Invalid(format!("must be 1, 2 or 3, got {number}")))
            .and_then(QuestionStatus::try_from)
            .map(StatusFilter)
    }
}

impl PartialSchema for StatusFilter {
    fn schema() -> RefOr<Schema> {
        int_schema(1, 3, None, "1 waiting, 2 serving, 3 finished")
    }
}
impl ToSchema for StatusFilter {}
