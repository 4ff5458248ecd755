//! `token_usage`: one row per tracked LLM request.

use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "token_usage")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub request_type: String,
    pub model: String,
    /// `user`, or the id of the API key that tracked it.
    pub reporter: String,
    pub prompt_tokens: i64,
    pub completion_tokens: i64,
    pub total_tokens: i64,
    pub request_id: Option<String>,
    pub conversation_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub usage_date: Date,
}

impl ActiveModelBehavior for ActiveModel {}
