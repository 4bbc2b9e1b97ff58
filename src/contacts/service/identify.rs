//! `identifyContact`: find a contact by external id or email, update it, or create it.

use super::*;

/// Finds a contact by external id, else by email, and updates it with what the input
/// gives (tags added, attributes merged); creates it when neither matches.
pub async fn identify(
    db: &TenantDb,
    input: IdentifyContactInput,
) -> AppResult<(contact::Model, bool)> {
    let external_id = input
        .external_id
        .as_deref()
        .map(|raw| parse_external_id("externalId", raw))
        .transpose()?
        .flatten();
    let email = input
        .email
        .filter(|e| !e.trim().is_empty())
        .map(|e| Email::parse("email", &e).map(Email::into_inner))
        .transpose()?;
    if external_id.is_none() && email.is_none() {
        return Err(AppError::invalid(
            "externalId",
            "or `email` is needed to identify a contact",
        ));
    }
    if email.is_some() {
        may_use_email(db)?;
    }
    let name = input
        .name
        .filter(|n| !n.trim().is_empty())
        .map(|n| Name::parse("name", &n, 200).map(Name::into_inner))
        .transpose()?;
    let phone = input
        .phone
        .filter(|p| !p.trim().is_empty())
        .map(|p| Phone::parse("phone", &p).map(Phone::into_inner))
        .transpose()?;
    let tags = input
        .tags
        .map(|tags| parse_tags("tags", &tags))
        .transpose()?
        .unwrap_or_default();
    let attributes = input
        .attributes
        .map(|Json(value)| parse_attributes("attributes", value))
        .transpose()?;

    let by_external = match &external_id {
        Some(external) => db
            .all(
                db.find::<contact::Entity>()
                    .filter(contact::Column::ExternalId.eq(external.clone())),
            )
            .await?
            .pop(),
        None => None,
    };
    let by_email = match &email {
        Some(email) => db
            .all(
                db.find::<contact::Entity>()
                    .filter(contact::Column::Email.eq(email.clone())),
            )
            .await?
            .pop(),
        None => None,
    };
    let found = match (by_external, by_email) {
        (Some(a), Some(b)) if a.id != b.id => {
            return Err(AppError::conflict(
                "email",
                "this email belongs to another contact than this externalId",
            ));
        }
        (Some(found), _) | (None, Some(found)) => Some(found),
        (None, None) => None,
    };

    let Some(existing) = found else {
        let name = name
            .or_else(|| email.clone())
            .or_else(|| external_id.clone())
            .unwrap_or_default();
        let now = Utc::now();
        let created = db
            .insert(contact::ActiveModel {
                organization_id: NotSet,
                id: Set(Uuid::now_v7()),
                name: Set(name),
                email: Set(email),
                phone: Set(phone),
                owner_id: Set(db.user_id()),
                notes: Set(None),
                external_id: Set(external_id),
                attributes: Set(attributes.unwrap_or_else(|| "{}".to_owned())),
                created_at: Set(now),
                updated_at: Set(now),
            })
            .await
            .map_err(contact_conflict)?;
        set_tags(db, created.id, &tags, false).await?;
        return Ok((created, true));
    };

    // Identifying an existing contact changes it: the same rule as `updateContact`.
    may_change(db, P::UpdateContacts, &existing)?;
    if let (Some(wanted), Some(present)) = (&external_id, &existing.external_id)
        && wanted != present
    {
        return Err(AppError::conflict(
            "externalId",
            "the contact with this email has another externalId",
        ));
    }
    let merged = match attributes {
        None => None,
        Some(given) => Some(merge_attributes(&existing.attributes, &given)?),
    };
    let mut row: contact::ActiveModel = existing.into();
    if let Some(name) = name {
        row.name = Set(name);
    }
    if let Some(phone) = phone {
        row.phone = Set(Some(phone));
    }
    if let Some(email) = email {
        row.email = Set(Some(email));
    }
    if let Some(external_id) = external_id {
        row.external_id = Set(Some(external_id));
    }
    if let Some(merged) = merged {
        row.attributes = Set(merged);
    }
    row.updated_at = Set(Utc::now());
    let updated = db.update(row).await.map_err(contact_conflict)?;
    set_tags(db, updated.id, &tags, false).await?;
    Ok((updated, false))
}
