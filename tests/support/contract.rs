//! Every response a test reads is checked against docs/openapi.json: its status must be
//! documented for the operation and its body must match that status's schema.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::{json, Value};

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        serde_json::from_str(include_str!("../../docs/openapi.json")).expect("docs/openapi.json is JSON")
    })
}

/// The documented path template matching a concrete path, e.g.
/// `/v1/question/{question_id}/serve` for `/v1/question/0123…/serve`.
fn template(path: &str) -> Option<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    document()["paths"].as_object()?.keys().find_map(|t| {
        let parts: Vec<&str> = t.split('/').collect();
        (parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(p, s)| (p.starts_with('{') && !s.is_empty()) || p == s))
        .then_some(t.as_str())
    })
}

type Validators = Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>;

fn validator(schema: &Value) -> std::sync::Arc<jsonschema::Validator> {
    static CACHE: OnceLock<Validators> = OnceLock::new();
    let key = schema.to_string();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().unwrap().get(&key) {
        return v.clone();
    }
    // The response schema at the root, beside the document's components, so that its
    // `#/components/schemas/…` references resolve.
    let mut root = schema.as_object().cloned().unwrap_or_default();
    root.insert("components".into(), document()["components"].clone());
    let compiled = std::sync::Arc::new(
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .build(&Value::Object(root))
            .expect("response schema compiles"),
    );
    cache.lock().unwrap().insert(key, compiled.clone());
    compiled
}

/// Panics unless `body`, answered with `status` on `path`, is what the document says.
/// Paths the document does not list (the 404 fallback) are not checked.
pub fn check(method: &str, path: &str, status: u16, body: &Value) {
    let Some(template) = template(path) else {
        return;
    };
    let item = &document()["paths"][template];
    let operation = match item.get(method.to_ascii_lowercase()) {
        Some(op) => op,
        // Wrong method: the 405 fallback, not an operation.
        None => return,
    };
    // In `always-200` mode the body's own `status` says which answer it is.
    let documented = match (status, body["status"].as_i64()) {
        (200, Some(300)) => first_error_status(operation),
        (200, Some(202)) => "202".to_owned(),
        _ => status.to_string(),
    };
    let response = &operation["responses"][&documented];
    assert!(
        response.is_object(),
        "{method} {path}: status {status} is not documented for {template}: {body}"
    );
    let schema = &response["content"]["application/json"]["schema"];
    assert!(schema.is_object(), "{method} {template} {documented}: no JSON schema");
    let validator = validator(schema);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{method} {path} answered {status} not matching its schema: {errors:?}\nbody: {body}"
    );
}

fn first_error_status(operation: &Value) -> String {
    operation["responses"]
        .as_object()
        .and_then(|r| r.keys().find(|k| k.starts_with('4')).cloned())
        .unwrap_or_else(|| json!(null).to_string())
}

/// The only method the document lists for a path (every Kefu path has one).
pub fn method_of(path: &str) -> Option<String> {
    let template = template(path)?;
    let item = document()["paths"][template].as_object()?;
    let methods: Vec<&String> = item.keys().collect();
    (methods.len() == 1).then(|| methods[0].to_ascii_uppercase())
}
