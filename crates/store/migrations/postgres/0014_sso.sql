-- An account's OpenID Connect provider. The client secret is kept for the token exchange and
-- never served.
CREATE TABLE sso_configs (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    client_secret TEXT,
    scopes TEXT NOT NULL,
    email_claim TEXT NOT NULL,
    jit_provisioning BOOLEAN NOT NULL,
    default_role TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- The email domains whose users an account's provider signs in (home-realm discovery): each
-- domain belongs to one account at most.
CREATE TABLE sso_domains (
    domain TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE
);
CREATE INDEX sso_domains_account ON sso_domains (account_id);
