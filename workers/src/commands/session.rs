//! The session aggregate: session/new stores (or refreshes) the user and opens a session.

use kefu_common::domain::events::DomainEvent;
use kefu_common::domain::outcome::{ErrorCode, Reply};
use kefu_common::domain::{DeviceId, Groups, SessionDigest, Url, UserId, UserName};
use kefu_common::now_ms;
use kefu_common::store::entity::{session, user};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait, Set};

use super::writes::app_disabled;
use super::{refuse, Applied, Handled};

/// A session to open, with the user as the app describes them now.
pub struct Opened<'a> {
    pub session: &'a SessionDigest,
    pub app_id: i64,
    pub user_id: &'a UserId,
    pub user_name: &'a UserName,
    pub user_image_url: Option<&'a Url>,
    pub device_id: Option<&'a DeviceId>,
    pub expires_at: i64,
    pub groups: Option<&'a Groups>,
}

pub async fn open(txn: &DatabaseTransaction, opened: Opened<'_>) -> Handled {
    // Re-checked here: the app may have been disabled since the ingest looked.
    if app_disabled(txn, opened.app_id).await? {
        return refuse(ErrorCode::AppDisabled, "this app is disabled");
    }
    let now = now_ms();
    let user_id = opened.user_id.to_string();
    let image = opened.user_image_url.map(|u| u.to_string());
    match user::Entity::find_by_id((opened.app_id, user_id.clone()))
        .one(txn)
        .await?
    {
        Some(found) => {
            let mut row: user::ActiveModel = found.into();
            row.user_name = Set(opened.user_name.to_string());
            if image.is_some() {
                row.user_image_url = Set(image);
            }
            if let Some(groups) = opened.groups {
                row.groups = Set(Some(groups.to_json()));
            }
            row.updated_at = Set(now);
            row.update(txn).await?;
        }
        None => {
            let row = user::ActiveModel {
                app_id: Set(opened.app_id),
                user_id: Set(user_id.clone()),
                user_name: Set(opened.user_name.to_string()),
                user_image_url: Set(image),
                created_at: Set(now),
                updated_at: Set(now),
                groups: Set(opened.groups.map(|g| g.to_json())),
            };
            user::Entity::insert(row).exec_without_returning(txn).await?;
        }
    }
    let device_id = opened.device_id.map(|d| d.to_string());
    let row = session::ActiveModel {
        session: Set(opened.session.as_str().to_owned()),
        app_id: Set(opened.app_id),
        user_id: Set(user_id.clone()),
        device_id: Set(device_id.clone()),
        created_at: Set(now),
        expires_at: Set(opened.expires_at),
    };
    session::Entity::insert(row).exec_without_returning(txn).await?;
    // The token itself is known to the ingest only (it answers it).
    let reply = Reply::SessionOpened {
        expires_at: opened.expires_at / 1000,
        session: None,
    };
    let event = DomainEvent::SessionOpened {
        app_id: opened.app_id,
        user_id,
        device_id,
    };
    Ok(Applied::new(reply, vec![event]))
}
