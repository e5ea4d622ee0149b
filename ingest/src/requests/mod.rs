//! One typed request per endpoint, built from Kefu's domain types. Deserializing one is
//! validating it: a value that does not fit its type is a 10010 naming the field.
//!
//! `session` appears in the bodies for the documentation only; the [`crate::auth::Caller`]
//! extractor reads it (body, query or `Authorization: Bearer`).

use kefu_common::domain::ids::ObjectId;
use kefu_common::domain::{
    DeviceId, Identify, ImSessionId, Keyword, Page, Password, ServId, SessionToken, Text, Title, Url, UserId, UserName,
};
use serde::de::IgnoredAny;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

mod fields;
mod routing;
pub use fields::*;
pub use routing::*;

/// POST /v1/session/new (signed by the app).
#[derive(Debug, Deserialize, ToSchema)]
pub struct SessionNew {
    /// The app's package name (APP包名).
    #[allow(dead_code)] // read first, alone, by the `Signed` extractor
    pub identify: Identify,
    /// The app's id of its customer.
    pub user_id: UserId,
    pub user_name: UserName,
    /// http(s) URL of the user's avatar.
    pub user_image_url: Option<Url>,
    pub device_id: Option<DeviceId>,
    pub groups: Option<GroupsField>,
}

/// The part of a signed body needed to check its signature.
#[derive(Debug, Deserialize)]
pub struct SignedApp {
    pub identify: Identify,
}

/// POST /v1/serv/bind and /v1/serv/unbind.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ServCredentials {
    /// 用户session (also accepted in the query or as `Authorization: Bearer`).
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    /// 客服账号
    pub serv_id: ServId,
    /// 客服密码
    #[schema(value_type = Password, format = Password)]
    pub password: Password,
}

/// POST /v1/question/new.
#[derive(Debug, Deserialize, ToSchema)]
pub struct QuestionNew {
    /// 用户session (also accepted in the query or as `Authorization: Bearer`).
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    /// 问题标题, 0–200 characters.
    pub title: Option<Title>,
    pub label: Option<LabelsField>,
    /// The user's Tencent IM customer-service session (send_msg `SessionId`), 1–128
    /// characters; replies then go to that session instead of FromAccount/ToAccount.
    #[serde(alias = "SessionId")]
    pub session_id: Option<ImSessionId>,
}

/// POST /v1/question/<id>/serve, quit, finish.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AgentAction {
    /// 用户session of the agent's bound device.
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    /// 客服账号: the agent the session is bound to.
    pub serv_id: ServId,
}

/// POST /v1/question/<id>/reopen.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Reopen {
    /// 用户session of the user who asked.
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
}

/// POST /v1/question/<id>/message/send_text.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendText {
    /// 用户session (the user's, or the bound agent's device).
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    /// The session's user id (sender_type 1) or the bound agent's serv_id (2).
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub sender: String,
    pub sender_type: SenderTypeField,
    /// utf8 text, 1–4000 characters.
    pub text: Text,
    /// An agent's message that neither starts nor resets the user-reply countdown
    /// (mirrors the IM's ExcludeFromUserRespTimeout; also sent to the IM so). Default false.
    #[schema(required = false)]
    pub exclude_from_timeout: Option<Flag>,
}

/// POST /v1/question/<id>/message/send_image.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendImage {
    /// 用户session (the user's, or the bound agent's device).
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    /// The session's user id (sender_type 1) or the bound agent's serv_id (2).
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub sender: String,
    pub sender_type: SenderTypeField,
    /// jpg格式图片base64字符串: a JPEG, base64 (standard or URL-safe; a `data:` prefix and
    /// line breaks are ignored), at most KEFU_MEDIA_MAX_BYTES (5 MiB) decoded.
    #[schema(content_encoding = "base64", content_media_type = "image/jpeg")]
    pub image: String,
    /// An agent's message that neither starts nor resets the user-reply countdown
    /// (mirrors the IM's ExcludeFromUserRespTimeout; also sent to the IM so). Default false.
    #[schema(required = false)]
    pub exclude_from_timeout: Option<Flag>,
}

