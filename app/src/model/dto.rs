use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Member];
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgSummary {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub role: Role,
}

/// What every `/<orgSlug>` page's frame needs: the org, the viewer, the
/// switcher, and the sidebar's unread badge (one load for the frame, not
/// one per part of it).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgContext {
    pub org: OrgSummary,
    pub user_email: String,
    pub orgs: Vec<OrgSummary>,
    /// The viewer's unread notifications in this org.
    pub unread_notifications: i64,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    pub joined_at: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InviteView {
    pub id: Uuid,
    pub role: Role,
    pub created_at: String,
    pub expires_at: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MembersPage {
    pub viewer_id: Uuid,
    pub viewer_role: Role,
    pub members: Vec<MemberView>,
    pub invites: Vec<InviteView>,
}

/// A freshly created invite: the link is shown once, only its hash is kept.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedInvite {
    pub url: String,
    pub role: Role,
    pub expires_at: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvitePreview {
    pub org_name: String,
    pub org_slug: String,
    pub role: Role,
    pub signed_in_as: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntryView {
    pub action: String,
    pub actor_email: Option<String>,
    pub target: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgOverview {
    pub member_count: i64,
    /// Agents not deleted.
    pub agent_count: i64,
    /// Runs started in the last 30 days, and those going on now.
    pub runs_last_30_days: i64,
    pub runs_running: i64,
    pub recent_activity: Vec<AuditEntryView>,
    /// What the org can spend now.
    pub balance: Credits,
    pub package_name: String,
    /// `false` when the server runs unmetered.
    pub metered: bool,
}

/// A signed-in browser of the user (the security page's list).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BrowserSessionView {
    pub id: Uuid,
    pub created_at: String,
    pub last_seen_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityPage {
    pub email: String,
    pub sessions: Vec<BrowserSessionView>,
    pub passkeys: Vec<PasskeyView>,
    pub totp_enabled: bool,
    pub recovery_codes_left: i64,
    pub step_up: StepUpMethods,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyView {
    pub id: Uuid,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// What an authenticator app needs, shown while enrolling (the secret
/// itself is for typing in by hand).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

/// Recovery codes, shown once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryCodes {
    pub codes: Vec<String>,
}

/// One page of a list (SPEC §6): `nextCursor` is opaque; pass it back as
/// `cursor` to get the next page.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// An agent (SPEC §9). `tools`, `peers` and `connectors` are
/// restrictions: `null` allows everything available to the agent, a list
/// allows only what it names.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `<provider>/<model>`, as `GET /api/v1/models` names it.
    pub model: String,
    pub system_prompt: String,
    pub enabled: bool,
    /// Runs resolve to the model's fast sibling when it has one.
    pub fast_mode: bool,
    pub max_steps: i64,
    pub temperature: Option<f64>,
    /// Tool names, or `null` for every tool available.
    pub tools: Option<Vec<String>>,
    /// Agent ids it may message, or `null` for every agent of the session's project.
    pub peers: Option<Vec<Uuid>>,
    /// Connection ids, or `null` for all of the org's connections.
    pub connectors: Option<Vec<Uuid>>,
    /// Enabled skill ids.
    pub skills: Vec<Uuid>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

/// A model an org may run (`GET /api/v1/models`). Prices are decimal
/// strings of credits per million tokens, like every credit amount.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelView {
    /// `<provider>/<model>`, e.g. `openai/gpt-4.1`: what an agent's `model` names.
    pub id: String,
    pub name: String,
    pub provider: String,
    /// The org's own provider (0 credits per call).
    pub byok: bool,
    pub context_window: Option<u64>,
    pub input_credits_per_mtok: String,
    pub output_credits_per_mtok: String,
    /// The model fast mode runs instead, when there is one.
    pub fast_sibling: Option<String>,
}

/// An API key as lists show it: never the secret.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyView {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_by: Uuid,
    pub created_by_email: Option<String>,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

/// A key just minted: `secret` is shown this once and never again.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MintedApiKey {
    pub key: ApiKeyView,
    pub secret: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub settings: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceView {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub created_by: Uuid,
    pub created_at: String,
    pub deleted_at: Option<String>,
}

/// What the step-up dialog may offer, and until when the session is
/// stepped up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepUpMethods {
    pub passkey: bool,
    pub totp: bool,
    pub stepped_up_until: Option<String>,
    /// How long a step-up lasts.
    pub window_seconds: u32,
}

/// An amount of credits: `credits` is a decimal string ("12.5", never a
/// float), `creditMicrounits` the exact integer (1 credit = 1,000,000).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credits {
    pub credits: String,
    pub credit_microunits: i64,
}

/// A spendable bucket: `grant` (monthly, expires) or `top_up` (purchased).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditBucketView {
    pub id: Uuid,
    pub kind: String,
    pub balance: Credits,
    pub expires_at: Option<String>,
    pub created_at: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingSummary {
    pub balance: Credits,
    pub buckets: Vec<CreditBucketView>,
    pub package: PackageView,
    pub period: BillingPeriod,
    pub budgets: Vec<BudgetView>,
    /// `false` when the server runs unmetered (`ALUMIA_BILLING=disabled`).
    pub metered: bool,
}

/// What an org's package allows. A cap of `null` means no limit.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageView {
    pub id: String,
    pub name: String,
    /// Credited at the start of every monthly period; expires at its end.
    pub monthly_grant: Credits,
    pub max_agents: Option<i64>,
    pub max_schedules: Option<i64>,
    pub max_storage_mb: Option<i64>,
    /// Bring-your-own-key model calls (they cost 0 credits).
    pub byok: bool,
    /// Managed model calls, paid with credits.
    pub managed_models: bool,
    /// Whether it can be bought with Stripe Checkout on this server.
    pub purchasable: bool,
}

