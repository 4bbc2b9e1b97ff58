//! The command line: `serve`, `migrate`, `schema`.

use clap::{Parser, Subcommand};

use crate::config::{DatabaseConfig, LogFormat, ServeConfig};

/// tenantgate: one GraphQL API in front of many organizations' data, each kept to itself.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve the API (GraphiQL at /graphql).
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate(DatabaseConfig),
    /// Print the GraphQL schema (SDL) and exit.
    Schema,
}

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => {
            crate::telemetry::init(config.log_format);
            let app = crate::server::Application::build(*config).await?;
            app.run_until_stopped().await
        }
        Command::Migrate(database) => {
            crate::telemetry::init(LogFormat::Pretty);
            let db = crate::tenant::connect(&database).await?;
            crate::tenant::migrate(&db).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
    }
}
