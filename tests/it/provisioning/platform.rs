//! The platform's commands: `berth image set/list` (and which image a site gets), `berth
//! doctor` with the docker driver (an engine that answers, one that does not), `berth pool
//! add` making the engine network, and the wizard offering only what has an image.

use std::process::Command;
use std::sync::Arc;

use berth::engine::{DockerDriver, Platform};
use berth::provisioning::model::image_for;
use reqwest::StatusCode;

use crate::engine::{EngineApp, IMAGE};
use crate::helpers::{TestApp, assert_field_error, data_dir};

/// Runs `berth` on the test's database with these settings; (success, stdout, stderr).
fn berth(url: &str, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_berth"));
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "error")
        .env_remove("BERTH_DRIVER")
        .env_remove("BERTH_PUBLISH");
    for (name, value) in env {
        command.env(name, value);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn images(app: &TestApp) -> i64 {
    app.scalar("select count(*) from container_images").await
}

#[tokio::test]
async fn image_set_refuses_what_is_not_in_the_catalogue_or_no_reference_and_list_shows_the_rest() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    let run = |args: &[&str]| berth(&url, &[], args);

    let (ok, out, _) = run(&["image", "list"]);
    assert!(ok);
    assert!(out.contains("no image is set"), "{out}");

    for (args, message) in [
        (
            ["nginx", "debian-13", "x/y:1"],
            r#""nginx" is not a container type (or *)"#,
        ),
        (
            ["lamp", "plan9", "x/y:1"],
            r#""plan9" is not an operating system (or *)"#,
        ),
        (["**", "*", "x/y:1"], r#""**" is not a container type"#),
        (["lamp", "debian-13", "x y:1"], r#""x y:1" is not an image reference"#),
        (["lamp", "debian-13", "-x:1"], "is not an image reference"),
        (["lamp", "debian-13", "x;rm -rf /"], "is not an image reference"),
        (["lamp", "debian-13", ""], "is not an image reference"),
        (["lamp", "debian-13", &"a".repeat(256)], "is not an image reference"),
    ] {
        let mut all = vec!["image", "set", "--"];
        all.extend(args);
        let (ok, _, err) = run(&all);
        assert!(!ok, "{args:?} was accepted");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert_eq!(images(&app).await, 0, "nothing refused is stored");

    for (type_id, os_id, image) in [
        ("*", "*", "registry.example/berth/any:1"),
        ("lamp", "*", "registry.example/berth/lamp:1"),
        ("lamp", "debian-13", "registry.example/berth/lamp@sha256:0123abcd"),
        ("*", "alpine-3.20", "registry.example/berth/alpine:3.20"),
    ] {
        let (ok, out, err) = run(&["image", "set", type_id, os_id, image]);
        assert!(ok, "{err}");
        assert!(out.contains(&format!("run {image}")), "{out}");
    }
    // Set again: replaced, not added.
    let (ok, _, err) = run(&["image", "set", "lamp", "*", "registry.example/berth/lamp:2"]);
    assert!(ok, "{err}");
    assert_eq!(images(&app).await, 4);

    // Most specific first.
    let (ok, out, _) = run(&["image", "list"]);
    assert!(ok);
    let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        rows,
        [
            ["lamp", "debian-13", "registry.example/berth/lamp@sha256:0123abcd"],
            ["lamp", "*", "registry.example/berth/lamp:2"],
            ["*", "alpine-3.20", "registry.example/berth/alpine:3.20"],
            ["*", "*", "registry.example/berth/any:1"],
        ]
    );
}

/// `*` matches any type or system, and the most specific setting wins: the exact pair,
/// then the exact type, then the exact system, then `* *`.
#[tokio::test]
async fn the_most_specific_image_wins() {
    let app = TestApp::spawn().await;
    let db = &app.pool;
    let set = |t: &'static str, o: &'static str, image: &'static str| async move {
        berth::provisioning::model::set_image(db, t, o, image).await.unwrap();
    };
    assert_eq!(image_for(db, "lamp", "debian-13").await.unwrap(), None);
    set("*", "*", "any:1").await;
    assert_eq!(
        image_for(db, "lamp", "debian-13").await.unwrap().as_deref(),
        Some("any:1")
    );
    set("*", "debian-13", "trixie:1").await;
    assert_eq!(
        image_for(db, "lamp", "debian-13").await.unwrap().as_deref(),
        Some("trixie:1")
    );
    assert_eq!(
        image_for(db, "lamp", "debian-12").await.unwrap().as_deref(),
        Some("any:1")
    );
    set("lamp", "*", "lamp:1").await;
    assert_eq!(
        image_for(db, "lamp", "debian-13").await.unwrap().as_deref(),
        Some("lamp:1"),
        "the type is more specific than the system"
    );
    assert_eq!(
        image_for(db, "node", "debian-13").await.unwrap().as_deref(),
        Some("trixie:1")
    );
    set("lamp", "debian-13", "lamp-trixie:1").await;
    assert_eq!(
        image_for(db, "lamp", "debian-13").await.unwrap().as_deref(),
        Some("lamp-trixie:1")
    );
    assert_eq!(
        image_for(db, "lamp", "debian-12").await.unwrap().as_deref(),
        Some("lamp:1")
    );
    assert_eq!(
        image_for(db, "static", "alpine-3.20").await.unwrap().as_deref(),
        Some("any:1")
    );
}

#[tokio::test]
async fn doctor_says_plainly_when_the_engine_answers_nothing() {
    let app = TestApp::spawn().await;
    let url = app.database_url().await;
    let data = data_dir();
    let data = data.to_str().unwrap();
    for host in ["unix:///nonexistent/berth-test/docker.sock", "tcp://127.0.0.1:1"] {
        let (ok, out, err) = berth(
            &url,
            &[("BERTH_DRIVER", "docker"), ("DOCKER_HOST", host), ("BERTH_DATA", data)],
            &["doctor"],
        );
        assert!(!ok, "{host}: {out}");
        assert!(out.contains("driver: docker"), "{out}");
        assert!(
            out.contains(&format!(
                "MISSING the container engine at {host} does not answer: start it (dockerd, or podman system service), or set DOCKER_HOST"
            )),
            "{host}: {out}"
        );
        assert!(err.contains("missing"), "{err}");
    }
    // The development driver needs no engine.
    let (ok, out, err) = berth(&url, &[("BERTH_DATA", data)], &["doctor"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("the development driver runs no containers"), "{out}");
    assert!(out.contains("everything Berth needs is there"), "{out}");
}

#[tokio::test]
async fn doctor_with_the_docker_driver_checks_the_engine_and_names_a_missing_image() {
    let Some(engine) = EngineApp::spawn().await else {
        return;
    };
    let url = engine.database_url().await;
    let host = crate::engine::docker_host();
    let data = engine.platform.data.to_str().unwrap().to_owned();
    let env = [
        ("BERTH_DRIVER", "docker"),
        ("DOCKER_HOST", host.as_str()),
        ("BERTH_DATA", data.as_str()),
    ];
    berth::provisioning::model::set_image(&engine.pool, "lamp", "debian-13", "berth-test-missing:0")
        .await
        .unwrap();

    let (ok, out, err) = berth(&url, &env, &["doctor"]);
    assert!(!ok, "{out}");
    assert!(out.contains(&format!("ok      the engine at {host} answers")), "{out}");
    assert!(out.contains(&format!("ok      image {IMAGE} is present")), "{out}");
    assert!(
        out.contains(
            "MISSING image berth-test-missing:0 is not on the engine: pull it (docker pull berth-test-missing:0) or build it"
        ),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "ok      pool network {} is on the engine ({})",
            engine.network.network,
            engine.network.engine_name()
        )),
        "{out}"
    );
    assert!(err.contains("thing(s) missing"), "{err}");

    // With the image set to one the engine has, only what the engine itself lacks is left.
    berth::provisioning::model::set_image(&engine.pool, "lamp", "debian-13", IMAGE)
        .await
        .unwrap();
    let (ok, out, err) = berth(&url, &env, &["doctor"]);
    assert!(!out.contains("berth-test-missing"), "{out}");
    if out.contains("MISSING containers do not run in a user namespace") {
        assert!(!ok);
        eprintln!("*** the engine runs no user namespace: doctor says so, as it should");
    } else {
        assert!(ok, "{out}{err}");
        assert!(out.contains("everything Berth needs is there"), "{out}");
    }

    engine.clean_up().await;
}

