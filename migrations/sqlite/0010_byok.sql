-- An org's own model providers (BYOK, SPEC §9). `slug` names the provider
-- in its models' ids (`<slug>/<model>`); the key is sealed with the
-- master key and kept apart from its last four characters, which are all
-- anyone is shown.
CREATE TABLE org_providers (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    slug TEXT NOT NULL,
    kind TEXT NOT NULL,
    base_url TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    key_last4 TEXT NOT NULL,
    -- JSON array of model ids.
    models TEXT NOT NULL,
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);
CREATE UNIQUE INDEX org_providers_slug_key ON org_providers (org_id, slug);
