-- Billing, second part (SPEC §8): packages, budgets and their alerts,
-- notifications, leases for background jobs, Stripe top-ups and the
-- webhook events already applied. Same tables and columns as
-- migrations/postgres/0006_billing_packages.sql.

-- The org's package (an id from the configured packages; NULL is the
-- default package) and its Stripe customer and subscription.
ALTER TABLE orgs ADD COLUMN package_id TEXT;
ALTER TABLE orgs ADD COLUMN stripe_customer_id TEXT;
ALTER TABLE orgs ADD COLUMN stripe_subscription_id TEXT;

-- Which agent a usage was for (agents come later), and its period, so
-- budgets can be counted.
ALTER TABLE usage_debits ADD COLUMN agent_id BLOB;

-- Monthly budgets in micro-units: scope 'org' for the whole org, or an
-- agent id.
CREATE TABLE budgets (
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    monthly_limit INTEGER NOT NULL CHECK (monthly_limit >= 0),
    updated_by BLOB,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, scope)
);

-- What each scope spent in a period ('2026-11'), kept by the debit that
-- spends it, so a budget check is one row read.
CREATE TABLE budget_spend (
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    period TEXT NOT NULL,
    spent INTEGER NOT NULL CHECK (spent >= 0),
    PRIMARY KEY (org_id, scope, period)
);

-- A threshold (50, 80, 100 %) alerts once per scope and period.
CREATE TABLE budget_alerts (
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    period TEXT NOT NULL,
    threshold INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, scope, period, threshold)
);

-- For an org (user_id NULL: everyone in it) or one of its members.
CREATE TABLE notifications (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    user_id BLOB REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    read_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX notifications_org_idx ON notifications (org_id, created_at, id);

-- A background job runs in one process at a time: the holder keeps the
-- lease until `leased_until`.
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY NOT NULL,
    holder TEXT NOT NULL,
    leased_until TEXT NOT NULL
);

-- PaymentIntents created for top-ups. The client's idempotency key maps
-- to one PaymentIntent; the request hash tells a retry from a different
-- request. `client_secret` is sealed with the master key.
CREATE TABLE top_up_intents (
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    payment_intent_id TEXT NOT NULL,
    client_secret TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    credits INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'credited', 'canceled')),
    refunded_cents INTEGER NOT NULL DEFAULT 0,
    created_by BLOB,
    created_at TEXT NOT NULL,
    credited_at TEXT,
    PRIMARY KEY (org_id, idempotency_key)
);
CREATE UNIQUE INDEX top_up_intents_pi_key ON top_up_intents (payment_intent_id);
CREATE INDEX top_up_intents_open_idx ON top_up_intents (status, created_at);

-- Stripe events already applied: recorded in the transaction of their
-- effect, so a retried event changes nothing.
CREATE TABLE stripe_events (
    id TEXT PRIMARY KEY NOT NULL,
    type TEXT NOT NULL,
    received_at TEXT NOT NULL
);
