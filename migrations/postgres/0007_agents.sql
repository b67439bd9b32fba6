-- Agents (SPEC §9). The restriction lists are JSON arrays, or NULL for
-- "everything available"; soft-deleted like projects.
CREATE TABLE agents (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    model TEXT NOT NULL,
    system_prompt TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    fast_mode BOOLEAN NOT NULL,
    max_steps BIGINT NOT NULL CHECK (max_steps BETWEEN 1 AND 50),
    temperature DOUBLE PRECISION,
    tools JSONB,
    peers JSONB,
    connectors JSONB,
    skills JSONB NOT NULL,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    deleted_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX agents_org_name_key ON agents (org_id, name) WHERE deleted_at IS NULL;
CREATE INDEX agents_org_idx ON agents (org_id, created_at, id);
