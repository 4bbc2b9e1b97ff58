use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tenantgate::cli::run(tenantgate::cli::Cli::parse()).await
}
