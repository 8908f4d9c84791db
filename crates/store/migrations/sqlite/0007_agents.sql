-- Agents: token-authenticated reporters of the certificates they find, each into one collection.
CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    collection_id TEXT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT,
    last_hostname TEXT,
    revoked_at BIGINT
);
CREATE INDEX agents_account ON agents (account_id, id);
ALTER TABLE certificates ADD COLUMN agent_id TEXT;
