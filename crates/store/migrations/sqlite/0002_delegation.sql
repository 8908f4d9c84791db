-- MSP delegation: access sessions into customers, account-scoped API tokens, and collections,
-- the first kind of customer data.
CREATE TABLE access_sessions (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    actor_user_id TEXT NOT NULL,
    actor_email TEXT NOT NULL,
    actor_account_id TEXT NOT NULL,
    signin_session_id TEXT NOT NULL,
    reason TEXT,
    started_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX access_sessions_account ON access_sessions (account_id, id);
CREATE INDEX access_sessions_actor ON access_sessions (actor_user_id, account_id);
CREATE INDEX access_sessions_signin ON access_sessions (signin_session_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX api_tokens_account ON api_tokens (account_id, id);

CREATE TABLE collections (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX collections_account ON collections (account_id, id);