/// POST /v1/question/<id>/message/send_audio.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SendAudio {
    /// 用户session (the user's, or the bound agent's device).
    #[schema(value_type = Option<SessionToken>, required = false)]
    #[allow(dead_code)] // documented here, read by the `Caller` extractor
    pub session: Option<IgnoredAny>,
    /// The session's user id (sender_type 1) or the bound agent's serv_id (2).
    #[schema(min_length = 1, max_length = 64, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub sender: String,
    pub sender_type: SenderTypeField,
    /// AMR, AAC, M4A, MP3 or Ogg/Opus audio, base64, at most KEFU_MEDIA_MAX_BYTES decoded;
    /// the format is told from the bytes.
    #[schema(content_encoding = "base64")]
    pub audio: String,
    pub audio_len: AudioLen,
    /// An agent's message that neither starts nor resets the user-reply countdown
    /// (mirrors the IM's ExcludeFromUserRespTimeout; also sent to the IM so). Default false.
    #[schema(required = false)]
    pub exclude_from_timeout: Option<Flag>,
}

/// GET /v1/question/list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitingQuery {
    #[param(inline)]
    pub page: Option<PageNo>,
    #[param(inline)]
    pub num: Option<PageSize>,
    /// The last question_id of the previous page (cursor; `page` is then ignored).
    #[param(inline)]
    pub question_id: Option<ObjectId>,
    #[param(inline)]
    pub sort: Option<SortOrder>,
    /// Only this app (APP包名).
    #[param(inline)]
    pub identify: Option<Identify>,
    /// 筛选问题标签: one label, or a JSON array (all must match).
    #[param(inline)]
    pub label: Option<LabelFilter>,
}

impl WaitingQuery {
    pub fn page(&self) -> Page {
        page(self.page, self.num, self.question_id.clone(), self.sort)
    }
}

/// GET /v1/serv/<serv_id>/tasks and /v1/user/<user_id>/waits|tasks|overs|alls.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuestionsQuery {
    #[param(inline)]
    pub page: Option<PageNo>,
    #[param(inline)]
    pub num: Option<PageSize>,
    /// The last question_id of the previous page (cursor; `page` is then ignored).
    #[param(inline)]
    pub question_id: Option<ObjectId>,
    #[param(inline)]
    pub sort: Option<SortOrder>,
    /// Only this app (APP包名).
    #[param(inline)]
    pub identify: Option<Identify>,
}

impl QuestionsQuery {
    pub fn page(&self) -> Page {
        page(self.page, self.num, self.question_id.clone(), self.sort)
    }
}

/// GET /v1/question/<id>/message.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    #[param(inline)]
    pub page: Option<PageNo>,
    #[param(inline)]
    pub num: Option<PageSize>,
    /// The last message_id of the previous page (cursor; `page` is then ignored).
    #[param(inline)]
    pub message_id: Option<ObjectId>,
    #[param(inline)]
    pub sort: Option<SortOrder>,
    /// Only if the question belongs to this app (APP包名).
    #[param(inline)]
    pub identify: Option<Identify>,
}

impl MessagesQuery {
    pub fn page(&self) -> Page {
        page(self.page, self.num, self.message_id.clone(), self.sort)
    }
}

/// GET /v1/answer/templates.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TemplatesQuery {
    /// Only this app's templates (APP包名).
    #[param(inline)]
    pub identify: Option<Identify>,
}

/// GET /v1/answer/template/<template_id>.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnswerItemsQuery {
    #[param(inline)]
    pub page: Option<PageNo>,
    #[param(inline)]
    pub num: Option<PageSize>,
    /// The last item_id of the previous page (cursor; `page` is then ignored).
    #[param(inline)]
    pub item_id: Option<ObjectId>,
    #[param(inline)]
    pub sort: Option<SortOrder>,
    /// Only if the template belongs to this app (APP包名).
    #[param(inline)]
    pub identify: Option<Identify>,
    /// Only quick answers whose question or content contains this text.
    #[param(inline)]
    pub q: Option<Keyword>,
}

impl AnswerItemsQuery {
    pub fn page(&self) -> Page {
        page(self.page, self.num, self.item_id.clone(), self.sort)
    }
}

/// GET /v1/user.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserPageQuery {
    /// 问题ID: the question whose user to show.
    #[param(inline)]
    pub question_id: ObjectId,
}
