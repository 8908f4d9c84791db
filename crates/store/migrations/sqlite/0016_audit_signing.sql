-- The key the service signs trail checkpoints with (Ed25519), made on first start: the private
-- key as PKCS#8, the public one as raw bytes, both hex.
CREATE TABLE audit_signing_keys (
    id TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,
    public_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
