-- Monitored targets: host:port checked by a TLS handshake, with the last check's findings and the
-- scheduler's lease (who is checking it, until when).
CREATE TABLE targets (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    collection_id TEXT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    hostname TEXT NOT NULL,
    port BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    next_check_at BIGINT NOT NULL,
    checked_at BIGINT,
    not_after BIGINT,
    subject TEXT,
    issuer TEXT,
    error TEXT,
    lease_owner TEXT,
    lease_until BIGINT,
    UNIQUE (account_id, hostname, port)
);
CREATE INDEX targets_account ON targets (account_id, id);
CREATE INDEX targets_due ON targets (next_check_at);
CREATE INDEX targets_expiry ON targets (account_id, not_after);
