//! The OpenAPI 3.1 document, generated from the handlers and the typed requests and
//! answers; served at `/v1/openapi.json` with Swagger UI at `/docs` (bundled in the
//! binary: no network needed). `docs/openapi.json` is this document, checked by a test.

use std::collections::BTreeMap;

use axum::Router;
use kefu_common::domain::outcome::ErrorCode;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required};
use utoipa::{IntoParams, IntoResponses, Modify, OpenApi, PartialSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::routes::{admin, answers, leave, lists, media, question, routing, serv, session, stream, user};
use crate::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kefu customer-service API",
        description = "The agent and user HTTP API of Kefu (客服). Every failure answers \
`{\"status\":300,\"error\":<int>,\"error_name\",\"field\",\"debug\"}`; the codes are in docs/errors.md \
and in the description of each error response. With `KEFU_ERROR_HTTP_STATUS=always-200` every answer \
is HTTP 200 and only the body's `status` tells success (200), queued (202) and failure (300) apart.",
        license(name = "Apache-2.0"),
    ),
    paths(
        session::new,
        serv::bind,
        serv::unbind,
        lists::serv_tasks,
        lists::serv_overs,
        routing::set_status,
        routing::status,
        routing::transfer,
        routing::rate,
        routing::accept,
        routing::decline,
        routing::stats,
        stream::serv_stream,
        stream::user_stream,
        question::new,
        lists::waiting,
        question::serve,
        question::quit,
        question::finish,
        question::request_finish,
        question::reopen,
        lists::messages,
        question::send_text,
        media::send_image,
        media::send_audio,
        media::get_media,
        user::position,
        user::page,
        answers::templates,
        answers::items,
        leave::create,
        leave::list,
        leave::show,
        leave::tag,
        admin::apps,
        admin::create_app,
        admin::app,
        admin::update_app,
        admin::disable_app,
        admin::enable_app,
        admin::rotate_secret,
        admin::agents,
        admin::create_agent,
        admin::agent,
        admin::update_agent,
        admin::disable_agent,
        admin::enable_agent,
        admin::agent_password,
        admin::agent_apps,
        admin::revoke_sessions,
        admin::delete_session,
        admin::create_webhook,
        admin::list_webhooks,
        admin::disable_webhook,
        admin::enable_webhook,
        admin::rotate_webhook_secret,
        admin::set_push,
        admin::get_push,
        admin::clear_push,
        admin::set_timeouts,
        admin::get_timeouts,
        admin::set_routing,
        admin::get_routing,
        admin::report,
        admin::set_im,
        admin::get_im,
        admin::clear_im,
        admin::dead_letters,
        admin::redrive,
        admin::leave_messages,
        admin::leave_message,
        admin::tag_leave_message,
        admin::questions,
        admin::question,
        admin::unlock_agent,
        admin::unlock_address,
        lists::user_waits,
        lists::user_tasks,
        lists::user_overs,
        lists::user_alls,
    ),
    components(schemas(crate::views::ErrorBody, kefu_common::domain::ids::ObjectId)),
    modifiers(&Security),
    tags(
        (name = "sessions", description = "Apps open sessions for their users"),
        (name = "agents", description = "Agents bind their devices"),
        (name = "questions", description = "The question lifecycle"),
        (name = "messages", description = "Chat messages"),
        (name = "lists", description = "Question lists"),
        (name = "realtime", description = "Live streams (Server-Sent Events)"),
        (name = "answers", description = "Quick answers for agents"),
        (name = "users", description = "Who the agent is talking to"),
        (name = "leave messages", description = "Messages customers leave when nobody is there (留言)"),
        (name = "admin", description = "Operators (`KEFU_ADMIN_TOKEN`)"),
    )
)]
pub struct ApiDoc;

