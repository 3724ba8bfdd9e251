//! Demo data for a first look: one customer with a site and this month's bandwidth so far,
//! example plan prices, and two staff accounts: `support` (read-only) and `support-write`.

use sqlx::PgPool;

use crate::identity::customer::DisplayName;
use crate::identity::{Email, Username};
use crate::password::Hasher;

pub const CUSTOMER: &str = "demo";
pub const CUSTOMER_PASSWORD: &str = "demo-password-2026";
/// Read-only staff (`support`).
pub const STAFF: &str = "support";
pub const STAFF_PASSWORD: &str = "support-password-2026";
/// Staff who may also change what they look at (`support` and `support-write`).
pub const STAFF_WRITE: &str = "support-write";
pub const STAFF_WRITE_PASSWORD: &str = "support-write-password-2026";

/// The demo staff accounts: username, password, and whether they have `support-write`.
pub const STAFF_ACCOUNTS: [(&str, &str, bool); 2] = [
    (STAFF, STAFF_PASSWORD, false),
    (STAFF_WRITE, STAFF_WRITE_PASSWORD, true),
];

/// Adds the demo accounts unless they exist; `true` when anything was added. A staff
/// account missing from an older demo database is added on its own.
pub async fn seed(pool: &PgPool, hasher: &Hasher) -> anyhow::Result<bool> {
    let parse = |s: &str| s.parse::<Username>().map_err(anyhow::Error::msg);
    let mut added = false;
    for (username, password, write) in STAFF_ACCOUNTS {
        if crate::identity::staff::exists(pool, parse(username)?.key()).await? {
            continue;
        }
        let hash = hasher.hash(password).await?;
        added |= crate::identity::staff::create(pool, &parse(username)?, &hash, write)
            .await?
            .is_some();
    }
    if crate::identity::customer::exists(pool, parse(CUSTOMER)?.key()).await? {
        return Ok(added);
    }
    let hash = hasher.hash(CUSTOMER_PASSWORD).await?;
    let mut tx = pool.begin().await?;
    let id = crate::identity::customer::create(
        &mut tx,
        &parse(CUSTOMER)?,
        &"demo@example.com".parse::<Email>().map_err(anyhow::Error::msg)?,
        &"Demo Customer".parse::<DisplayName>().map_err(anyhow::Error::msg)?,
        &hash,
    )
    .await?;
    crate::identity::customer::grant_roles(&mut *tx, id, &["technical", "billing"]).await?;
    let site = crate::sites::model::create(&mut tx, id, uuid::Uuid::new_v4(), &demo_plan()?)
        .await
        .map_err(|e| anyhow::anyhow!("demo site: {e:?}"))?;
    crate::bandwidth::model::seed_demo(&mut tx, id, site.0, time::OffsetDateTime::now_utc()).await?;
    seed_plans(&mut tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// Example prices, so that the wizard and the bandwidth cards show them; only when no size
/// has a plan yet (an operator's catalogue is never changed).
async fn seed_plans(tx: &mut sqlx::PgConnection) -> anyhow::Result<()> {
    use crate::plans::{Price, TransferGb, model};
    if model::catalogue(&mut *tx)
        .await?
        .iter()
        .any(|p| p.price_cents.is_some())
    {
        return Ok(());
    }
    for (size, cents, gb) in [
        ("small", 1200, 1000),
        ("medium", 2400, 2000),
        ("large", 4800, 4000),
        ("xlarge", 9600, 8000),
    ] {
        let transfer = TransferGb::new(gb).map_err(anyhow::Error::msg)?;
        model::set(&mut *tx, size, Price::from_cents(cents), transfer).await?;
    }
    Ok(())
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
    println!("      staff console /staff: `{STAFF}` / `{STAFF_PASSWORD}` (read-only),");
    println!("      `{STAFF_WRITE}` / `{STAFF_WRITE_PASSWORD}` (support-write)");
}
