//! A real PowerDNS (Debian's `pdns-server` with `pdns-backend-pgsql`) answering from the
//! test's database with the configuration `berth dns pdns-config` prints, queried with
//! `dig`. Its caches are off, so a change in the panel is answered at once. Without
//! `pdns_server` or `dig` these tests skip, loudly; in CI (`CI=true`) they fail.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use super::{provision, record_id, wizard_site};
use crate::helpers::*;
use crate::provisioning::insert_site_with_job;

const PDNS_SERVER: &str = "/usr/sbin/pdns_server";
const DIG: &str = "/usr/bin/dig";

/// A `pdns_server` of the test's own, in the foreground on a free port of 127.0.0.1, with
/// a folder of its own (configuration, control socket, log). Stopped when dropped.
pub struct Pdns {
    child: tokio::process::Child,
    port: u16,
    dir: PathBuf,
}

/// What `dig` said: the response code and the answer section's (name, ttl, type, data).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: String,
    pub authoritative: bool,
    pub records: Vec<(String, u32, String, String)>,
}

impl Answer {
    /// The data of the answers of type `kind`.
    pub fn data(&self, kind: &str) -> Vec<String> {
        let mut data: Vec<String> = self
            .records
            .iter()
            .filter(|r| r.2 == kind)
            .map(|r| r.3.clone())
            .collect();
        data.sort();
        data
    }

