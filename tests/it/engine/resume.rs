//! A Berth killed in the middle of provisioning resumes without a second container: the
//! container the engine made before the crash is adopted (named `berth-<site id>`, labelled
//! with the site and this installation), never made again.
//!
//! Two ways: for real, `berth serve` killed with SIGKILL as soon as the container appears on
//! the engine, then a second `berth serve`; and deterministically, a worker whose driver
//! makes the container and then never answers, aborted, then a worker with the real driver.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth::engine::{ContainerDriver, DockerDriver, Platform};
use berth::sites::model::SiteId;
use bollard::query_parameters::ListContainersOptionsBuilder;
use tokio::sync::Notify;

use super::{EngineApp, create_site, docker_host, fetch};
use crate::helpers::FakeDriver;

/// A running `berth serve`, killed if the test ends without stopping it.
struct Berth(Child);

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Berth {
    /// `berth serve` on the engine, with the test's database and files folder; returns once
    /// it serves (its provisioning worker is running).
    fn serve(engine: &EngineApp, database_url: &str) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("BERTH_DRIVER", "docker")
            .env("DOCKER_HOST", docker_host())
            .env("BERTH_PUBLISH", "127.0.0.1")
            .env("BERTH_DATA", &engine.platform.data)
            .env("BERTH_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut berth = Berth(child);
        let stdout = berth.0.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("berth exited: {:?}", berth.0.try_wait()))
                .unwrap();
            if line.starts_with("Berth is serving on ") {
                break;
            }
        }
        // Keep reading so that Berth never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        berth
    }

    fn kill(mut self) {
        // SAFETY: signalling our own child.
        assert_eq!(unsafe { libc::kill(self.0.id() as i32, libc::SIGKILL) }, 0);
        self.0.wait().unwrap();
    }
}

/// The ids and states of every container on the engine labelled with the site.
async fn labelled(engine: &EngineApp, site: SiteId) -> Vec<(String, String)> {
    let options = ListContainersOptionsBuilder::new()
        .all(true)
        .filters(&std::collections::HashMap::from([(
            "label",
            vec![format!("berth.site={site}")],
        )]))
        .build();
    engine
        .docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .map(|c| {
            (
                c.id.unwrap_or_default(),
                c.state.map(|s| s.to_string()).unwrap_or_default(),
            )
        })
        .collect()
}

/// (status, attempts) of the site's create_container step, and how many attempts at it
/// are recorded.
async fn create_step(engine: &EngineApp, site: SiteId) -> (String, i32, i64) {
    sqlx::query_as(
        "select s.status, s.attempts, (select count(*) from job_attempts a where a.step_id = s.id)
         from job_steps s join provisioning_jobs j on j.id = s.job_id
         where j.site_id = $1 and s.name = 'create_container'",
    )
    .bind(site)
    .fetch_one(&engine.pool)
    .await
    .unwrap()
}

/// The container is the one made before the crash, running, alone with its label, and it
/// serves the site.
async fn adopted(engine: &EngineApp, site: SiteId, id_before: &str) {
    let found = engine.inspect(site).await;
    assert_eq!(found.id.as_deref(), Some(id_before), "the same container, adopted");
    assert_eq!(found.state.as_ref().and_then(|s| s.running), Some(true));
    let all = labelled(engine, site).await;
    assert_eq!(all.len(), 1, "exactly one container for site {site}: {all:?}");
    assert_eq!(all[0], (id_before.to_owned(), "running".to_owned()));
    let status: String = sqlx::query_scalar("select status from containers where site_id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    assert_eq!(status, "active");
    let page = fetch(&format!("{}/", engine.preview(site).await)).await;
    assert!(page.contains("resume.example.com"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_berth_killed_in_the_middle_of_provisioning_resumes_without_a_second_container() {
    let Some(engine) = EngineApp::spawn().await else {
        return;
    };
    let url = engine.database_url().await;
    let first = tokio::task::block_in_place(|| Berth::serve(&engine, &url));
    let site = create_site(&engine, "alice", "resume.example.com", "web").await;

    // As soon as the engine has the container, the first Berth dies.
    let name = berth::engine::container_name(site.0);
    let started = Instant::now();
    let id_before = loop {
        if let Ok(found) = engine.docker.inspect_container(&name, None).await {
            break found.id.unwrap();
        }
        assert!(
            started.elapsed() < super::PROVISIONED_WITHIN,
            "the first Berth makes the container"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    tokio::task::block_in_place(|| first.kill());
    // Killed inside the step: its transaction never committed, so the step is still to do
    // and no attempt at it is recorded.
    assert_eq!(
        create_step(&engine, site).await,
        ("pending".to_owned(), 0, 0),
        "the first Berth died before the step's end"
    );
    let status: String = sqlx::query_scalar("select status from sites where id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    assert_eq!(status, "provisioning");

    let second = tokio::task::block_in_place(|| Berth::serve(&engine, &url));
    engine.provisioned(site).await;
    assert_eq!(create_step(&engine, site).await, ("done".to_owned(), 1, 1));
    adopted(&engine, site, &id_before).await;

    drop(second);
    engine.clean_up().await;
}

#[tokio::test]
async fn a_worker_cut_off_after_the_engine_made_the_container_is_followed_by_one_that_adopts_it() {
    let Some(mut engine) = EngineApp::spawn().await else {
        return;
    };
    let made = Arc::new(Notify::new());
    let hanging = Arc::new(Platform {
        // The real driver, except that `ensure` never answers once the container is made
        // and started (a Berth that hangs, or dies, right after the engine did its part).
        driver: Arc::new(FakeDriver::over(DockerDriver::new(&docker_host())).on_ensure({
            let (real, made) = (DockerDriver::new(&docker_host()), made.clone());
            let real = Arc::new(real);
            move |spec| {
                let (real, made) = (real.clone(), made.clone());
                async move {
                    real.ensure(&spec).await?;
                    made.notify_one();
                    std::future::pending().await
                }
            }
        })),
        data: engine.platform.data.clone(),
        publish: engine.platform.publish,
    });
    let worker = berth::provisioning::spawn(engine.pool.clone(), hanging);
    let site = create_site(&engine, "alice", "resume.example.com", "web").await;
    tokio::time::timeout(super::PROVISIONED_WITHIN, made.notified())
        .await
        .expect("the engine makes the container");
    let id_before = engine.inspect(site).await.id.unwrap();

    // The worker is cut off mid-step: the step rolls back with its transaction.
    worker.abort();
    let _ = worker.await;
    let rolled_back = Instant::now();
    while create_step(&engine, site).await != ("pending".to_owned(), 0, 0) {
        assert!(rolled_back.elapsed() < Duration::from_secs(10), "the step rolls back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status: String = sqlx::query_scalar("select status from containers where site_id = $1")
        .bind(site)
        .fetch_one(&engine.pool)
        .await
        .unwrap();
    assert_eq!(status, "pending", "the container is not marked made");
    assert_eq!(labelled(&engine, site).await.len(), 1);

    engine.start_worker();
    engine.provisioned(site).await;
    assert_eq!(create_step(&engine, site).await, ("done".to_owned(), 1, 1));
    adopted(&engine, site, &id_before).await;

    engine.clean_up().await;
}
