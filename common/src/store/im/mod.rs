//! Tencent Cloud IM: the customer-service send_msg API Kefu delivers agent replies
//! through (`v4/desk_http_svc/send_msg`; README, "Tencent Cloud IM").

pub mod deliveries;
pub mod message;
pub mod usersig;
