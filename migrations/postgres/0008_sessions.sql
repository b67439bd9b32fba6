-- Sessions, runs, messages and the runs' stored events (SPEC §10).

CREATE TABLE chat_sessions (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    project_id UUID NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    agent_id UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    workspace_id UUID REFERENCES workspaces (id) ON DELETE SET NULL,
    title TEXT NOT NULL,
    -- idle | running | awaiting_peer | failed | cancelled
    status TEXT NOT NULL,
    last_run_id UUID,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX chat_sessions_org_idx ON chat_sessions (org_id, created_at, id);

-- One agent loop. `owner` is the server process running it, which keeps
-- `heartbeat_at` fresh; a run whose heartbeat went stale belongs to a
-- process that stopped, and is marked `interrupted`.
CREATE TABLE runs (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    session_id UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    agent_id UUID NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    stop_reason TEXT,
    requested_model TEXT NOT NULL,
    resolved_model TEXT NOT NULL,
    steps BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    credit_microunits BIGINT NOT NULL,
    error TEXT,
    owner TEXT NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    cancel_requested_at TIMESTAMPTZ,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX runs_session_idx ON runs (session_id, started_at);
CREATE INDEX runs_running_idx ON runs (heartbeat_at) WHERE status = 'running';

-- A session's transcript, in `position` order.
CREATE TABLE messages (
    id UUID PRIMARY KEY,
    org_id UUID NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    session_id UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    run_id UUID,
    position BIGINT NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    tool_calls JSONB,
    tool_call_id TEXT,
    from_agent_id UUID,
    client_message_id TEXT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX messages_session_position_key ON messages (session_id, position);
CREATE UNIQUE INDEX messages_client_id_key ON messages (session_id, client_message_id)
    WHERE client_message_id IS NOT NULL;

-- What a replay needs, `seq` numbered per session. Text deltas are
-- written coalesced: one row for the deltas of a flush, with `first_seq`
-- and the length of each part (in chars), so a replay resuming inside the
-- row skips exactly the parts already seen.
CREATE TABLE run_events (
    session_id UUID NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    first_seq BIGINT NOT NULL,
    run_id UUID NOT NULL,
    kind TEXT NOT NULL,
    data JSONB NOT NULL,
    parts JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (session_id, seq)
);
