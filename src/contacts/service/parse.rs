//! Checks of what a client sends about a contact: tags, external ids, attributes.

use super::*;

/// A unique violation names the field it is about: the email or the external id.
pub(super) fn contact_conflict(error: WriteError) -> AppError {
    match &error {
        WriteError::Conflict(detail) if detail.contains("external_id") => {
            AppError::conflict("externalId", "another contact has this externalId")
        }
        _ => error.conflict_on("email", EMAIL_TAKEN),
    }
}

pub(super) const MAX_TAGS: usize = 50;
pub(super) const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

pub(super) fn parse_tag(field: &str, raw: &str) -> AppResult<String> {
    let tag = raw.trim().to_lowercase();
    if tag.is_empty() || tag.chars().count() > 64 || tag.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "tags are 1 to 64 characters, without control characters",
        ));
    }
    Ok(tag)
}

pub(super) fn parse_tags(field: &str, raw: &[String]) -> AppResult<Vec<String>> {
    let mut tags = raw
        .iter()
        .map(|tag| parse_tag(field, tag))
        .collect::<AppResult<Vec<_>>>()?;
    tags.sort();
    tags.dedup();
    if tags.len() > MAX_TAGS {
        return Err(AppError::invalid(
            field,
            format!("holds at most {MAX_TAGS} tags"),
        ));
    }
    Ok(tags)
}

/// An external id: trimmed, up to 200 characters; empty means none.
pub(super) fn parse_external_id(field: &str, raw: &str) -> AppResult<Option<String>> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > 200 || value.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must be at most 200 characters, without control characters",
        ));
    }
    Ok(Some(value.to_owned()))
}

/// Attributes: a JSON object of at most 16 KiB, stored as text.
pub(super) fn parse_attributes(field: &str, value: serde_json::Value) -> AppResult<String> {
    Ok(JsonObject::parse(field, value, MAX_ATTRIBUTES_BYTES)?.to_text())
}

/// Merges given attributes into stored ones, key by key (`null` removes a key).
pub(super) fn merge_attributes(stored: &str, given: &str) -> AppResult<String> {
    let mut merged: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(stored).unwrap_or_default();
    let given: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(given).map_err(AppError::internal)?;
    for (key, value) in given {
        if serde_json::Value::is_null(&value) {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    parse_attributes("attributes", serde_json::Value::Object(merged))
}
