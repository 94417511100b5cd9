//! The `boxoffice` binary: serve, migrate, seed-demo, admin-token, backend, export-history.

use std::time::Duration;

use boxoffice::app::Application;
use boxoffice::auth::Tokens;
use boxoffice::config::{DatabaseSettings, Settings};
use boxoffice::store::Mode;
use boxoffice::store::postgres::Database;
use boxoffice::{seed, telemetry};
use clap::{Parser, Subcommand};

/// How long `export-history` may take (every Postgres call is bounded).
const EXPORT_BOUND: Duration = Duration::from_secs(30 * 60);

#[derive(Parser)]
#[command(name = "boxoffice", version, about = "A fair, fast concert-ticketing queue backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (applies pending migrations first).
    Serve,
    /// Apply pending database migrations.
    Migrate,
    /// Create the demo concert (two shows of 1,000 seats) unless it exists.
    SeedDemo,
    /// Print an admin JWT signed with the configured secret.
    AdminToken {
        /// Hours the token stays valid.
        #[arg(long, default_value_t = 12)]
        hours: u64,
    },
    /// Show or set the deployment's backend: `postgres` moves it to the Postgres fallback and
    /// keeps it there (maintenance), `redis` keeps it on Redis (no automatic fallback),
    /// `auto` lets it switch by itself again (back to Redis once every instance reaches it).
    Backend {
        #[arg(value_parser = ["postgres", "redis", "auto"])]
        set: Option<String>,
    },
    /// Write a show's history (every place, in seq order) as CSV to standard output, to keep
    /// before retention deletes it.
    ExportHistory {
        /// The show's id.
        show: i64,
    },
    /// Print the OpenAPI document.
    #[command(hide = true)]
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        print!("{}", boxoffice::http::docs::openapi_json());
        return Ok(());
    }
    telemetry::init_logs();
    let settings = Settings::from_env()?;
    match cli.command {
        Command::Serve => serve(settings).await,
        Command::Migrate => {
            Database::connect_lazy(&settings.database)?.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::SeedDemo => {
            let db = Database::connect_lazy(&settings.database)?;
            db.migrate().await?;
            let (id, created) = seed::seed_demo(&db).await?;
            tracing::info!(concert = %id, created, "demo concert ready");
            Ok(())
        }
        Command::AdminToken { hours } => {
            let tokens = Tokens::new(&settings.auth.jwt_secret, settings.auth.user_token_ttl);
            println!("{}", tokens.issue_admin(Duration::from_secs(hours * 3600)).token);
            Ok(())
        }
        Command::Backend { set } => {
            let db = Database::connect_lazy(&settings.database)?;
            let row = match set.as_deref() {
                Some("postgres") => db.deployment().pin_mode(Mode::Postgres).await?,
                Some("redis") => db.deployment().pin_mode(Mode::Redis).await?,
                Some(_) => db.deployment().unpin_backend().await?,
                None => db.deployment().mode_row().await?,
            };
            let how = if row.pinned { "pinned" } else { "automatic" };
            println!("{} (epoch {}, {how})", row.mode.as_str(), row.epoch);
            Ok(())
        }
        Command::ExportHistory { show } => {
            // A big show's history takes longer than a request's bound (still bounded).
            let db = Database::connect_lazy(&DatabaseSettings { timeout: EXPORT_BOUND, ..settings.database })?;
            let mut out = std::io::BufWriter::new(std::io::stdout());
            let bytes = db.retention().export_history(boxoffice::domain::ShowId(show), &mut out).await?;
            std::io::Write::flush(&mut out)?;
            tracing::info!(show, bytes, "history exported");
            Ok(())
        }
        Command::Openapi => unreachable!("handled above"),
    }
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    if settings.auth.secret_is_dev_default {
        tracing::warn!(
            "BOXOFFICE_JWT_SECRET is not set: using the public DEVELOPMENT secret; never do this in production"
        );
    }
    let app = Application::build(settings).await?;
    tracing::info!(port = app.port(), "boxoffice is serving");
    app.run_until_stopped().await?;
    tracing::info!("boxoffice stopped");
    Ok(())
}
