//! `cargo run -p migration -- up|down|status|fresh|refresh|reset` (reads `DATABASE_URL`).

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(migration::Migrator).await;
}
