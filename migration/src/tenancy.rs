//! The shape every tenant table shares, for migrations to build it the same way: the key
//! `(organization_id, id)`, the foreign key to `organization` that deletes the table's
//! rows with their organization. (Composite foreign keys to other tenant rows put
//! `organization_id` first, so a row can only point inside its own organization; indexes
//! start with it too: see `m20261123_000006_conversations`.)

use sea_orm_migration::prelude::*;

use crate::m20261123_000001_platform_tables::Organization;

/// The key of a tenant table: `(organization_id, id)`.
pub fn tenant_key<T: IntoIden + Copy + 'static>(organization_id: T, id: T) -> IndexCreateStatement {
    Index::create().col(organization_id).col(id).to_owned()
}

/// The table's rows belong to their organization and go with it.
pub fn belongs_to_organization<T: IntoIden + Copy + 'static>(
    name: &str,
    table: T,
    organization_id: T,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, organization_id)
        .to(Organization::Table, Organization::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}