/// The billing period: a calendar month in UTC.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingPeriod {
    /// `YYYY-MM`
    pub id: String,
    pub starts_at: String,
    pub ends_at: String,
}

/// A monthly budget: for the org (`agentId` null) or one agent.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    pub agent_id: Option<Uuid>,
    pub monthly_limit: Credits,
    /// Spent in the current period.
    pub spent: Credits,
    /// Alerts fire once per period when spending reaches 50, 80 and 100 %.
    pub thresholds: Vec<i64>,
    /// The thresholds already reached this period.
    pub alerted: Vec<i64>,
}

/// `PUT /api/v1/billing/budgets`: set (or with `monthlyCredits` null,
/// remove) the org's budget or an agent's.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetBudgetInput {
    #[serde(default)]
    pub agent_id: Option<Uuid>,
    /// Decimal credits ("250", "12.5"); null removes the budget.
    #[serde(default)]
    pub monthly_credits: Option<String>,
}

/// `POST /api/v1/billing/top-ups/payment-intent`: an amount or a credit
/// pack, and the client's idempotency key.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopUpInput {
    /// Between the server's minimum and maximum top-up (see the document's bounds).
    #[serde(default, deserialize_with = "whole_number")]
    pub amount_cents: Option<i64>,
    #[serde(default)]
    pub credit_pack_id: Option<String>,
    /// Same key and body: the same PaymentIntent. Same key, other body: 409.
    /// No control characters.
    #[cfg_attr(feature = "ssr", schema(min_length = 1, max_length = 255))]
    pub idempotency_key: String,
}

/// An integer, also when a client's JSON library writes it as `500.0`
/// (JSON Schema's `integer` admits that spelling).
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    match Option::<f64>::deserialize(d)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(Some(n as i64)),
        Some(n) => Err(D::Error::custom(format!("invalid value: {n}, expected a whole number"))),
    }
}

/// A PaymentIntent for a top-up: confirm it with Stripe Elements using
/// `clientSecret`. Credits arrive when Stripe's webhook says it succeeded.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopUpIntent {
    pub payment_intent_id: String,
    pub client_secret: String,
    pub amount_cents: i64,
    #[serde(flatten)]
    pub credits: Credits,
}

