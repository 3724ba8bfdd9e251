//! Demo data for a first look: one customer with a site and this month's bandwidth so far,
//! and one staff account.

use sqlx::PgPool;

use crate::customer::model::DisplayName;
use crate::customer::{Email, Username};
use crate::password::Hasher;

pub const CUSTOMER: &str = "demo";
pub const CUSTOMER_PASSWORD: &str = "demo-password-2026";
pub const STAFF: &str = "support";
pub const STAFF_PASSWORD: &str = "support-password-2026";

/// Adds the demo accounts unless they exist; `true` when anything was added.
pub async fn seed(pool: &PgPool, hasher: &Hasher) -> anyhow::Result<bool> {
    let parse = |s: &str| s.parse::<Username>().map_err(anyhow::Error::msg);
    if crate::customer::model::exists(pool, parse(CUSTOMER)?.key()).await? {
        return Ok(false);
    }
    let hash = hasher.hash(CUSTOMER_PASSWORD).await?;
    let mut tx = pool.begin().await?;
    let id = crate::customer::model::create(
        &mut tx,
        &parse(CUSTOMER)?,
        &"demo@example.com".parse::<Email>().map_err(anyhow::Error::msg)?,
        &"Demo Customer".parse::<DisplayName>().map_err(anyhow::Error::msg)?,
        &hash,
    )
    .await?;
    crate::customer::model::grant_roles(&mut *tx, id, &["technical", "billing"]).await?;
    let site = crate::sites::model::create(&mut tx, id, uuid::Uuid::new_v4(), &demo_plan()?)
        .await
        .map_err(|e| anyhow::anyhow!("demo site: {e:?}"))?;
    crate::bandwidth::model::seed_demo(&mut tx, id, site.0, time::OffsetDateTime::now_utc()).await?;
    let staff_hash = hasher.hash(STAFF_PASSWORD).await?;
    crate::staff::model::create(&mut *tx, &parse(STAFF)?, &staff_hash, true).await?;
    tx.commit().await?;
    Ok(true)
}

fn demo_plan() -> anyhow::Result<crate::sites::model::Plan> {
    let err = anyhow::Error::msg;
    Ok(crate::sites::model::Plan {
        site_name: "Demo shop".parse().map_err(err)?,
        hostname: "shop.demo.example".parse().map_err(err)?,
        container_name: "demo-web".parse().map_err(err)?,
        container_type: "lamp".into(),
        container_os: "debian-12".into(),
        container_size: "small".into(),
        disk_gib: 20,
        environments: vec!["production".parse().map_err(err)?],
        aliases: vec!["www.shop.demo.example".parse().map_err(err)?],
        create_dns: true,
    })
}

pub fn print_sign_in() {
    println!("Demo: sign in as customer `{CUSTOMER}` with password `{CUSTOMER_PASSWORD}`");
    println!("      (staff account `{STAFF}` / `{STAFF_PASSWORD}`, for the staff console when it lands)");
}
