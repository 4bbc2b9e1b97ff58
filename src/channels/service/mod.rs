//! The rules of channel configurations: validation, the effective instructions (channel →
//! organization → system), credentials that are sealed and only ever reported as
//! present or absent, and audit entries that never hold them. Every write also asks for
//! the acting member itself, so no API key changes a channel whatever handle it holds.

use async_graphql::{InputType, Json, MaybeUndefined};
use chrono::Utc;
use sea_orm::ActiveEnum;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{ColumnTrait, Iterable, QueryFilter};
use serde_json::{Map, Value, json};

use super::credentials::{CredentialSealer, Credentials};
use super::{
    ChannelConfig, EffectiveInstructions, InstructionSource, PublicChannelConfig,
    UpsertChannelConfigInput,
};
use crate::audit::AuditAction;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::{CursorKey, Page, Total, page, page_request};
use crate::input::{JsonObject, Name};
use crate::organizations::changes::{self, OrganizationChanges};
use crate::tenant::{GlobalDb, TenantDb};
use entity::{ChannelKind, channel_config};

/// The longest instructions, for a channel or the organization's default.
pub const MAX_INSTRUCTIONS_CHARS: usize = 20_000;
/// The largest settings object, serialized.
pub const MAX_SETTINGS_BYTES: usize = 16 * 1024;
/// The longest web chat greeting.
pub const MAX_GREETING_CHARS: usize = 500;

/// Where a page of channels continues: after this kind, in the order of the enum.
pub(crate) struct KindCursor(ChannelKind);

impl CursorKey for KindCursor {
    fn encode(&self) -> String {
        format!("k1:{}", self.0.to_value())
    }

    fn decode(raw: &str) -> Option<Self> {
        ChannelKind::try_from_value(&raw.strip_prefix("k1:")?.to_owned())
            .ok()
            .map(KindCursor)
    }
}

/// The levels below a channel's own instructions: the organization's default, then the
/// gateway's.
struct Fallback<'a> {
    organization: Option<String>,
    system: &'a str,
}

impl<'a> Fallback<'a> {
    async fn load(db: &TenantDb, system: &'a str) -> AppResult<Self> {
        Ok(Fallback {
            organization: db.organization().await?.agent_instructions,
            system,
        })
    }

    /// The first level that has instructions, starting from the channel's own.
    fn resolve(&self, channel: Option<&str>) -> EffectiveInstructions {
        let (text, source) = match (channel, self.organization.as_deref()) {
            (Some(own), _) => (own, InstructionSource::Channel),
            (None, Some(organization)) => (organization, InstructionSource::Organization),
            (None, None) => (self.system, InstructionSource::System),
        };
        EffectiveInstructions {
            text: text.to_owned(),
            source,
        }
    }
}

