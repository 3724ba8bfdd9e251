//! The subcommands: `serve` (default), `migrate`, `create-customer`, `create-staff`,
//! `create-key`, `seed-demo`, `staff disable|enable|reset-2fa`, `pool add`, `bandwidth import`,
//! `notice publish`, `dns pdns-config`, `secret-key rotate`, `plan set|list`.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};

use crate::config::{
    BandwidthCommand, Cli, Command, DbConfig, DnsCommand, DnsConfig, EngineConfig, ImageCommand, NoticeCommand,
    PlanCommand, PoolCommand, SecretKeyCommand, SecretKeyConfig, ServeConfig, StaffCommand,
};
use crate::db::Database;
use crate::identity::customer::DisplayName;
use crate::identity::{Email, Username, UsernameKey};
use crate::password::{Hasher, NewPassword};
use crate::state::AppState;
use crate::state::WebConfig;
use crate::{app, demo};

pub fn main(cli: Cli) -> ExitCode {
    // What `dns pdns-config` prints is a configuration file: its logs go to stderr.
    init_tracing(matches!(cli.command, Some(Command::Dns { .. })));
    keep_argon2_memory_from_piling_up();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("berth: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("berth: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Each Argon2 check takes 19 MiB. glibc's malloc raises its mmap threshold after the first
/// such block is freed, and then keeps later ones in per-thread arenas: resident memory grows
/// to hundreds of MiB under a sign-in flood. A fixed threshold returns them at once.
fn keep_argon2_memory_from_piling_up() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes a malloc tunable; called before any other thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn init_tracing(to_stderr: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if to_stderr {
        logs.with_writer(std::io::stderr).try_init()
    } else {
        logs.try_init()
    };
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve(ServeConfig::from_env()));
    if let Command::Serve(serve_config) = command {
        return serve(&cli.db, &cli.engine, &cli.dns, &cli.secret_key, serve_config).await;
    }
    let db = open(&cli.db).await?;
    let result = match command {
        Command::Serve(_) => unreachable!("handled above"),
        Command::Migrate => {
            println!("migrations applied");
            Ok(())
        }
        Command::CreateCustomer {
            username,
            email,
            display_name,
        } => create_customer(&db, &username, &email, &display_name).await,
        Command::CreateStaff { username, permission } => {
            create_staff(&db, &username, permission == "support-write").await
        }
        Command::CreateKey {
            customer,
            name,
            kind,
            internal,
            by,
        } => match (internal, customer) {
            (true, _) => create_internal_key(&db, &name, by.as_deref()).await,
            (false, _) if by.is_some() => Err(anyhow::anyhow!(
                "--by names the owner of an internal key: use it with --internal"
            )),
            (false, Some(customer)) => create_key(&db, &customer, &name, &kind).await,
            (false, None) => Err(anyhow::anyhow!("--customer is needed (or --internal)")),
        },
        Command::SeedDemo => demo::seed(&db.pool, &Hasher::for_this_machine()?)
            .await
            .map(|_| demo::print_sign_in()),
        Command::Staff {
            command: StaffCommand::Disable { username },
        } => set_staff_disabled(&db, &username, true).await,
        Command::Staff {
            command: StaffCommand::Enable { username },
        } => set_staff_disabled(&db, &username, false).await,
        Command::Staff {
            command: StaffCommand::Reset2fa { username },
        } => reset_staff_2fa(&db, &username).await,
        Command::SecretKey {
            command: SecretKeyCommand::Rotate,
        } => rotate_secret_key(&db, &sealer(&cli.secret_key, &db, &cli.db)?).await,
        Command::Pool {
            command: PoolCommand::Add { cidr },
        } => pool_add(&db, &cli.engine.platform(&cli.db.data), &cidr).await,
        Command::Image {
            command: ImageCommand::Set { type_id, os_id, image },
        } => image_set(&db, &type_id, &os_id, &image).await,
        Command::Image {
            command: ImageCommand::List,
        } => image_list(&db).await,
        Command::Doctor => doctor(&db, &cli.engine.platform(&cli.db.data)).await,
        Command::Bandwidth {
            command: BandwidthCommand::Import { file },
        } => bandwidth_import(&db, &file).await,
        Command::Dns {
            command: DnsCommand::PdnsConfig,
        } => pdns_config(&db, &cli.db, &cli.dns).await,
        Command::Notice {
            command:
                NoticeCommand::Publish {
                    notice_type,
                    severity,
                    title,
                    body_file,
                    customer,
                },
        } => notice_publish(&db, &notice_type, &severity, &title, &body_file, customer.as_deref()).await,
        Command::Plan {
            command:
                PlanCommand::Set {
                    size,
                    price,
                    transfer_gb,
                },
        } => plan_set(&db, &size, &price, transfer_gb).await,
        Command::Plan {
            command: PlanCommand::List,
        } => plan_list(&db).await,
    };
    db.close().await;
    result
}

/// Opens the database (starting the embedded default when DATABASE_URL is unset) and
/// runs the migrations.
async fn open(config: &DbConfig) -> anyhow::Result<Database> {
    let db = Database::open(config.database_url.as_deref(), &config.data).await?;
    if let Err(err) = crate::db::migrate(&db.pool).await {
        db.close().await;
        return Err(err);
    }
    Ok(db)
}

async fn serve(
    db_config: &DbConfig,
    engine: &EngineConfig,
    dns: &DnsConfig,
    secret_key: &SecretKeyConfig,
    config: ServeConfig,
) -> anyhow::Result<()> {
    // Checked before the database starts, so a bad setting stops nothing half-way.
    let mut delivery =
        crate::delivery::DeliveryConfig::new(config.smtp_url.as_ref().map(|u| u.0.as_str()), &config.mail_from)?
            .allow_webhooks_to(&config.webhook_allow)?;
    delivery.poll = std::time::Duration::from_millis(config.delivery_poll_ms.max(10));
    let delivery = Arc::new(delivery);
    let dns_settings = dns_settings(dns)?;
    let ftp = match config.ftp.listen {
        Some(listen) => Some((listen, crate::ftp::service::Settings::new(&config.ftp)?)),
        None => None,
    };
    let db = open(db_config).await?;
    // What the `pdns` views serve (SOA, NS) and the wizard refuses (reserved names).
    crate::dns::model::write_settings(&db.pool, &dns_settings).await?;
    // Accounts with TOTP need the key their secrets were sealed with: refuse to start without it.
    let sealer = sealer(secret_key, &db, db_config)?;
    crate::security::ops::check_key(&db.pool, &sealer).await?;
    let hasher = Hasher::for_this_machine()?;
    let platform = Arc::new(engine.platform(&db_config.data));
    tracing::info!(driver = platform.driver.name(), data = %db_config.data.display(), "platform");
    if db.embedded.is_some() {
        if demo::seed(&db.pool, &hasher).await? {
            tracing::info!("seeded demo data");
        }
        demo::print_sign_in();
    }
    // FTP (DESIGN §8): its listener first, so the pages can tell users its port.
    let ftp = match ftp {
        Some((listen, settings)) => {
            let listener = tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("cannot listen for FTP on {listen}"))?;
            let access = crate::ftp::service::access(&settings, listener.local_addr()?, config.public_url.as_deref());
            // Logins and per-command checks are requests: the web pool (1 s, then refused).
            let service = Arc::new(crate::ftp::service::Service::new(
                db.web.clone(),
                hasher.clone(),
                crate::clock::Clock::real(),
                db_config.data.clone(),
                settings,
            ));
            service.check()?;
            let tls = match access.tls {
                crate::state::FtpTls::Off => "no TLS",
                crate::state::FtpTls::Offered => "explicit TLS offered",
                crate::state::FtpTls::Required => "explicit TLS required",
            };
            println!(
                "FTP is served on {} (port {}, {tls})",
                listener.local_addr()?,
                access.port
            );
            Some((listener, service, access))
        }
        None => None,
    };
    let state = AppState {
        pool: db.web.clone(),
        hasher,
        web: Arc::new(WebConfig {
            trusted_proxies: config.trusted_proxies.clone(),
            api_rate_per_second: config.api_rate,
            api_burst: config.api_burst,
            ftp: ftp.as_ref().map(|(_, _, access)| access.clone()),
            mail: Some(delivery.clone()),
            currency: config.currency.clone(),
            billing_url: config.billing_url.clone(),
            support_email: config.support_email.clone(),
            ..WebConfig::new(config.public_url.as_deref())
        }),
        clock: crate::clock::Clock::real(),
        platform: platform.clone(),
        sealer,
        changes: crate::db::changes::Changes::start(db.web.clone()),
    };
    let cleanup = crate::web::session_store::spawn_cleanup(db.pool.clone(), std::time::Duration::from_secs(600));
    // One stop for everything: the server, then the workers, all within the drain time.
    let drain = std::time::Duration::from_secs(config.drain_s);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stop = move || {
        let mut stop_rx = stop_rx.clone();
        async move {
            let _ = stop_rx.wait_for(|stopped| *stopped).await;
        }
    };
    // Wakes are not wired to the areas yet: the workers poll (every 500 ms and
    // BERTH_DELIVERY_POLL_MS).
    let worker =
        crate::provisioning::worker::spawn_until(db.pool.clone(), platform.clone(), stop(), drain, Arc::default());
    let delivery = crate::delivery::spawn_until(db.pool.clone(), delivery, stop(), drain, Arc::default());
    let meter = crate::bandwidth::meter::spawn_until(
        db.pool.clone(),
        platform.clone(),
        std::time::Duration::from_secs(engine.meter_interval_s),
        stop(),
        drain,
    );
    let ftp = ftp.map(|(listener, service, _)| service.spawn(listener, stop(), drain));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let local = listener.local_addr().unwrap_or(config.listen);
    let base = config.public_url.clone().unwrap_or_else(|| format!("http://{local}"));
    println!("Berth is serving on {base} (Ctrl-C stops it)");
    let limits = crate::web::serve::ServeLimits {
        header_read_timeout: std::time::Duration::from_secs(config.header_timeout_secs),
        max_connections: config
            .max_connections
            .map_or_else(crate::web::serve::default_max_connections, |n| n as usize),
        drain,
    };
    let signal = tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let served = crate::web::serve::serve(listener, app(state), limits, stop()).await;
    signal.abort();
    // The workers drained alongside the server; they hand back what the drain time cut off
    // in under a second (a provisioning step or a meter reading cut off rolls back and runs
    // again later).
    let aborts = [delivery.abort_handle(), worker.abort_handle(), meter.abort_handle()];
    let workers = async {
        let (delivery, worker, meter) = tokio::join!(delivery, worker, meter);
        for (name, joined) in [("delivery", delivery), ("provisioning", worker), ("meter", meter)] {
            if let Err(err) = joined {
                tracing::error!(error = %err, "the {name} worker ended abnormally");
            }
        }
    };
    if tokio::time::timeout(std::time::Duration::from_secs(2), workers)
        .await
        .is_err()
    {
        tracing::warn!("the workers did not stop in time");
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
    }
    // The FTP service drained alongside (idle sessions closed, transfers given the drain
    // time); it ends its sessions itself.
    if let Some(ftp) = ftp
        && tokio::time::timeout(std::time::Duration::from_secs(2), ftp)
            .await
            .is_err()
    {
        tracing::warn!("the FTP service did not stop in time");
    }
    cleanup.abort();
    tracing::info!("in-flight requests, steps, deliveries and meter readings drained; stopping");
    db.close().await;
    served.context("the server failed")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler can be installed");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = term.recv() => {},
    }
    tracing::info!("shutdown requested");
}