/// A credit pack on sale.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditPackView {
    pub id: String,
    pub credits: Credits,
    pub amount_cents: i64,
}

/// An invoice or receipt, as Stripe lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceView {
    pub id: String,
    pub number: Option<String>,
    pub status: Option<String>,
    pub amount_cents: i64,
    pub currency: String,
    pub created_at: String,
    /// Stripe's page for it (pay, download the receipt).
    pub url: Option<String>,
}

/// Stripe on the billing page: Elements needs the publishable key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentsConfig {
    pub publishable_key: String,
    /// Stripe.js (`https://js.stripe.com/v3/`).
    pub js_url: String,
    /// Bounds of a top-up of any amount.
    pub min_top_up_cents: i64,
    pub max_top_up_cents: i64,
}

/// One ledger entry: `amount` is signed (negative takes from the bucket).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntryView {
    pub id: Uuid,
    pub bucket_id: Uuid,
    /// grant, top_up, usage, refund, adjustment or expiry
    pub kind: String,
    pub amount: Credits,
    pub reference: String,
    pub reason: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DailyUsage {
    /// `YYYY-MM-DD`, UTC.
    pub date: String,
    pub used: Credits,
}

/// What `/<orgSlug>/billing` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BillingPageData {
    pub summary: BillingSummary,
    pub usage: Vec<DailyUsage>,
    pub recent: Vec<LedgerEntryView>,
    /// Stripe, when online payments are set up on this server.
    pub payments: Option<PaymentsConfig>,
    pub credit_packs: Vec<CreditPackView>,
    /// Packages on offer (for a change through Stripe Checkout).
    pub packages: Vec<PackageView>,
    pub invoices: Vec<InvoiceView>,
    /// Why invoices could not be listed (Stripe unreachable…).
    pub invoices_error: Option<String>,
    /// Owners and admins buy credits, change the package and budgets.
    pub may_manage: bool,
}

/// A conversation with one agent in a project (SPEC §10). `status` is
/// `idle | running | awaiting_peer | failed | cancelled`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub agent_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub title: String,
    pub status: String,
    pub last_run_id: Option<Uuid>,
    pub created_at: String,
    pub updated_at: String,
}

/// A tool call an assistant message asked for. `arguments` is the JSON
/// the model sent, or its text when it was not JSON.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolCallView {
    pub id: String,
    pub name: String,
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub arguments: serde_json::Value,
}

/// One message of a session's transcript. `role` is `user | assistant |
/// tool | peer`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageView {
    pub id: Uuid,
    pub session_id: Uuid,
    pub run_id: Option<Uuid>,
    pub role: String,
    pub content: String,
    pub tool_calls: Vec<ToolCallView>,
    pub tool_call_id: Option<String>,
    pub from_agent_id: Option<Uuid>,
    pub created_at: String,
}

/// One agent loop. `status`: `running | completed | failed | cancelled`;
/// `stopReason` once it ended: `end_turn | max_steps | cancelled |
/// invalid_tool_call | loop_detected | provider_error | payment_required |
/// interrupted | timed_out`.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunView {
    pub id: Uuid,
    pub session_id: Uuid,
    pub status: String,
    pub stop_reason: Option<String>,
    /// The agent's model.
    pub requested_model: String,
    /// The model called (the fast sibling in fast mode).
    pub resolved_model: String,
    pub steps: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub credits: String,
    pub credit_microunits: i64,
    /// Older messages left out of a model call so it fit the model's
    /// context window (the most of any step), and the tokens that made
    /// (estimated; cut tool results count too).
    pub omitted_messages: i64,
    pub omitted_tokens: i64,
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

/// An agent's latest run, as the agents page lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentLastRun {
    pub agent_id: Uuid,
    pub status: String,
    pub started_at: String,
}

