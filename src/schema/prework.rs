//! Runs a mutation's password work before its transaction begins (why: see
//! `passwords::prework`). The mutation's root fields that take a password are looked up in
//! [`PREPARERS`]; each runs on a read-only context of the same caller, and what it did
//! reaches the resolver through the request's context.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use async_graphql::parser::types::{ExecutableDocument, OperationDefinition, Selection};
use async_graphql::{InputType, Value as ConstValue, Variables};

use crate::error::AppResult;
use crate::identity::Principal;
use crate::passwords::prework::{Prepared, Prework};
use crate::services::Services;
use crate::tenant::{ClientInfo, OperationKind, OrganizationChoice, RequestContext};
use crate::{invitations, sessions, tenant::Database};

type Arguments = HashMap<String, ConstValue>;
type Preparing<'a> = Pin<Box<dyn Future<Output = AppResult<Prework>> + Send + 'a>>;
type Preparer = for<'a> fn(&'a RequestContext, &'a Services, Arguments) -> Preparing<'a>;

/// Every mutation field that takes a password, with its preparer. A test holds this
/// table to the schema, so a new password argument cannot be forgotten here.
pub const PREPARERS: &[(&str, Preparer)] = &[
    ("signUp", sign_up),
    ("logIn", log_in),
    ("changePassword", change_password),
    ("resetPassword", reset_password),
    ("acceptInvitation", accept_invitation),
];

/// Runs `prepare` with the argument `name` read as `T`; nothing is prepared when it
/// cannot be read (the resolver reports why).
fn with_argument<'a, T, F>(
    mut arguments: Arguments,
    name: &'static str,
    prepare: impl FnOnce(T) -> F + Send + 'a,
) -> Preparing<'a>
where
    T: InputType + Send + 'a,
    F: Future<Output = AppResult<Prework>> + Send + 'a,
{
    let value = T::parse(arguments.remove(name)).ok();
    Box::pin(async move {
        match value {
            Some(value) => prepare(value).await,
            None => Ok(Prework::default()),
        }
    })
}

fn sign_up<'a>(request: &'a RequestContext, services: &'a Services, a: Arguments) -> Preparing<'a> {
    with_argument(a, "input", move |input| {
        sessions::sign_up::prepare_sign_up(request, services, input)
    })
}

fn log_in<'a>(request: &'a RequestContext, services: &'a Services, a: Arguments) -> Preparing<'a> {
    with_argument(a, "input", move |input| {
        sessions::service::prepare_log_in(request, services, input)
    })
}

fn change_password<'a>(
    request: &'a RequestContext,
    services: &'a Services,
    a: Arguments,
) -> Preparing<'a> {
    with_argument(a, "input", move |input| {
        sessions::service::prepare_change_password(request, services, input)
    })
}

fn reset_password<'a>(
    request: &'a RequestContext,
    services: &'a Services,
    a: Arguments,
) -> Preparing<'a> {
    with_argument(a, "newPassword", move |password: String| {
        sessions::service::prepare_reset_password(request, services, password)
    })
}

fn accept_invitation<'a>(
    request: &'a RequestContext,
    _services: &'a Services,
    a: Arguments,
) -> Preparing<'a> {
    with_argument(a, "input", move |input| {
        invitations::service::prepare_accept(request, input)
    })
}

/// One root field that has password work, with its arguments' values.
pub struct Planned {
    response_key: String,
    preparer: Preparer,
    arguments: Arguments,
}

/// The root fields of `operation` (a mutation) that have password work. Fields whose
/// arguments cannot be read here (an undefined variable) are left to their resolver,
/// which reports the error.
pub fn plan(
    document: &ExecutableDocument,
    operation: &OperationDefinition,
    variables: &Variables,
) -> Vec<Planned> {
    let mut planned = Vec::new();
    let mut sets = vec![&operation.selection_set.node];
    let mut visits = 0;
    while let Some(set) = sets.pop() {
        for item in &set.items {
            visits += 1;
            if visits > 1_000 {
                return planned;
            }
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let Some((_, preparer)) = PREPARERS
                        .iter()
                        .find(|(name, _)| *name == field.name.node.as_str())
                    else {
                        continue;
                    };
                    let arguments = field.arguments.iter().try_fold(
                        Arguments::new(),
                        |mut arguments, (name, value)| {
                            let value = value.node.clone().into_const_with(|variable| {
                                variables
                                    .get(&variable)
                                    .cloned()
                                    .or_else(|| default_of(operation, variable.as_str()))
                                    .ok_or(())
                            })?;
                            arguments.insert(name.node.to_string(), value);
                            Ok::<_, ()>(arguments)
                        },
                    );
                    if let Ok(arguments) = arguments {
                        planned.push(Planned {
                            response_key: field.response_key().node.to_string(),
                            preparer: *preparer,
                            arguments,
                        });
                    }
                }
                Selection::InlineFragment(fragment) => {
                    sets.push(&fragment.node.selection_set.node);
                }
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node)
                    {
                        sets.push(&fragment.node.selection_set.node);
                    }
                }
            }
        }
    }
    planned
}