/// The document, as served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// `/v1/openapi.json` and the interactive docs at `/docs`.
pub fn routes() -> Router<AppState> {
    SwaggerUi::new("/docs").url("/v1/openapi.json", openapi()).into()
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "session",
                "The 12-character session of session/new, as `session` in the query or the body.",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The session as `Authorization: Bearer <session>`."))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "signature",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "signature",
                "Lowercase hex HMAC-SHA256(app secret, timestamp + \"\\n\" + METHOD + \"\\n\" + path + \"\\n\" + raw body).",
            ))),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <KEFU_ADMIN_TOKEN>`; the admin API is off without it.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "leave_signature",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "signature",
                "Leave messages: lowercase hex SHA-1 of appid (as in the path) + app secret + timestamp (ms, in the query).",
            ))),
        );
        components.add_security_scheme(
            "timestamp",
            SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                "timestamp",
                "Milliseconds since the epoch, within ±KEFU_SIGNATURE_SKEW_SECS (300 s) of the server clock.",
            ))),
        );
    }
}

/// The error answers every operation may give, by HTTP status, with their codes.
pub struct Errors;

impl IntoResponses for Errors {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
        let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
        for &code in ErrorCode::ALL {
            by_status.entry(code.http_status()).or_default().push(code);
        }
        by_status
            .into_iter()
            .map(|(status, codes)| {
                let listed: Vec<String> = codes.iter().map(|c| format!("{} `{}`", c.number(), c.name())).collect();
                let response = ResponseBuilder::new()
                    .description(format!("Refused: {}", listed.join(", ")))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(RefOr::<utoipa::openapi::schema::Schema>::Ref(
                                Ref::from_schema_name("ErrorBody"),
                            )))
                            .build(),
                    )
                    .build();
                (status.to_string(), RefOr::T(response))
            })
            .collect()
    }
}

fn param(
    name: &str,
    at: ParameterIn,
    required: bool,
    description: &str,
    schema: RefOr<utoipa::openapi::schema::Schema>,
) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(at)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// `Idempotency-Key` and `Prefer` of the commands.
pub struct CommandHeaders;

impl IntoParams for CommandHeaders {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            param(
                "Idempotency-Key",
                ParameterIn::Header,
                false,
                "1–255 printable ASCII characters; a retry with the same key (same session and endpoint) \
                 within 24 hours answers the first outcome; another body with it is refused (30007).",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[ -~]{1,255}$"))
                    .into(),
            ),
            prefer(),
        ]
    }
}

fn prefer() -> Parameter {
    param(
        "Prefer",
        ParameterIn::Header,
        false,
        "`respond-async`: answer 202 once the command is durably queued.",
        ObjectBuilder::new().schema_type(Type::String).into(),
    )
}

/// `Prefer` alone (signed calls: the signature is the idempotency key).
pub struct PreferHeader;

impl IntoParams for PreferHeader {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![prefer()]
    }
}

/// `timestamp` and `signature` of a signed call.
pub struct SignatureQuery;

impl IntoParams for SignatureQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            param(
                "Kefu-Timestamp",
                ParameterIn::Header,
                false,
                "Milliseconds since the epoch, within ±300 s of the server clock (or the query's `timestamp`).",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]{1,16}$"))
                    .into(),
            ),
            param(
                "Kefu-Signature",
                ParameterIn::Header,
                false,
                "Lowercase hex HMAC-SHA256(secret, timestamp \\n METHOD \\n path \\n raw body) (or the query's `signature`).",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9a-fA-F]{64}$"))
                    .into(),
            ),
            param(
                "timestamp",
                ParameterIn::Query,
                false,
                "The timestamp, when not in Kefu-Timestamp.",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9]{1,16}$"))
                    .into(),
            ),
            param(
                "signature",
                ParameterIn::Query,
                false,
                "The signature, when not in Kefu-Signature (a URL may end up in proxies' logs).",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[0-9a-fA-F]{64}$"))
                    .into(),
            ),
        ]
    }
}

/// `session` in the query of the reads (or `Authorization: Bearer`).
pub struct SessionQuery;

impl IntoParams for SessionQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "session",
            ParameterIn::Query,
            false,
            "用户session (or `Authorization: Bearer <session>`).",
            kefu_common::domain::SessionToken::schema(),
        )]
    }
}

/// The `{question_id}` path segment.
pub struct QuestionIdPath;

impl IntoParams for QuestionIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "question_id",
            ParameterIn::Path,
            true,
            "问题id: 24 lowercase hex characters.",
            kefu_common::domain::ids::ObjectId::schema(),
        )]
    }
}

/// The `{user_id}` path segment.
pub struct UserIdPath;

impl IntoParams for UserIdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![param(
            "user_id",
            ParameterIn::Path,
            true,
            "The app's id of its user.",
            kefu_common::domain::UserId::schema(),
        )]
    }
}
