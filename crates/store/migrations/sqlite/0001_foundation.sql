-- Accounts, users, sign-ins, rate-limit counters and audit trails. Times are microseconds since
-- the Unix epoch (BIGINT), ids are UUIDv7 text: the same on both engines.
CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('platform', 'partner', 'msp', 'customer')),
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    parent_id TEXT REFERENCES accounts (id),
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'pending_deletion')),
    plan TEXT NOT NULL CHECK (plan IN ('trial', 'standard', 'managed', 'partner')),
    sso_mandatory INTEGER NOT NULL DEFAULT 0,
    contact_email TEXT,
    region TEXT,
    created_at BIGINT NOT NULL,
    deletion_deadline BIGINT
);
CREATE INDEX accounts_parent ON accounts (parent_id);
CREATE UNIQUE INDEX accounts_one_platform ON accounts (kind) WHERE kind = 'platform';

CREATE TABLE account_closure (
    ancestor TEXT NOT NULL REFERENCES accounts (id),
    descendant TEXT NOT NULL REFERENCES accounts (id),
    depth BIGINT NOT NULL,
    PRIMARY KEY (ancestor, descendant)
);
CREATE INDEX account_closure_descendant ON account_closure (descendant, depth);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    email TEXT NOT NULL,
    email_key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'invited', 'disabled')),
    password_hash TEXT,
    mfa_enabled INTEGER NOT NULL DEFAULT 0,
    expires_at BIGINT,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT
);
CREATE INDEX users_account ON users (account_id, id);

CREATE TABLE staff_assignments (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    granted_by TEXT,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, account_id)
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    reauth_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    ended_at BIGINT,
    ip TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE activation_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);

CREATE TABLE login_failures (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_failures_scope ON login_failures (scope, at);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    account_id TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    actor_user_id TEXT,
    actor_email TEXT,
    actor_account_id TEXT,
    actor_account_name TEXT,
    access_session_id TEXT,
    target_type TEXT NOT NULL,
    target_id TEXT,
    ip TEXT,
    details TEXT NOT NULL
);

CREATE TABLE audit_trails (
    account_id TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    head_hash TEXT NOT NULL
);

CREATE TABLE audit_links (
    trail_account_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event_id TEXT NOT NULL REFERENCES audit_events (id),
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (trail_account_id, seq)
);
CREATE INDEX audit_links_event ON audit_links (event_id);
