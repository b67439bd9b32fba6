//! `alumia admin …`: operators bootstrap and script the server. Every
//! command uses the configured database and validates like the web does.

use clap::Subcommand;
use uuid::Uuid;

use app::domain::billing::{self, Deposit, DepositKind};
use app::domain::{accounts, api_keys, orgs, Actor, Ctx};
use app::model::{AppError, Role};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create a user; with --org, also add them to that org (created, with
    /// them as owner, when it does not exist)
    CreateUser {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        #[arg(long)]
        org: Option<String>,
        /// Role in an existing org: owner, admin or member
        #[arg(long, default_value = "member")]
        role: String,
    },
    /// Mint an API key for a member of an org; prints the key alone on stdout
    MintKey {
        #[arg(long)]
        org: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "admin CLI")]
        name: String,
        /// Comma-separated scopes [default: models:read]
        #[arg(long, value_delimiter = ',')]
        scopes: Vec<String>,
    },
    /// Revoke an API key by id
    RevokeKey {
        #[arg(long)]
        id: Uuid,
    },
    /// Give an org credits that do not expire (support, trials, billing
    /// without Stripe); recorded in the ledger with the reason
    GrantCredits {
        #[arg(long)]
        org: String,
        /// A positive number, up to 6 decimals ("25", "2.5")
        #[arg(long)]
        credits: String,
        #[arg(long)]
        reason: String,
    },
    /// Recompute every credit balance from the ledger; fails on any difference
    VerifyLedger,
    /// Put an org on a package (one without a Stripe price, or without
    /// Stripe at all); its grant for this period follows if it has none
    SetPackage {
        #[arg(long)]
        org: String,
        /// A package id from the configuration (built in: personal, pro, team)
        #[arg(long)]
        package: String,
    },
}

fn fail(e: AppError) -> anyhow::Error {
    anyhow::anyhow!("{} ({})", e.message, e.code.as_str())
}

pub async fn run(ctx: &Ctx, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateUser { email, password, org, role } => {
            let role = Role::parse(&role).ok_or_else(|| anyhow::anyhow!("--role must be owner, admin or member"))?;
            let user_id = accounts::create_user(ctx, &email, &password).await.map_err(fail)?;
            eprintln!("created user {email} ({user_id})");
            if let Some(slug) = org {
                let actor = Actor::Cli { user_id };
                match orgs::find_by_slug(ctx, &slug).await.map_err(fail)? {
                    Some(org_id) => {
                        orgs::add_member(ctx, &actor, org_id, user_id, role).await.map_err(fail)?;
                        eprintln!("added to {slug} as {}", role.as_str());
                    }
                    None => {
                        orgs::create_org(ctx, &actor, &slug, &slug).await.map_err(fail)?;
                        eprintln!("created org {slug} with {email} as owner");
                    }
                }
            }
        }
        AdminCommand::MintKey { org, email, name, scopes } => {
            let user_id = accounts::find_user(ctx, &email)
                .await
                .map_err(fail)?
                .ok_or_else(|| anyhow::anyhow!("no user with email {email}"))?;
            let org = orgs::membership(&ctx.db, user_id, &org)
                .await
                .map_err(|_| anyhow::anyhow!("{email} is not a member of {org}"))?;
            let minted = api_keys::issue(ctx, &Actor::Cli { user_id }, &org, &name, &scopes).await.map_err(fail)?;
            eprintln!("minted key {} ({}) for {email} in {}", minted.key.id, minted.key.scopes.join(" "), org.slug);
            // The key alone on stdout, for scripts: KEY=$(alumia admin mint-key …)
            println!("{}", minted.secret);
        }
        AdminCommand::RevokeKey { id } => {
            api_keys::revoke_as_operator(ctx, id).await.map_err(fail)?;
            eprintln!("revoked key {id}");
        }
        AdminCommand::GrantCredits { org, credits, reason } => {
            let micros = billing::parse_credits(&credits).map_err(fail)?;
            let reason = app::domain::validate::text("reason", &reason, 200).map_err(fail)?;
            let org_id =
                orgs::find_by_slug(ctx, &org).await.map_err(fail)?.ok_or_else(|| anyhow::anyhow!("no org {org}"))?;
            let source = format!("admin:{}", Uuid::new_v4());
            let deposit = Deposit {
                org_id,
                kind: DepositKind::Adjustment,
                source_ref: &source,
                micros,
                expires_at: None,
                actor_user_id: None,
                reason: Some(&reason),
            };
            billing::deposit(ctx, deposit).await.map_err(fail)?;
            eprintln!("granted {} credits to {org} ({reason})", billing::credits(micros).credits);
        }
        AdminCommand::VerifyLedger => {
            let mismatches = billing::verify(ctx).await.map_err(fail)?;
            for m in &mismatches {
                eprintln!("bucket {}: balance {} but the ledger sums to {}", m.bucket_id, m.kept, m.computed);
            }
            if !mismatches.is_empty() {
                anyhow::bail!("{} bucket(s) differ from their ledger", mismatches.len());
            }
            eprintln!("every balance matches its ledger");
        }
        AdminCommand::SetPackage { org, package } => {
            let org_id =
                orgs::find_by_slug(ctx, &org).await.map_err(fail)?.ok_or_else(|| anyhow::anyhow!("no org {org}"))?;
            billing::plans::set_package(ctx, org_id, &package).await.map_err(fail)?;
            let granted = billing::grants::grant_now(ctx, org_id).await.map_err(fail)?;
            eprintln!(
                "{org} is on the {package} package{}",
                if granted { "; its monthly grant is credited" } else { "" }
            );
        }
    }
    Ok(())
}