    /// The SOA's serial.
    pub fn serial(&self) -> u32 {
        let soa = self.data("SOA");
        let soa = soa.first().unwrap_or_else(|| panic!("no SOA in {self:?}"));
        soa.split_whitespace().nth(2).unwrap().parse().unwrap()
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// A port that is free on 127.0.0.1 for both UDP and TCP right now.
fn free_port() -> u16 {
    loop {
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Pdns {
    /// PowerDNS on the configuration `berth dns pdns-config` prints for `app`'s database (with
    /// BERTH_DNS_NS=ns1.berth-test.example,ns2.berth-test.example and hostmaster
    /// dns@berth-test.example), plus the test's own lines: address, port, socket folder,
    /// caches off. `None` when PowerDNS or dig is missing (outside CI).
    pub async fn start(app: &TestApp) -> Option<Pdns> {
        for tool in [PDNS_SERVER, DIG] {
            if !std::path::Path::new(tool).exists() {
                if in_ci() {
                    panic!(
                        "{tool} is missing: CI must run the DNS tests (.ci/run installs pdns-server, pdns-backend-pgsql and dnsutils)"
                    );
                }
                eprintln!(
                    "\n*** SKIPPED: the DNS tests need PowerDNS and dig ({tool} is missing): apt-get install pdns-server pdns-backend-pgsql dnsutils\n"
                );
                return None;
            }
        }
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("berth-pdns-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();

        let printed = tokio::process::Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(["dns", "pdns-config"])
            .env("DATABASE_URL", app.database_url().await)
            .env("BERTH_DNS_NS", "ns1.berth-test.example,ns2.berth-test.example")
            .env("BERTH_DNS_HOSTMASTER", "dns@berth-test.example")
            .env_remove("BERTH_DNS_SOA_MNAME")
            .env_remove("BERTH_DNS_RESERVED")
            .env_remove("BERTH_DNS_VERIFY")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .output()
            .await
            .expect("berth dns pdns-config runs");
        assert!(
            printed.status.success(),
            "berth dns pdns-config: {}",
            String::from_utf8_lossy(&printed.stderr)
        );
        let mut config = String::from_utf8(printed.stdout).unwrap();
        let port = free_port();
        config.push_str(&format!(
            "\n# The test's own\nlocal-address=127.0.0.1\nlocal-port={port}\nsocket-dir={}\n\
             cache-ttl=0\nnegquery-cache-ttl=0\nquery-cache-ttl=0\nzone-cache-refresh-interval=0\n\
             security-poll-suffix=\nwebserver=no\napi=no\ndistributor-threads=1\nreceiver-threads=1\n",
            dir.display()
        ));
        std::fs::write(dir.join("pdns.conf"), &config).unwrap();
        let log = std::fs::File::create(dir.join("pdns.log")).unwrap();
        let child = tokio::process::Command::new(PDNS_SERVER)
            .arg(format!("--config-dir={}", dir.display()))
            .args(["--daemon=no", "--guardian=no", "--disable-syslog"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("pdns_server starts");
        let mut pdns = Pdns { child, port, dir };
        // Ready once it answers anything (REFUSED for a name in no zone).
        let started = Instant::now();
        loop {
            if let Some(status) = pdns.child.try_wait().unwrap() {
                panic!("pdns_server ended ({status}):\n{}", pdns.log());
            }
            if pdns.try_dig("ready.invalid", "SOA").await.is_some() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "pdns_server does not answer:\n{}",
                pdns.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(pdns)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pdns.log")).unwrap_or_default()
    }

    async fn try_dig(&self, name: &str, kind: &str) -> Option<Answer> {
        let out = tokio::process::Command::new(DIG)
            .args(["+norecurse", "+time=2", "+tries=1", "-p"])
            .arg(self.port.to_string())
            .args(["@127.0.0.1", name, kind])
            .stdin(Stdio::null())
            .output()
            .await
            .expect("dig runs");
        let text = String::from_utf8_lossy(&out.stdout);
        let status = text.split("status: ").nth(1)?.split(',').next()?.to_owned();
        let authoritative = text
            .lines()
            .find(|l| l.starts_with(";; flags:"))
            .is_some_and(|l| l.split(';').nth(2).unwrap_or_default().contains(" aa"));
        let records = text
            .split(";; ANSWER SECTION:\n")
            .nth(1)
            .map(|section| {
                section
                    .lines()
                    .take_while(|l| !l.trim().is_empty())
                    .map(|l| {
                        let fields: Vec<&str> = l.split_whitespace().collect();
                        let data = fields[4..].join(" ");
                        (
                            fields[0].to_owned(),
                            fields[1].parse().unwrap(),
                            fields[3].to_owned(),
                            data,
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Answer {
            status,
            authoritative,
            records,
        })
    }

    /// Asks PowerDNS for `name`'s `kind` records.
    pub async fn dig(&self, name: &str, kind: &str) -> Answer {
        match self.try_dig(name, kind).await {
            Some(answer) => answer,
            None => panic!("no answer for {name} {kind}; PowerDNS's log:\n{}", self.log()),
        }
    }
}

impl Drop for Pdns {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn powerdns_answers_the_panels_records_and_follows_every_change() {
    let app = TestApp::spawn().await;
    let Some(pdns) = Pdns::start(&app).await else {
        return;
    };
    let (alice, _) = app.signed_in_client("alice").await;
    let site = wizard_site(
        &alice,
        "shop.example.com",
        &["www.shop.example.com", "shop.example.org"],
    )
    .await;
    // Before provisioning, the zones are served with their SOA and NS, and no address yet.
    let a = pdns.dig("shop.example.com", "A").await;
    assert_eq!((a.status.as_str(), a.records.len()), ("NOERROR", 0), "{a:?}");
    provision(&app).await;
    let address: String = app
        .scalar(&format!("select host(address) from containers where site_id = {site}"))
        .await;

    // The hostname and both aliases answer the container's address, authoritatively.
    for name in ["shop.example.com", "www.shop.example.com", "shop.example.org"] {
        let a = pdns.dig(name, "A").await;
        assert_eq!(a.status, "NOERROR", "{name}: {a:?}");
        assert!(a.authoritative, "{name}: {a:?}");
        assert_eq!(a.data("A"), [address.as_str()], "{name}");
        assert_eq!(a.records[0].1, 3600, "the TTL the site page shows");
    }
    for zone in ["shop.example.com", "shop.example.org"] {
        let ns = pdns.dig(zone, "NS").await;
        assert_eq!(ns.data("NS"), ["ns1.berth-test.example.", "ns2.berth-test.example."]);
        let soa = pdns.dig(zone, "SOA").await.data("SOA");
        assert!(
            soa[0].starts_with("ns1.berth-test.example. dns.berth-test.example. "),
            "{soa:?}"
        );
    }
    // www is a name in shop.example.com's zone, not a zone of its own.
    let www = pdns.dig("www.shop.example.com", "SOA").await;
    assert_eq!(www.records.len(), 0, "{www:?}");
    let nothing = pdns.dig("nothing.shop.example.com", "A").await;
    assert_eq!(nothing.status, "NXDOMAIN", "a name in a zone with no records");
    let serial = pdns.dig("shop.example.com", "SOA").await.serial();

    // An edit in the panel is answered at once, and the serial grows.
    let www_id = record_id(&app, site, "www.shop.example.com", "A").await;
    alice.get(&format!("/sites/{site}")).await;
    let r = alice
        .post_htmx(
            &format!("/dns-records/{www_id}"),
            &[("name", "www"), ("type", "A"), ("value", "192.0.2.200"), ("ttl", "300")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let www = pdns.dig("www.shop.example.com", "A").await;
    assert_eq!(www.data("A"), ["192.0.2.200"]);
    assert_eq!(www.records[0].1, 300);
    let after_edit = pdns.dig("shop.example.com", "SOA").await.serial();
    assert!(after_edit > serial, "{after_edit} > {serial}");

    // Every type the panel adds is answered as the site page shows it.
    for (name, kind, value) in [
        ("@", "AAAA", "2001:db8::10"),
        ("@", "MX", "10 mail.shop.example.com"),
        ("@", "MX", "20 backup-mx.example.net."),
        ("@", "TXT", "v=spf1 mx -all"),
        ("@", "TXT", "\"two\" \"strings\""),
        ("@", "CAA", "0 issue letsencrypt.org"),
        ("blog", "CNAME", "shop.example.org"),
        ("mail", "A", "192.0.2.25"),
    ] {
        let r = alice
            .post_htmx(
                &format!("/sites/{site}/records"),
                &[("name", name), ("type", kind), ("value", value), ("ttl", "")],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{name} {kind}: {}", r.body);
    }
    assert_eq!(
        pdns.dig("shop.example.com", "AAAA").await.data("AAAA"),
        ["2001:db8::10"]
    );
    assert_eq!(
        pdns.dig("shop.example.com", "MX").await.data("MX"),
        ["10 mail.shop.example.com.", "20 backup-mx.example.net."]
    );
    assert_eq!(
        pdns.dig("shop.example.com", "TXT").await.data("TXT"),
        ["\"two\" \"strings\"", "\"v=spf1 mx -all\""]
    );
    assert_eq!(
        pdns.dig("shop.example.com", "CAA").await.data("CAA"),
        ["0 issue \"letsencrypt.org\""]
    );
    let blog = pdns.dig("blog.shop.example.com", "A").await;
    assert_eq!(blog.data("CNAME"), ["shop.example.org."]);
    assert_eq!(
        blog.data("A"),
        [address.as_str()],
        "the CNAME's target, from the other zone"
    );
    let after_adds = pdns.dig("shop.example.com", "SOA").await.serial();
    assert!(after_adds > after_edit, "{after_adds} > {after_edit}");

    // A deletion: the name is gone from its zone.
    let mail = record_id(&app, site, "mail.shop.example.com", "A").await;
    let r = alice.post_htmx(&format!("/dns-records/{mail}/delete"), &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(pdns.dig("mail.shop.example.com", "A").await.status, "NXDOMAIN");
    let after_delete = pdns.dig("shop.example.com", "SOA").await.serial();
    assert!(after_delete > after_adds);

    // Another customer cannot touch the zone: 404, and PowerDNS answers as before.
    let (bob, _) = app.signed_in_client("bob").await;
    bob.get("/").await;
    let r = bob
        .post_form(
            &format!("/dns-records/{www_id}"),
            &[("name", "www"), ("type", "A"), ("value", "203.0.113.66"), ("ttl", "60")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = bob
        .post_form(
            &format!("/sites/{site}/records"),
            &[
                ("name", "evil"),
                ("type", "A"),
                ("value", "203.0.113.66"),
                ("ttl", "60"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(pdns.dig("www.shop.example.com", "A").await.data("A"), ["192.0.2.200"]);
    assert_eq!(pdns.dig("evil.shop.example.com", "A").await.status, "NXDOMAIN");
    assert_eq!(pdns.dig("shop.example.com", "SOA").await.serial(), after_delete);

    // The zone file is the same data.
    let zone = alice.get(&format!("/sites/{site}/zone")).await;
    assert!(
        zone.body.contains("www.shop.example.com.\t300\tIN\tA\t192.0.2.200\n"),
        "{}",
        zone.body
    );
    assert!(
        zone.body
            .contains("shop.example.com.\t3600\tIN\tMX\t20 backup-mx.example.net.\n")
    );

    // A site deleted on its page: its zones are no longer PowerDNS's, which refuses them
    // (REFUSED, as an authoritative server does for a name in no zone it holds; NXDOMAIN is
    // for a name missing inside a zone it holds, as above) from the moment the site is
    // deleted, and still once the delete job has removed its records.
    let deleted = alice
        .post_form(&format!("/sites/{site}/delete"), &[("hostname", "shop.example.com")])
        .await;
    assert!(
        deleted.status.is_redirection() || deleted.status.is_success(),
        "{}",
        deleted.body
    );
    for name in ["shop.example.com", "www.shop.example.com", "shop.example.org"] {
        let a = pdns.dig(name, "A").await;
        assert_eq!(a.status, "REFUSED", "{name}: {a:?}");
    }
    provision(&app).await;
    let records: i64 = app
        .scalar(&format!("select count(*) from dns_records where site_id = {site}"))
        .await;
    assert_eq!(records, 0, "the delete job removed the records");
    for name in ["shop.example.com", "www.shop.example.com", "shop.example.org"] {
        let a = pdns.dig(name, "A").await;
        assert_eq!(a.status, "REFUSED", "{name}: {a:?}");
        assert!(a.records.is_empty());
    }
    drop(pdns);
}

#[tokio::test]
async fn a_zone_nested_in_another_site_of_the_customer_answers_from_the_closest() {
    let app = TestApp::spawn().await;
    let Some(pdns) = Pdns::start(&app).await else {
        return;
    };
    let (alice, _) = app.signed_in_client("alice").await;
    let shop = wizard_site(&alice, "shop.example.com", &[]).await;
    let blog = wizard_site(&alice, "blog.shop.example.com", &[]).await;
    provision(&app).await;
    let address = |site: i64| format!("select host(address) from containers where site_id = {site}");
    let shop_ip: String = app.scalar(&address(shop)).await;
    let blog_ip: String = app.scalar(&address(blog)).await;
    assert_ne!(shop_ip, blog_ip);
    assert_eq!(pdns.dig("shop.example.com", "A").await.data("A"), [shop_ip]);
    assert_eq!(pdns.dig("blog.shop.example.com", "A").await.data("A"), [blog_ip]);
    let soa = pdns.dig("blog.shop.example.com", "SOA").await;
    assert_eq!(soa.records[0].0, "blog.shop.example.com.", "a zone of its own");
    drop(pdns);
}

#[tokio::test]
async fn with_verification_a_zone_is_answered_only_once_its_txt_record_holds_the_token() {
    use berth::dns::{model, ops, pdns as config, verify};
    let app = TestApp::spawn().await;
    let Some(pdns) = Pdns::start(&app).await else {
        return;
    };
    let settings = config::settings(None, &["ns1.berth-test.example".to_owned()], None, &[], true).unwrap();
    model::write_settings(&app.pool, &settings).await.unwrap();
    // "The internet": example.com, a verified zone of another customer's, where the TXT
    // record goes (the sites are written directly: the wizard would refuse the nesting).
    let registrar = app.create_customer("registrar").await;
    let parent = insert_site_with_job(&app, registrar, "example.com", &[], true).await;
    sqlx::query("insert into dns_verified (hostname) values ('example.com')")
        .execute(&app.pool)
        .await
        .unwrap();
    let (alice, alice_id) = app.signed_in_client("alice").await;
    let site = insert_site_with_job(&app, alice_id, "shop.example.com", &[], true).await;
    provision(&app).await;
    let address: String = app
        .scalar(&format!(
            "select host(address) from containers where site_id = {}",
            site.0
        ))
        .await;
    let unanswered = pdns.dig("shop.example.com", "A").await;
    assert_eq!(unanswered.data("A"), Vec::<String>::new(), "{unanswered:?}");
    assert_eq!(
        unanswered.status, "NXDOMAIN",
        "answered from example.com's zone, which lacks it"
    );

    // The site page says what to add.
    let page = alice.get(&format!("/sites/{}", site.0)).await;
    let token = page.text("#dns-verify .dns-token");
    assert_eq!(token.len(), 32);
    assert_eq!(
        page.text("#dns-verify .dns-verify-zone code"),
        "_berth-verify.shop.example.com"
    );
    // Another customer's "Check now" is not found (and looks nothing up).
    let (bob, _) = app.signed_in_client("bob").await;
    bob.get("/").await;
    let r = bob.post_form(&format!("/sites/{}/verify", site.0), &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Looked up where the world sees example.com (here: the test's PowerDNS).
    let resolver = verify::resolver_at(([127, 0, 0, 1], pdns.port).into()).unwrap();
    let who = berth::identity::Who::new(alice_id, "customer", None);
    let add_txt = |value: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query(
                "insert into dns_records (customer_id, site_id, name, type, value)
                 values ($1, $2, '_berth-verify.shop.example.com', 'TXT', $3)",
            )
            .bind(registrar)
            .bind(parent)
            .bind(value)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let found = ops::verify(&app.pool, &who, site, &resolver).await.unwrap();
    assert_eq!((found.verified.len(), found.missing.len()), (0, 1), "no record yet");
    add_txt("\"not-the-token\"".to_owned()).await;
    let found = ops::verify(&app.pool, &who, site, &resolver).await.unwrap();
    assert_eq!(found.missing, ["shop.example.com"], "another token does not do");
    assert!(found.message().contains("_berth-verify.shop.example.com"));
    assert_eq!(pdns.dig("shop.example.com", "A").await.data("A"), Vec::<String>::new());

    add_txt(format!("\"{token}\"")).await;
    let found = ops::verify(&app.pool, &who, site, &resolver).await.unwrap();
    assert_eq!(found.verified, ["shop.example.com"]);
    let answered = pdns.dig("shop.example.com", "A").await;
    assert_eq!(
        (answered.status.as_str(), answered.data("A")),
        ("NOERROR", vec![address])
    );
    let soa = pdns.dig("shop.example.com", "SOA").await;
    assert_eq!(soa.records[0].0, "shop.example.com.", "a zone of its own now");
    let page = alice.get(&format!("/sites/{}", site.0)).await;
    assert!(page.texts("#dns-verify").is_empty(), "nothing left to verify");
    let verified: i64 = app
        .scalar(&format!(
            "select count(*) from activity where customer_id = {} and kind = 'dns_zone_verified'",
            alice_id.0
        ))
        .await;
    assert_eq!(verified, 1);
    drop(pdns);
}
