//! Provisioning: the worker runs a job's steps in order, once each even with several
//! workers, retries with back-off and records every attempt; the address pool and
//! `berth pool add`.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth::engine::Platform;
use berth::identity::CustomerId;
use berth::provisioning::{self, MAX_ATTEMPTS, run_once};
use berth::sites::model::SiteId;

use crate::helpers::{FakeDriver, TestApp, dev_platform, platform_with};

mod platform;
mod shutdown;

/// What the wizard writes on "Create", written here directly: the site (provisioning), its
/// hostnames, one pending container without an address, two pending environments, planned
/// A records (when `create_dns`), and the job with its five pending steps.
pub(crate) async fn insert_site_with_job(
    app: &TestApp,
    customer: CustomerId,
    hostname: &str,
    aliases: &[&str],
    create_dns: bool,
) -> SiteId {
    let mut tx = app.pool.begin().await.unwrap();
    let site: SiteId = sqlx::query_scalar(
        "insert into sites (customer_id, name, hostname, create_dns, draft_token)
         values ($1, $2, $2, $3, gen_random_uuid()) returning id",
    )
    .bind(customer)
    .bind(hostname)
    .bind(create_dns)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    let mut names = vec![hostname];
    names.extend_from_slice(aliases);
    sqlx::query(
        "insert into hostnames (hostname, customer_id, site_id, is_primary)
         select name, $2, $3, n = 1 from unnest($1::text[]) with ordinality as h (name, n)",
    )
    .bind(&names)
    .bind(customer)
    .bind(site)
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "insert into containers (customer_id, site_id, name, type_id, os_id, size_id, disk_gib)
         values ($1, $2, $3, 'lamp', 'debian-13', 'small', 20)",
    )
    .bind(customer)
    .bind(site)
    .bind(format!("web-{hostname}"))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "insert into environments (customer_id, site_id, name) values ($1, $2, 'production'), ($1, $2, 'staging')",
    )
    .bind(customer)
    .bind(site)
    .execute(&mut *tx)
    .await
    .unwrap();
    if create_dns {
        sqlx::query(
            "insert into dns_records (customer_id, site_id, name, type) select $1, $2, unnest($3::text[]), 'A'",
        )
        .bind(customer)
        .bind(site)
        .bind(&names)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    let job: i64 = sqlx::query_scalar(
        "insert into provisioning_jobs (customer_id, site_id, status) values ($1, $2, 'pending') returning id",
    )
    .bind(customer)
    .bind(site)
    .fetch_one(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "insert into job_steps (job_id, position, name, status, next_attempt_at)
         select $1, position, name, 'pending', now() from unnest($2::text[]) with ordinality as s (name, position)",
    )
    .bind(job)
    .bind(&berth::sites::steps::STEPS[..])
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    site
}

/// Runs due steps until none is due; returns how many ran.
async fn drain(app: &TestApp, platform: &Platform) -> usize {
    let mut ran = 0;
    while run_once(&app.pool, platform, "test-worker").await.unwrap() {
        ran += 1;
        assert!(ran < 1000, "the worker does not stop");
    }
    ran
}

/// Makes every pending step due now (instead of waiting out the back-off).
async fn make_due(app: &TestApp) {
    sqlx::query("update job_steps set next_attempt_at = now() where status = 'pending'")
        .execute(&app.pool)
        .await
        .unwrap();
}

