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
    /// Print the policy table (who may do what) as the README shows it, and exit.
    Policy {
        /// Print what each API key scope grants instead.
        #[arg(long)]
        scopes: bool,
    },
    /// System jobs, as the scheduler runs them through `runSystemJob`.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Run a job across all organizations now and print its report as JSON; the exit
    /// status is 1 when any organization failed.
    Run {
        job: crate::system::SystemJob,
        #[command(flatten)]
        database: DatabaseConfig,
    },
}

/// Runs the parsed command to completion.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(config) => {
            crate::telemetry::init(config.log_format);
            let app = crate::app::Application::build(*config).await?;
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
            print!("{}", crate::schema::sdl());
            Ok(())
        }
        Command::Policy { scopes } => {
            if scopes {
                print!("{}", crate::policy::markdown_scope_table());
            } else {
                print!("{}", crate::policy::markdown_tables());
            }
            Ok(())
        }
        Command::Job {
            command: JobCommand::Run { job, database },
        } => {
            crate::telemetry::init(LogFormat::Pretty);
            let db = crate::tenant::connect(&database).await?;
            crate::tenant::migrate(&db).await?;
            let report = crate::system::run(&db, job)
                .await
                .map_err(|error| anyhow::anyhow!("{error}"))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if report.failures > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}