/// The DNS settings the configuration names (BERTH_DNS_*), checked.
fn dns_settings(dns: &DnsConfig) -> anyhow::Result<crate::dns::model::Settings> {
    crate::dns::pdns::settings(
        dns.dns_soa_mname.as_deref(),
        &dns.dns_ns,
        dns.dns_hostmaster.as_deref(),
        &dns.dns_reserved,
        dns.dns_verify,
    )
    .map_err(anyhow::Error::msg)
}

/// `berth dns pdns-config`: writes the DNS settings, then prints PowerDNS's gpgsql
/// configuration, connecting as Berth does (DATABASE_URL, or the embedded default's socket).
async fn pdns_config(db: &Database, db_config: &DbConfig, dns: &DnsConfig) -> anyhow::Result<()> {
    use crate::dns::pdns::{Connection, config};
    let settings = dns_settings(dns)?;
    crate::dns::model::write_settings(&db.pool, &settings).await?;
    let connection = match &db_config.database_url {
        Some(url) => Connection::from_url(url).map_err(anyhow::Error::msg)?,
        None => Connection::from_options(&db.pool.connect_options()),
    };
    print!("{}", config(&connection));
    if db.embedded.is_some() {
        eprintln!("berth: this database is the embedded default: PowerDNS can reach it only while Berth runs");
    }
    Ok(())
}

