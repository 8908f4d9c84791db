-- Single sign-ons under way: one row per redirect to a provider, taken (deleted) by its callback,
-- so a state works once. Only hashes of the state and of the browser's binding cookie are kept.
CREATE TABLE sso_flows (
    state_hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    -- A step-up names the sign-in it confirms; a sign-in has none.
    session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE,
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT,
    ip TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_flows_expiry ON sso_flows (expires_at);
CREATE INDEX sso_flows_ip ON sso_flows (ip, expires_at);
