//! The `scaleinfra` binary: serve, migrate, admin.

use backend::config::{Config, LogFormat};
use backend::{app, bootstrap, telemetry};
use clap::{Args, Parser, Subcommand};
use scaleinfra_backend as backend;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "scaleinfra",
    version,
    about = "ScaleInfra: the control plane of a multi-tenant KVM cloud"
)]
struct Cli {
    /// A TOML configuration file (keys as in the README's configuration reference).
    #[arg(long, global = true, env = "SCALEINFRA_CONFIG")]
    config: Option<PathBuf>,
    /// `sqlite://path` or `postgres://…` (overrides the file and SCALEINFRA_DATABASE_URL).
    #[arg(long, global = true, env = "DATABASE_URL")]
    database_url: Option<String>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process: API, SPA and background workers.
    Serve(ServeArgs),
    /// Serve the API and SPA only (replicas behind a load balancer; PostgreSQL).
    Api(ServeArgs),
    /// Run the orchestrator only: several may share one PostgreSQL database.
    Orchestrator,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Administrative tasks.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Render CloudScripts for the process that started it (stdin to stdout, within limits).
    #[command(hide = true)]
    RenderWorker(RenderWorkerArgs),
    /// Inject faults into a running installation's simulated pool (through its API, as an operator).
    Sim {
        #[command(flatten)]
        target: backend::sim_cli::SimTarget,
        #[command(subcommand)]
        command: backend::sim_cli::SimCommand,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    bind: Option<SocketAddr>,
}

/// Limits of a render worker (the `scaleinfra` binary starts them itself).
#[derive(Args)]
struct RenderWorkerArgs {
    #[arg(long, default_value_t = 256)]
    memory_mib: u64,
    #[arg(long, default_value_t = 5)]
    cpu_secs: u64,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create the provider tenant and its first operator on an empty database.
    Bootstrap {
        /// The operator's email (default admin@scaleinfra.local or SCALEINFRA_ADMIN_EMAIL).
        #[arg(long)]
        email: Option<String>,
        /// The operator's password (generated and printed when absent).
        #[arg(long, env = "SCALEINFRA_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Set a user's password and end its sessions.
    ResetPassword {
        /// The user's email.
        #[arg(long)]
        email: String,
        /// The user's tenant (its slug), when the email has accounts in several tenants.
        #[arg(long)]
        tenant: Option<String>,
        /// The new password (generated and printed when absent).
        #[arg(long)]
        password: Option<String>,
    },
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(url) = &cli.database_url {
        config.database_url = url.clone();
    }
    if let Some(f) = cli.log_format {
        config.log_format = f;
    }
    if let Command::Serve(ServeArgs { bind: Some(b) }) | Command::Api(ServeArgs { bind: Some(b) }) =
        &cli.command
    {
        config.bind = *b;
    }
    if matches!(cli.command, Command::Api(_)) {
        // an API replica runs no background work, and the simulated pool lives with the orchestrator
        config.orchestrator = false;
        config.sim_hosts = 0;
    }
    config.validate()?;
    Ok(config)
}

fn print_credentials(b: &bootstrap::Bootstrapped) {
    println!("ScaleInfra bootstrapped: first operator {}", b.email);
    if let Some(p) = &b.generated_password {
        println!("  generated password (shown once, change it after logging in): {p}");
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// `scaleinfra orchestrator`: the reconcile loop and host monitor alone, against PostgreSQL.
async fn run_orchestrator(mut config: Config) -> anyhow::Result<()> {
    if store::Backend::from_url(&config.database_url)?.0 == store::Backend::Sqlite {
        anyhow::bail!(
            "SQLite mode is single-process by design: run `scaleinfra serve`, or use PostgreSQL to run orchestrators apart"
        );
    }
    config.sim_hosts = 0;
    render_in_workers(&config)?;
    let store = app::open_store(&config).await?;
    orchestrator::automation::library::load(&store).await?;
    orchestrator::catalog::seed_catalog(&store).await?;
    let (_, drivers) = app::drivers(&config);
    let o =
        orchestrator::Orchestrator::new(store, drivers, app::orchestrator_config(&config)).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(o.run(stop.clone()));
    println!("ScaleInfra orchestrator running");
    shutdown_signal().await;
    stop.cancel();
    task.await??;
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Sim { target, command } = cli.command {
        // talks to a running installation: its own configuration is not needed
        return tokio::task::spawn_blocking(move || backend::sim_cli::run(&target, &command))
            .await?;
    }
    let config = load_config(&cli)?;
    telemetry::init_logging(config.log_format, &config.log_level);
    match cli.command {
        Command::Orchestrator => run_orchestrator(config).await?,
        Command::Serve(_) | Command::Api(_) => {
            render_in_workers(&config)?;
            let running = app::start(config).await?;
            if let Some(b) = &running.bootstrapped {
                print_credentials(b);
            }
            println!("ScaleInfra listening on http://{}", running.addr);
            if let Some(a) = running.agent_addr {
                println!("ScaleInfra agent protocol on http://{a}");
            }
            let background = running.shutdown.clone();
            let agent = running.state.agent.clone();
            shutdown_signal().await;
            tracing::info!("shutting down");
            background.cancel();
            running.stop().await;
            running.wait().await?;
            // the heartbeats and reports still buffered reach the database before the process ends
            if let Err(e) = agent.flush().await {
                tracing::warn!(error = %store::Chain(&e), "writing the last agent heartbeats failed");
            }
        }
        // handled before the configuration is read
        Command::Sim { .. } | Command::RenderWorker(_) => {}
        Command::Migrate => {
            app::open_store(&config).await?;
            println!("database is up to date");
        }
        Command::Admin(AdminCommand::Bootstrap { email, password }) => {
            let store = app::open_store(&config).await?;
            let email = email.or(config.admin_email.clone());
            match bootstrap::ensure_provider(&store, email.as_deref(), password.as_deref())
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.problem()))?
            {
                Some(b) => print_credentials(&b),
                None => anyhow::bail!("already bootstrapped: the provider tenant exists"),
            }
        }
        Command::Admin(AdminCommand::ResetPassword {
            email,
            tenant,
            password,
        }) => {
            let store = app::open_store(&config).await?;
            let generated =
                bootstrap::reset_password(&store, &email, tenant.as_deref(), password.as_deref())
                    .await
                    .map_err(|e| match e {
                        backend::error::ApiError::NotFound => {
                            anyhow::anyhow!("no user with email {email}")
                        }
                        other => anyhow::anyhow!("{}", other.problem()),
                    })?;
            println!("password of {email} reset; its sessions are ended");
            if let Some(p) = generated {
                println!("  generated password (shown once): {p}");
            }
        }
    }
    Ok(())
}

/// Renders go to worker processes of this binary, within the configured limits.
fn render_in_workers(config: &Config) -> anyhow::Result<()> {
    // the running image, even after the file was replaced by an upgrade
    let exe = PathBuf::from("/proc/self/exe");
    let exe = if exe.exists() {
        exe
    } else {
        std::env::current_exe()?
    };
    let limits = orchestrator::automation::sandbox::Limits {
        memory_mib: config.render_memory_mib,
        cpu_secs: config.render_cpu_secs,
    };
    orchestrator::automation::sandbox::install(exe, limits)
        .map_err(|e| anyhow::anyhow!("cannot start a render worker: {e}"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::RenderWorker(a) = &cli.command {
        // no runtime, no configuration: a single-threaded loop over stdin
        let limits = orchestrator::automation::sandbox::Limits {
            memory_mib: a.memory_mib,
            cpu_secs: a.cpu_secs,
        };
        return match orchestrator::automation::sandbox::serve_worker(limits) {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::FAILURE,
        };
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
