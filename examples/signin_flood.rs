//! A flood of wrong-password sign-ins, for the load benchmark (`bench/load.sh`).
//!
//! It models a distributed credential-stuffing attack: `--workers` attempts are in flight
//! at any moment; every attempt uses a new random (unknown) username and comes from a new
//! source address in the loopback range (127.1.0.1, 127.1.0.2, …, bound with
//! `local_address`), so neither the per-account nor the per-address throttle refuses it
//! cheaply, and every attempt makes Berth run Argon2 (against its dummy hash). Each worker
//! first loads `/login` once for a session cookie and its CSRF token, then posts with them.
//!
//! Expected answers: 422 (refused with the generic message, after Argon2 ran). A 429 means
//! the throttle refused the attempt before Argon2; 403 a CSRF failure. At the end it prints
//! one machine-readable line:
//!
//! `FLOOD workers=32 seconds=13.0 attempts=… attempts_per_s=… argon2_per_s=… s422=… s429=… other=… errors=… p50_ms=… p99_ms=…`
//!
//! Run: `cargo run --release --example signin_flood -- --url http://127.0.0.1:18080 --seconds 13`

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use rand::Rng;
use reqwest::StatusCode;
use reqwest::cookie::Jar;

#[derive(Debug, Parser)]
#[command(about = "Wrong-password sign-ins from many loopback addresses, for the load benchmark")]
struct Args {
    /// Berth's base URL (it must listen on a loopback address for the address rotation).
    #[arg(long, default_value = "http://127.0.0.1:18080")]
    url: String,
    /// Sign-in attempts in flight at once.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// How long to keep flooding, in seconds.
    #[arg(long, default_value_t = 13.0)]
    seconds: f64,
    /// Second octet of the source addresses (127.N.x.y); each run uses fresh ones.
    #[arg(long, default_value_t = 1)]
    octet: u8,
}

#[derive(Default)]
struct Tally {
    s422: u64,
    s429: u64,
    other: u64,
    errors: u64,
    latencies: Vec<Duration>,
    first_other: Option<String>,
}

/// The n-th source address: 127.<octet>.x.y with y in 1..=254 (no .0 or .255 hosts).
fn source_address(octet: u8, n: u32) -> IpAddr {
    let host = n % 254 + 1;
    let mid = (n / 254) % 256;
    let high = octet as u32 + n / (254 * 256);
    IpAddr::V4(Ipv4Addr::new(127, high.min(254) as u8, mid as u8, host as u8))
}

fn csrf_in(body: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')?;
    Some(body[start..start + end].to_owned())
}

fn random_hex(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| format!("{:x}", rng.gen_range(0..16u8))).collect()
}

fn client(jar: &Arc<Jar>, from: IpAddr) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .local_address(from)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
}

async fn worker(args: Arc<Args>, next_address: Arc<AtomicU32>, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let jar = Arc::new(Jar::default());
    let login = format!("{}/login", args.url.trim_end_matches('/'));

    // A session and its CSRF token, as a browser (or a careful bot) would get them.
    let token = loop {
        let from = source_address(args.octet, next_address.fetch_add(1, Ordering::Relaxed));
        let got = async {
            let resp = client(&jar, from)?.get(&login).send().await?;
            resp.text().await
        }
        .await;
        match got.ok().as_deref().and_then(csrf_in) {
            Some(token) => break token,
            None if Instant::now() < deadline => {
                tally.errors += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            None => return tally,
        }
    };

    while Instant::now() < deadline {
        let from = source_address(args.octet, next_address.fetch_add(1, Ordering::Relaxed));
        let username = format!("u{}", random_hex(12));
        let password = random_hex(20);
        let form = [
            ("csrf_token", token.as_str()),
            ("username", username.as_str()),
            ("password", password.as_str()),
            ("next", ""),
        ];
        let started = Instant::now();
        let sent = async {
            let resp = client(&jar, from)?.post(&login).form(&form).send().await?;
            let status = resp.status();
            let body = resp.text().await?;
            Ok::<_, reqwest::Error>((status, body))
        }
        .await;
        match sent {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, _)) => {
                tally.s422 += 1;
                tally.latencies.push(started.elapsed());
            }
            Ok((StatusCode::TOO_MANY_REQUESTS, _)) => tally.s429 += 1,
            Ok((status, body)) => {
                tally.other += 1;
                tally
                    .first_other
                    .get_or_insert_with(|| format!("{status}: {}", body.chars().take(200).collect::<String>()));
            }
            Err(err) => {
                tally.errors += 1;
                tally.first_other.get_or_insert_with(|| format!("error: {err}"));
            }
        }
    }
    tally
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let next_address = Arc::new(AtomicU32::new(0));
    let handles: Vec<_> = (0..args.workers)
        .map(|_| tokio::spawn(worker(args.clone(), next_address.clone(), deadline)))
        .collect();
    let mut total = Tally::default();
    for handle in handles {
        let t = handle.await.expect("flood worker panicked");
        total.s422 += t.s422;
        total.s429 += t.s429;
        total.other += t.other;
        total.errors += t.errors;
        total.latencies.extend(t.latencies);
        if total.first_other.is_none() {
            total.first_other = t.first_other;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    total.latencies.sort();
    let attempts = total.s422 + total.s429 + total.other + total.errors;
    if let Some(first) = &total.first_other {
        eprintln!("signin_flood: first unexpected answer: {first}");
    }
    println!(
        "FLOOD workers={} seconds={seconds:.1} attempts={attempts} attempts_per_s={:.1} argon2_per_s={:.1} s422={} \
         s429={} other={} errors={} addresses={} p50_ms={:.0} p99_ms={:.0}",
        args.workers,
        attempts as f64 / seconds,
        total.s422 as f64 / seconds,
        total.s422,
        total.s429,
        total.other,
        total.errors,
        next_address.load(Ordering::Relaxed),
        percentile_ms(&total.latencies, 50.0),
        percentile_ms(&total.latencies, 99.0),
    );
}
