//! Which of a contact's wide columns a page reads.

use sea_orm::sea_query::Expr;
use sea_orm::{IdenStatic, QuerySelect, Select};

use entity::contact;

/// The columns of a contact that a page reads only when one of its fields is selected;
/// the others (ids, name, owner, times) are small and always read. A page of 20
/// contacts showing names spent a tenth of its CPU decoding emails, phones, notes and
/// attributes nobody asked for.
#[derive(Clone, Copy, Debug)]
pub struct Wide {
    email: bool,
    phone: bool,
    notes: bool,
    external_id: bool,
    attributes: bool,
}

impl Wide {
    /// What the page's nodes select, through `edges { node }` or `nodes`, with
    /// fragments and aliases (the look-ahead follows both).
    pub fn selected(ctx: &async_graphql::Context<'_>) -> Self {
        let look = ctx.look_ahead();
        let (edges, nodes) = (look.field("edges").field("node"), look.field("nodes"));
        let wants = |field: &str| edges.field(field).exists() || nodes.field(field).exists();
        Wide {
            email: wants("email"),
            phone: wants("phone"),
            notes: wants("notes"),
            external_id: wants("externalId"),
            attributes: wants("attributes"),
        }
    }

    /// `select` reading only the wide columns wanted; the others are read as NULL (`{}`
    /// for the attributes), values no field of this page shows.
    pub(super) fn narrow(self, select: Select<contact::Entity>) -> Select<contact::Entity> {
        use contact::Column as C;
        let mut select = select.select_only().columns([
            C::OrganizationId,
            C::Id,
            C::Name,
            C::OwnerId,
            C::CreatedAt,
            C::UpdatedAt,
        ]);
        for (column, wanted, absent) in [
            (C::Email, self.email, "NULL"),
            (C::Phone, self.phone, "NULL"),
            (C::Notes, self.notes, "NULL"),
            (C::ExternalId, self.external_id, "NULL"),
            (C::Attributes, self.attributes, "'{}'"),
        ] {
            select = if wanted {
                select.column(column)
            } else {
                select.column_as(Expr::cust(absent), column.as_str())
            };
        }
        select
    }
}