/// The first line of standard input, without its line ending (nothing else is trimmed).
fn read_password() -> anyhow::Result<String> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read the password from standard input")?;
    let password = line.strip_suffix('\n').unwrap_or(&line);
    Ok(password.strip_suffix('\r').unwrap_or(password).to_owned())
}

async fn create_customer(db: &Database, username: &str, email: &str, display_name: &str) -> anyhow::Result<()> {
    let username: Username = username.parse().map_err(anyhow::Error::msg)?;
    let email: Email = email.parse().map_err(anyhow::Error::msg)?;
    let display_name: DisplayName = display_name.parse().map_err(anyhow::Error::msg)?;
    let password = NewPassword::parse(&read_password()?).map_err(anyhow::Error::msg)?;
    if crate::identity::customer::exists(&db.pool, username.key()).await? {
        bail!("the username {} is taken", username.as_str());
    }
    let hash = Hasher::new(1)?.hash(password.as_str()).await?;
    let mut tx = db.pool.begin().await?;
    let id = crate::identity::customer::create(&mut tx, &username, &email, &display_name, &hash).await?;
    tx.commit().await?;
    println!("created customer {} (id {id})", username.as_str());
    Ok(())
}

async fn create_staff(db: &Database, username: &str, write: bool) -> anyhow::Result<()> {
    let username: Username = username.parse().map_err(anyhow::Error::msg)?;
    let password = NewPassword::parse(&read_password()?).map_err(anyhow::Error::msg)?;
    let hash = Hasher::new(1)?.hash(password.as_str()).await?;
    let id = crate::identity::staff::create(&db.pool, &username, &hash, write).await?;
    let Some(id) = id else {
        bail!("the staff username {} is taken", username.as_str())
    };
    println!("created staff {} (id {id})", username.as_str());
    Ok(())
}

