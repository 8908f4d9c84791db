-- Support requests: sent by a customer, delivered to its parent's inbox (the MSP, for a managed
-- customer).
CREATE TABLE support_requests (
    id TEXT PRIMARY KEY,
    from_account_id TEXT NOT NULL REFERENCES accounts (id),
    to_account_id TEXT NOT NULL REFERENCES accounts (id),
    created_by TEXT NOT NULL,
    created_by_email TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX support_requests_from ON support_requests (from_account_id, id);
CREATE INDEX support_requests_to ON support_requests (to_account_id, id);
