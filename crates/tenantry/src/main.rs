//! The `tenantry` binary: `serve`, `migrate`, `backup`, `restore`, `admin create-user`,
//! `audit export`, `audit verify`, `agent` and `bench-seed`.

mod agent;
mod config;

use clap::{Parser, Subcommand};
use config::Config;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tenantry_domain::{Clock, Email, Role, SystemClock};
use tenantry_server::{App, bootstrap};
use tenantry_store::Backend;
use tokio::net::TcpListener;

/// mimalloc, for Rust and (its `override` feature) for the embedded SQLite's C code too: glibc's
/// allocator spent about a fifth of a 200-account listing consolidating and locking, each row's
/// values being allocated on the driver's thread and freed on the runtime's (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "tenantry", version, about = "Multi-tenant account platform with a partner console for MSPs")]
struct Cli {
    /// A TOML configuration file (also TENANTRY_CONFIG).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (creates and migrates the database on first start).
    Serve {
        /// Address to listen on, host:port (port 0 picks a free one).
        #[arg(long)]
        listen: Option<String>,
        /// sqlite://PATH or postgres://…
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Write a consistent snapshot of the embedded database to FILE while it is being served, then
    /// check the copy: SQLite's integrity check and every audit trail's chain. Exit status 1 when
    /// the copy fails its checks; 2 on PostgreSQL (use pg_dump).
    Backup {
        /// Where the snapshot goes; nothing may be there yet.
        file: PathBuf,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Restore a backup as the embedded database named by the configuration, where nothing may be
    /// yet: the backup is checked, moved into place whole and migrated to this version. Exit
    /// status 2 on PostgreSQL (use pg_restore).
    Restore {
        /// A file `tenantry backup` wrote.
        file: PathBuf,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Operator commands.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Audit trail tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Fill the database with a realistic tree for measuring at scale: partners, MSPs (one per
    /// 200 accounts), customers with their users, certificates and audit events. Run it while no
    /// server writes to the database.
    BenchSeed {
        /// Accounts to add below the platform.
        #[arg(long, default_value_t = 1_000)]
        tenants: u64,
        /// Users to add in all.
        #[arg(long, default_value_t = 10_000)]
        users: u64,
        #[arg(long, default_value_t = 3)]
        certificates_per_customer: u32,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Find certificates in PEM/CRT files under the given folders and report them to a server.
    Agent {
        /// The server's base URL, e.g. https://tenantry.example.com
        #[arg(long)]
        server: String,
        /// A file holding the agent's token (first line).
        #[arg(long)]
        token_file: PathBuf,
        /// Folders to scan (recursively).
        #[arg(long = "scan", required = true, num_args = 1..)]
        scan: Vec<PathBuf>,
        /// Report again every this many seconds; without it, report once and exit.
        #[arg(long)]
        interval: Option<u64>,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user in an account (the platform account by default). Without a password the user
    /// is invited and a one-time activation link is printed.
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "platform_admin")]
        role: String,
        /// Account id; the platform account when omitted.
        #[arg(long)]
        account: Option<String>,
        /// A file holding the password (first line).
        #[arg(long)]
        password_file: Option<PathBuf>,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Print a new one-time activation link for an invited user (earlier links stop working), for
    /// instance the first administrator whose setup link was lost. Links use `public_url`.
    SetupLink {
        #[arg(long)]
        email: String,
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Write an account's trail in `seq` order, streamed: JSON Lines closed by a signed checkpoint
    /// (what `audit verify` checks), or CSV.
    Export {
        /// The account whose trail is written.
        #[arg(long)]
        account: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Where to write it; standard output when omitted.
        file: Option<PathBuf>,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Verify the hash chain of a JSON Lines export, offline, and with `--public-key` (from
    /// `GET /api/v1/audit/public-key`) the signed checkpoint that closes it, which proves the
    /// export whole up to that point. Exit status 1 when it is broken.
    Verify {
        file: PathBuf,
        /// The service's checkpoint key, base64.
        #[arg(long)]
        public_key: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ExportFormat {
    Jsonl,
    Csv,
}

/// The exit status of a command that cannot run on PostgreSQL.
const NOT_ON_POSTGRES: u8 = 2;

/// Logs to standard error, filtered by `TENANTRY_LOG`, as text or (`TENANTRY_LOG_FORMAT=json`)
/// one JSON object a line, each with the request's id when it happened in one.
fn init_logs() -> Result<(), String> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("TENANTRY_LOG").unwrap_or_else(|_| "info,sqlx=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match std::env::var("TENANTRY_LOG_FORMAT").as_deref() {
        Err(_) | Ok("" | "text") => logs.init(),
        Ok("json") => logs.json().with_current_span(true).with_span_list(false).init(),
        Ok(other) => return Err(format!("TENANTRY_LOG_FORMAT must be `text` or `json`, not `{other}`")),
    }
    Ok(())
}

fn main() -> ExitCode {
    if let Err(message) = init_logs() {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli_file: Option<PathBuf>, database_url: Option<String>) -> Result<Config, String> {
    let file = cli_file.or_else(|| std::env::var_os("TENANTRY_CONFIG").map(PathBuf::from));
    let mut config = Config::load(file.as_deref())?;
    if let Some(url) = database_url {
        config.database_url = url;
    }
    Ok(config)
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Serve { listen, database_url } => {
            let mut config = load_config(cli.config, database_url)?;
            if let Some(listen) = listen {
                config.listen = listen;
            }
            serve(config).await
        }
        Command::Migrate { database_url } => {
            let config = load_config(cli.config, database_url)?;
            tenantry_store::connect(&config.database_url, Arc::new(SystemClock)).await.map_err(|e| e.to_string())?;
            println!("migrations applied to {}", tenantry_store::redact_url(&config.database_url));
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin {
            command: AdminCommand::CreateUser { email, name, role, account, password_file, database_url },
        } => {
            let config = load_config(cli.config, database_url)?;
            create_user(&config, &email, &name, &role, account.as_deref(), password_file).await
        }
        Command::Admin { command: AdminCommand::SetupLink { email, database_url } } => {
            let config = load_config(cli.config, database_url)?;
            setup_link(&config, &email).await
        }
        Command::Backup { file, database_url } => {
            let config = load_config(cli.config, database_url)?;
            if tenantry_store::Backend::of_url(&config.database_url).map_err(|e| e.to_string())? == Backend::Postgres {
                eprintln!("tenantry backup is for the embedded database; back PostgreSQL up with pg_dump");
                return Ok(ExitCode::from(NOT_ON_POSTGRES));
            }
            let checked = tenantry_store::backup::backup(&config.database_url, &file, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            Ok(report_checked(&format!("backup {}", file.display()), &checked))
        }
        Command::Restore { file, database_url } => {
            let config = load_config(cli.config, database_url)?;
            if tenantry_store::Backend::of_url(&config.database_url).map_err(|e| e.to_string())? == Backend::Postgres {
                eprintln!("tenantry restore is for the embedded database; restore PostgreSQL with pg_restore");
                return Ok(ExitCode::from(NOT_ON_POSTGRES));
            }
            let checked = tenantry_store::backup::restore(&file, &config.database_url, Arc::new(SystemClock))
                .await
                .map_err(|e| e.to_string())?;
            let target = tenantry_store::redact_url(&config.database_url);
            Ok(report_checked(&format!("restored {} to {target}", file.display()), &checked))
        }
        Command::Audit { command: AuditCommand::Export { account, format, file, database_url } } => {
            let config = load_config(cli.config, database_url)?;
            export_trail(&config, &account, format, file.as_deref()).await
        }
        Command::Audit { command: AuditCommand::Verify { file, public_key } } => {
            verify_export(&file, public_key.as_deref())
        }
        Command::BenchSeed { tenants, users, certificates_per_customer, database_url } => {
            let config = load_config(cli.config, database_url)?;
            // It writes around the server's own commits, so never beside a server of the file.
            let _hold = tenantry_store::hold_for_serving(&config.database_url).map_err(|e| e.to_string())?;
            bench_seed(&config, tenants, users, certificates_per_customer).await
        }
        Command::Agent { server, token_file, scan, interval } => {
            let token = std::fs::read_to_string(&token_file).map_err(|e| format!("{}: {e}", token_file.display()))?;
            let token = token.lines().next().unwrap_or_default().trim().to_owned();
            let interval = interval.filter(|s| *s > 0).map(std::time::Duration::from_secs);
            agent::run(agent::AgentOptions { server, token, folders: scan, interval }).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn app_for(config: &Config) -> Result<App, String> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store = tenantry_store::connect(&config.database_url, clock.clone()).await.map_err(|e| e.to_string())?;
    App::new(store, clock, config.settings()?, config.listen_addr()?).await.map_err(|e| e.to_string())
}

async fn serve(mut config: Config) -> Result<ExitCode, String> {
    let listener = TcpListener::bind(config.listen_addr()?)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    config.listen = bound.to_string();
    let _hold = tenantry_store::hold_for_serving(&config.database_url).map_err(|e| e.to_string())?;
    let app = app_for(&config).await?;
    let first =
        bootstrap::bootstrap(&app, config.bootstrap_admin_email.as_deref(), config.bootstrap_admin_password.as_deref())
            .await
            .map_err(|e| format!("bootstrap: {e}"))?;
    if let Some(email) = &first.admin_email {
        println!("created the platform account and its administrator {email}");
    }
    if let Some(url) = &first.setup_url {
        println!("one-time setup link for {}: {url}", first.admin_email.as_deref().unwrap_or_default());
    } else if let Some(email) = bootstrap::invited_first_admin(&app, config.bootstrap_admin_email.as_deref()).await {
        println!(
            "the administrator {email} has not set a password yet; `tenantry admin setup-link --email {email}` prints a new link"
        );
    }
    let background = [
        tokio::spawn(app.scheduler().run(app.settings.monitor.poll_every)),
        tokio::spawn(app.deliverer().run(std::time::Duration::from_secs(1))),
        tokio::spawn(app.clone().run_background()),
    ];
    println!("tenantry listening on http://{bound} ({})", tenantry_store::redact_url(&config.database_url));
    tracing::info!(%bound, "serving");
    let (stopping, mut stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        let signal = stop_signal().await;
        tracing::info!(signal, "stopping: no new connections, finishing the requests in flight");
        let _ = stopping.send(true);
    });
    let mut asked = stopped.clone();
    let serving = tenantry_server::serve(listener, app.clone(), async move {
        let _ = asked.wait_for(|stop| *stop).await;
    });
    let grace = config.shutdown_grace();
    let deadline = async move {
        let _ = stopped.wait_for(|stop| *stop).await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = serving => served.map_err(|e| e.to_string())?,
        () = deadline => tracing::warn!(secs = grace.as_secs(), "requests still in flight after the grace period were cut off"),
    }
    for task in background {
        task.abort();
    }
    // Another process takes this one's leased targets and deliveries at once, not when the
    // leases end.
    match app.store.release_leases(&app.lease_owner).await {
        Ok(released) => tracing::info!(released, "leases released"),
        Err(e) => tracing::warn!(error = %e, "releasing the leases failed; they end by themselves"),
    }
    println!("tenantry stopped");
    Ok(ExitCode::SUCCESS)
}

/// Waits for SIGTERM or SIGINT (Ctrl-C) and names it.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = terminate.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

async fn create_user(
    config: &Config,
    email: &str,
    name: &str,
    role: &str,
    account: Option<&str>,
    password_file: Option<PathBuf>,
) -> Result<ExitCode, String> {
    let app = app_for(config).await?;
    let email = Email::parse(email).map_err(|m| format!("email {m}"))?;
    let role: Role = role.parse()?;
    let name = tenantry_domain::validate::name(name).map_err(|m| format!("name {m}"))?;
    let password = match password_file {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let first = text.lines().next().unwrap_or_default().to_owned();
            tenantry_domain::validate::new_password(&first, &[email.as_str(), &name])
                .map_err(|m| format!("password {m}"))?;
            Some(first)
        }
        None => None,
    };
    let account = match account {
        Some(id) => id.parse().map_err(|_| format!("`{id}` is not an account id"))?,
        None => app.store.ensure_platform(bootstrap::PLATFORM_NAME).await.map_err(|e| e.to_string())?.0.id,
    };
    let creds =
        tenantry_server::routes::accounts::credentials(&app, password.as_deref()).await.map_err(|e| e.to_string())?;
    let new = tenantry_store::NewUser {
        email,
        name,
        role,
        password_hash: creds.password_hash,
        expires_at: None,
        activation: creds.activation,
    };
    let user = app.store.create_user_as_operator(account, new).await.map_err(|e| e.to_string())?;
    println!("created {} ({}) in account {account}", user.email, user.role);
    if let Some(url) = creds.activation_url {
        println!("activation link: {url}");
        if config.public_url.is_none() {
            println!("(the link assumes the server at http://{}; set TENANTRY_PUBLIC_URL otherwise)", config.listen);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The password of every user `bench-seed` writes.
pub const BENCH_PASSWORD: &str = "bench seed passphrase for load tests";

async fn bench_seed(config: &Config, tenants: u64, users: u64, certificates: u32) -> Result<ExitCode, String> {
    let app = app_for(config).await?;
    bootstrap::bootstrap(&app, config.bootstrap_admin_email.as_deref(), config.bootstrap_admin_password.as_deref())
        .await
        .map_err(|e| format!("bootstrap: {e}"))?;
    let password_hash = app.passwords.hash(BENCH_PASSWORD).await.map_err(|e| e.to_string())?;
    let plan = tenantry_store::SeedPlan { tenants, users, password_hash, certificates_per_customer: certificates };
    let bar = indicatif::ProgressBar::new(tenants + users);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} accounts and users ({per_sec}, {eta} left)",
        )
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    let started = std::time::Instant::now();
    let report = app.store.bench_seed(&plan, &|n| bar.inc(n)).await.map_err(|e| e.to_string())?;
    bar.finish();
    println!(
        "wrote {} partners, {} MSPs, {} customers, {} users, {} certificates and {} audit events in {:.1} s; \
         every user's password is \"{BENCH_PASSWORD}\"",
        report.partners,
        report.msps,
        report.customers,
        report.users,
        report.certificates,
        report.events,
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

async fn setup_link(config: &Config, email: &str) -> Result<ExitCode, String> {
    let app = app_for(config).await?;
    let creds = tenantry_server::routes::accounts::credentials(&app, None).await.map_err(|e| e.to_string())?;
    let (Some(activation), Some(url)) = (creds.activation, creds.activation_url) else {
        return Err("no activation link could be made".into());
    };
    match app.store.reissue_activation(email, activation).await.map_err(|e| e.to_string())? {
        Some(user) => {
            println!("activation link for {}: {url}", user.email);
            if config.public_url.is_none() {
                println!(
                    "(the link assumes the server at http://{}; set TENANTRY_PUBLIC_URL otherwise)",
                    config.listen
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        None => Err(format!("no invited user has the email {email}")),
    }
}

/// Prints what the checks of a copy found; success only when it passed them all.
fn report_checked(what: &str, checked: &tenantry_store::backup::Checked) -> ExitCode {
    let broken: Vec<String> = checked
        .trails
        .iter()
        .filter(|(_, v)| !v.valid)
        .map(|(trail, v)| format!("{trail} (from seq {})", v.first_bad_seq.unwrap_or_default()))
        .collect();
    if checked.is_good() {
        println!("{what}: integrity ok, {} trails with {} events verified", checked.trails.len(), checked.events());
        return ExitCode::SUCCESS;
    }
    for problem in &checked.problems {
        eprintln!("{what}: {problem}");
    }
    if !broken.is_empty() {
        eprintln!("{what}: trails that do not verify: {}", broken.join(", "));
    }
    ExitCode::FAILURE
}

/// Streams an account's trail to `file` or standard output.
async fn export_trail(
    config: &Config,
    account: &str,
    format: ExportFormat,
    file: Option<&std::path::Path>,
) -> Result<ExitCode, String> {
    use futures_util::StreamExt;
    use std::io::Write;
    use tenantry_server::routes::audit::{Format, Reader, export_stream};
    let trail = account.parse().map_err(|_| format!("`{account}` is not an account id"))?;
    let app = app_for(config).await?;
    if app.store.operator_audit_chunk(trail, 0, 1).await.map_err(|e| e.to_string())?.is_empty() {
        return Err(format!("account {account} has no trail"));
    }
    let format = match format {
        ExportFormat::Jsonl => Format::JsonLines,
        ExportFormat::Csv => Format::Csv,
    };
    let mut out: Box<dyn Write> = match file {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create_new(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut stream = std::pin::pin!(export_stream(app, Reader::Operator(trail), format));
    while let Some(text) = stream.next().await {
        let text = text.map_err(|e| format!("reading the trail: {e}"))?;
        out.write_all(text.as_bytes()).map_err(|e| format!("writing the export: {e}"))?;
    }
    out.flush().map_err(|e| format!("writing the export: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

fn verify_export(file: &PathBuf, public_key: Option<&str>) -> Result<ExitCode, String> {
    use base64::Engine;
    let input = std::fs::File::open(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let key = public_key
        .map(|k| base64::engine::general_purpose::STANDARD.decode(k.trim()).map_err(|e| format!("--public-key: {e}")))
        .transpose()?;
    let report = tenantry_server::checkpoint::verify_export(std::io::BufReader::new(input), key.as_deref())?;
    println!("{}", report.json());
    Ok(if report.valid { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