async fn set_staff_disabled(db: &Database, username: &str, disabled: bool) -> anyhow::Result<()> {
    let Some(changed) = crate::identity::staff::set_disabled(&db.pool, &UsernameKey::new(username), disabled).await?
    else {
        bail!("there is no staff member {username}")
    };
    let state = if disabled { "disabled" } else { "enabled" };
    match (changed, disabled) {
        (true, true) => println!("disabled staff {username}; their sessions have ended"),
        (true, false) => println!("enabled staff {username}; they may sign in again"),
        (false, _) => println!("staff {username} was already {state}"),
    }
    Ok(())
}

/// What seals TOTP secrets: BERTH_SECRET_KEY (and BERTH_SECRET_KEY_PREVIOUS); unset with
/// the embedded default (`cargo run`), a development key kept in BERTH_DATA/secret-key.
fn sealer(config: &SecretKeyConfig, db: &Database, db_config: &DbConfig) -> anyhow::Result<crate::sealed::Sealer> {
    let previous = config.secret_key_previous.as_ref();
    if let Some(key) = &config.secret_key {
        return Ok(crate::sealed::Sealer::new(Some(key), previous));
    }
    if db.embedded.is_some() {
        let key = crate::sealed::development_key(&db_config.data)?;
        tracing::info!(
            path = %db_config.data.join("secret-key").display(),
            "BERTH_SECRET_KEY is unset: TOTP secrets are sealed with the development key"
        );
        return Ok(crate::sealed::Sealer::new(Some(&key), previous));
    }
    if previous.is_some() {
        bail!("BERTH_SECRET_KEY_PREVIOUS is set without BERTH_SECRET_KEY: set the new key too");
    }
    Ok(crate::sealed::Sealer::default())
}