#[tokio::test]
async fn pool_add_with_the_docker_driver_makes_the_engine_network() {
    let Some(engine) = EngineApp::spawn().await else {
        return;
    };
    let url = engine.database_url().await;
    let host = crate::engine::docker_host();
    let octet = rand::Rng::gen_range(&mut rand::thread_rng(), 0..=255u8);
    // Outside the range EngineApp's networks come from (10.64.0.0 to 10.127.255.255).
    let network = format!("10.200.{octet}.0/28");
    let env = [("BERTH_DRIVER", "docker"), ("DOCKER_HOST", host.as_str())];
    let (ok, out, err) = berth(&url, &env, &["pool", "add", &network]);
    assert!(ok, "{out}{err}");
    let name = format!("berth-pool-10.200.{octet}.0-28");
    assert!(
        out.contains(&format!(
            "network {network}: gateway 10.200.{octet}.1, engine network {name} (docker driver)"
        )),
        "{out}"
    );
    assert!(out.contains("added 13 addresses"), "{out}");

    let found = engine
        .docker
        .inspect_network(&name, None::<bollard::query_parameters::InspectNetworkOptions>)
        .await
        .unwrap_or_else(|err| panic!("{name} is on the engine: {err}"));
    let _ = engine.docker.remove_network(&name).await;
    assert_eq!(found.driver.as_deref(), Some("bridge"));
    let config = found.ipam.and_then(|i| i.config).unwrap_or_default();
    assert_eq!(config.len(), 1, "{config:?}");
    assert_eq!(config[0].subnet.as_deref(), Some(network.as_str()));
    assert_eq!(config[0].gateway.as_deref(), Some(&*format!("10.200.{octet}.1")));
    assert_eq!(found.labels.unwrap_or_default().get("berth.pool"), Some(&network));
    // The gateway is the engine's, not the pool's.
    let gateway: i64 = engine
        .scalar(&format!(
            "select count(*) from ip_pool where address = '10.200.{octet}.1'"
        ))
        .await;
    assert_eq!(gateway, 0);

    engine.clean_up().await;
}

