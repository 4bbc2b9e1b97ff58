//! System jobs, run by the operators' scheduler (`runSystemJob` with `CRON_SECRET`, or
//! `tenantgate job run …`). This is the only code besides `tenant/` that reaches across
//! organizations, and it does so explicitly: platform tables in one transaction, then
//! each organization in a transaction of its own, bound to that organization exactly
//! like one of its requests (row-level security included). A failure in one
//! organization is reported and the others go on.

mod purge;
mod retention;
pub mod summarize;

use async_graphql::{Context, Enum, Guard, ID, Object, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{AppError, AppResult, GqlResult};
use crate::graphql::ContextExt;
use crate::identity::Principal;
use crate::tenant::Database;

/// A maintenance job.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SystemJob {
    /// Deletes what has expired: ended sessions and their refresh tokens, used or expired
    /// password resets, unverified sign-ups whose link expired, delivered mail, and
    /// long-expired or revoked invitations.
    PurgeExpired,
    /// Fills the missing summaries of closed conversations (up to 500 per organization
    /// and run), with the built-in extractive summarizer.
    SummarizeConversations,
    /// Deletes each organization's events that occurred longer ago than its
    /// `eventRetentionDays`.
    EnforceRetention,
}

impl SystemJob {
    /// What the in-process schedule (`TENANTGATE_PURGE_INTERVAL_SECS`) runs, in order:
    /// every job, since each deletes what the organizations were promised would go.
    pub const SCHEDULED: [SystemJob; 2] = [SystemJob::PurgeExpired, SystemJob::EnforceRetention];
}

/// What one step of a job did.
#[derive(SimpleObject, Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct JobStep {
    /// Rows handled.
    pub processed: u64,
    pub failed: bool,
    /// Why the step failed.
    pub error: Option<String>,
}

/// What a job did in one organization.
#[derive(SimpleObject, Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationJobResult {
    pub organization_id: ID,
    pub processed: u64,
    pub failed: bool,
    pub error: Option<String>,
}

/// The report of one run.
#[derive(SimpleObject, Serialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SystemJobReport {
    pub job: SystemJob,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The tables that belong to no organization.
    pub platform: JobStep,
    /// One entry per organization, in id order.
    pub organizations: Vec<OrganizationJobResult>,
    /// How many steps failed (platform and organizations).
    pub failures: u64,
}

fn step(result: AppResult<u64>) -> (u64, Option<String>) {
    match result {
        Ok(processed) => (processed, None),
        Err(error) => {
            tracing::error!(error = ?error, "system job step failed");
            let detail = match &error {
                AppError::Internal(source) => format!("{source:#}"),
                other => other.to_string(),
            };
            (0, Some(detail))
        }
    }
}

/// Runs a job across the platform and every organization.
#[tracing::instrument(skip(db))]
pub async fn run(db: &Database, job: SystemJob) -> AppResult<SystemJobReport> {
    let started_at = Utc::now();
    let (processed, error) = step(match job {
        SystemJob::PurgeExpired => purge::platform(db).await,
        SystemJob::SummarizeConversations => Ok(0),
        SystemJob::EnforceRetention => Ok(0),
    });
    let platform = JobStep {
        processed,
        failed: error.is_some(),
        error,
    };
    let mut organizations = Vec::new();
    for organization in organization_ids(db).await? {
        let (processed, error) = step(match job {
            SystemJob::PurgeExpired => purge::organization(db, organization).await,
            SystemJob::SummarizeConversations => {
                summarize::organization(db, organization, &summarize::Extractive).await
            }
            SystemJob::EnforceRetention => retention::organization(db, organization).await,
        });
        organizations.push(OrganizationJobResult {
            organization_id: ID(organization.to_string()),
            processed,
            failed: error.is_some(),
            error,
        });
    }
    let failures =
        u64::from(platform.failed) + organizations.iter().filter(|o| o.failed).count() as u64;
    tracing::info!(
        ?job,
        failures,
        organizations = organizations.len(),
        "system job finished"
    );
    Ok(SystemJobReport {
        job,
        started_at,
        finished_at: Utc::now(),
        platform,
        organizations,
        failures,
    })
}

/// Every organization's id, in id order, read in a transaction bound to none.
async fn organization_ids(db: &Database) -> AppResult<Vec<OrganizationId>> {
    let tx = db.system_transaction(None).await?;
    let ids = entity::organization::Entity::find()
        .select_only()
        .column(entity::organization::Column::Id)
        .order_by_asc(entity::organization::Column::Id)
        .into_tuple::<OrganizationId>()
        .all(tx.connection())
        .await?;
    tx.commit().await?;
    Ok(ids)
}

/// Runs `jobs`, one after the other, every `interval` in the background (the first run
/// after one interval). A failing job does not keep the next from running.
pub fn spawn_schedule(
    db: Database,
    jobs: &[SystemJob],
    interval: std::time::Duration,
) -> tokio::task::JoinHandle<()> {
    let jobs = jobs.to_vec();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            for &job in &jobs {
                if let Err(error) = run(&db, job).await {
                    tracing::error!(?job, error = %error, "scheduled system job failed");
                }
            }
        }
    })
}

/// Admits the system principal only.
struct SystemGuard;

impl Guard for SystemGuard {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match ctx.request()?.principal() {
            Principal::System => Ok(()),
            Principal::User(_) | Principal::ApiKey(_) => Err(AppError::forbidden(
                "system jobs are for the operators' scheduler (Authorization: Bearer <CRON_SECRET>)",
            )
            .into()),
            Principal::Anonymous { .. } => Err(AppError::unauthenticated(
                "system jobs need Authorization: Bearer <CRON_SECRET>",
            )
            .into()),
        }
    }
}

#[derive(Default)]
pub struct SystemMutation;

#[Object]
impl SystemMutation {
    /// Runs a maintenance job across all organizations and reports per organization. Only
    /// for the system principal (`Authorization: Bearer <CRON_SECRET>`).
    #[graphql(guard = "SystemGuard", visible = "crate::policy::visible::not_keys")]
    async fn run_system_job(
        &self,
        ctx: &Context<'_>,
        job: SystemJob,
    ) -> GqlResult<SystemJobReport> {
        Ok(run(&ctx.request()?.database(), job).await?)
    }
}

/// Organization ids, for the job steps.
pub(crate) type OrganizationId = Uuid;
