-- A project's canvas (SPEC §15): blocks with their place on it, written by
-- a member or by an agent (`created_by_agent`, then `created_by` is the
-- member the agent's run acted for, when there was one).
-- Same tables and columns as migrations/postgres/0013_canvas.sql.
CREATE TABLE canvas_blocks (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    project_id BLOB NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    content TEXT NOT NULL,
    x INTEGER NOT NULL,
    y INTEGER NOT NULL,
    w INTEGER NOT NULL,
    h INTEGER NOT NULL,
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_by_agent BLOB REFERENCES agents (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX canvas_blocks_project_idx ON canvas_blocks (project_id, created_at, id);

-- Share links: a project's canvas, read-only, for anyone holding the
-- token. Only the token's SHA-256 (hex) is kept. One live link per project;
-- disabling sets `revoked_at` and the row stays (views, who, when).
CREATE TABLE share_links (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    project_id BLOB NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL,
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    views INTEGER NOT NULL DEFAULT 0,
    last_viewed_at TEXT
);
CREATE UNIQUE INDEX share_links_token_key ON share_links (token_hash);
CREATE UNIQUE INDEX share_links_live_key ON share_links (project_id) WHERE revoked_at IS NULL;
CREATE INDEX share_links_org_idx ON share_links (org_id, created_at, id);
