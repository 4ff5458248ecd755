//! `token_reservations`: tokens reserved for a streamed call until its track settles them.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_reservations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub period_start: Date,
    pub request_type: String,
    pub model: String,
    pub estimated_tokens: i64,
    pub request_id: Option<String>,
    /// `active`, `settled`, `released` or `expired` (an active one past `expires_at` is expired
    /// already; the maintenance worker writes the word later).
    pub state: String,
    /// The request id (or event id) of the track that settled it.
    pub settled_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
}

impl ActiveModelBehavior for ActiveModel {}
