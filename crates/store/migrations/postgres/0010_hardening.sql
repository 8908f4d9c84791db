-- One row per rate-limit scope (an address, an email): reserving an attempt locks the scope's
-- row first, so concurrent attempts under one scope are counted one after the other, on any
-- number of processes.
CREATE TABLE rate_scopes (
    scope TEXT PRIMARY KEY
);

-- Why an access session ended; `sign_in_expired` shows it as `expired`.
ALTER TABLE access_sessions ADD COLUMN end_reason TEXT;

-- Open sign-ins by when they lapse, for the background work that ends them.
CREATE INDEX sessions_open_expiry ON sessions (expires_at) WHERE ended_at IS NULL;
CREATE INDEX sessions_open_seen ON sessions (last_seen_at) WHERE ended_at IS NULL;