/// An org's own model provider (BYOK), as the agents page shows it: the
/// key only as its last four characters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ByokProviderView {
    pub id: Uuid,
    /// The provider part of its models' names (`my-openai`).
    pub provider: String,
    pub kind: String,
    pub base_url: String,
    pub key_last4: String,
    pub models: Vec<String>,
    pub created_at: String,
}

/// `POST /sessions/{id}/messages` once the run ended: its last assistant
/// message (none when it failed before answering) and the run.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunAnswer {
    pub message: Option<MessageView>,
    pub run: RunView,
}

/// `POST /sessions/{id}/messages?wait=false`: the run, just started.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    pub run: RunView,
}

/// The lab of a project: the project, the org's agents to chat with, the
/// project's sessions (newest first), and whether any model is offered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabView {
    pub project: ProjectView,
    pub agents: Vec<AgentView>,
    pub sessions: Vec<SessionView>,
    pub has_models: bool,
}

/// A session's chat: the transcript and, while a run goes on, the seq to
/// follow its events after (the run's own messages then come from them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChatView {
    pub session: SessionView,
    pub agent_name: String,
    pub messages: Vec<MessageView>,
    /// The names of the agents whose peer messages are in `messages`.
    pub peer_names: Vec<(Uuid, String)>,
    pub last_run: Option<RunView>,
    pub follow_after: Option<i64>,
}

/// A message sent from the lab: its run, and the seq its events follow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStartedView {
    pub run: RunView,
    pub after: i64,
}

/// A schedule's latest firing, as its list shows it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleLastRun {
    pub id: Uuid,
    /// `running | succeeded | failed | skipped`
    pub status: String,
    pub started_at: Option<String>,
    pub session_id: Option<Uuid>,
}

/// A schedule (SPEC §11).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleView {
    pub id: Uuid,
    pub name: String,
    /// Five fields, or `@hourly`, `@daily`, `@weekly`, `@monthly`, `@yearly`.
    pub cron: String,
    /// IANA time zone the expression is read in.
    pub timezone: String,
    /// The expression in words: "At 09:00 on Monday through Friday, Europe/Berlin".
    pub description: String,
    pub prompt: String,
    pub agent_id: Uuid,
    pub project_id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub enabled: bool,
    /// `skip` | `run_once`
    pub missed_runs: String,
    pub max_duration_seconds: i64,
    /// `null` when disabled.
    pub next_run_at: Option<String>,
    /// The next run as the zone's wall clock: `2027-03-28 09:00 CEST`.
    pub next_run_local: Option<String>,
    pub last_run: Option<ScheduleLastRun>,
    pub created_at: String,
    pub updated_at: String,
}

/// One firing of a schedule (SPEC §11): a due time fired, skipped, or a
/// "run now".
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleRunView {
    pub id: Uuid,
    pub schedule_id: Uuid,
    /// The due time (for "run now", when it was asked for).
    pub scheduled_for: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// `running | succeeded | failed | skipped`
    pub status: String,
    /// Why it failed or was skipped: `agent_disabled`, `agent_deleted`,
    /// `project_deleted`, `workspace_deleted`, `payment_required`,
    /// `run_failed`, `stalled`, `cancelled`, `interrupted`, `start_failed`,
    /// `previous_running`, `missed`.
    pub reason: Option<String>,
    /// What a person reads about the reason.
    pub error: Option<String>,
    /// `schedule` (a due time) | `manual` (run now).
    pub fired_by: String,
    /// How many due times this row stands for (missed times are recorded
    /// together in one row).
    pub missed_count: i64,
    pub session_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
    pub credits: String,
    pub credit_microunits: i64,
}

/// The next times of an expression (`GET /api/v1/schedules/preview`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePreview {
    pub description: String,
    /// UTC instants, RFC 3339.
    pub times: Vec<String>,
    /// The same instants as the zone's wall clock.
    pub local_times: Vec<String>,
}