async fn reset_staff_2fa(db: &Database, username: &str) -> anyhow::Result<()> {
    let by = std::env::var("USER").unwrap_or_else(|_| "operator".to_owned());
    let by = format!("operator {by} (berth staff reset-2fa)");
    if !crate::security::ops::reset_staff(&db.pool, &UsernameKey::new(username), &by).await? {
        bail!("there is no staff member {username}")
    }
    println!(
        "removed the second factor of staff {username}; their sessions have ended, and they enrol again at their next sign-in"
    );
    Ok(())
}

async fn rotate_secret_key(db: &Database, sealer: &crate::sealed::Sealer) -> anyhow::Result<()> {
    if !sealer.has_key() {
        bail!("set BERTH_SECRET_KEY to the new key (and BERTH_SECRET_KEY_PREVIOUS to the old one)");
    }
    let count = crate::security::ops::reseal_all(&db.pool, sealer)
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    println!(
        "sealed {count} TOTP secret(s) again under BERTH_SECRET_KEY; BERTH_SECRET_KEY_PREVIOUS may now be removed"
    );
    Ok(())
}

async fn create_key(db: &Database, username: &str, name: &str, kind: &str) -> anyhow::Result<()> {
    use crate::identity::{KeyType, Who};
    use crate::keys::ops::{self, KeyError, NewKeyInput};
    let kind = KeyType::parse(kind)
        .filter(|k| *k != KeyType::Internal)
        .context("type: standard or read-only (internal keys: --internal)")?;
    let customer = crate::identity::customer::credentials_by_username(&db.pool, &UsernameKey::new(username))
        .await?
        .with_context(|| format!("no customer {username}"))?
        .id;
    let who = Who::new(customer, "berth create-key", None);
    let input = NewKeyInput {
        name: name.to_owned(),
        kind: Some(kind),
        once: None,
    };
    let created = match ops::create_key(&db.pool, &who, input).await {
        Ok(created) => created,
        Err(KeyError::Invalid(invalid)) => {
            let (field, message) = invalid
                .errors(crate::validation::Names::Form)
                .iter()
                .next()
                .map_or_else(|| (String::new(), String::new()), |(f, m)| (f.to_owned(), m.to_owned()));
            anyhow::bail!("{field}: {message}");
        }
        Err(KeyError::Db(err)) => return Err(err.into()),
        Err(other) => anyhow::bail!("refused: {other:?}"),
    };
    eprintln!(
        "created {} key {} for {username} (id {}); its secret, shown only now:",
        kind.as_str(),
        created.prefix,
        created.id
    );
    println!("{}", created.secret.expose());
    Ok(())
}

/// Creates an internal key, the platform's, owned by the operator `by` (default: the OS
/// user), and prints its secret.
async fn create_internal_key(db: &Database, name: &str, by: Option<&str>) -> anyhow::Result<()> {
    use crate::keys::model::{KeyName, Maker};
    let name: KeyName = name.parse().map_err(|e: String| anyhow::anyhow!("name: {e}"))?;
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).ok();
    let by = by.or(user.as_deref()).unwrap_or("operator");
    let by = crate::validation::one_line(by, 64, "--by: name the operator making the key")
        .map_err(|e| anyhow::anyhow!("--by: {e}"))?;
    let maker = Maker::Operator(by);
    let created = crate::keys::ops::create_internal(&db.pool, &maker, &name, None)
        .await?
        .expect("without a one-time token, a key is never refused as repeated");
    tracing::info!(key = created.prefix, owner = maker.describe(), "internal key created");
    eprintln!(
        "created internal key {} of {} (id {}); it may act for any customer. Its secret, shown only now:",
        created.prefix,
        maker.describe(),
        created.id
    );
    println!("{}", created.secret.expose());
    Ok(())
}

