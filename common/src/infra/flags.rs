//! Switches as environment variables write them (`KEFU_X=1`).

use serde::Deserialize;

/// A switch written as `true`/`false` or `1`/`0` (how environment variables are set).
pub(crate) fn flag<'de, D: serde::Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
        Text(String),
    }
    match Flag::deserialize(de)? {
        Flag::Bool(b) => Ok(b),
        Flag::Int(0) => Ok(false),
        Flag::Int(1) => Ok(true),
        Flag::Text(t) if matches!(t.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Flag::Text(t) if matches!(t.as_str(), "0" | "false" | "no" | "off" | "") => Ok(false),
        _ => Err(serde::de::Error::custom("expected true, false, 1 or 0")),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn switches_take_numbers_words_and_booleans() {
        #[derive(serde::Deserialize)]
        struct S {
            #[serde(deserialize_with = "super::flag")]
            on: bool,
        }
        let on = |v: serde_json::Value| serde_json::from_value::<S>(serde_json::json!({ "on": v })).map(|s| s.on);
        for (v, want) in [
            (serde_json::json!(1), true),
            (serde_json::json!("1"), true),
            (serde_json::json!(true), true),
            (serde_json::json!("on"), true),
            (serde_json::json!(0), false),
            (serde_json::json!("false"), false),
        ] {
            assert_eq!(on(v.clone()).unwrap(), want, "{v}");
        }
        assert!(on(serde_json::json!(2)).is_err());
        assert!(on(serde_json::json!("maybe")).is_err());
    }
}
