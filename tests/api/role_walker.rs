//! The role walker. Like the isolation suite it walks the schema, but for permissions:
//! every field of every object type must have a row in [`policy::FIELDS`]; every root
//! field must have a sample call here; and then every root field, every guarded object
//! field, every row condition and every guarded input field is called over HTTP as a
//! person of every role, as API keys of every scope (one scope alone, and all scopes),
//! anonymously and as the system principal. The expected answer is derived from the
//! policy table (`holds`, `holds_on_row`, `holds_on_role`), never written down here, and
//! compared with the server's: allowed means no error at all; refused means `FORBIDDEN`
//! (or `UNAUTHENTICATED` for anonymous callers), no refused data in the body, and not a
//! single row of the database changed. Disagreements are collected and reported together.
//!
//! A new root field fails the walker until it has a sample below; a new guarded field of
//! an object type fails it until the walker can reach its type; a new guarded input
//! field in [`policy::ARGUMENTS`] fails it until it has an argument sample.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use entity::Role;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use tenantgate::identity::{Actor, Member};
use tenantgate::identity::{Scope, Scopes};
use tenantgate::policy::{self, Access, Permission};
use uuid::Uuid;

use crate::helpers::{Account, Backend, Reply, TestApp, connect_admin};

const CRON_SECRET: &str = "role-walker-cron-secret-0123456789";
const PASSWORD: &str = "walker-correct-horse-battery";
const SLUG: &str = "walker-a";
const ROLES: [Role; 5] = [
    Role::Owner,
    Role::Admin,
    Role::Manager,
    Role::Member,
    Role::Viewer,
];

/// A gateway for the walker: a system principal to call `runSystemJob` with, and no
/// throttling, rate limiting, seat limit or `lastUsedAt` write-behind in the way of
/// hundreds of calls from one address in a few minutes.
async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| {
        config.cron_secret = Some(CRON_SECRET.parse().expect("a secret"));
        config.login_attempts_per_account = 1_000_000;
        config.login_attempts_per_address = 1_000_000;
        config.api_keys.api_key_rate = 1_000_000;
        config.api_keys.api_key_burst = 1_000_000;
        config.api_keys.organization_rate = 1_000_000;
        config.api_keys.organization_burst = 1_000_000;
        config.api_keys.api_key_usage_flush_secs = 86_400;
        config.default_seat_limit = 1_000;
    })
    .await
}