/// The client-facing configuration of a row. The sealed credentials stay behind; only
/// whether there are any goes out.
fn node(row: channel_config::Model, fallback: &Fallback<'_>) -> AppResult<ChannelConfig> {
    let settings = serde_json::from_str(&row.settings).map_err(AppError::internal)?;
    Ok(ChannelConfig {
        kind: row.kind.into(),
        effective_instructions: fallback.resolve(row.instructions.as_deref()),
        enabled: row.enabled,
        provider: row.provider,
        model: row.model,
        instructions: row.instructions,
        settings: Json(settings),
        has_credentials: row.credentials_sealed.is_some(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub async fn list(
    db: &TenantDb,
    system: &str,
    first: Option<i32>,
    after: Option<String>,
) -> AppResult<Page<ChannelConfig, KindCursor>> {
    let request = page_request::<KindCursor>(first, after)?;
    let total = Total::of(db, db.find::<channel_config::Entity>());
    let mut select = db.find::<channel_config::Entity>();
    if let Some(KindCursor(after)) = &request.after {
        let later: Vec<ChannelKind> = ChannelKind::iter().filter(|kind| kind > after).collect();
        select = select.filter(channel_config::Column::Kind.is_in(later));
    }
    // At most one row per kind: the rest of the list is small enough to sort here, in the
    // enum's order rather than the stored names' alphabetical one.
    let mut rows = db.all(select).await?;
    rows.sort_by_key(|row| row.kind);
    let fallback = Fallback::load(db, system).await?;
    let nodes = rows
        .into_iter()
        .map(|row| node(row, &fallback))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(page(
        nodes,
        &request,
        total,
        |config| KindCursor(config.kind.into()),
        |config| config,
    ))
}

pub async fn get(db: &TenantDb, system: &str, kind: ChannelKind) -> AppResult<ChannelConfig> {
    let row = db.get::<channel_config::Entity>(kind).await?;
    node(row, &Fallback::load(db, system).await?)
}

/// The organization's default instructions, or the gateway's when it has none.
pub async fn organization_default(db: &TenantDb, system: &str) -> AppResult<EffectiveInstructions> {
    Ok(Fallback::load(db, system).await?.resolve(None))
}

/// The public part of a channel, for a web chat widget: `greeting` and `branding` from
/// its settings, and nothing else of them.
pub async fn public(
    global: &GlobalDb,
    organization_slug: &str,
    kind: ChannelKind,
) -> AppResult<Option<PublicChannelConfig>> {
    let slug = organization_slug.trim().to_lowercase();
    let Some(channel) = global.public_channel_config(&slug, kind).await? else {
        return Ok(None);
    };
    let mut settings = match serde_json::from_str(&channel.settings) {
        Ok(Value::Object(settings)) => settings,
        _ => Map::new(),
    };
    let greeting = match settings.remove("greeting") {
        Some(Value::String(greeting)) => Some(greeting),
        _ => None,
    };
    let branding = match settings.remove("branding") {
        Some(branding @ Value::Object(_)) => Some(Json(branding)),
        _ => None,
    };
    Ok(Some(PublicChannelConfig {
        kind: channel.kind.into(),
        enabled: channel.enabled,
        greeting,
        branding,
    }))
}

/// A configuration that passed every rule of `upsertChannelConfig`.
struct ValidConfig {
    enabled: bool,
    provider: String,
    model: String,
    instructions: Option<String>,
    /// The settings object, serialized.
    settings: String,
}

impl ValidConfig {
    fn parse(input: UpsertChannelConfigInput) -> AppResult<Self> {
        Ok(ValidConfig {
            enabled: input.enabled,
            provider: Name::parse("provider", &input.provider, 100)?.into_inner(),
            model: Name::parse("model", &input.model, 100)?.into_inner(),
            instructions: instructions("instructions", input.instructions)?,
            settings: settings(input.settings.map(|Json(value)| value))?,
        })
    }
}

/// Instructions as typed: at most 20,000 characters; `None` or blank means none.
fn instructions(field: &str, raw: Option<String>) -> AppResult<Option<String>> {
    match raw {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) if text.chars().count() > MAX_INSTRUCTIONS_CHARS => Err(AppError::invalid(
            field,
            format!("must be at most {MAX_INSTRUCTIONS_CHARS} characters"),
        )),
        Some(text) => Ok(Some(text)),
    }
}

/// Settings: a JSON object of at most 16 KiB serialized, whose `greeting` (if present) is
/// a string of at most 500 characters and whose `branding` (if present) is an object,
/// since the public widget reads those two. Answers it serialized.
fn settings(value: Option<Value>) -> AppResult<String> {
    let settings = match value {
        None | Some(Value::Null) => Map::new(),
        Some(value) => JsonObject::parse("settings", value, MAX_SETTINGS_BYTES)?.into_map(),
    };
    match settings.get("greeting") {
        None | Some(Value::String(_)) => {}
        Some(_) => return Err(AppError::invalid("settings.greeting", "must be a string")),
    }
    if let Some(Value::String(greeting)) = settings.get("greeting")
        && greeting.chars().count() > MAX_GREETING_CHARS
    {
        return Err(AppError::invalid(
            "settings.greeting",
            format!("must be at most {MAX_GREETING_CHARS} characters"),
        ));
    }
    if settings
        .get("branding")
        .is_some_and(|branding| !branding.is_object())
    {
        return Err(AppError::invalid(
            "settings.branding",
            "must be a JSON object",
        ));
    }
    serde_json::to_string(&settings).map_err(AppError::internal)
}

/// The kind as clients spell it (`WEB_CHAT`): the audit entries' target.
fn target(kind: ChannelKind) -> Option<String> {
    Some(super::ChannelKind::from(kind).to_value().to_string())
}

/// What an audit entry says of a configuration: never its credentials, nor its
/// instructions and settings (only whether there are instructions).
fn summary(row: &channel_config::Model) -> Value {
    json!({
        "enabled": row.enabled,
        "provider": row.provider,
        "model": row.model,
        "hasInstructions": row.instructions.is_some(),
        "hasCredentials": row.credentials_sealed.is_some(),
    })
}

/// The names of the fields an upsert changed.
fn changed_fields(
    before: Option<&channel_config::Model>,
    after: &channel_config::Model,
) -> Vec<&'static str> {
    let Some(before) = before else {
        return vec!["enabled", "provider", "model", "instructions", "settings"];
    };
    [
        ("enabled", before.enabled != after.enabled),
        ("provider", before.provider != after.provider),
        ("model", before.model != after.model),
        ("instructions", before.instructions != after.instructions),
        ("settings", before.settings != after.settings),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}

pub async fn upsert(
    db: &TenantDb,
    system: &str,
    kind: ChannelKind,
    input: UpsertChannelConfigInput,
) -> AppResult<ChannelConfig> {
    db.member()?;
    let valid = ValidConfig::parse(input)?;
    let now = Utc::now();
    let before = db.lookup::<channel_config::Entity>(kind).await?;
    let after = match &before {
        Some(existing) => {
            let mut row: channel_config::ActiveModel = existing.clone().into();
            row.enabled = Set(valid.enabled);
            row.provider = Set(valid.provider);
            row.model = Set(valid.model);
            row.instructions = Set(valid.instructions);
            row.settings = Set(valid.settings);
            row.updated_at = Set(now);
            db.update(row).await?
        }
        None => db
            .insert(channel_config::ActiveModel {
                organization_id: NotSet,
                kind: Set(kind),
                enabled: Set(valid.enabled),
                provider: Set(valid.provider),
                model: Set(valid.model),
                instructions: Set(valid.instructions),
                settings: Set(valid.settings),
                credentials_sealed: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await
            .map_err(|e| {
                e.conflict_on(
                    "kind",
                    "this channel was configured by another request at the same time: try again",
                )
            })?,
    };
    db.audit(
        AuditAction::ChannelUpserted,
        "channel",
        target(kind),
        json!({
            "before": before.as_ref().map(summary),
            "after": summary(&after),
            "changed": changed_fields(before.as_ref(), &after),
        }),
    )
    .await?;
    node(after, &Fallback::load(db, system).await?)
}

pub async fn set_credentials(
    db: &TenantDb,
    sealer: &CredentialSealer,
    system: &str,
    kind: ChannelKind,
    credentials: MaybeUndefined<Json<Value>>,
) -> AppResult<ChannelConfig> {
    db.member()?;
    let credentials = match credentials {
        MaybeUndefined::Undefined => {
            return Err(AppError::invalid(
                "credentials",
                "is required: a JSON object sets the credentials, null clears them",
            ));
        }
        MaybeUndefined::Null | MaybeUndefined::Value(Json(Value::Null)) => None,
        MaybeUndefined::Value(Json(value)) => Some(Credentials::parse("credentials", value)?),
    };
    let existing = db.get::<channel_config::Entity>(kind).await?;
    let sealed = credentials
        .map(|credentials| sealer.seal(db.organization_id(), kind, credentials))
        .transpose()?;
    let action = if sealed.is_some() {
        AuditAction::ChannelCredentialsSet
    } else {
        AuditAction::ChannelCredentialsCleared
    };
    let had_credentials = existing.credentials_sealed.is_some();
    let mut row: channel_config::ActiveModel = existing.into();
    row.credentials_sealed = Set(sealed);
    row.updated_at = Set(Utc::now());
    let after = db.update(row).await?;
    db.audit(
        action,
        "channel",
        target(kind),
        json!({
            "before": { "hasCredentials": had_credentials },
            "after": { "hasCredentials": after.credentials_sealed.is_some() },
            "changed": ["credentials"],
        }),
    )
    .await?;
    node(after, &Fallback::load(db, system).await?)
}

pub async fn delete(db: &TenantDb, kind: ChannelKind) -> AppResult<()> {
    db.member()?;
    let existing = db.get::<channel_config::Entity>(kind).await?;
    db.delete::<channel_config::Entity>(kind).await?;
    db.audit(
        AuditAction::ChannelDeleted,
        "channel",
        target(kind),
        json!({ "before": summary(&existing) }),
    )
    .await
}

pub async fn update_agent_instructions(
    db: &TenantDb,
    system: &str,
    raw: Option<String>,
) -> AppResult<EffectiveInstructions> {
    db.member()?;
    let instructions = instructions("instructions", raw)?;
    let (before, after) = changes::apply(
        db,
        OrganizationChanges {
            agent_instructions: Some(instructions),
            ..OrganizationChanges::default()
        },
    )
    .await?;
    db.audit(
        AuditAction::OrganizationAgentInstructionsUpdated,
        "organization",
        Some(after.id.to_string()),
        json!({
            "before": { "hasAgentInstructions": before.agent_instructions.is_some() },
            "after": { "hasAgentInstructions": after.agent_instructions.is_some() },
            "changed": if before.agent_instructions == after.agent_instructions {
                json!([])
            } else {
                json!(["agentInstructions"])
            },
        }),
    )
    .await?;
    Ok(Fallback {
        organization: after.agent_instructions,
        system,
    }
    .resolve(None))
}

#[cfg(test)]
mod tests;