/// A notification (SPEC §12), as one member sees it: its read state is
/// theirs.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationView {
    pub id: Uuid,
    /// `schedule.failed`, `budget.threshold`, `credits.exhausted`…
    pub kind: String,
    /// One line a person reads.
    pub title: String,
    /// What happened and what to do, in words.
    pub body: String,
    /// The facts, by kind (ids, reasons, amounts).
    #[cfg_attr(feature = "ssr", schema(value_type = Object))]
    pub payload: serde_json::Value,
    /// Where in the dashboard its source is (a path).
    pub link: Option<String>,
    pub created_at: String,
    pub read_at: Option<String>,
}

/// A page of notifications, with how many of the member's are unread.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationPage {
    pub items: Vec<NotificationView>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
    pub unread_count: i64,
}

/// After marking read: how many are left unread.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotificationsRead {
    pub unread_count: i64,
}

/// Something a form picks (an agent, a project, a workspace).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickerItem {
    pub id: Uuid,
    pub name: String,
    /// Projects: where their lab is.
    pub slug: Option<String>,
}

/// What the schedules page's forms pick from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PickerLists {
    pub agents: Vec<PickerItem>,
    pub projects: Vec<PickerItem>,
    pub workspaces: Vec<PickerItem>,
}

/// Where a block sits on its project's canvas, in canvas pixels.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockPosition {
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 100000))]
    pub x: i64,
    #[cfg_attr(feature = "ssr", schema(minimum = 0, maximum = 100000))]
    pub y: i64,
    #[cfg_attr(feature = "ssr", schema(minimum = 40, maximum = 4000))]
    pub w: i64,
    #[cfg_attr(feature = "ssr", schema(minimum = 40, maximum = 4000))]
    pub h: i64,
}

impl BlockPosition {
    /// The farthest a block's corner may sit from the canvas's origin.
    pub const COORD_MAX: i64 = 100_000;
    /// The smallest and largest a block's side may be.
    pub const SIZE_MIN: i64 = 40;
    pub const SIZE_MAX: i64 = 4_000;
}

/// Who wrote a block: a member (`kind` "user") or an agent ("agent", with
/// its name so the canvas can say which).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockAuthor {
    pub kind: String,
    pub id: Option<Uuid>,
    pub name: Option<String>,
}

/// A canvas block (SPEC §15).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockView {
    pub id: Uuid,
    pub project_id: Uuid,
    /// `markdown`, `code`, `html`, `file` (content: the file's id) or
    /// `session` (content: the session's id).
    pub kind: String,
    pub content: String,
    pub position: BlockPosition,
    pub created_by: BlockAuthor,
    pub created_at: String,
    pub updated_at: String,
}

/// A project's file (SPEC §16): its metadata; the bytes are behind
/// `GET /api/v1/files/{id}?download=true` (or `?inline=true`).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size_bytes: i64,
    /// Hex SHA-256 of the bytes, computed as they arrived.
    pub sha256: String,
    /// A member, or the agent whose run wrote it.
    pub created_by: BlockAuthor,
    pub created_at: String,
}

/// A project's share link, as members see it (never its token).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareLinkView {
    pub id: Uuid,
    pub project_id: Uuid,
    pub project_name: String,
    pub project_slug: String,
    pub created_by: Option<Uuid>,
    pub created_by_email: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub views: i64,
    pub last_viewed_at: Option<String>,
}

/// A share link just enabled: the only answer that holds its token.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShareLinkMinted {
    pub link: ShareLinkView,
    /// `/share/<token>`, relative to the server's public URL.
    pub path: String,
    pub url: String,
}

/// A block as the lab shows it: rendered markdown, an HTML block's frame
/// URL, a session block's title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanvasBlockView {
    pub block: BlockView,
    pub html: Option<String>,
    pub frame: Option<String>,
    pub session_title: Option<String>,
    /// A `file` block's file (none once it was deleted).
    pub file: Option<FileView>,
}

/// The lab's canvas: its blocks in reading order and its live share link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanvasView {
    pub project_id: Uuid,
    pub blocks: Vec<CanvasBlockView>,
    pub share: Option<ShareLinkView>,
    /// The project's newest files (the lab's files section).
    pub files: Vec<FileView>,
}
