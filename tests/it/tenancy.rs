//! Tenant isolation kept by the database itself: a customer's row cannot point at another
//! customer's row, whatever a query does (migration `…_tenant_keys.sql`).

use crate::ftp::add_site;
use crate::helpers::TestApp;

/// The constraint a statement broke, or a panic if it succeeded.
async fn refused(app: &TestApp, sql: &str, binds: &[i64]) -> String {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = query.bind(bind);
    }
    match query.execute(&app.pool).await {
        Ok(_) => panic!("the database accepted a cross-customer reference: {sql}"),
        Err(err) => berth::db::violated(&err)
            .unwrap_or_else(|| panic!("{sql}: {err}"))
            .to_owned(),
    }
}

#[tokio::test]
async fn no_row_of_one_customer_can_point_at_a_row_of_another() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let bob = app.create_customer("bob").await;
    let (site, envs) = add_site(&app, alice, "alicesite", &["production"]).await;
    let (alice, bob) = (alice.0, bob.0);

    let env = refused(
        &app,
        "insert into environments (customer_id, site_id, name) values ($1, $2, 'staging')",
        &[bob, site],
    )
    .await;
    assert_eq!(env, "environments_site_fkey");
    let ftp = refused(
        &app,
        "insert into ftp_users (customer_id, name, username, password_hash, type, site_id, environment_id)
         values ($1, 'Bob', 'bobftp', 'x', 'read-only', $2, $3)",
        &[bob, site, envs[0]],
    )
    .await;
    assert!(
        ["ftp_users_site_fkey", "ftp_users_environment_fkey"].contains(&ftp.as_str()),
        "{ftp}"
    );
    let moved = refused(&app, "update sites set customer_id = $1 where id = $2", &[bob, site]).await;
    assert!(moved.ends_with("_fkey"), "{moved}");

    let contact: i64 = app
        .scalar(&format!(
            "insert into contacts (customer_id, name) values ({alice}, 'Ops') returning id"
        ))
        .await;
    let method = refused(
        &app,
        "insert into contact_methods (customer_id, contact_id, method_id)
         select $1, $2, id from contact_method_types limit 1",
        &[bob, contact],
    )
    .await;
    assert_eq!(method, "contact_methods_contact_fkey");

    // The same rows under their own customer are accepted.
    sqlx::query("insert into environments (customer_id, site_id, name) values ($1, $2, 'staging')")
        .bind(alice)
        .bind(site)
        .execute(&app.pool)
        .await
        .unwrap();
}