async fn notice_publish(
    db: &Database,
    notice_type: &str,
    severity: &str,
    title: &str,
    body_file: &std::path::Path,
    customer: Option<&str>,
) -> anyhow::Result<()> {
    let body = if body_file == std::path::Path::new("-") {
        std::io::read_to_string(std::io::stdin()).context("cannot read the body from standard input")?
    } else {
        std::fs::read_to_string(body_file).with_context(|| format!("cannot read {}", body_file.display()))?
    };
    let types = crate::notices::model::types(&db.pool).await?;
    let draft = crate::notices::model::Draft::parse(&types, notice_type, severity, title, &body).map_err(|errors| {
        anyhow::anyhow!(
            "{}",
            errors
                .iter()
                .map(|(k, v)| format!("--{k}: {v}"))
                .collect::<Vec<_>>()
                .join("; ")
        )
    })?;
    let customer = match customer {
        Some(username) => Some(
            crate::identity::customer::credentials_by_username(&db.pool, &UsernameKey::new(username))
                .await?
                .with_context(|| format!("no customer {username}"))?
                .id,
        ),
        None => None,
    };
    let mut tx = db.pool.begin().await?;
    let id = crate::notices::model::publish(&mut tx, customer, &draft).await?;
    tx.commit().await?;
    let to = customer.map_or("every customer".to_owned(), |c| format!("customer {c}"));
    println!("published notice {id} to {to}");
    Ok(())
}

/// `berth plan set SIZE --price 12.00 --transfer-gb 1000`: the price is in BERTH_CURRENCY
/// (the panel shows it with the currency it runs with).
async fn plan_set(db: &Database, size: &str, price: &str, transfer_gb: i64) -> anyhow::Result<()> {
    use crate::plans::{Price, TransferGb};
    let price: Price = price.parse().map_err(|message| anyhow::anyhow!("--price: {message}"))?;
    let transfer = TransferGb::new(transfer_gb).map_err(|message| anyhow::anyhow!("--transfer-gb: {message}"))?;
    if !crate::plans::model::set(&db.pool, size.trim(), price, transfer).await? {
        let sizes: Vec<String> = crate::plans::model::catalogue(&db.pool)
            .await?
            .into_iter()
            .map(|plan| plan.size_id)
            .collect();
        bail!("no size '{size}'; the sizes are: {}", sizes.join(", "));
    }
    println!(
        "plan {}: {price} a month, {} GB of transfer included",
        size.trim(),
        transfer.gb()
    );
    Ok(())
}

async fn plan_list(db: &Database) -> anyhow::Result<()> {
    for plan in crate::plans::model::catalogue(&db.pool).await? {
        match (plan.price(), plan.transfer_gb) {
            (Some(price), Some(gb)) => println!("{}\t{price} a month\t{gb} GB included", plan.size_id),
            _ => println!("{}\tno plan", plan.size_id),
        }
    }
    Ok(())
}

async fn bandwidth_import(db: &Database, file: &std::path::Path) -> anyhow::Result<()> {
    // Bytes, not text: a line that is not UTF-8 is reported by its number like any other.
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let outcome = crate::bandwidth::model::import(&db.pool, crate::bandwidth::import::read(&bytes)).await?;
    match outcome {
        Ok(stored) => {
            println!("imported {stored} samples from {}", file.display());
            Ok(())
        }
        Err(errors) => {
            for error in &errors {
                eprintln!("{}: {error}", file.display());
            }
            bail!("nothing imported: {} bad line(s)", errors.len())
        }
    }
}

