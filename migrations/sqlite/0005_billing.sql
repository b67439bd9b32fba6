-- Credits (SPEC §8): buckets with a kept balance, and the immutable ledger
-- that explains every change to them. Amounts are integer micro-units
-- (1 credit = 1,000,000). Same tables and columns as
-- migrations/postgres/0005_billing.sql.

-- A bucket is a monthly grant (expires at its period's end) or a purchase
-- (no expiry). `balance` changes only in the transaction that writes the
-- ledger entry explaining it; `alumia admin verify-ledger` recomputes it.
CREATE TABLE credit_buckets (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'top_up')),
    -- What created it: the period of a grant, the PaymentIntent of a
    -- top-up, the reference of an operator's grant. Unique per org and kind.
    source_ref TEXT NOT NULL,
    balance INTEGER NOT NULL CHECK (balance >= 0),
    expires_at TEXT,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX credit_buckets_source_key ON credit_buckets (org_id, kind, source_ref);
CREATE INDEX credit_buckets_org_idx ON credit_buckets (org_id, created_at);

-- Signed amounts: positive adds to the bucket, negative takes from it.
-- A usage split over two buckets is two entries with one reference.
CREATE TABLE ledger_entries (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    bucket_id BLOB NOT NULL REFERENCES credit_buckets (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('grant', 'top_up', 'usage', 'refund', 'adjustment', 'expiry')),
    amount INTEGER NOT NULL,
    reference TEXT NOT NULL,
    actor_user_id BLOB,
    reason TEXT,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX ledger_entries_reference_key ON ledger_entries (org_id, kind, reference, bucket_id);
CREATE INDEX ledger_entries_org_idx ON ledger_entries (org_id, created_at, id);

-- One row per metered usage id: a debit retried with the same id is
-- answered from here and never charged twice.
CREATE TABLE usage_debits (
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    usage_id TEXT NOT NULL,
    amount INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, usage_id)
);