/// With the docker driver, a type or operating system with no image is not offered (the
/// development driver offers the whole catalogue, as it runs nothing). No engine is needed:
/// the wizard asks none.
#[tokio::test]
async fn with_the_docker_driver_the_wizard_offers_only_what_has_an_image() {
    let platform = Platform {
        driver: Arc::new(DockerDriver::new("unix:///nonexistent/berth-test/docker.sock")),
        data: data_dir(),
        publish: None,
    };
    let app = TestApp::spawn_on(
        platform,
        berth::state::WebConfig::new(None),
        berth::web::serve::ServeLimits::default(),
    )
    .await;
    let (client, _) = app.signed_in_client("alice").await;
    client.get("/wizard/site").await;
    let r = client
        .post_form(
            "/wizard/site",
            &[("site_name", "Images"), ("site_hostname", "images.example.com")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let offered = |page: &crate::helpers::Resp, field: &str| -> Vec<String> {
        let selector = scraper::Selector::parse(&format!(r#"select[name="{field}"] option"#)).unwrap();
        page.html()
            .select(&selector)
            .filter_map(|o| o.value().attr("value").map(str::to_owned))
            .filter(|v| !v.is_empty())
            .collect()
    };
    let container = |type_id: &'static str, os_id: &'static str| {
        let client = &client;
        async move {
            client
                .post_form(
                    "/wizard/container",
                    &[
                        ("container_name", "web"),
                        ("container_type", type_id),
                        ("container_os_id", os_id),
                        ("container_size", "small"),
                        ("container_disk_space", "20"),
                    ],
                )
                .await
        }
    };

    // No image at all: nothing to offer.
    let page = client.get("/wizard/container").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        offered(&page, "container_type").is_empty(),
        "{:?}",
        offered(&page, "container_type")
    );
    assert_field_error(
        &container("lamp", "debian-13").await,
        "container_type",
        "Choose a container type from the list.",
    );

    // One type on one system.
    berth::provisioning::model::set_image(&app.pool, "static", "alpine-3.20", "static-alpine:1")
        .await
        .unwrap();
    let page = client.get("/wizard/container").await;
    assert_eq!(offered(&page, "container_type"), ["static"]);
    assert_eq!(offered(&page, "container_os_id"), ["alpine-3.20"]);
    assert_field_error(
        &container("lamp", "debian-13").await,
        "container_type",
        "Choose a container type from the list.",
    );
    assert_field_error(
        &container("static", "debian-13").await,
        "container_os_id",
        "Choose an operating system from the list.",
    );

    // `*`: the type on every system it is offered on; another type still not.
    berth::provisioning::model::set_image(&app.pool, "static", "*", "static:1")
        .await
        .unwrap();
    berth::provisioning::model::set_image(&app.pool, "*", "ubuntu-24.04", "ubuntu:1")
        .await
        .unwrap();
    let page = client.get("/wizard/container").await;
    assert_eq!(
        offered(&page, "container_type"),
        ["lamp", "lemp", "node", "python", "static"]
    );
    let systems = offered(&page, "container_os_id");
    assert!(systems.contains(&"ubuntu-24.04".to_owned()) && systems.contains(&"alpine-3.20".to_owned()));
    assert!(!systems.contains(&"almalinux-9".to_owned()), "{systems:?}");
    assert_field_error(
        &container("lamp", "debian-13").await,
        "container_os_id",
        "Not offered for this container type; choose one of: Ubuntu 24.04 LTS.",
    );
    let r = container("static", "debian-13").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

    // The development driver offers everything, image or not.
    let dev = TestApp::spawn().await;
    let (client, _) = dev.signed_in_client("bob").await;
    client.get("/wizard/site").await;
    client
        .post_form(
            "/wizard/site",
            &[("site_name", "Dev"), ("site_hostname", "dev.example.com")],
        )
        .await;
    let page = client.get("/wizard/container").await;
    assert_eq!(
        offered(&page, "container_type"),
        ["lamp", "lemp", "node", "python", "static"]
    );
    assert_eq!(offered(&page, "container_os_id").len(), 6);
}
