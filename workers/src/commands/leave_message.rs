//! The leave-message aggregate (留言, `cc_misc_lvmsg`): stored, then tagged.

use kefu_common::domain::command::NewLeaveMessage;
use kefu_common::domain::events::DomainEvent;
use kefu_common::domain::leave::Tag;
use kefu_common::domain::outcome::{ErrorCode, Nothing, Reply};
use kefu_common::domain::ServId;
use kefu_common::store::entity::{leave_message, leave_message_app};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::writes::serves_app;
use super::{refuse, Applied, Handled};

pub async fn create(txn: &DatabaseTransaction, left: &NewLeaveMessage) -> Handled {
    let id = left.id.to_string();
    let row = leave_message::ActiveModel {
        id: Set(id.clone()),
        acc_type: Set("app".to_owned()),
        acc_name: Set(left.acc_name.clone()),
        user_id: Set(left.user_id.as_ref().map(|u| u.to_string())),
        contact: Set(left.contact.to_string()),
        callback: Set(left.callback.as_str().to_owned()),
        tel: Set(left.tel.as_ref().map(|t| t.as_str().to_owned())),
        email: Set(left.email.as_ref().map(|e| e.as_str().to_owned())),
        subject: Set(left.subject.to_string()),
        content: Set(left.content.as_ref().map(|c| c.to_string())),
        create_time: Set(chrono::Utc::now()),
        user_data: Set(left.user_data.clone()),
        tag: Set(None),
    };
    leave_message::Entity::insert(row).exec_without_returning(txn).await?;
    let owner = leave_message_app::ActiveModel {
        message_id: Set(id.clone()),
        app_id: Set(left.app_id),
    };
    leave_message_app::Entity::insert(owner)
        .exec_without_returning(txn)
        .await?;
    let event = DomainEvent::LeaveMessageCreated {
        app_id: left.app_id,
        id: id.clone(),
    };
    Ok(Applied::new(Reply::LeaveMessageStored { id }, vec![event]))
}

/// Sets or clears a leave message's tag. The agent's apps are checked again here: an
/// operator may have taken the app from the agent since the ingest looked.
/// `serv_id` is `None` for operators (admin API), who see every app.
pub async fn tag(txn: &DatabaseTransaction, id: &Uuid, serv_id: Option<&ServId>, tag: Option<&Tag>) -> Handled {
    let id = id.to_string();
    let Some(owner) = leave_message_app::Entity::find_by_id(id.clone()).one(txn).await? else {
        return refuse(ErrorCode::UnknownLeaveMessage, "no such leave message");
    };
    if let Some(serv_id) = serv_id {
        if !serves_app(txn, serv_id.as_str(), owner.app_id).await? {
            return refuse(ErrorCode::UnknownLeaveMessage, "no such leave message");
        }
    }
    // `create_time` is assigned to itself: MySQL's `ON UPDATE CURRENT_TIMESTAMP` (the
    // spec's DDL) would otherwise move it.
    leave_message::Entity::update_many()
        .col_expr(leave_message::Column::Tag, Expr::value(tag.map(|t| t.to_string())))
        .col_expr(
            leave_message::Column::CreateTime,
            Expr::col(leave_message::Column::CreateTime).into(),
        )
        .filter(leave_message::Column::Id.eq(id.as_str()))
        .exec(txn)
        .await?;
    let event = DomainEvent::LeaveMessageTagged {
        app_id: owner.app_id,
        id,
        tag: tag.map(|t| t.to_string()),
    };
    Ok(Applied::new(Reply::Done(Nothing {}), vec![event]))
}