fn default_of(operation: &OperationDefinition, variable: &str) -> Option<ConstValue> {
    operation
        .variable_definitions
        .iter()
        .find(|definition| definition.node.name.node.as_str() == variable)
        .and_then(|definition| definition.node.default_value())
        .cloned()
}

/// Runs the planned preparers on a read-only context of the caller, then (that context
/// ended) the password work they asked for. A preparer that fails
/// (the database, say) leaves its field's work to the resolver.
pub async fn prepare(
    db: &Database,
    services: &Services,
    planned: Vec<Planned>,
    principal: Principal,
    choice: OrganizationChoice,
    client: ClientInfo,
) -> Prepared {
    let prepared = Prepared::default();
    if planned.is_empty() {
        return prepared;
    }
    let context = match RequestContext::establish(
        db,
        OperationKind::Query,
        principal,
        choice,
        client,
    )
    .await
    {
        Ok(context) => context,
        Err(error) => {
            tracing::debug!(%error, "password work left to the resolvers");
            return prepared;
        }
    };
    let mut works = Vec::with_capacity(planned.len());
    for Planned {
        response_key,
        preparer,
        arguments,
    } in planned
    {
        match preparer(&context, services, arguments).await {
            Ok(work) => works.push((response_key, work)),
            Err(error) => tracing::debug!(%error, "password work left to the resolver"),
        }
    }
    // argon2 runs with the context ended: no connection waits on it.
    if let Err(error) = context.finish(false).await {
        tracing::debug!(%error, "ending the read-only context of password work");
    }
    for (response_key, mut work) in works {
        work.run(&services.passwords).await;
        prepared.insert(response_key, work);
    }
    prepared
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};

    /// Whether a value of `ty` carries a password somewhere.
    fn carries_password(
        ty: &Type,
        inputs: &HashMap<String, Vec<(String, Type)>>,
        seen: &mut Vec<String>,
    ) -> bool {
        let name = match &ty.base {
            BaseType::Named(name) => name.to_string(),
            BaseType::List(inner) => return carries_password(inner, inputs, seen),
        };
        if seen.contains(&name) {
            return false;
        }
        seen.push(name.clone());
        inputs.get(&name).is_some_and(|fields| {
            fields.iter().any(|(field, ty)| {
                field.to_lowercase().contains("password") || carries_password(ty, inputs, seen)
            })
        })
    }

    #[test]
    fn every_mutation_that_takes_a_password_is_prepared() {
        let sdl = crate::schema::build_schema(&Default::default(), false, None).sdl();
        let document = async_graphql::parser::parse_schema(&sdl).expect("the SDL parses");
        let mut inputs = HashMap::new();
        let mut mutation_fields = Vec::new();
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = &ty.node;
            match &ty.kind {
                TypeKind::InputObject(input) => {
                    inputs.insert(
                        ty.name.node.to_string(),
                        input
                            .fields
                            .iter()
                            .map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone()))
                            .collect::<Vec<_>>(),
                    );
                }
                TypeKind::Object(object) if ty.name.node == "Mutation" => {
                    mutation_fields = object.fields.iter().map(|f| f.node.clone()).collect();
                }
                _ => {}
            }
        }
        assert!(!mutation_fields.is_empty());
        let with_password: Vec<String> = mutation_fields
            .iter()
            .filter(|field| {
                field.arguments.iter().any(|argument| {
                    let argument = &argument.node;
                    argument.name.node.to_lowercase().contains("password")
                        || carries_password(&argument.ty.node, &inputs, &mut Vec::new())
                })
            })
            .map(|field| field.name.node.to_string())
            .collect();
        let mut prepared: Vec<String> = super::PREPARERS
            .iter()
            .map(|(name, _)| (*name).to_owned())
            .collect();
        prepared.sort();
        let mut expected = with_password;
        expected.sort();
        assert_eq!(prepared, expected);
    }
}
