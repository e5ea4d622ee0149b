//! Tencent Cloud IM: the customer-service send_msg API Kefu delivers agent replies
//! through (../shared/spec/im-desk-send-msg.txt).

pub mod deliveries;
pub mod message;
pub mod usersig;
