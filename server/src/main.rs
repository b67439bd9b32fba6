//! `alumia`: the Alumia server and its operator commands.

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use server::config::{self, LogFormat};
use server::{Config, Settings};

/// mimalloc instead of glibc's malloc: rendering a signed-in page makes
/// many small allocations on many threads, and a profile of the projects
/// page under load had about 45 % of its time in glibc's malloc and free
/// (README "Load benchmark").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "alumia", version, about = "Alumia: a self-hostable control plane for AI agents")]
struct Cli {
    #[command(flatten)]
    settings: Settings,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboard and /api/v1 (the default)
    Serve,
    /// Apply database migrations and exit
    Migrate,
    /// Operator commands: users, keys
    #[command(subcommand)]
    Admin(server::admin::AdminCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The log format is a setting, so settings come first (their errors
    // are printed by `main`'s error, not logged).
    let config = Config::resolve(&cli.settings)?;
    init_logs(config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            server::open_db(&config).await?;
            println!("migrations applied to {}", config::redact_url(&config.database_url));
        }
        Command::Admin(command) => {
            let ctx = server::operator_ctx(&config).await?;
            let done = server::admin::run(&ctx, command).await;
            // Whatever it wrote shows at once in a server running on the
            // same SQLite file (`db::changes`).
            app::db::changes::announce(&config.database_url);
            done?;
        }
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(config.addr).await?;
            tracing::info!(?config, "listening on http://{}", listener.local_addr()?);
            server::launch(config, listener, shutdown_signal()).await?;
        }
    }
    Ok(())
}

/// Logs go to stderr: stdout carries command output (e.g. a minted key).
/// `json` writes one object per line, the event's fields at the top level
/// beside `timestamp`, `level`, `target` and `message`.
fn init_logs(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,tower_sessions=warn,tower_sessions_core=warn,sqlx=warn,leptos=warn"));
    let logs = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().flatten_event(true).with_current_span(true).init(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