/// `on_both_databases!`, on the walker's gateway (see [`spawn`]).
macro_rules! walk_on_both_databases {
    ($(async fn $name:ident($app:ident) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($app: TestApp) $body
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(spawn(Backend::Sqlite).await).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run(spawn(Backend::Postgres).await).await
                }
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------
// Principals.

/// How a principal's requests are sent.
#[derive(Clone, Debug)]
enum Caller {
    Person { token: String, organization: String },
    Key(String),
    Anonymous,
    System,
}

#[derive(Clone, Debug)]
enum Who {
    Person { role: Role, account: Account },
    Key { id: Uuid, scopes: Scopes },
    Anonymous,
    System,
}

#[derive(Clone, Debug)]
struct Principal {
    label: String,
    who: Who,
    caller: Caller,
}

impl Principal {
    /// The actor the server sees, for the policy's functions; `None` for anonymous
    /// callers and the system principal.
    fn actor(&self) -> Option<Actor> {
        match &self.who {
            Who::Person { role, account } => Some(Actor::Member(Member {
                user_id: uuid(&account.user_id),
                role: *role,
            })),
            Who::Key { id, scopes } => Some(Actor::ApiKey {
                key_id: *id,
                scopes: *scopes,
            }),
            Who::Anonymous | Who::System => None,
        }
    }

    fn account(&self) -> Option<&Account> {
        match &self.who {
            Who::Person { account, .. } => Some(account),
            _ => None,
        }
    }

    fn role(&self) -> Option<Role> {
        match &self.who {
            Who::Person { role, .. } => Some(*role),
            _ => None,
        }
    }

    fn user_id(&self) -> Option<Uuid> {
        self.account().map(|account| uuid(&account.user_id))
    }
}

fn uuid(text: &str) -> Uuid {
    Uuid::parse_str(text).unwrap_or_else(|_| panic!("an id: {text}"))
}

/// A scope as the API's `ApiKeyScope` spells it: `contacts:read_pii` → `CONTACTS_READ_PII`.
fn scope_name(scope: Scope) -> String {
    scope.as_str().replace(':', "_").to_uppercase()
}

async fn send(app: &TestApp, caller: &Caller, query: &str, variables: Value) -> Reply {
    match caller {
        Caller::Person {
            token,
            organization,
        } => {
            app.graphql(Some(token), Some(organization), query, variables)
                .await
        }
        Caller::Key(secret) => app.as_key(secret, query, variables).await,
        Caller::Anonymous => app.anonymous(query, variables).await,
        Caller::System => app.graphql(Some(CRON_SECRET), None, query, variables).await,
    }
}

// ---------------------------------------------------------------------------------------
// "Nothing written": every row of every table, before and after a refused call.

/// Bookkeeping that moves without anyone meaning to write: a session's last use, an
/// API key's last use (written behind; the walker's gateway flushes once a day anyway)
/// and the mail dispatcher's delivery state of mails queued by earlier setup calls.
/// A refused call that queued a mail still shows as a new `outbox` row.
const NOT_COMPARED: &[(&str, &str)] = &[
    ("session", "last_used_at"),
    ("api_key", "last_used_at"),
    ("outbox", "attempts"),
    ("outbox", "next_attempt_at"),
    ("outbox", "sent_at"),
    ("outbox", "last_error"),
];

/// Per table: how many rows, and a fingerprint of every compared column of every row.
type Snapshot = BTreeMap<String, (i64, String)>;

struct Snapshots {
    admin: DatabaseConnection,
    backend: DbBackend,
    /// One statement answering every table's row count and fingerprint.
    statement: String,
}

impl Snapshots {
    async fn new(app: &TestApp) -> Snapshots {
        let admin = connect_admin(&app.database_url).await;
        let backend = match app.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        };
        let strings = |sql: String| {
            let admin = &admin;
            async move {
                admin
                    .query_all_raw(Statement::from_string(backend, sql.clone()))
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .into_iter()
                    .map(|row| row.try_get_by_index::<String>(0).expect("a name"))
                    .collect::<Vec<_>>()
            }
        };
        let tables = strings(match backend {
            DbBackend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name".to_owned(),
            _ => "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1".to_owned(),
        })
        .await;
        assert!(tables.len() > 10, "the tables of the database: {tables:?}");
        let mut parts = Vec::new();
        for table in tables {
            let columns = strings(match backend {
                DbBackend::Sqlite => format!("SELECT name FROM pragma_table_info('{table}') ORDER BY cid"),
                _ => format!(
                    "SELECT column_name::text FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '{table}' ORDER BY ordinal_position"
                ),
            })
            .await;
            let compared: Vec<String> = columns
                .into_iter()
                .filter(|column| !NOT_COMPARED.contains(&(table.as_str(), column.as_str())))
                .collect();
            // Each row as one string of all its compared values; the rows in order.
            parts.push(match backend {
                DbBackend::Sqlite => format!(
                    "SELECT '{table}', count(*), coalesce(group_concat(r, char(10)), '') FROM (SELECT {} AS r FROM \"{table}\" ORDER BY r)",
                    compared
                        .iter()
                        .map(|c| format!("quote(\"{c}\")"))
                        .collect::<Vec<_>>()
                        .join(" || '|' || ")
                ),
                _ => format!(
                    "SELECT '{table}'::text, count(*)::bigint, coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '') FROM (SELECT ROW({})::text AS r FROM \"{table}\") AS rows",
                    compared
                        .iter()
                        .map(|c| format!("\"{c}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        Snapshots {
            admin,
            backend,
            statement: parts.join(" UNION ALL "),
        }
    }

    /// A snapshot once the database stands still: some answers leave work behind them
    /// (`requestPasswordReset` issues its token and mail after answering, so that the
    /// answer takes the same time whether or not the account exists), and the previous
    /// call's late writes must not count against the next one, nor a call's own late
    /// writes go unseen.
    async fn settled(&self) -> Snapshot {
        for _ in 0..400 {
            if tenantgate::metrics::password_resets_in_flight() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let mut last = self.take().await;
        for _ in 0..200 {
            tokio::time::sleep(std::time::Duration::from_millis(15)).await;
            let now = self.take().await;
            if now == last {
                return now;
            }
            last = now;
        }
        panic!("the database never stood still");
    }

    async fn take(&self) -> Snapshot {
        self.admin
            .query_all_raw(Statement::from_string(self.backend, self.statement.clone()))
            .await
            .unwrap_or_else(|e| panic!("a snapshot: {e}"))
            .into_iter()
            .map(|row| {
                (
                    row.try_get_by_index::<String>(0).expect("a table"),
                    (
                        row.try_get_by_index::<i64>(1).expect("a count"),
                        row.try_get_by_index::<String>(2).expect("a fingerprint"),
                    ),
                )
            })
            .collect()
    }
}

/// What changed between two snapshots, e.g. `contact: 3 → 4 rows`; `None` when nothing
/// did.
fn written(before: &Snapshot, after: &Snapshot) -> Option<String> {
    let changes: Vec<String> = after
        .iter()
        .filter(|(table, now)| before.get(*table) != Some(now))
        .map(|(table, (count, _))| {
            let old = before.get(table).map_or(0, |(count, _)| *count);
            if old == *count {
                format!("{table}: {old} → {count} rows (changed)")
            } else {
                format!("{table}: {old} → {count} rows")
            }
        })
        .collect();
    (!changes.is_empty()).then(|| changes.join("; "))
}

// ---------------------------------------------------------------------------------------
// Findings: every disagreement, reported once at the end.

#[derive(Default)]
struct Findings {
    disagreements: Vec<String>,
    allowed: usize,
    refused: usize,
}

impl Findings {
    /// Counts a case compared with the table.
    fn compared(&mut self, allowed: bool) {
        if allowed {
            self.allowed += 1;
        } else {
            self.refused += 1;
        }
    }

    fn add(
        &mut self,
        coordinate: &str,
        principal: &Principal,
        expected: &str,
        got: &str,
        body: &Value,
    ) {
        self.disagreements.push(format!(
            "- {coordinate} as {}: expected {expected}, got {got}\n    body: {}",
            principal.label,
            excerpt_text(&body.to_string(), 400)
        ));
    }

    fn walker(&mut self, problem: String) {
        self.disagreements.push(format!("- the walker: {problem}"));
    }

    /// Fails with every disagreement, if any; a walk that compared nothing, or that
    /// never saw an answer of one kind, has walked nowhere and fails too.
    fn finish(self, what: &str, must_compare: bool) {
        eprintln!(
            "{what}: {} case(s) allowed and {} refused as the table says, {} disagreement(s)",
            self.allowed,
            self.refused,
            self.disagreements.len()
        );
        assert!(
            self.disagreements.is_empty(),
            "{what}: {} disagreement(s) with the policy table:\n{}",
            self.disagreements.len(),
            self.disagreements.join("\n")
        );
        if must_compare {
            assert!(
                self.allowed > 0 && self.refused > 0,
                "{what}: the walk compared {} allowed and {} refused cases",
                self.allowed,
                self.refused
            );
        }
    }
}

fn excerpt_text(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

fn first_error(body: &Value) -> String {
    match body["errors"].get(0) {
        Some(error) => format!(
            "{} ({})",
            error["extensions"]["code"].as_str().unwrap_or("no code"),
            error["message"].as_str().unwrap_or("")
        ),
        None => "no error".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------
// The fixture: organization A with a person of every role, keys of every scope, data
// with canaries planted in every personal field; organization B of another owner.

/// A contact owned by the person of `role`, its personal fields set to canaries.
#[derive(Clone, Debug)]
struct FixtureContact {
    id: String,
    role: Role,
    owner: Uuid,
    email: String,
    phone: String,
    attributes: String,
    notes: String,
}

struct Fixture {
    organization: String,
    people: Vec<(Role, Account)>,
    /// Owner of organization B and of the fresh organizations setups make.
    other: Account,
    /// A person who joins fresh organizations as the target of `transferOwnership`.
    spare: Account,
    /// The account of `logIn`, `refreshSession` and password reset samples.
    throwaway: Account,
    principals: Vec<Principal>,
    /// One per role, in [`ROLES`] order.
    contacts: Vec<FixtureContact>,
    open_conversation: String,
    closed_conversation: String,
    counter: AtomicU32,
    snapshots: Snapshots,
    /// Members no call has touched yet (their refused calls wrote nothing): targets to
    /// reuse instead of joining someone new.
    untouched: Mutex<Vec<(Role, Account)>>,
}

const INVITE: &str = "mutation($email: String!, $role: Role!) { inviteMember(input: { email: $email, role: $role }) { invitation { id } } }";
const ACCEPT: &str = "mutation($token: String!, $name: String, $password: String) { acceptInvitation(input: { token: $token, name: $name, password: $password }) { accessToken refreshToken user { id } organization { id } } }";
const CREATE_KEY: &str = "mutation($name: String!, $scopes: [ApiKeyScope!]!) { createApiKey(input: { name: $name, scopes: $scopes }) { secret apiKey { id } } }";
const LOG_IN: &str = "mutation($email: String!, $password: String!) { logIn(input: { email: $email, password: $password }) { accessToken refreshToken } }";

fn person(account: &Account, organization: &str) -> Caller {
    Caller::Person {
        token: account.access_token.clone(),
        organization: organization.to_owned(),
    }
}

impl Fixture {
    async fn build(app: &TestApp) -> Fixture {
        let owner = app.sign_up("owner", SLUG).await;
        let organization = owner.organization_id.clone();
        let other = app.sign_up("other", "walker-b").await;
        let spare = app.sign_up("spare", "walker-s").await;
        let throwaway = app.sign_up("throwaway", "walker-t").await;
        let snapshots = Snapshots::new(app).await;
        let mut fixture = Fixture {
            organization: organization.clone(),
            people: vec![(Role::Owner, owner.clone())],
            other,
            spare,
            throwaway,
            principals: Vec::new(),
            contacts: Vec::new(),
            open_conversation: String::new(),
            closed_conversation: String::new(),
            counter: AtomicU32::new(0),
            snapshots,
            untouched: Mutex::new(Vec::new()),
        };
        for role in &ROLES[1..] {
            let name = policy::role_name(*role).to_lowercase();
            let account = fixture.join(app, &organization, &owner, &name, *role).await;
            fixture.people.push((*role, account));
        }
        for (role, account) in &fixture.people {
            fixture.principals.push(Principal {
                label: policy::role_name(*role).to_owned(),
                who: Who::Person {
                    role: *role,
                    account: account.clone(),
                },
                caller: person(account, &organization),
            });
        }
        let mut scope_sets: Vec<(String, Vec<Scope>)> = Scope::ALL
            .iter()
            .map(|scope| (format!("key[{}]", scope.as_str()), vec![*scope]))
            .collect();
        scope_sets.push(("key[all scopes]".to_owned(), Scope::ALL.to_vec()));
        for (label, scopes) in scope_sets {
            let (id, secret) = fixture
                .create_key(app, &owner, &organization, &label, &scopes)
                .await;
            fixture.principals.push(Principal {
                label,
                who: Who::Key {
                    id: uuid(&id),
                    scopes: scopes.into_iter().collect(),
                },
                caller: Caller::Key(secret),
            });
        }
        fixture.principals.push(Principal {
            label: "anonymous".to_owned(),
            who: Who::Anonymous,
            caller: Caller::Anonymous,
        });
        fixture.principals.push(Principal {
            label: "system".to_owned(),
            who: Who::System,
            caller: Caller::System,
        });

        // Channels: WEB_CHAT (public config) and SMS (credentials) are configured.
        fixture
            .as_owner(app, "mutation { upsertChannelConfig(kind: WEB_CHAT, input: { enabled: true, provider: \"openai\", model: \"gpt-4o-mini\", settings: { greeting: \"Hello\" } }) { kind } }", json!({}))
            .await;
        fixture
            .as_owner(app, "mutation { upsertChannelConfig(kind: SMS, input: { enabled: true, provider: \"openai\", model: \"gpt-4o-mini\" }) { kind } }", json!({}))
            .await;

        // A contact per role, owned by that role, every personal field a canary.
        for (index, (role, account)) in fixture.people.clone().iter().enumerate() {
            let name = policy::role_name(*role).to_lowercase();
            let email = format!("canary-email-{name}@example.com");
            let phone = format!("+1555020000{index}");
            let attributes = format!("canary-attributes-{name}");
            let notes = format!("canary-notes-{name}");
            let data = fixture
                .as_owner(
                    app,
                    "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
                    json!({ "input": {
                        "name": format!("Contact of the {name}"), "email": email, "phone": phone,
                        "ownerId": account.user_id, "notes": notes, "externalId": format!("ext-{name}"),
                        "tags": ["walker"], "attributes": { "canary": attributes },
                    }}),
                )
                .await;
            fixture.contacts.push(FixtureContact {
                id: text(&data["createContact"]["id"]),
                role: *role,
                owner: uuid(&account.user_id),
                email,
                phone,
                attributes,
                notes,
            });
        }

        // A closed conversation with a message and a summary, an open one with a
        // message, and an event with properties: canaries everywhere.
        let contact = fixture.contacts[0].id.clone();
        let owner_id = fixture.people[0].1.user_id.clone();
        for closed in [true, false] {
            let data = fixture
                .as_owner(
                    app,
                    "mutation($c: ID!, $a: ID!) { startConversation(input: { contactId: $c, channel: WEB_CHAT, assigneeId: $a }) { id } }",
                    json!({ "c": contact, "a": owner_id }),
                )
                .await;
            let id = text(&data["startConversation"]["id"]);
            fixture
                .as_owner(
                    app,
                    "mutation($c: ID!) { postMessage(conversationId: $c, input: { author: CONTACT, body: \"canary-message-body\" }) { id } }",
                    json!({ "c": id }),
                )
                .await;
            if closed {
                fixture
                    .as_owner(
                        app,
                        "mutation($c: ID!) { closeConversation(id: $c) { id } }",
                        json!({ "c": id }),
                    )
                    .await;
                fixture.closed_conversation = id;
            } else {
                fixture.open_conversation = id;
            }
        }
        app.execute(
            "UPDATE conversation SET summary = 'canary-summary' WHERE closed_at IS NOT NULL",
        )
        .await;
        fixture
            .as_owner(
                app,
                "mutation($c: ID!) { trackEvent(input: { type: CUSTOM, name: \"walker.canary\", contactId: $c, properties: { canary: \"canary-event-properties\" } }) { id } }",
                json!({ "c": contact }),
            )
            .await;
        fixture
    }

    fn owner(&self) -> &Account {
        &self.people[0].1
    }

    /// How many password reset mails the throwaway account was sent.
    async fn reset_mails(&self, app: &TestApp) -> i64 {
        app.count_rows(&format!(
            "SELECT count(*) FROM outbox WHERE recipient = '{}' AND kind = 'password_reset'",
            self.throwaway.email
        ))
        .await
    }

    fn next(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// A call as the owner of organization A that must succeed.
    async fn as_owner(&self, app: &TestApp, query: &str, variables: Value) -> Value {
        app.graphql(
            Some(&self.owner().access_token),
            Some(&self.organization),
            query,
            variables,
        )
        .await
        .ok()
    }

    /// Brings a new person into `organization` with `role`, invited by `inviter`.
    async fn join(
        &self,
        app: &TestApp,
        organization: &str,
        inviter: &Account,
        name: &str,
        role: Role,
    ) -> Account {
        let email = format!("{name}@people.example.com");
        app.graphql(
            Some(&inviter.access_token),
            Some(organization),
            INVITE,
            json!({ "email": email, "role": policy::role_name(role) }),
        )
        .await
        .ok();
        let token = app.mailed_token(&email, "invitation").await;
        let data = app
            .anonymous(
                ACCEPT,
                json!({ "token": token, "name": name, "password": PASSWORD }),
            )
            .await
            .ok();
        let payload = &data["acceptInvitation"];
        Account {
            email,
            password: PASSWORD.to_owned(),
            access_token: text(&payload["accessToken"]),
            refresh_token: text(&payload["refreshToken"]),
            user_id: text(&payload["user"]["id"]),
            organization_id: text(&payload["organization"]["id"]),
        }
    }

    /// Brings an existing account into `organization` with `role`: `inviter` invites,
    /// the account accepts signed in.
    async fn bring(
        &self,
        app: &TestApp,
        organization: &str,
        inviter: &Account,
        account: &Account,
        role: Role,
    ) {
        app.graphql(
            Some(&inviter.access_token),
            Some(organization),
            INVITE,
            json!({ "email": account.email, "role": policy::role_name(role) }),
        )
        .await
        .ok();
        let token = app.mailed_token(&account.email, "invitation").await;
        app.graphql(
            Some(&account.access_token),
            None,
            ACCEPT,
            json!({ "token": token }),
        )
        .await
        .ok();
    }

    async fn create_key(
        &self,
        app: &TestApp,
        admin: &Account,
        organization: &str,
        name: &str,
        scopes: &[Scope],
    ) -> (String, String) {
        let names: Vec<String> = scopes.iter().map(|s| scope_name(*s)).collect();
        let data = app
            .graphql(
                Some(&admin.access_token),
                Some(organization),
                CREATE_KEY,
                json!({ "name": name, "scopes": names }),
            )
            .await
            .ok();
        (
            text(&data["createApiKey"]["apiKey"]["id"]),
            text(&data["createApiKey"]["secret"]),
        )
    }

    /// A member of organization A with `role` that no call has touched.
    async fn target(&self, app: &TestApp, role: Role) -> Account {
        let kept = {
            let mut untouched = self.untouched.lock().expect("untouched targets");
            untouched
                .iter()
                .position(|(r, _)| *r == role)
                .map(|index| untouched.remove(index).1)
        };
        match kept {
            Some(account) => account,
            None => {
                let name = format!("target{}", self.next());
                self.join(app, &self.organization, self.owner(), &name, role)
                    .await
            }
        }
    }

    /// Gives back a target whose call was refused and wrote nothing.
    fn untouched(&self, role: Role, account: Account) {
        self.untouched
            .lock()
            .expect("untouched targets")
            .push((role, account));
    }

    /// A fresh contact of organization A owned by `owner`.
    async fn contact_of(&self, app: &TestApp, owner: Uuid) -> String {
        let data = self
            .as_owner(
                app,
                "mutation($o: ID!, $n: String!) { createContact(input: { name: $n, ownerId: $o }) { id } }",
                json!({ "o": owner.to_string(), "n": format!("Fresh contact {}", self.next()) }),
            )
            .await;
        text(&data["createContact"]["id"])
    }

    /// The contacts a principal acts on: for a person their own and someone else's
    /// (the OWNER's, or the ADMIN's for the OWNER); for keys the OWNER's.
    fn contact_rows(&self, principal: &Principal) -> Vec<&FixtureContact> {
        match principal.role() {
            Some(role) => {
                let own = self.contacts.iter().find(|c| c.role == role);
                let others = self
                    .contacts
                    .iter()
                    .find(|c| c.role != role)
                    .expect("another contact");
                own.into_iter().chain([others]).collect()
            }
            None => vec![&self.contacts[0]],
        }
    }

    /// The owner of a fresh row for `principal`: someone else than the principal.
    fn someone_else(&self, principal: &Principal) -> Uuid {
        let me = principal.user_id();
        self.people
            .iter()
            .map(|(_, account)| uuid(&account.user_id))
            .find(|id| Some(*id) != me)
            .expect("another person")
    }

    async fn log_in(&self, app: &TestApp, account: &Account) -> (String, String) {
        let data = app
            .anonymous(
                LOG_IN,
                json!({ "email": account.email, "password": account.password }),
            )
            .await
            .ok();
        (
            text(&data["logIn"]["accessToken"]),
            text(&data["logIn"]["refreshToken"]),
        )
    }

    /// The same principal in a fresh organization made by the other owner: the person
    /// joins it with their role, a key is made there with the same scopes.
    async fn stand_in(&self, app: &TestApp, principal: &Principal, organization: &str) -> Caller {
        match &principal.who {
            Who::Person { role, account } => {
                self.bring(app, organization, &self.other, account, *role)
                    .await;
                person(account, organization)
            }
            Who::Key { scopes, .. } => {
                let scopes: Vec<Scope> = scopes.iter().collect();
                let (_, secret) = self
                    .create_key(app, &self.other, organization, "stand-in", &scopes)
                    .await;
                Caller::Key(secret)
            }
            Who::Anonymous | Who::System => principal.caller.clone(),
        }
    }
}

fn text(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("a string, not {value}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// The schema, by introspection.

const TYPE_REF: &str = "kind name ofType { kind name ofType { kind name ofType { kind name } } }";

struct FieldInfo {
    name: String,
    /// The kind of its named type (`OBJECT`, `SCALAR`, …).
    kind: String,
    /// Arguments without a default that must be given.
    required_arguments: Vec<String>,
}

struct TypeInfo {
    name: String,
    fields: Vec<FieldInfo>,
}

fn named_kind(type_ref: &Value) -> String {
    let mut current = type_ref;
    while current["name"].is_null() && !current["ofType"].is_null() {
        current = &current["ofType"];
    }
    current["kind"].as_str().unwrap_or("").to_owned()
}

/// Every OBJECT type of the schema but the introspection types, with its fields.
async fn object_types(app: &TestApp, owner: &Account) -> Vec<TypeInfo> {
    let query = format!(
        "{{ __schema {{ types {{ name kind fields {{ name type {{ {TYPE_REF} }} args {{ name defaultValue type {{ {TYPE_REF} }} }} }} }} }} }}"
    );
    let schema = app.as_user(owner, &query, json!({})).await.ok();
    schema["__schema"]["types"]
        .as_array()
        .expect("types")
        .iter()
        .filter(|t| t["kind"] == "OBJECT")
        .filter(|t| !t["name"].as_str().unwrap_or("__").starts_with("__"))
        .map(|t| TypeInfo {
            name: text(&t["name"]),
            fields: t["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .map(|f| FieldInfo {
                    name: text(&f["name"]),
                    kind: named_kind(&f["type"]),
                    required_arguments: f["args"]
                        .as_array()
                        .expect("args")
                        .iter()
                        .filter(|a| a["type"]["kind"] == "NON_NULL" && a["defaultValue"].is_null())
                        .map(|a| text(&a["name"]))
                        .collect(),
                })
                .collect(),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Root fields: a sample call for each.

/// What a sample call needs made before it, so calls stay independent.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Setup {
    Nothing,
    /// `$id`: the OWNER's contact.
    FixtureContact,
    /// `$id`: the closed conversation.
    ClosedConversation,
    /// `$id`: the open conversation.
    OpenConversation,
    /// `$id`: a conversation just started.
    FreshConversation,
    /// `$id`: a fresh contact owned by the caller (for keys: by the OWNER).
    CallersContact,
    /// `$id`: a pending VIEWER invitation.
    FreshInvitation,
    /// `$userId`: a VIEWER member.
    Viewer,
    /// `$id`: an API key.
    FreshApiKey,
    /// `$value`: a phone number nobody has claimed.
    FreshPhoneNumber,
    /// `$id`: a provider identity the OWNER just claimed.
    FreshChannelIdentity,
    /// The EMAIL channel is configured.
    EmailChannel,
    /// `$token`: the refresh token of a fresh session of the caller (others: of the
    /// throwaway account).
    CallersRefreshToken,
    /// `$id`: a fresh session of the caller (others: of the throwaway account).
    CallersSession,
    /// `$current`, `$new`: the caller's password, twice.
    CallersPassword,
    /// `$token`: a fresh refresh token of the throwaway account.
    ThrowawayRefreshToken,
    /// `$token`, `$password`: a password reset token of the throwaway account.
    ResetToken,
    /// `$token`: the mailed token of a pending sign-up of a fresh email (the row is
    /// written as `signUp` writes it when email verification is on).
    PendingSignUp,
    /// `$token` (`$name`, `$password` for a new account): an invitation into
    /// organization B for the caller's email (others: a fresh email).
    InvitationForCaller,
    /// The caller acts in a fresh organization (`$slug`), with their role or scopes, where
    /// the other owner is OWNER too and `$userId` (the spare person) is a MEMBER.
    FreshOrganization,
}

struct Sample {
    field: &'static str,
    document: &'static str,
    setup: Setup,
    /// The roles the call grants or acts on (the role ceiling's targets).
    roles: &'static [Role],
}

const fn sample(field: &'static str, document: &'static str, setup: Setup) -> Sample {
    Sample {
        field,
        document,
        setup,
        roles: &[],
    }
}

const ANALYTICS_PERIOD: &str = "from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\"";

/// Every root field: one call each. Every call also receives `$email`, `$slug` and
/// `$external`, fresh each time, and may use them.
const SAMPLES: &[Sample] = &[
    // Queries.
    sample("Query.me", "{ me { user { id } } }", Setup::Nothing),
    sample(
        "Query.sessions",
        "{ sessions { totalCount } }",
        Setup::Nothing,
    ),
    sample(
        "Query.organization",
        "{ organization { id name } }",
        Setup::Nothing,
    ),
    sample(
        "Query.organizationBySlug",
        "{ organizationBySlug(slug: \"walker-a\") { id name } }",
        Setup::Nothing,
    ),
    sample(
        "Query.members",
        "{ members { totalCount nodes { userId name role } } }",
        Setup::Nothing,
    ),
    sample(
        "Query.invitations",
        "{ invitations { totalCount } }",
        Setup::Nothing,
    ),
    sample(
        "Query.apiKeys",
        "{ apiKeys { totalCount } }",
        Setup::Nothing,
    ),
    sample(
        "Query.channelConfigs",
        "{ channelConfigs { totalCount } }",
        Setup::Nothing,
    ),
    sample(
        "Query.channelConfig",
        "{ channelConfig(kind: WEB_CHAT) { kind enabled } }",
        Setup::Nothing,
    ),
    sample(
        "Query.agentInstructions",
        "{ agentInstructions { source } }",
        Setup::Nothing,
    ),
    sample(
        "Query.publicChannelConfig",
        "{ publicChannelConfig(organizationSlug: \"walker-a\", kind: WEB_CHAT) { kind enabled } }",
        Setup::Nothing,
    ),
    sample(
        "Query.contacts",
        "{ contacts { totalCount nodes { id name } } }",
        Setup::Nothing,
    ),
    sample(
        "Query.contact",
        "query($id: ID!) { contact(id: $id) { id name } }",
        Setup::FixtureContact,
    ),
    sample(
        "Query.conversations",
        "{ conversations { totalCount } }",
        Setup::Nothing,
    ),
    sample(
        "Query.conversation",
        "query($id: ID!) { conversation(id: $id) { id status } }",
        Setup::ClosedConversation,
    ),
    sample("Query.events", "{ events { totalCount } }", Setup::Nothing),
    sample(
        "Query.analytics",
        "{ analytics { summary(from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\") { events } } }",
        Setup::Nothing,
    ),
    sample(
        "Query.auditLog",
        "{ auditLog { totalCount } }",
        Setup::Nothing,
    ),
    // Your own account.
    sample(
        "Mutation.signUp",
        "mutation($email: String!, $slug: String!) { signUp(input: { email: $email, password: \"walker-correct-horse-battery\", name: \"Walker\", organizationName: \"Walker\", organizationSlug: $slug }) { user { id } } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.logIn",
        "mutation($throwaway: String!, $password: String!) { logIn(input: { email: $throwaway, password: $password }) { user { id } } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.refreshSession",
        "mutation($token: String!) { refreshSession(refreshToken: $token) { user { id } } }",
        Setup::ThrowawayRefreshToken,
    ),
    sample(
        "Mutation.logOut",
        "mutation($token: String) { logOut(refreshToken: $token) }",
        Setup::CallersRefreshToken,
    ),
    sample(
        "Mutation.revokeSession",
        "mutation($id: ID!) { revokeSession(id: $id) }",
        Setup::CallersSession,
    ),
    sample(
        "Mutation.revokeAllOtherSessions",
        "mutation { revokeAllOtherSessions }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.changePassword",
        "mutation($current: String!, $new: String!) { changePassword(input: { currentPassword: $current, newPassword: $new }) }",
        Setup::CallersPassword,
    ),
    sample(
        "Mutation.requestPasswordReset",
        "mutation($throwaway: String!) { requestPasswordReset(email: $throwaway) }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.resetPassword",
        "mutation($token: String!, $password: String!) { resetPassword(token: $token, newPassword: $password) }",
        Setup::ResetToken,
    ),
    sample(
        "Mutation.verifyEmail",
        "mutation($token: String!) { verifyEmail(token: $token) { user { id } } }",
        Setup::PendingSignUp,
    ),
    sample(
        "Mutation.acceptInvitation",
        "mutation($token: String!, $name: String, $password: String) { acceptInvitation(input: { token: $token, name: $name, password: $password }) { user { id } } }",
        Setup::InvitationForCaller,
    ),
    sample(
        "Mutation.createOrganization",
        "mutation($slug: String!) { createOrganization(input: { name: \"Walker\", slug: $slug }) { id } }",
        Setup::Nothing,
    ),
    // The organization.
    sample(
        "Mutation.updateOrganization",
        "mutation { updateOrganization(input: { name: \"walker-a Inc.\" }) { id name } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.deleteOrganization",
        "mutation($slug: String!) { deleteOrganization(confirmSlug: $slug) }",
        Setup::FreshOrganization,
    ),
    sample(
        "Mutation.transferOwnership",
        "mutation($userId: ID!) { transferOwnership(userId: $userId) { userId role } }",
        Setup::FreshOrganization,
    ),
    sample(
        "Mutation.leaveOrganization",
        "mutation { leaveOrganization }",
        Setup::FreshOrganization,
    ),
    // Members and invitations.
    Sample {
        field: "Mutation.updateMemberRole",
        document: "mutation($userId: ID!) { updateMemberRole(userId: $userId, role: MEMBER) { userId role } }",
        setup: Setup::Viewer,
        roles: &[Role::Viewer, Role::Member],
    },
    Sample {
        field: "Mutation.removeMember",
        document: "mutation($userId: ID!) { removeMember(userId: $userId) }",
        setup: Setup::Viewer,
        roles: &[Role::Viewer],
    },
    Sample {
        field: "Mutation.inviteMember",
        document: "mutation($email: String!) { inviteMember(input: { email: $email, role: VIEWER }) { invitation { id } } }",
        setup: Setup::Nothing,
        roles: &[Role::Viewer],
    },
    Sample {
        field: "Mutation.resendInvitation",
        document: "mutation($id: ID!) { resendInvitation(id: $id) { invitation { id } } }",
        setup: Setup::FreshInvitation,
        roles: &[Role::Viewer],
    },
    Sample {
        field: "Mutation.revokeInvitation",
        document: "mutation($id: ID!) { revokeInvitation(id: $id) { id status } }",
        setup: Setup::FreshInvitation,
        roles: &[Role::Viewer],
    },
    // API keys.
    sample(
        "Mutation.createApiKey",
        "mutation { createApiKey(input: { name: \"walker\", scopes: [CONTACTS_READ] }) { apiKey { id } } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.rotateApiKey",
        "mutation($id: ID!) { rotateApiKey(id: $id) { apiKey { id } } }",
        Setup::FreshApiKey,
    ),
    sample(
        "Mutation.revokeApiKey",
        "mutation($id: ID!) { revokeApiKey(id: $id) { id status } }",
        Setup::FreshApiKey,
    ),
    // Provider identities.
    sample(
        "Query.channelIdentities",
        "{ channelIdentities { totalCount edges { node { id kind value channels } } } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.claimChannelIdentity",
        "mutation($value: String!) { claimChannelIdentity(input: { kind: PHONE_NUMBER, value: $value }) { id value } }",
        Setup::FreshPhoneNumber,
    ),
    sample(
        "Mutation.releaseChannelIdentity",
        "mutation($id: ID!) { releaseChannelIdentity(id: $id) }",
        Setup::FreshChannelIdentity,
    ),
    // Channels.
    sample(
        "Mutation.upsertChannelConfig",
        "mutation { upsertChannelConfig(kind: SMS, input: { enabled: true, provider: \"openai\", model: \"gpt-4o-mini\" }) { kind } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.setChannelCredentials",
        "mutation { setChannelCredentials(kind: SMS, credentials: { token: \"walker\" }) { kind hasCredentials } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.deleteChannelConfig",
        "mutation { deleteChannelConfig(kind: EMAIL) }",
        Setup::EmailChannel,
    ),
    sample(
        "Mutation.updateAgentInstructions",
        "mutation { updateAgentInstructions(instructions: \"Be kind.\") { source } }",
        Setup::Nothing,
    ),
    // Contacts.
    sample(
        "Mutation.createContact",
        "mutation { createContact(input: { name: \"Walker contact\" }) { id } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.updateContact",
        "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Walker changed\" }) { id } }",
        Setup::CallersContact,
    ),
    sample(
        "Mutation.identifyContact",
        "mutation($external: String!) { identifyContact(input: { externalId: $external, name: \"Walker identified\" }) { created contact { id } } }",
        Setup::Nothing,
    ),
    sample(
        "Mutation.deleteContact",
        "mutation($id: ID!) { deleteContact(id: $id) }",
        Setup::CallersContact,
    ),
    // Conversations and events.
    sample(
        "Mutation.startConversation",
        "mutation($id: ID!) { startConversation(input: { contactId: $id, channel: WEB_CHAT }) { id } }",
        Setup::FixtureContact,
    ),
    sample(
        "Mutation.postMessage",
        "mutation($id: ID!) { postMessage(conversationId: $id, input: { author: CONTACT, body: \"Hello from the walker\" }) { id } }",
        Setup::OpenConversation,
    ),
    sample(
        "Mutation.closeConversation",
        "mutation($id: ID!) { closeConversation(id: $id) { id } }",
        Setup::FreshConversation,
    ),
    sample(
        "Mutation.trackEvent",
        "mutation { trackEvent(input: { type: CLICK }) { id } }",
        Setup::Nothing,
    ),
    // Operators.
    sample(
        "Mutation.runSystemJob",
        "mutation { runSystemJob(job: ENFORCE_RETENTION) { job } }",
        Setup::Nothing,
    ),
];

/// A sample call ready to send.
struct Prepared {
    variables: Value,
    caller: Caller,
    /// The owner of the row acted on, when the rule looks at it.
    owner: Option<Option<Uuid>>,
    /// A target member whose call, if refused, leaves them as they were.
    target: Option<(Role, Account)>,
}

async fn prepare(app: &TestApp, fx: &Fixture, setup: Setup, principal: &Principal) -> Prepared {
    let n = fx.next();
    let mut variables = json!({
        "email": format!("fresh{n}@walker.example.com"),
        "slug": format!("walker-fresh-{n}"),
        "external": format!("walker-external-{n}"),
        "throwaway": fx.throwaway.email,
        "password": fx.throwaway.password,
    });
    let mut prepared = Prepared {
        variables: json!({}),
        caller: principal.caller.clone(),
        owner: None,
        target: None,
    };
    let mut set = |name: &str, value: Value| variables[name] = value;
    match setup {
        Setup::Nothing => {}
        Setup::FixtureContact => set("id", json!(fx.contacts[0].id)),
        Setup::ClosedConversation => set("id", json!(fx.closed_conversation)),
        Setup::OpenConversation => set("id", json!(fx.open_conversation)),
        Setup::FreshConversation => {
            let data = fx
                .as_owner(
                    app,
                    "mutation($c: ID!) { startConversation(input: { contactId: $c, channel: SMS }) { id } }",
                    json!({ "c": fx.contacts[0].id }),
                )
                .await;
            set("id", data["startConversation"]["id"].clone());
        }
        Setup::CallersContact => {
            let owner = principal.user_id().unwrap_or_else(|| fx.contacts[0].owner);
            set("id", json!(fx.contact_of(app, owner).await));
            prepared.owner = Some(Some(owner));
        }
        Setup::FreshInvitation => {
            let data = fx
                .as_owner(
                    app,
                    INVITE,
                    json!({ "email": format!("invited{n}@walker.example.com"), "role": "VIEWER" }),
                )
                .await;
            set("id", data["inviteMember"]["invitation"]["id"].clone());
        }
        Setup::Viewer => {
            let target = fx.target(app, Role::Viewer).await;
            set("userId", json!(target.user_id));
            prepared.target = Some((Role::Viewer, target));
        }
        Setup::FreshApiKey => {
            let (id, _) = fx
                .create_key(
                    app,
                    fx.owner(),
                    &fx.organization,
                    "to rotate or revoke",
                    &[Scope::ContactsRead],
                )
                .await;
            set("id", json!(id));
        }
        Setup::FreshPhoneNumber => {
            set("value", json!(fresh_phone_number()));
        }
        Setup::FreshChannelIdentity => {
            let data = fx
                .as_owner(
                    app,
                    "mutation($v: String!) { claimChannelIdentity(input: { kind: PHONE_NUMBER, value: $v }) { id } }",
                    json!({ "v": fresh_phone_number() }),
                )
                .await;
            set("id", data["claimChannelIdentity"]["id"].clone());
        }
        Setup::EmailChannel => {
            fx.as_owner(
                app,
                "mutation { upsertChannelConfig(kind: EMAIL, input: { enabled: false, provider: \"openai\", model: \"gpt-4o-mini\" }) { kind } }",
                json!({}),
            )
            .await;
        }
        Setup::CallersRefreshToken | Setup::CallersSession => {
            let account = principal.account().unwrap_or(&fx.throwaway);
            let (access, refresh) = fx.log_in(app, account).await;
            if setup == Setup::CallersRefreshToken {
                set("token", json!(refresh));
            } else {
                let sessions = app
                    .graphql(
                        Some(&access),
                        None,
                        "{ sessions(first: 100) { nodes { id current } } }",
                        json!({}),
                    )
                    .await
                    .ok();
                let current = sessions["sessions"]["nodes"]
                    .as_array()
                    .expect("sessions")
                    .iter()
                    .find(|s| s["current"] == true)
                    .expect("the current session")["id"]
                    .clone();
                set("id", current);
            }
        }
        Setup::CallersPassword => {
            let password = principal
                .account()
                .map_or(PASSWORD.to_owned(), |a| a.password.clone());
            set("current", json!(password));
            set("new", json!(password));
        }
        Setup::ThrowawayRefreshToken => {
            let (_, refresh) = fx.log_in(app, &fx.throwaway).await;
            set("token", json!(refresh));
        }
        Setup::ResetToken => {
            let mails = fx.reset_mails(app).await;
            app.anonymous(
                "mutation($e: String!) { requestPasswordReset(email: $e) }",
                json!({ "e": fx.throwaway.email }),
            )
            .await
            .ok();
            // The token and its mail are made after the answer: wait for them.
            for _ in 0..200 {
                if fx.reset_mails(app).await > mails {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let token = app
                .mailed_token(&fx.throwaway.email, "password_reset")
                .await;
            set("token", json!(token));
        }
        Setup::PendingSignUp => {
            let (token, hash) = tenantgate::identity::new_opaque_token("tgv_");
            let now = chrono::Utc::now();
            app.execute_with(
                "INSERT INTO pending_sign_up (id, email, name, password_hash, organization_name, \
                 organization_slug, remember_me, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, 'Pending', 'not a usable hash', 'Pending Inc.', $3, false, $4, $5, $6)",
                vec![
                    Uuid::now_v7().into(),
                    format!("pending{n}@walker.example.com").into(),
                    format!("walker-pending-{n}").into(),
                    hash.into(),
                    now.into(),
                    (now + chrono::Duration::hours(1)).into(),
                ],
            )
            .await;
            set("token", json!(token));
        }
        Setup::InvitationForCaller => {
            let (email, name, password) = match principal.account() {
                Some(account) => (account.email.clone(), Value::Null, Value::Null),
                None => (
                    format!("newcomer{n}@walker.example.com"),
                    json!("Newcomer"),
                    json!(PASSWORD),
                ),
            };
            app.graphql(
                Some(&fx.other.access_token),
                Some(&fx.other.organization_id),
                INVITE,
                json!({ "email": email, "role": "VIEWER" }),
            )
            .await
            .ok();
            set("token", json!(app.mailed_token(&email, "invitation").await));
            set("name", name);
            set("password", password);
        }
        Setup::FreshOrganization => {
            let slug = format!("walker-org-{n}");
            let data = app
                .as_user(
                    &fx.other,
                    "mutation($s: String!) { createOrganization(input: { name: \"Fresh\", slug: $s }) { id } }",
                    json!({ "s": slug }),
                )
                .await
                .ok();
            let organization = text(&data["createOrganization"]["id"]);
            fx.bring(app, &organization, &fx.other, &fx.spare, Role::Member)
                .await;
            prepared.caller = fx.stand_in(app, principal, &organization).await;
            set("slug", json!(slug));
            set("userId", json!(fx.spare.user_id));
        }
    }
    prepared.variables = variables;
    prepared
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Allowed,
    Refused(&'static str),
}

impl Expect {
    fn describe(self) -> String {
        match self {
            Expect::Allowed => "allowed".to_owned(),
            Expect::Refused(code) => format!("refused with {code}"),
        }
    }
}

/// What the table says of `principal` calling a field of `access` on a row owned by
/// `owner` (when the rule looks at rows) or acting on `roles` (role ceiling); `None`
/// when the table says nothing (the system principal on people's fields).
fn expected(
    access: Access,
    principal: &Principal,
    owner: Option<Option<Uuid>>,
    roles: &[Role],
) -> Option<Expect> {
    let refused = |who: &Who| match who {
        Who::Anonymous => Expect::Refused("UNAUTHENTICATED"),
        _ => Expect::Refused("FORBIDDEN"),
    };
    Some(match (access, &principal.who) {
        (Access::Public, _) => Expect::Allowed,
        (Access::People, Who::Person { .. } | Who::Anonymous) => Expect::Allowed,
        (Access::People, Who::Key { .. } | Who::System) => Expect::Refused("FORBIDDEN"),
        (Access::Account, Who::Person { .. }) => Expect::Allowed,
        (Access::Account, who) => refused(who),
        (Access::System, Who::System) => Expect::Allowed,
        (Access::System, who) => refused(who),
        (Access::Needs(permission), who @ (Who::Person { .. } | Who::Key { .. })) => {
            let actor = principal.actor().expect("an actor");
            let allowed = match owner {
                Some(owner) => policy::holds_on_row(&actor, permission, owner),
                None => policy::holds(&actor, permission),
            } && roles
                .iter()
                .all(|role| policy::holds_on_role(&actor, permission, *role));
            if allowed {
                Expect::Allowed
            } else {
                refused(who)
            }
        }
        (Access::Needs(_), who) => refused(who),
        (Access::Parent, _) => return None,
    })
}

/// The answer's disagreement with `expect`, if any. `root` is the field whose value a
/// refused call must not answer.
fn judge(expect: Expect, reply: &Reply, root: &str) -> Option<String> {
    let errors = reply.body.get("errors").is_some();
    match expect {
        Expect::Allowed if errors => Some(format!("an error: {}", first_error(&reply.body))),
        Expect::Allowed => None,
        Expect::Refused(code) if reply.code() != Some(code) => Some(if errors {
            format!("another error: {}", first_error(&reply.body))
        } else {
            "allowed".to_owned()
        }),
        Expect::Refused(_) if !reply.body["data"][root].is_null() => {
            Some(format!("refused, but the body answers {root}"))
        }
        Expect::Refused(_) => None,
    }
}

/// Sends one call and compares it with `expect`; a refused mutation must also leave
/// every row as it was.
#[allow(clippy::too_many_arguments)]
async fn check_call(
    app: &TestApp,
    fx: &Fixture,
    findings: &mut Findings,
    coordinate: &str,
    principal: &Principal,
    caller: &Caller,
    document: &str,
    variables: Value,
    root: &str,
    expect: Expect,
) -> bool {
    let mutation = document.trim_start().starts_with("mutation");
    let before = match (expect, mutation) {
        (Expect::Refused(_), true) => Some(fx.snapshots.settled().await),
        _ => None,
    };
    let reply = send(app, caller, document, variables).await;
    findings.compared(expect == Expect::Allowed);
    let mut agreed = true;
    if let Some(got) = judge(expect, &reply, root) {
        findings.add(coordinate, principal, &expect.describe(), &got, &reply.body);
        agreed = false;
    }
    if let Some(before) = before {
        let after = fx.snapshots.settled().await;
        if let Some(changes) = written(&before, &after) {
            findings.add(
                coordinate,
                principal,
                "nothing written",
                &format!("written: {changes}"),
                &reply.body,
            );
            agreed = false;
        }
    }
    agreed
}

fn root_name(coordinate: &str) -> &str {
    coordinate.split_once('.').map_or(coordinate, |(_, f)| f)
}

fn access_of(coordinate: &str) -> Option<Access> {
    let (type_name, field) = coordinate.split_once('.')?;
    policy::field_access(type_name, field)
}

// ---------------------------------------------------------------------------------------
// Object fields: how the walker reaches an object of each type with guarded fields.

/// Which row a reach acts on, for the rule's condition and for the canaries.
#[derive(Clone, Copy, Debug, PartialEq)]
enum RowKind {
    /// `$id`: one of the principal's contact rows ([`Fixture::contact_rows`]).
    Contact,
    /// `$id`: the closed conversation (summary, message, assignee).
    ClosedConversation,
    /// `$id`: the open conversation.
    OpenConversation,
    /// No row; for lists of members, each node's `userId` is the row's owner.
    Nothing,
}

/// A way to an object of `type_name`: `document` with `FIELD` replaced by the field's
/// selection, the path of the node(s) in `data` (`*` for each item of a list), and what
/// the principal needs to get that far.
struct Reach {
    type_name: &'static str,
    document: &'static str,
    nodes: &'static [&'static str],
    gate: Permission,
    row: RowKind,
}

/// The ways to each type, the reading one first; mutations reach objects for keys that
/// may write but not read (their refused fields roll the mutation back).
const REACHES: &[Reach] = &[
    Reach {
        type_name: "Contact",
        document: "query($id: ID!) { contact(id: $id) { id FIELD } }",
        nodes: &["contact"],
        gate: Permission::ReadContacts,
        row: RowKind::Contact,
    },
    Reach {
        type_name: "Contact",
        document: "mutation($id: ID!) { updateContact(id: $id, input: {}) { id FIELD } }",
        nodes: &["updateContact"],
        gate: Permission::UpdateContacts,
        row: RowKind::Contact,
    },
    Reach {
        type_name: "Conversation",
        document: "query($id: ID!) { conversation(id: $id) { id FIELD } }",
        nodes: &["conversation"],
        gate: Permission::ReadConversations,
        row: RowKind::ClosedConversation,
    },
    Reach {
        type_name: "Conversation",
        document: "mutation($id: ID!) { closeConversation(id: $id) { id FIELD } }",
        nodes: &["closeConversation"],
        gate: Permission::WriteConversations,
        row: RowKind::ClosedConversation,
    },
    Reach {
        type_name: "Message",
        document: "query($id: ID!) { conversation(id: $id) { messages { nodes { id FIELD } } } }",
        nodes: &["conversation", "messages", "nodes", "*"],
        gate: Permission::ReadConversations,
        row: RowKind::ClosedConversation,
    },
    Reach {
        type_name: "Message",
        document: "mutation($id: ID!) { postMessage(conversationId: $id, input: { author: CONTACT, body: \"canary-message-body\" }) { id FIELD } }",
        nodes: &["postMessage"],
        gate: Permission::WriteConversations,
        row: RowKind::OpenConversation,
    },
    Reach {
        type_name: "Member",
        document: "{ members(first: 100) { nodes { userId FIELD } } }",
        nodes: &["members", "nodes", "*"],
        gate: Permission::ReadMembers,
        row: RowKind::Nothing,
    },
    Reach {
        type_name: "Event",
        document: "{ events(filter: { name: \"walker.canary\" }) { nodes { id FIELD } } }",
        nodes: &["events", "nodes", "*"],
        gate: Permission::ReadEvents,
        row: RowKind::Nothing,
    },
    Reach {
        type_name: "Event",
        document: "mutation { trackEvent(input: { type: CUSTOM, name: \"walker.canary\", properties: { canary: \"canary-event-properties\" } }) { id FIELD } }",
        nodes: &["trackEvent"],
        gate: Permission::TrackEvents,
        row: RowKind::Nothing,
    },
    Reach {
        type_name: "Analytics",
        document: "{ analytics { FIELD } }",
        nodes: &["analytics"],
        gate: Permission::ReadAnalytics,
        row: RowKind::Nothing,
    },
];

/// The arguments for fields that require some.
const FIELD_ARGUMENTS: &[(&str, &str)] = &[
    ("Analytics.summary", ANALYTICS_PERIOD),
    (
        "Analytics.eventTotals",
        "from: \"2026-01-01T00:00:00Z\", to: \"2027-01-01T00:00:00Z\", bucket: WEEK",
    ),
];

/// Permissions whose fields hold personal or private data: each such field needs a
/// canary, so a refusal is proven by its absence from the body.
const SENSITIVE: &[Permission] = &[
    Permission::ReadPersonalData,
    Permission::ReadContactNotes,
    Permission::ReadMemberEmails,
    Permission::ReadEventProperties,
];

/// A guarded field of an object type.
struct Guarded {
    type_name: String,
    field: String,
    permission: Permission,
    selection: String,
}

/// Every non-root field whose row is `Needs`, from introspection; fields the walker
/// cannot select (a required argument without a sample) are findings.
fn guarded_fields(types: &[TypeInfo], findings: &mut Findings) -> Vec<Guarded> {
    let mut guarded = Vec::new();
    for object in types {
        if object.name == "Query" || object.name == "Mutation" {
            continue;
        }
        for field in &object.fields {
            let Some(Access::Needs(permission)) = policy::field_access(&object.name, &field.name)
            else {
                continue;
            };
            let coordinate = format!("{}.{}", object.name, field.name);
            let mut selection = field.name.clone();
            if !field.required_arguments.is_empty() {
                match FIELD_ARGUMENTS.iter().find(|(c, _)| *c == coordinate) {
                    Some((_, arguments)) => selection.push_str(&format!("({arguments})")),
                    None => {
                        findings.walker(format!(
                            "{coordinate} needs the arguments {:?}: add them to FIELD_ARGUMENTS",
                            field.required_arguments
                        ));
                        continue;
                    }
                }
            }
            if matches!(field.kind.as_str(), "OBJECT" | "INTERFACE" | "UNION") {
                selection.push_str(" { __typename }");
            }
            guarded.push(Guarded {
                type_name: object.name.clone(),
                field: field.name.clone(),
                permission,
                selection,
            });
        }
    }
    guarded
}

/// The canary of a field on a row, if one was planted.
fn canary(type_name: &str, field: &str, contact: Option<&FixtureContact>) -> Option<String> {
    match (type_name, field, contact) {
        ("Contact", "email", Some(c)) => Some(c.email.clone()),
        ("Contact", "phone", Some(c)) => Some(c.phone.clone()),
        ("Contact", "attributes", Some(c)) => Some(c.attributes.clone()),
        ("Contact", "notes", Some(c)) => Some(c.notes.clone()),
        ("Conversation", "summary", _) => Some("canary-summary".to_owned()),
        ("Message", "body", _) => Some("canary-message-body".to_owned()),
        ("Event", "properties", _) => Some("canary-event-properties".to_owned()),
        _ => None,
    }
}

/// The concrete paths of the nodes at `spec` in `data`; none when a parent is null.
fn node_paths(data: &Value, spec: &[&str]) -> Vec<Vec<Value>> {
    let mut paths = vec![(Vec::new(), data)];
    for segment in spec {
        let mut next = Vec::new();
        for (path, value) in paths {
            if *segment == "*" {
                for (index, item) in value.as_array().into_iter().flatten().enumerate() {
                    let mut path = path.clone();
                    path.push(json!(index));
                    next.push((path, item));
                }
            } else if let Some(item) = value.get(*segment) {
                let mut path = path.clone();
                path.push(json!(segment));
                next.push((path, item));
            }
        }
        paths = next;
    }
    paths
        .into_iter()
        .filter(|(_, value)| value.is_object())
        .map(|(path, _)| path)
        .collect()
}

/// Whether an error path lies at or under `pattern` (`*` matches any list index).
fn under(error_path: &Value, pattern: &[Value]) -> bool {
    let Some(path) = error_path.as_array() else {
        return false;
    };
    path.len() >= pattern.len()
        && pattern
            .iter()
            .zip(path)
            .all(|(want, got)| want == "*" || want == got)
}

fn errors_under<'a>(body: &'a Value, pattern: &[Value]) -> Vec<&'a Value> {
    body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|error| under(&error["path"], pattern))
        .collect()
}

fn value_at<'a>(data: &'a Value, path: &[Value]) -> &'a Value {
    let mut current = data;
    for segment in path {
        current = match segment {
            Value::String(key) => &current[key.as_str()],
            Value::Number(index) => &current[index.as_u64().unwrap_or(0) as usize],
            _ => &Value::Null,
        };
    }
    current
}

/// Calls one guarded field as `principal` through the first way they may take, on
/// each of their rows, and compares field by field. Answers whether any way reached it.
async fn check_field(
    app: &TestApp,
    fx: &Fixture,
    findings: &mut Findings,
    guarded: &Guarded,
    principal: &Principal,
) -> bool {
    let Some(actor) = principal.actor() else {
        return false;
    };
    let coordinate = format!("{}.{}", guarded.type_name, guarded.field);
    let reaches: Vec<&Reach> = REACHES
        .iter()
        .filter(|r| r.type_name == guarded.type_name)
        .collect();
    let rows: Vec<Option<&FixtureContact>> = if reaches.iter().any(|r| r.row == RowKind::Contact) {
        fx.contact_rows(principal).into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    let emails: HashMap<String, String> = fx
        .people
        .iter()
        .map(|(_, a)| (a.user_id.clone(), a.email.clone()))
        .collect();
    let mut reached = false;
    for contact in rows {
        let owner = contact.map(|c| c.owner);
        let Some(reach) = reaches
            .iter()
            .find(|r| policy::holds_on_row(&actor, r.gate, owner))
        else {
            continue;
        };
        reached = true;
        let id = match reach.row {
            RowKind::Contact => json!(contact.expect("a contact row").id),
            RowKind::ClosedConversation => json!(fx.closed_conversation),
            RowKind::OpenConversation => json!(fx.open_conversation),
            RowKind::Nothing => Value::Null,
        };
        let document = reach.document.replace("FIELD", &guarded.selection);
        let variables = if id.is_null() {
            json!({})
        } else {
            json!({ "id": id })
        };
        let mutation = document.starts_with("mutation");
        let before = if mutation {
            Some(fx.snapshots.settled().await)
        } else {
            None
        };
        let reply = send(app, &principal.caller, &document, variables).await;
        let body = &reply.body;
        let data = &body["data"];
        let pattern: Vec<Value> = reach
            .nodes
            .iter()
            .map(|s| json!(s))
            .chain([json!(guarded.field)])
            .collect();
        let row_label = contact.map_or(String::new(), |c| {
            format!(" on the {}'s contact", policy::role_name(c.role))
        });
        let place = format!("{coordinate}{row_label}");
        let mut any_refused = false;
        // Other errors than at the field itself: the way must be open.
        for error in body["errors"].as_array().into_iter().flatten() {
            if !under(&error["path"], &pattern) {
                findings.add(
                    &place,
                    principal,
                    "no error on the way to the field",
                    &first_error(&json!({ "errors": [error] })),
                    body,
                );
            }
        }
        if reach.row == RowKind::Nothing && guarded.type_name == "Member" {
            // Each member is a row of its own: `ReadMemberEmails` looks at whose it is.
            let nodes = node_paths(data, reach.nodes);
            if nodes.is_empty() {
                findings.add(&place, principal, "members listed", "no members", body);
            }
            for node in nodes {
                let user_id = value_at(data, &node)["userId"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let allowed =
                    policy::holds_on_row(&actor, guarded.permission, Some(uuid(&user_id)));
                let mut path = node.clone();
                path.push(json!(guarded.field));
                let errors = errors_under(body, &path);
                let value = value_at(data, &path);
                let secret = emails.get(&user_id);
                let what = format!("{place} of member {user_id}");
                findings.compared(allowed);
                if allowed {
                    if !errors.is_empty() || value.is_null() {
                        findings.add(
                            &what,
                            principal,
                            "the value",
                            &format!("{value} with {} error(s)", errors.len()),
                            body,
                        );
                    }
                } else {
                    any_refused = true;
                    let forbidden = errors
                        .iter()
                        .any(|e| e["extensions"]["code"] == "FORBIDDEN");
                    let leaked = secret.is_some_and(|s| body.to_string().contains(s.as_str()));
                    if !forbidden || !value.is_null() || leaked {
                        findings.add(
                            &what,
                            principal,
                            "FORBIDDEN at the field, null, no email in the body",
                            &format!(
                                "{value}, FORBIDDEN there: {forbidden}, email in the body: {leaked}"
                            ),
                            body,
                        );
                    }
                }
            }
        } else {
            let allowed = policy::holds_on_row(&actor, guarded.permission, owner);
            let errors = errors_under(body, &pattern);
            let nodes = node_paths(data, reach.nodes);
            let values: Vec<&Value> = nodes
                .iter()
                .map(|node| {
                    let mut path = node.clone();
                    path.push(json!(guarded.field));
                    value_at(data, &path)
                })
                .collect();
            let secret = canary(&guarded.type_name, &guarded.field, contact);
            if secret.is_none() && SENSITIVE.contains(&guarded.permission) {
                findings.walker(format!(
                    "{coordinate} holds personal data but has no canary: plant one in the fixture"
                ));
            }
            let in_body = secret
                .as_ref()
                .is_some_and(|s| body.to_string().contains(s.as_str()));
            findings.compared(allowed);
            if allowed {
                if !errors.is_empty() || nodes.is_empty() {
                    findings.add(
                        &place,
                        principal,
                        "allowed",
                        &format!(
                            "{} error(s) at the field, {} node(s) reached: {}",
                            errors.len(),
                            nodes.len(),
                            first_error(body)
                        ),
                        body,
                    );
                } else if secret.is_some() && !in_body {
                    findings.add(
                        &place,
                        principal,
                        "the planted value in the body",
                        "no planted value",
                        body,
                    );
                }
            } else {
                any_refused = true;
                let forbidden = errors
                    .iter()
                    .any(|e| e["extensions"]["code"] == "FORBIDDEN");
                let answered = values.iter().any(|v| !v.is_null());
                if !forbidden || answered || in_body {
                    findings.add(&place, principal, "FORBIDDEN at the field, null, nothing planted in the body", &format!("FORBIDDEN there: {forbidden}, a value answered: {answered}, planted value in the body: {in_body}"), body);
                }
            }
        }
        if let Some(before) = before
            && any_refused
        {
            let after = fx.snapshots.settled().await;
            if let Some(changes) = written(&before, &after) {
                findings.add(
                    &place,
                    principal,
                    "the mutation rolled back",
                    &format!("written: {changes}"),
                    body,
                );
            }
        }
    }
    reached
}

// ---------------------------------------------------------------------------------------
// Input fields with a permission of their own.

/// Whose row the argument's permission is judged on.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ArgumentRow {
    /// No row: `holds`.
    Nothing,
    /// The row the call creates, which the caller owns (a key's has no owner).
    Created,
    /// The contact acted on (own and someone else's, each where the caller may update).
    Contact,
}

struct ArgumentSample {
    coordinate: &'static str,
    /// Receives `$email` (fresh), `$member` (a member other than the caller and the
    /// row's owner), `$contact` (the OWNER's contact) and `$id` (the contact row).
    document: &'static str,
    row: ArgumentRow,
}

const ARGUMENT_SAMPLES: &[ArgumentSample] = &[
    ArgumentSample {
        coordinate: "Mutation.updateOrganization.input.plan",
        document: "mutation { updateOrganization(input: { plan: \"walker\" }) { id } }",
        row: ArgumentRow::Nothing,
    },
    ArgumentSample {
        coordinate: "Mutation.updateOrganization.input.seatLimit",
        document: "mutation { updateOrganization(input: { seatLimit: 1000 }) { id } }",
        row: ArgumentRow::Nothing,
    },
    ArgumentSample {
        coordinate: "Mutation.updateOrganization.input.status",
        document: "mutation { updateOrganization(input: { status: ACTIVE }) { id } }",
        row: ArgumentRow::Nothing,
    },
    ArgumentSample {
        coordinate: "Mutation.createContact.input.email",
        document: "mutation($email: String!) { createContact(input: { name: \"Walker\", email: $email }) { id } }",
        row: ArgumentRow::Nothing,
    },
    ArgumentSample {
        coordinate: "Mutation.createContact.input.ownerId",
        document: "mutation($member: ID!) { createContact(input: { name: \"Walker\", ownerId: $member }) { id } }",
        row: ArgumentRow::Nothing,
    },
    ArgumentSample {
        coordinate: "Mutation.createContact.input.notes",
        document: "mutation { createContact(input: { name: \"Walker\", notes: \"walker notes\" }) { id } }",
        row: ArgumentRow::Created,
    },
    ArgumentSample {
        coordinate: "Mutation.updateContact.input.email",
        document: "mutation($id: ID!, $email: String!) { updateContact(id: $id, input: { email: $email }) { id } }",
        row: ArgumentRow::Contact,
    },
    ArgumentSample {
        coordinate: "Mutation.updateContact.input.ownerId",
        document: "mutation($id: ID!, $member: ID!) { updateContact(id: $id, input: { ownerId: $member }) { id } }",
        row: ArgumentRow::Contact,
    },
    ArgumentSample {
        coordinate: "Mutation.updateContact.input.notes",
        document: "mutation($id: ID!) { updateContact(id: $id, input: { notes: \"walker notes\" }) { id } }",
        row: ArgumentRow::Contact,
    },
    ArgumentSample {
        coordinate: "Mutation.identifyContact.input.email",
        document: "mutation($email: String!) { identifyContact(input: { email: $email, name: \"Walker\" }) { created } }",
        row: ArgumentRow::Nothing,
    },
    ArgumentSample {
        coordinate: "Mutation.startConversation.input.assigneeId",
        document: "mutation($contact: ID!, $member: ID!) { startConversation(input: { contactId: $contact, channel: WEB_CHAT, assigneeId: $member }) { id } }",
        row: ArgumentRow::Nothing,
    },
];

// ---------------------------------------------------------------------------------------
// The walks.

walk_on_both_databases! {
    async fn every_field_has_a_policy_row(app) {
        let owner = app.sign_up("owner", SLUG).await;
        let types = object_types(&app, &owner).await;
        let mut findings = Findings::default();
        let mut uncovered = Vec::new();
        let mut roots = BTreeSet::new();
        for object in &types {
            for field in &object.fields {
                let coordinate = format!("{}.{}", object.name, field.name);
                match policy::field_access(&object.name, &field.name) {
                    None => uncovered.push(coordinate.clone()),
                    Some(Access::Parent) if object.name == "Query" || object.name == "Mutation" => {
                        findings.walker(format!("{coordinate} is a root field: Access::Parent says nothing about who may call it"));
                    }
                    Some(_) => {}
                }
                if object.name == "Query" || object.name == "Mutation" {
                    roots.insert(coordinate);
                }
            }
        }
        if !uncovered.is_empty() {
            findings.walker(format!("fields without a row in policy::FIELDS: {}", uncovered.join(", ")));
        }
        let sampled: BTreeSet<String> = SAMPLES.iter().map(|s| s.field.to_owned()).collect();
        for missing in roots.difference(&sampled) {
            findings.walker(format!("{missing} has no sample call in SAMPLES"));
        }
        for stale in sampled.difference(&roots) {
            findings.walker(format!("SAMPLES has {stale}, which the schema does not"));
        }
        for (coordinate, _) in policy::ARGUMENTS {
            if !ARGUMENT_SAMPLES.iter().any(|s| s.coordinate == *coordinate) {
                findings.walker(format!("{coordinate} in policy::ARGUMENTS has no argument sample"));
            }
        }
        for sample in ARGUMENT_SAMPLES {
            if !policy::ARGUMENTS.iter().any(|(c, _)| *c == sample.coordinate) {
                findings.walker(format!("ARGUMENT_SAMPLES has {}, which policy::ARGUMENTS does not", sample.coordinate));
            }
        }
        for guarded in guarded_fields(&types, &mut findings) {
            if !REACHES.iter().any(|r| r.type_name == guarded.type_name) {
                findings.walker(format!("{}.{} is guarded but the walker has no way to reach a {}: add one to REACHES", guarded.type_name, guarded.field, guarded.type_name));
            }
        }
        findings.finish("every field has a policy row", false);
    }

    async fn the_snapshot_notices_an_insert_an_update_and_a_delete(app) {
        let owner = app.sign_up("owner", SLUG).await;
        let snapshots = Snapshots::new(&app).await;
        let before = snapshots.settled().await;
        assert_eq!(written(&before, &snapshots.settled().await), None, "nothing happened yet");
        let id = app.create_contact(&owner, "Inserted", "inserted@example.com").await;
        let inserted = snapshots.settled().await;
        assert!(written(&before, &inserted).is_some_and(|w| w.contains("contact: 0 → 1 rows")), "an insert");
        app.as_user(&owner, "mutation($id: ID!) { updateContact(id: $id, input: { phone: \"+15550100001\" }) { id } }", json!({ "id": id })).await.ok();
        let updated = snapshots.settled().await;
        assert!(written(&inserted, &updated).is_some_and(|w| w.contains("contact: 1 → 1 rows (changed)")), "an update");
        app.execute("UPDATE organization SET name = 'Renamed below the API'").await;
        let renamed = snapshots.settled().await;
        assert!(written(&updated, &renamed).is_some_and(|w| w.contains("organization: 1 → 1 rows (changed)")), "an update below the API");
        app.as_user(&owner, "mutation($id: ID!) { deleteContact(id: $id) }", json!({ "id": id })).await.ok();
        let deleted = snapshots.settled().await;
        assert!(written(&renamed, &deleted).is_some_and(|w| w.contains("contact: 1 → 0 rows")), "a delete");
    }

    async fn every_query_and_account_field_answers_as_the_policy_says(app) {
        walk_root_fields(&app, "every query and account field answers as the policy says", |sample, access| {
            sample.field.starts_with("Query.") || !matches!(access, Access::Needs(_))
        })
        .await;
    }

    async fn every_organization_mutation_answers_as_the_policy_says(app) {
        walk_root_fields(&app, "every organization mutation answers as the policy says", |sample, access| {
            sample.field.starts_with("Mutation.") && matches!(access, Access::Needs(_))
        })
        .await;
    }

    async fn row_conditions_answer_as_the_policy_says(app) {
        let fx = Fixture::build(&app).await;
        let mut findings = Findings::default();
        let people: Vec<&Principal> = fx.principals.iter().filter(|p| p.role().is_some()).collect();
        let writers: Vec<&Principal> = fx.principals.iter().filter(|p| p.actor().is_some()).collect();

        // Own rows: each change on a fresh contact of the caller's and of someone else's.
        let changes: [(&str, &str, &[Permission]); 3] = [
            ("Mutation.updateContact", "mutation($id: ID!) { updateContact(id: $id, input: { name: \"Changed\" }) { id } }", &[Permission::UpdateContacts]),
            ("Mutation.deleteContact", "mutation($id: ID!) { deleteContact(id: $id) }", &[Permission::DeleteContacts]),
            ("Mutation.updateContact.input.notes", "mutation($id: ID!) { updateContact(id: $id, input: { notes: \"Changed notes\" }) { id } }", &[Permission::UpdateContacts, Permission::WriteContactNotes]),
        ];
        for (coordinate, document, permissions) in changes {
            for principal in &writers {
                let actor = principal.actor().expect("an actor");
                let mut owners = vec![fx.someone_else(principal)];
                owners.extend(principal.user_id());
                for owner in owners {
                    let id = fx.contact_of(&app, owner).await;
                    let allowed = permissions.iter().all(|p| policy::holds_on_row(&actor, *p, Some(owner)));
                    let expect = if allowed { Expect::Allowed } else { Expect::Refused("FORBIDDEN") };
                    let whose = if Some(owner) == principal.user_id() { "own" } else { "someone else's" };
                    check_call(
                        &app, &fx, &mut findings, &format!("{coordinate} on {whose} contact"), principal,
                        &principal.caller, document, json!({ "id": id }), root_name(coordinate.split(".input").next().unwrap_or(coordinate)), expect,
                    ).await;
                }
            }
        }

        // Own rows when reading: notes of one's own contact and of others', members'
        // emails of oneself and of others.
        let mut reads = Vec::new();
        for (type_name, field, permission) in [
            ("Contact", "notes", Permission::ReadContactNotes),
            ("Member", "email", Permission::ReadMemberEmails),
        ] {
            reads.push(Guarded {
                type_name: type_name.to_owned(),
                field: field.to_owned(),
                permission,
                selection: field.to_owned(),
            });
            assert_eq!(policy::field_access(type_name, field), Some(Access::Needs(permission)), "{type_name}.{field}");
        }
        for guarded in &reads {
            for principal in &writers {
                check_field(&app, &fx, &mut findings, guarded, principal).await;
            }
        }

        // The role ceiling: every acting role on every target role.
        for principal in &people {
            let actor = principal.actor().expect("an actor");
            for target in ROLES {
                let name = policy::role_name(target);
                // Invite with the role.
                let expect = ceiling(&actor, Permission::InviteMembers, &[target]);
                check_call(
                    &app, &fx, &mut findings, &format!("Mutation.inviteMember granting {name}"), principal, &principal.caller,
                    INVITE, json!({ "email": format!("ceiling{}@walker.example.com", fx.next()), "role": name }), "inviteMember", expect,
                ).await;
                // Resend and revoke an invitation of the role.
                for (coordinate, permission, document) in [
                    ("Mutation.resendInvitation", Permission::ResendInvitations, "mutation($id: ID!) { resendInvitation(id: $id) { invitation { id } } }"),
                    ("Mutation.revokeInvitation", Permission::RevokeInvitations, "mutation($id: ID!) { revokeInvitation(id: $id) { id status } }"),
                ] {
                    let invited = fx.as_owner(&app, INVITE, json!({ "email": format!("ceiling{}@walker.example.com", fx.next()), "role": name })).await;
                    let id = invited["inviteMember"]["invitation"]["id"].clone();
                    let expect = ceiling(&actor, permission, &[target]);
                    check_call(
                        &app, &fx, &mut findings, &format!("{coordinate} of an invitation of {name}"), principal, &principal.caller,
                        document, json!({ "id": id }), root_name(coordinate), expect,
                    ).await;
                }
                // Remove a member of the role.
                let member = fx.target(&app, target).await;
                let expect = ceiling(&actor, Permission::RemoveMembers, &[target]);
                let agreed = check_call(
                    &app, &fx, &mut findings, &format!("Mutation.removeMember of a {name}"), principal, &principal.caller,
                    "mutation($u: ID!) { removeMember(userId: $u) }", json!({ "u": member.user_id }), "removeMember", expect,
                ).await;
                if agreed && expect != Expect::Allowed {
                    fx.untouched(target, member);
                }
                // Change a member of the role to VIEWER (MEMBER for a VIEWER), and a VIEWER
                // to the role.
                let mut changes = vec![(target, if target == Role::Viewer { Role::Member } else { Role::Viewer })];
                if target != Role::Viewer {
                    changes.push((Role::Viewer, target));
                }
                for (from, to) in changes {
                    let member = fx.target(&app, from).await;
                    let expect = ceiling(&actor, Permission::ChangeMemberRoles, &[from, to]);
                    let agreed = check_call(
                        &app, &fx, &mut findings,
                        &format!("Mutation.updateMemberRole from {} to {}", policy::role_name(from), policy::role_name(to)),
                        principal, &principal.caller,
                        "mutation($u: ID!, $r: Role!) { updateMemberRole(userId: $u, role: $r) { userId role } }",
                        json!({ "u": member.user_id, "r": policy::role_name(to) }), "updateMemberRole", expect,
                    ).await;
                    if agreed && expect != Expect::Allowed {
                        fx.untouched(from, member);
                    }
                }
            }
        }
        findings.finish("row conditions answer as the policy says", true);
    }

    async fn guarded_object_fields_answer_as_the_policy_says(app) {
        let fx = Fixture::build(&app).await;
        let mut findings = Findings::default();
        let types = object_types(&app, fx.owner()).await;
        let guarded = guarded_fields(&types, &mut findings);
        assert!(guarded.len() > 10, "the guarded fields: {}", guarded.len());
        for field in &guarded {
            let mut reached_by = 0;
            for principal in &fx.principals {
                if check_field(&app, &fx, &mut findings, field, principal).await {
                    reached_by += 1;
                }
            }
            if reached_by == 0 {
                findings.walker(format!("nobody reached {}.{}: add a way to REACHES", field.type_name, field.field));
            }
        }
        findings.finish("guarded object fields answer as the policy says", true);
    }

    async fn guarded_arguments_answer_as_the_policy_says(app) {
        let fx = Fixture::build(&app).await;
        let mut findings = Findings::default();
        for (coordinate, argument_permission) in policy::ARGUMENTS {
            let Some(sample) = ARGUMENT_SAMPLES.iter().find(|s| s.coordinate == *coordinate) else {
                findings.walker(format!("{coordinate} has no argument sample"));
                continue;
            };
            let field = coordinate.split('.').take(2).collect::<Vec<_>>().join(".");
            let Some(Access::Needs(field_permission)) = access_of(&field) else {
                findings.walker(format!("{field} has no Needs row, yet {coordinate} is guarded"));
                continue;
            };
            for principal in fx.principals.iter().filter(|p| p.actor().is_some()) {
                let actor = principal.actor().expect("an actor");
                let rows: Vec<Option<Uuid>> = match sample.row {
                    ArgumentRow::Contact => {
                        let mut owners = vec![Some(fx.someone_else(principal))];
                        owners.extend(principal.user_id().map(Some));
                        owners
                    }
                    ArgumentRow::Nothing | ArgumentRow::Created => vec![principal.user_id()],
                };
                for owner in rows {
                    let field_allowed = match sample.row {
                        ArgumentRow::Contact => policy::holds_on_row(&actor, field_permission, owner),
                        _ => policy::holds(&actor, field_permission),
                    };
                    if !field_allowed {
                        continue;
                    }
                    let allowed = match sample.row {
                        ArgumentRow::Nothing => policy::holds(&actor, *argument_permission),
                        ArgumentRow::Created | ArgumentRow::Contact => policy::holds_on_row(&actor, *argument_permission, owner),
                    };
                    let id = match (sample.row, owner) {
                        (ArgumentRow::Contact, Some(owner)) => json!(fx.contact_of(&app, owner).await),
                        _ => Value::Null,
                    };
                    let member = fx
                        .people
                        .iter()
                        .map(|(_, a)| uuid(&a.user_id))
                        .find(|m| Some(*m) != principal.user_id() && Some(*m) != owner)
                        .expect("another member");
                    let variables = json!({
                        "email": format!("argument{}@walker.example.com", fx.next()),
                        "member": member.to_string(),
                        "contact": fx.contacts[0].id,
                        "id": id,
                    });
                    let expect = if allowed { Expect::Allowed } else { Expect::Refused("FORBIDDEN") };
                    let whose = match (sample.row, owner) {
                        (ArgumentRow::Contact, o) if o == principal.user_id() => " on own contact",
                        (ArgumentRow::Contact, _) => " on someone else's contact",
                        _ => "",
                    };
                    check_call(
                        &app, &fx, &mut findings, &format!("{coordinate}{whose}"), principal, &principal.caller,
                        sample.document, variables, root_name(&field), expect,
                    ).await;
                }
            }
        }
        findings.finish("guarded arguments answer as the policy says", true);
    }
}

/// Calls the root fields `chosen` picks, each as every principal, and compares.
async fn walk_root_fields(app: &TestApp, what: &str, chosen: impl Fn(&Sample, Access) -> bool) {
    let fx = Fixture::build(app).await;
    let mut findings = Findings::default();
    for sample in SAMPLES {
        let Some(access) = access_of(sample.field) else {
            findings.walker(format!("{} has no row in policy::FIELDS", sample.field));
            continue;
        };
        if !chosen(sample, access) {
            continue;
        }
        for principal in &fx.principals {
            if expected(access, principal, None, &[]).is_none() {
                continue;
            }
            let prepared = prepare(app, &fx, sample.setup, principal).await;
            let Some(expect) = expected(access, principal, prepared.owner, sample.roles) else {
                continue;
            };
            let agreed = check_call(
                app,
                &fx,
                &mut findings,
                sample.field,
                principal,
                &prepared.caller,
                sample.document,
                prepared.variables,
                root_name(sample.field),
                expect,
            )
            .await;
            if let (Expect::Refused(_), true, Some((role, target))) =
                (expect, agreed, prepared.target)
            {
                fx.untouched(role, target);
            }
        }
    }
    findings.finish(what, true);
}

fn ceiling(actor: &Actor, permission: Permission, roles: &[Role]) -> Expect {
    if roles
        .iter()
        .all(|role| policy::holds_on_role(actor, permission, *role))
    {
        Expect::Allowed
    } else {
        Expect::Refused("FORBIDDEN")
    }
}

/// A phone number no other call of the walk has used.
fn fresh_phone_number() -> String {
    format!("+1555{:08}", Uuid::now_v7().as_u128() % 100_000_000)
}
