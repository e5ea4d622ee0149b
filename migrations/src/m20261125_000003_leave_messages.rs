//! The leave-message spec's table `cc_misc_lvmsg`, column for column. On MariaDB/MySQL
//! it is the spec's DDL (names, types, lengths, nullability, key, comments, InnoDB) with
//! two deliberate differences: utf8mb4 instead of utf8 (so emoji survive), and an index
//! on `create_time` for listing. PostgreSQL and SQLite get the closest equivalent
//! (PostgreSQL's `create_time` is `timestamptz`: MySQL's `timestamp` is an instant too).
//! Kefu does not know which app a row belongs to beyond `acc_name`, so it keeps that in
//! a side table (`leave_message_apps`), leaving the spec's table as deployments read it.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const MYSQL: &str = r#"CREATE TABLE IF NOT EXISTS `cc_misc_lvmsg` (
  `id` varchar(50) NOT NULL,
  `acc_type` varchar(50) NOT NULL COMMENT '留言来源的账户类型。微信请自行填写"weixin",否则是"app"',
  `acc_name` varchar(50) NOT NULL COMMENT '账户名。微信的需要自行填写微信账户名,app的是app的name',
  `user_id` varchar(50) DEFAULT NULL COMMENT '如果APP能够提供用户的唯一ID,就在这个字段填写。如果无法确定,则可不提供该字段。',
  `contact` varchar(32) NOT NULL COMMENT '联络人称谓',
  `callback` varchar(50) NOT NULL COMMENT '回复方式',
  `tel` varchar(45) DEFAULT NULL,
  `email` varchar(100) DEFAULT NULL,
  `subject` varchar(50) NOT NULL COMMENT '留言主题',
  `content` varchar(2000) DEFAULT NULL COMMENT '留言内容',
  `create_time` timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  `user_data` varchar(2000) DEFAULT NULL COMMENT '附加数据',
  `tag` varchar(45) DEFAULT NULL COMMENT '标签,开发可任意处置',
  PRIMARY KEY (`id`),
  KEY `idx_cc_misc_lvmsg_create_time` (`create_time`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='留言记录'"#;

/// The same columns for PostgreSQL and SQLite, with the given type for `create_time`.
fn portable_table(create_time: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS cc_misc_lvmsg (
  id varchar(50) NOT NULL PRIMARY KEY,
  acc_type varchar(50) NOT NULL,
  acc_name varchar(50) NOT NULL,
  user_id varchar(50) DEFAULT NULL,
  contact varchar(32) NOT NULL,
  callback varchar(50) NOT NULL,
  tel varchar(45) DEFAULT NULL,
  email varchar(100) DEFAULT NULL,
  subject varchar(50) NOT NULL,
  content varchar(2000) DEFAULT NULL,
  create_time {create_time} NOT NULL DEFAULT CURRENT_TIMESTAMP,
  user_data varchar(2000) DEFAULT NULL,
  tag varchar(45) DEFAULT NULL
)"
    )
}

const CREATE_TIME_INDEX: &str =
    "CREATE INDEX IF NOT EXISTS idx_cc_misc_lvmsg_create_time ON cc_misc_lvmsg (create_time)";

/// PostgreSQL keeps the DDL's comments.
const POSTGRES_COMMENTS: [&str; 10] = [
    "COMMENT ON TABLE cc_misc_lvmsg IS '留言记录'",
    r#"COMMENT ON COLUMN cc_misc_lvmsg.acc_type IS '留言来源的账户类型。微信请自行填写"weixin",否则是"app"'"#,
    "COMMENT ON COLUMN cc_misc_lvmsg.acc_name IS '账户名。微信的需要自行填写微信账户名,app的是app的name'",
    "COMMENT ON COLUMN cc_misc_lvmsg.user_id IS '如果APP能够提供用户的唯一ID,就在这个字段填写。如果无法确定,则可不提供该字段。'",
    "COMMENT ON COLUMN cc_misc_lvmsg.contact IS '联络人称谓'",
    "COMMENT ON COLUMN cc_misc_lvmsg.callback IS '回复方式'",
    "COMMENT ON COLUMN cc_misc_lvmsg.subject IS '留言主题'",
    "COMMENT ON COLUMN cc_misc_lvmsg.content IS '留言内容'",
    "COMMENT ON COLUMN cc_misc_lvmsg.user_data IS '附加数据'",
    "COMMENT ON COLUMN cc_misc_lvmsg.tag IS '标签,开发可任意处置'",
];

/// Which app a leave message came to (the spec's table only names the app).
const APPS_MYSQL: &str = "CREATE TABLE IF NOT EXISTS leave_message_apps (
  message_id varchar(50) NOT NULL PRIMARY KEY,
  app_id bigint NOT NULL,
  KEY idx_leave_message_apps_app (app_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

const APPS_OTHER: [&str; 2] = [
    "CREATE TABLE IF NOT EXISTS leave_message_apps (
  message_id varchar(50) NOT NULL PRIMARY KEY,
  app_id bigint NOT NULL
)",
    "CREATE INDEX IF NOT EXISTS idx_leave_message_apps_app ON leave_message_apps (app_id)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        let statements: Vec<String> = match m.get_database_backend() {
            DbBackend::MySql => vec![MYSQL.into(), APPS_MYSQL.into()],
            DbBackend::Postgres => [portable_table("timestamptz"), CREATE_TIME_INDEX.into()]
                .into_iter()
                .chain(POSTGRES_COMMENTS.map(String::from))
                .chain(APPS_OTHER.map(String::from))
                .collect(),
            DbBackend::Sqlite => [portable_table("timestamp"), CREATE_TIME_INDEX.into()]
                .into_iter()
                .chain(APPS_OTHER.map(String::from))
                .collect(),
        };
        for sql in statements {
            db.execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP TABLE IF EXISTS leave_message_apps").await?;
        db.execute_unprepared("DROP TABLE IF EXISTS cc_misc_lvmsg").await?;
        Ok(())
    }
}