async fn site_status(app: &TestApp, site: SiteId) -> String {
    sqlx::query_scalar("select status from sites where id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn job_status(app: &TestApp, site: SiteId) -> String {
    sqlx::query_scalar("select status from provisioning_jobs where site_id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// (status, attempts, last_error) of the site's step `name`.
async fn step(app: &TestApp, site: SiteId, name: &str) -> (String, i32, Option<String>) {
    sqlx::query_as(
        "select s.status, s.attempts, s.last_error from job_steps s join provisioning_jobs j on j.id = s.job_id
         where j.site_id = $1 and s.name = $2",
    )
    .bind(site)
    .bind(name)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// (attempt, worker, error) of every attempt at the site's step `name`, in order.
async fn attempts(app: &TestApp, site: SiteId, name: &str) -> Vec<(i32, String, Option<String>)> {
    sqlx::query_as(
        "select a.attempt, a.worker, a.error from job_attempts a
         join job_steps s on s.id = a.step_id join provisioning_jobs j on j.id = s.job_id
         where j.site_id = $1 and s.name = $2 order by a.attempt",
    )
    .bind(site)
    .bind(name)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn container_address(app: &TestApp, site: SiteId) -> Option<String> {
    sqlx::query_scalar("select host(address) from containers where site_id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// A platform whose driver fails its first `failures` calls, and the count of calls.
fn flaky(failures: usize) -> (Platform, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let driver = FakeDriver::new().on_ensure(move |_| {
        let call = counted.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if call <= failures {
                Err(format!("The platform is busy (call {call})."))
            } else {
                Ok(())
            }
        }
    });
    (platform_with(driver), calls)
}

#[tokio::test]
async fn a_job_runs_to_the_end_and_the_site_is_active() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "shop.example.com", &["www.shop.example.com"], true).await;
    assert_eq!(site_status(&app, site).await, "provisioning");

    assert_eq!(drain(&app, &dev_platform()).await, 5);

    assert_eq!(site_status(&app, site).await, "active");
    assert_eq!(job_status(&app, site).await, "done");
    let finished: bool = sqlx::query_scalar("select finished_at is not null from provisioning_jobs where site_id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(finished);
    for name in berth::sites::steps::STEPS {
        assert_eq!(step(&app, site, name).await, ("done".to_owned(), 1, None), "{name}");
        assert_eq!(
            attempts(&app, site, name).await,
            [(1, "test-worker".to_owned(), None)],
            "{name}"
        );
    }

    // The lowest free address of the pool (the seeded documentation range), now the
    // container's and allocated to the customer.
    assert_eq!(container_address(&app, site).await.as_deref(), Some("192.0.2.10"));
    let (owner, by_container): (Option<CustomerId>, bool) = sqlx::query_as(
        "select p.customer_id, p.container_id = c.id and p.allocated_at is not null
         from ip_pool p join containers c on c.site_id = $1 where p.address = '192.0.2.10'",
    )
    .bind(site)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(owner, Some(alice));
    assert!(by_container);

    let statuses: Vec<String> = sqlx::query_scalar(
        "select status from containers where site_id = $1 union all
         select status from environments where site_id = $1",
    )
    .bind(site)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(statuses, ["active", "active", "active"]);

    let records: Vec<(String, String, Option<String>)> =
        sqlx::query_as("select name, type, value from dns_records where site_id = $1 order by name")
            .bind(site)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        records,
        [
            (
                "shop.example.com".to_owned(),
                "A".to_owned(),
                Some("192.0.2.10".to_owned())
            ),
            (
                "www.shop.example.com".to_owned(),
                "A".to_owned(),
                Some("192.0.2.10".to_owned())
            ),
        ]
    );

    // Nothing left to do.
    assert!(!run_once(&app.pool, &dev_platform(), "test-worker").await.unwrap());
}

#[tokio::test]
async fn without_create_dns_no_records_are_written() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "quiet.example.com", &["alias.example.com"], false).await;
    drain(&app, &dev_platform()).await;
    assert_eq!(site_status(&app, site).await, "active");
    let records: i64 = sqlx::query_scalar("select count(*) from dns_records where site_id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(records, 0);
}

#[tokio::test]
async fn an_ipv6_address_gets_aaaa_records() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    sqlx::query("delete from ip_pool").execute(&app.pool).await.unwrap();
    sqlx::query("insert into ip_pool (address) values ('2001:db8::20'), ('2001:db8::10')")
        .execute(&app.pool)
        .await
        .unwrap();
    let site = insert_site_with_job(&app, alice, "v6.example.com", &["www.v6.example.com"], true).await;
    drain(&app, &dev_platform()).await;
    assert_eq!(site_status(&app, site).await, "active");
    assert_eq!(container_address(&app, site).await.as_deref(), Some("2001:db8::10"));
    let records: Vec<(String, String)> =
        sqlx::query_as("select type, value from dns_records where site_id = $1 order by name")
            .bind(site)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(records, vec![("AAAA".to_owned(), "2001:db8::10".to_owned()); 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_run_every_step_exactly_once() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let bob = app.create_customer("bob").await;
    for i in 0..20 {
        let customer = if i % 2 == 0 { alice } else { bob };
        insert_site_with_job(
            &app,
            customer,
            &format!("site{i}.example.com"),
            &[&format!("www.site{i}.example.com")],
            true,
        )
        .await;
    }

    let driver = Arc::new(dev_platform());
    let workers: Vec<_> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|name| {
            let (pool, driver) = (app.pool.clone(), driver.clone());
            tokio::spawn(async move {
                let mut ran = 0;
                loop {
                    if run_once(&pool, &driver, name).await.unwrap() {
                        ran += 1;
                        continue;
                    }
                    let open: i64 = sqlx::query_scalar(
                        "select count(*) from provisioning_jobs where status in ('pending', 'running')",
                    )
                    .fetch_one(&pool)
                    .await
                    .unwrap();
                    if open == 0 {
                        return ran;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        })
        .collect();
    let mut ran = Vec::new();
    for worker in workers {
        ran.push(
            tokio::time::timeout(Duration::from_secs(120), worker)
                .await
                .expect("the workers finish")
                .unwrap(),
        );
    }
    assert_eq!(ran.iter().sum::<i32>(), 100, "{ran:?}");
    assert!(ran.iter().all(|&n| n > 0), "both workers worked: {ran:?}");

    let not_once: i64 = app
        .scalar(
            "select count(*) from job_steps s
             where s.status <> 'done' or s.attempts <> 1
                or (select count(*) from job_attempts a where a.step_id = s.id and a.error is null) <> 1
                or (select count(*) from job_attempts a where a.step_id = s.id) <> 1",
        )
        .await;
    assert_eq!(not_once, 0);
    assert_eq!(app.scalar::<i64>("select count(*) from job_attempts").await, 100);
    assert_eq!(
        app.scalar::<i64>("select count(*) from sites where status = 'active'")
            .await,
        20
    );
    // Twenty containers, twenty different addresses, each allocated to its owner.
    assert_eq!(
        app.scalar::<i64>(
            "select count(distinct c.address) from containers c
             join ip_pool p on p.address = c.address and p.container_id = c.id and p.customer_id = c.customer_id"
        )
        .await,
        20
    );
    assert_eq!(
        app.scalar::<i64>("select count(*) from ip_pool where customer_id is not null")
            .await,
        20
    );
}

#[tokio::test]
async fn a_failing_driver_is_retried_with_back_off_and_every_error_recorded() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "retry.example.com", &[], true).await;
    let (driver, calls) = flaky(2);

    // allocate_address, then the first (failing) create_container.
    assert_eq!(drain(&app, &driver).await, 2);
    let (status, attempts_made, error) = step(&app, site, "create_container").await;
    assert_eq!((status.as_str(), attempts_made), ("pending", 1));
    assert_eq!(error.as_deref(), Some("The platform is busy (call 1)."));
    assert_eq!(job_status(&app, site).await, "running");
    assert_eq!(site_status(&app, site).await, "provisioning");
    // Back-off: due again two seconds after the failed attempt.
    let wait: f64 = sqlx::query_scalar(
        "select extract(epoch from s.next_attempt_at - a.finished_at)::float8
         from job_steps s join provisioning_jobs j on j.id = s.job_id join job_attempts a on a.step_id = s.id
         where j.site_id = $1 and s.name = 'create_container'",
    )
    .bind(site)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!((2.0..2.5).contains(&wait), "back-off of {wait} s");
    // While it is not due, nothing runs: the later steps (due since the job was created)
    // wait for it. (Pushed further out so that a slow machine cannot make it due.)
    sqlx::query("update job_steps set next_attempt_at = now() + interval '1 hour' where name = 'create_container'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(!run_once(&app.pool, &driver, "test-worker").await.unwrap());
    // The failed attempt wrote nothing: the container is still pending.
    let container: String = sqlx::query_scalar("select status from containers where site_id = $1")
        .bind(site)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(container, "pending");

    make_due(&app).await;
    assert_eq!(drain(&app, &driver).await, 1);
    let (_, attempts_made, error) = step(&app, site, "create_container").await;
    assert_eq!(attempts_made, 2);
    assert_eq!(error.as_deref(), Some("The platform is busy (call 2)."));

    make_due(&app).await;
    assert_eq!(drain(&app, &driver).await, 4);
    assert_eq!(job_status(&app, site).await, "done");
    assert_eq!(site_status(&app, site).await, "active");
    let (status, attempts_made, _) = step(&app, site, "create_container").await;
    assert_eq!((status.as_str(), attempts_made), ("done", 3));
    let errors: Vec<Option<String>> = attempts(&app, site, "create_container")
        .await
        .into_iter()
        .map(|(_, _, e)| e)
        .collect();
    assert_eq!(
        errors,
        [
            Some("The platform is busy (call 1).".to_owned()),
            Some("The platform is busy (call 2).".to_owned()),
            None
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_driver_that_always_fails_fails_the_job_after_the_last_attempt() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "doomed.example.com", &[], true).await;
    let (driver, calls) = flaky(usize::MAX);

    for _ in 0..10 {
        drain(&app, &driver).await;
        make_due(&app).await;
    }

    assert_eq!(calls.load(Ordering::SeqCst), MAX_ATTEMPTS as usize);
    let (status, attempts_made, error) = step(&app, site, "create_container").await;
    assert_eq!((status.as_str(), attempts_made), ("failed", MAX_ATTEMPTS));
    assert_eq!(error.as_deref(), Some("The platform is busy (call 5)."));
    assert_eq!(
        attempts(&app, site, "create_container").await.len(),
        MAX_ATTEMPTS as usize
    );
    assert!(
        attempts(&app, site, "create_container")
            .await
            .iter()
            .all(|(_, _, e)| e.is_some())
    );
    assert_eq!(job_status(&app, site).await, "failed");
    assert_eq!(site_status(&app, site).await, "failed");
    // The steps after it never ran; what was still pending is failed.
    assert_eq!(step(&app, site, "write_dns").await, ("pending".to_owned(), 0, None));
    let statuses: Vec<String> = sqlx::query_scalar(
        "select status from containers where site_id = $1 union all
         select status from environments where site_id = $1",
    )
    .bind(site)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(statuses, ["failed", "failed", "failed"]);
    assert!(!run_once(&app.pool, &driver, "test-worker").await.unwrap());
}

#[tokio::test]
async fn an_exhausted_pool_fails_allocation_until_an_address_is_added() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    sqlx::query("delete from ip_pool").execute(&app.pool).await.unwrap();
    let site = insert_site_with_job(&app, alice, "empty.example.com", &[], true).await;

    assert_eq!(drain(&app, &dev_platform()).await, 1);
    let (status, attempts_made, error) = step(&app, site, "allocate_address").await;
    assert_eq!((status.as_str(), attempts_made), ("pending", 1));
    assert_eq!(error.as_deref(), Some("no free address in the pool"));
    assert_eq!(
        attempts(&app, site, "allocate_address").await,
        [(
            1,
            "test-worker".to_owned(),
            Some("no free address in the pool".to_owned())
        )]
    );
    assert_eq!(container_address(&app, site).await, None);
    // Tried again when due; the later steps, due as they are, wait for it.
    make_due(&app).await;
    assert_eq!(drain(&app, &dev_platform()).await, 1);
    assert_eq!(step(&app, site, "allocate_address").await.1, 2);
    assert_eq!(
        step(&app, site, "create_container").await,
        ("pending".to_owned(), 0, None)
    );

    sqlx::query("insert into ip_pool (address) values ('203.0.113.7')")
        .execute(&app.pool)
        .await
        .unwrap();
    make_due(&app).await;
    assert_eq!(drain(&app, &dev_platform()).await, 5);
    assert_eq!(site_status(&app, site).await, "active");
    assert_eq!(container_address(&app, site).await.as_deref(), Some("203.0.113.7"));
}

#[tokio::test]
async fn a_step_that_fails_half_way_leaves_nothing_behind_and_hides_internal_errors() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "halfway.example.com", &[], true).await;
    // allocate_address takes an address from the pool, then fails writing it to the
    // container with a database error.
    for sql in [
        "create function refuse_address() returns trigger language plpgsql as
         $$ begin raise exception 'secret internal detail'; end $$",
        "create trigger refuse_address before update of address on containers
         for each row execute function refuse_address()",
    ] {
        sqlx::query(sql).execute(&app.pool).await.unwrap();
    }

    assert_eq!(drain(&app, &dev_platform()).await, 1);
    let (status, attempts_made, error) = step(&app, site, "allocate_address").await;
    assert_eq!((status.as_str(), attempts_made), ("pending", 1));
    assert_eq!(error.as_deref(), Some(provisioning::INTERNAL_ERROR));
    assert_eq!(
        attempts(&app, site, "allocate_address").await,
        [(
            1,
            "test-worker".to_owned(),
            Some(provisioning::INTERNAL_ERROR.to_owned())
        )]
    );
    // The address it took went back to the pool with the rest of the attempt.
    assert_eq!(
        app.scalar::<i64>("select count(*) from ip_pool where customer_id is not null or container_id is not null")
            .await,
        0
    );

    sqlx::query("drop trigger refuse_address on containers")
        .execute(&app.pool)
        .await
        .unwrap();
    make_due(&app).await;
    assert_eq!(drain(&app, &dev_platform()).await, 5);
    assert_eq!(site_status(&app, site).await, "active");
    assert_eq!(container_address(&app, site).await.as_deref(), Some("192.0.2.10"));
}

#[tokio::test]
async fn pool_add_adds_the_host_addresses_and_refuses_large_networks() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let count = |net: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("select count(*) from ip_pool where address <<= $1::inet")
                .bind(net)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };

    let (ok, out, err) = run(&["pool", "add", "203.0.113.0/28"]);
    assert!(ok, "{err}");
    // The first host is the network's gateway on the engine, kept out of the pool.
    assert!(out.contains("added 13 addresses"), "{out}");
    assert!(out.contains("gateway 203.0.113.1"), "{out}");
    assert_eq!(count("203.0.113.0/28").await, 13);
    assert_eq!(
        count("203.0.113.0/32").await + count("203.0.113.1/32").await + count("203.0.113.15/32").await,
        0
    );
    let gateway: String = app
        .scalar("select host(gateway) from pool_networks where network = '203.0.113.0/28'")
        .await;
    assert_eq!(gateway, "203.0.113.1");

    let (ok, out, err) = run(&["pool", "add", "203.0.113.0/28"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("added 0 addresses") && out.contains("13 were there already"),
        "{out}"
    );

    let (ok, out, err) = run(&["pool", "add", "2001:db8:1::/120"]);
    assert!(ok, "{err}");
    assert!(out.contains("added 254 addresses"), "{out}");
    assert_eq!(count("2001:db8:1::/120").await, 254);

    let before: i64 = app.scalar("select count(*) from ip_pool").await;
    for (network, message) in [
        ("10.0.0.0/8", "too large"),
        ("2001:db8::/64", "/112"),
        ("203.0.113.5/28", "host bits set; the network is 203.0.113.0/28"),
        ("not-a-network", "not a network"),
    ] {
        let (ok, _, err) = run(&["pool", "add", network]);
        assert!(!ok, "{network} was accepted");
        assert!(err.contains(message), "{network}: {err}");
    }
    assert_eq!(app.scalar::<i64>("select count(*) from ip_pool").await, before);

    // An address the worker allocated stays allocated when its network is added again.
    let alice = app.create_customer("alice").await;
    sqlx::query("update ip_pool set customer_id = $1, allocated_at = now() where address = '203.0.113.2'")
        .bind(alice)
        .execute(&app.pool)
        .await
        .unwrap();
    let (ok, _, err) = run(&["pool", "add", "203.0.113.0/28"]);
    assert!(ok, "{err}");
    let owner: Option<CustomerId> = sqlx::query_scalar("select customer_id from ip_pool where address = '203.0.113.2'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(owner, Some(alice));
}

#[tokio::test]
async fn the_site_page_shows_a_failed_attempt_and_when_it_is_tried_again() {
    let app = TestApp::spawn().await;
    let (client, alice) = app.signed_in_client("alice").await;
    let site = insert_site_with_job(&app, alice, "shown.example.com", &[], true).await;
    drain(&app, &flaky(1).0).await;
    let page = client.get(&format!("/sites/{site}")).await;
    assert_eq!(page.status, reqwest::StatusCode::OK);
    let error = page.text(r#"li[data-step="create_container"] .step-error"#);
    assert!(
        error.contains("Attempt 1 failed: The platform is busy (call 1)."),
        "{error}"
    );
    assert!(page.text(r#"li[data-step="create_container"]"#).contains("Next try"));
    assert_eq!(page.text("#job-status"), "running");
    // The polled fragment says the same, and keeps polling while the job runs.
    let fragment = client.get(&format!("/sites/{site}/progress")).await;
    assert!(fragment.body.contains("The platform is busy (call 1)."));
    assert!(fragment.body.contains(r#"hx-trigger="every 1s""#));
    // Nobody else sees it.
    let (bob, _) = app.signed_in_client("bob").await;
    for path in [
        format!("/sites/{site}"),
        format!("/sites/{site}/progress"),
        format!("/sites/{site}/zone"),
    ] {
        assert_eq!(bob.get(&path).await.status, reqwest::StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn a_panicking_driver_counts_as_a_failed_attempt_not_a_stuck_job() {
    let app = TestApp::spawn().await;
    let alice = app.create_customer("alice").await;
    let site = insert_site_with_job(&app, alice, "panics.example.com", &[], true).await;
    let panicking = platform_with(FakeDriver::new().on_ensure(|_| async { panic!("driver bug") }));
    drain(&app, &panicking).await;
    let (status, attempts_made, error) = step(&app, site, "create_container").await;
    assert_eq!(
        (status.as_str(), attempts_made),
        ("pending", 1),
        "recorded and scheduled again"
    );
    assert_eq!(error.as_deref(), Some(berth::provisioning::INTERNAL_ERROR));
    assert_eq!(attempts(&app, site, "create_container").await.len(), 1);
}
