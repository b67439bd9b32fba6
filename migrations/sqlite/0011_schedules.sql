-- Schedules and their firings (SPEC §11). `next_run_at` is the one due
-- time not yet claimed (NULL when disabled or deleted); the runner claims
-- it with a conditional update that moves it to the following time, so a
-- due time fires once whatever the number of processes. The partial index
-- keeps the due scan's cost to the schedules that are due.
CREATE TABLE schedules (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    prompt TEXT NOT NULL,
    agent_id BLOB NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    project_id BLOB NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    workspace_id BLOB REFERENCES workspaces (id) ON DELETE SET NULL,
    enabled INTEGER NOT NULL,
    -- skip | run_once
    missed_runs TEXT NOT NULL,
    max_duration_seconds INTEGER NOT NULL,
    next_run_at TEXT,
    created_by BLOB REFERENCES users (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
);
CREATE INDEX schedules_org_idx ON schedules (org_id, created_at, id);
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE next_run_at IS NOT NULL;

-- One due time of a schedule: fired (`running`, then `succeeded` or
-- `failed`), or `skipped` with its reason (the previous one still going,
-- missed during downtime: `missed_count` times in one row).
CREATE TABLE schedule_runs (
    id BLOB PRIMARY KEY NOT NULL,
    schedule_id BLOB NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    scheduled_for TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    -- running | succeeded | failed | skipped
    status TEXT NOT NULL,
    -- Why it failed or was skipped (agent_disabled, agent_deleted,
    -- workspace_deleted, payment_required, run_failed, stalled, cancelled,
    -- interrupted, previous_running, missed), and what a person reads.
    reason TEXT,
    error TEXT,
    -- schedule (a due time) | manual (run now)
    fired_by TEXT NOT NULL DEFAULT 'schedule',
    missed_count INTEGER NOT NULL DEFAULT 1,
    session_id BLOB REFERENCES chat_sessions (id) ON DELETE SET NULL,
    run_id BLOB REFERENCES runs (id) ON DELETE SET NULL,
    credit_microunits INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
-- A due time is recorded once; "run now" firings have no due time of
-- their own and use their start.
CREATE UNIQUE INDEX schedule_runs_due_key ON schedule_runs (schedule_id, scheduled_for);
CREATE INDEX schedule_runs_history_idx ON schedule_runs (schedule_id, created_at, id);
-- At most one firing of a schedule runs at a time (no overlap, whatever
-- the number of processes); also the runner's pass over the runs going.
CREATE UNIQUE INDEX schedule_runs_running_key ON schedule_runs (schedule_id) WHERE status = 'running';
