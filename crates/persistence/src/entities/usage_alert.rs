//! `usage_alerts`: thresholds crossed, one row per user, period, unit and threshold.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_alerts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub period_start: Date,
    pub unit: String,
    pub threshold: i32,
    pub used: i64,
    pub usage_limit: i64,
    pub crossed_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
