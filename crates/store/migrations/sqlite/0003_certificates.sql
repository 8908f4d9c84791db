-- The certificate inventory: certificates parsed from PEM, de-duplicated by fingerprint within an
-- account. Deleting a collection deletes the certificates in it.
CREATE TABLE certificates (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id),
    collection_id TEXT NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    sans TEXT NOT NULL,
    issuer TEXT NOT NULL,
    serial TEXT NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    key_type TEXT NOT NULL,
    key_bits BIGINT NOT NULL,
    pem TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (account_id, fingerprint_sha256)
);
CREATE INDEX certificates_account ON certificates (account_id, id);
CREATE INDEX certificates_expiry ON certificates (account_id, not_after);