async fn pool_add(db: &Database, platform: &crate::engine::Platform, cidr: &str) -> anyhow::Result<()> {
    use crate::provisioning::model;
    let network: crate::provisioning::PoolNetwork = cidr.parse().map_err(anyhow::Error::msg)?;
    let mut hosts = network.hosts();
    // A network of two or more hosts becomes an engine network; its first host is the
    // gateway, kept out of the pool.
    if hosts.len() >= 2 {
        let gateway = model::add_pool_network(&db.pool, network.network(), hosts[0]).await?;
        hosts.retain(|h| *h != gateway);
        let net = crate::engine::PoolNet {
            network: network.network(),
            gateway,
        };
        platform.driver.ensure_network(&net).await.map_err(anyhow::Error::msg)?;
        println!(
            "network {network}: gateway {gateway}, engine network {} ({} driver)",
            net.engine_name(),
            platform.driver.name()
        );
    }
    let added = model::add_to_pool(&db.pool, &hosts).await?;
    let plural = |n: u64| if n == 1 { "address" } else { "addresses" };
    let already = hosts.len() as u64 - added;
    println!(
        "added {added} {} of {network} to the pool ({already} were there already)",
        plural(added)
    );
    Ok(())
}

async fn image_set(db: &Database, type_id: &str, os_id: &str, image: &str) -> anyhow::Result<()> {
    use crate::provisioning::model;
    let (type_ok, os_ok) = model::catalogue_has(&db.pool, type_id, os_id).await?;
    if !type_ok {
        bail!("{type_id:?} is not a container type (or *)");
    }
    if !os_ok {
        bail!("{os_id:?} is not an operating system (or *)");
    }
    let reference = image.len() <= 255
        && image.starts_with(|c: char| c.is_ascii_alphanumeric())
        && image.chars().all(|c| c.is_ascii_alphanumeric() || "._/:@-".contains(c));
    if !reference {
        bail!("{image:?} is not an image reference (letters, digits and ._/:@-)");
    }
    model::set_image(&db.pool, type_id, os_id, image).await?;
    println!("sites of type {type_id} on {os_id} run {image}");
    Ok(())
}

async fn image_list(db: &Database) -> anyhow::Result<()> {
    let images = crate::provisioning::model::images(&db.pool).await?;
    if images.is_empty() {
        println!("no image is set: run berth image set TYPE OS IMAGE ('*' matches any)");
    }
    for row in images {
        println!("{:<10} {:<14} {}", row.type_id, row.os_id, row.image);
    }
    Ok(())
}

/// Checks the configured engine; fails when something is missing.
async fn doctor(db: &Database, platform: &crate::engine::Platform) -> anyhow::Result<()> {
    println!("driver: {}", platform.driver.name());
    let images: Vec<String> = crate::provisioning::model::images(&db.pool)
        .await?
        .into_iter()
        .map(|row| row.image)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut checks = platform
        .driver
        .doctor(if platform.driver.needs_images() { &images } else { &[] })
        .await;
    if platform.driver.needs_images() {
        for (network, gateway) in crate::provisioning::model::pool_networks(&db.pool).await? {
            let net = crate::engine::PoolNet { network, gateway };
            checks.push(match platform.driver.ensure_network(&net).await {
                Ok(()) => crate::engine::Check::ok(format!(
                    "pool network {network} is on the engine ({})",
                    net.engine_name()
                )),
                Err(err) => crate::engine::Check::missing(format!("pool network {network}: {err}")),
            });
        }
    }
    let data = platform.files().site(0);
    let sites = data.parent().unwrap_or(&data);
    checks.push(match std::fs::create_dir_all(sites) {
        Ok(()) => crate::engine::Check::ok(format!("site files live in {}", sites.display())),
        Err(err) => crate::engine::Check::missing(format!("cannot make {}: {err}", sites.display())),
    });
    let missing = checks.iter().filter(|c| !c.ok).count();
    for check in &checks {
        println!("{} {}", if check.ok { "ok     " } else { "MISSING" }, check.what);
    }
    if missing > 0 {
        bail!("{missing} thing(s) missing");
    }
    println!("everything Berth needs is there");
    Ok(())
}
