-- Peer messaging (SPEC §10): agents of one project message each other.
-- A conversation chain starts at a user's session; every session an agent
-- is messaged in for that chain carries the chain's id (the first
-- session's), so each agent has one session per conversation.
ALTER TABLE chat_sessions ADD COLUMN chain_id BLOB;
CREATE INDEX chat_sessions_chain_idx ON chat_sessions (chain_id, agent_id);

-- What one agent sent another: a `message` (asks for an answer) or a
-- `reply` (the answer: the final text of the run the message started).
-- `delivered_at` is when the recipient got it — by `check_messages` in a
-- run, or as the turn of a run it started (`run_id`).
CREATE TABLE peer_messages (
    id BLOB PRIMARY KEY NOT NULL,
    org_id BLOB NOT NULL REFERENCES orgs (id) ON DELETE CASCADE,
    chain_id BLOB NOT NULL,
    kind TEXT NOT NULL,
    from_session_id BLOB NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    from_agent_id BLOB NOT NULL,
    to_session_id BLOB NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    to_agent_id BLOB NOT NULL,
    in_reply_to BLOB,
    content TEXT NOT NULL,
    run_id BLOB,
    delivered_at TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX peer_messages_inbox_idx ON peer_messages (to_session_id, delivered_at);
CREATE INDEX peer_messages_chain_idx ON peer_messages (chain_id);
CREATE INDEX peer_messages_run_idx ON peer_messages (run_id);

-- How much of the conversation a run left out to fit the model's context
-- window (the most of any of its steps).
ALTER TABLE runs ADD COLUMN omitted_messages INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN omitted_tokens INTEGER NOT NULL DEFAULT 0;
