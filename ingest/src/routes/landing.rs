//! `GET /`: what this server is and where its documentation lives (HTML for browsers,
//! JSON for `Accept: application/json`), and the guides it serves from the binary.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use sea_orm::ConnectionTrait;
use serde::Serialize;
use serde_json::json;

use crate::{ApiError, AppState};

#[derive(Serialize)]
struct Link {
    title: &'static str,
    href: &'static str,
    about: &'static str,
}

const LINKS: [Link; 7] = [
    Link {
        title: "Agent console",
        href: "/console",
        about: "the agents' page: waiting list, conversations, quick answers (sign in with an agent's ID and password)",
    },
    Link {
        title: "Interactive API docs",
        href: "/docs",
        about: "every endpoint, tried from the browser (Swagger UI)",
    },
    Link {
        title: "OpenAPI document",
        href: "/v1/openapi.json",
        about: "the machine-readable contract (OpenAPI 3.1)",
    },
    Link {
        title: "API guide",
        href: "/guide/api.md",
        about: "endpoints, fields, limits, signatures and the push payload, in prose",
    },
    Link {
        title: "Error codes",
        href: "/guide/errors.md",
        about: "every error code with its HTTP status and meaning",
    },
    Link {
        title: "Health",
        href: "/health",
        about: "the process is alive",
    },
    Link {
        title: "Readiness",
        href: "/ready",
        about: "the database and the broker answer",
    },
];

fn database_kind(state: &AppState) -> &'static str {
    match state.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "postgres",
        sea_orm::DbBackend::MySql => "mysql",
        sea_orm::DbBackend::Sqlite => "sqlite",
    }
}

fn wants_json(headers: &HeaderMap) -> bool {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.contains("application/json") && !accept.contains("text/html")
}

pub async fn page(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let (version, broker, database) = (env!("CARGO_PKG_VERSION"), state.broker.kind(), database_kind(&state));
    if wants_json(&headers) {
        let links: serde_json::Map<String, serde_json::Value> = LINKS
            .iter()
            .map(|l| (l.href.trim_start_matches('/').to_owned(), json!(l.href)))
            .collect();
        return Ok(Json(json!({
            "status": 200,
            "name": "kefu",
            "version": version,
            "broker": broker,
            "database": database,
            "links": links,
        }))
        .into_response());
    }
    let html = state
        .templates
        .get_template("landing.html")
        .and_then(|t| {
            t.render(minijinja::value::Serde(
                &json!({ "version": version, "broker": broker, "database": database, "links": LINKS }),
            ))
        })
        .map_err(|e| ApiError::Internal(format!("landing page: {e}")))?;
    Ok(Html(html).into_response())
}

fn markdown(text: &'static str) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/markdown; charset=utf-8"),
        )],
        text,
    )
        .into_response()
}

/// docs/api.md, as built into the binary.
pub async fn api_guide() -> Response {
    markdown(include_str!("../../../docs/api.md"))
}

/// docs/errors.md, as built into the binary.
pub async fn errors_guide() -> Response {
    markdown(include_str!("../../../docs/errors.md"))
}
