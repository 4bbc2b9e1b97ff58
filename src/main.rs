/// mimalloc instead of the system allocator: a request allocates for every field it
/// answers, and on the dashboard benchmark (`docs/performance.md`) glibc's malloc and
/// free were about a third of the server's CPU; mimalloc measured 15-20% less CPU per
/// request there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tenantgate::cli::run(tenantgate::cli::Cli::parse()).await
}
