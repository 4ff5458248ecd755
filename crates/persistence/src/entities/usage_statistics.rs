//! `usage_statistics`: counters per (user, billing period), the quota gate.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_statistics")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub period_start: Date,
    pub tokens_used: i64,
    pub chat_messages: i64,
    pub plagiarism_checks: i64,
    pub prompts_generated: i64,
    pub updated_at: DateTimeUtc,
    /// Reservations of the period not yet settled or released.
    pub open_reservations: i64,
    /// The highest alert threshold (percent) recorded this period per unit; 0 = none.
    pub tokens_alert_level: i32,
    pub chat_messages_alert_level: i32,
    pub plagiarism_checks_alert_level: i32,
    pub prompts_generated_alert_level: i32,
}

impl ActiveModelBehavior for ActiveModel {}
