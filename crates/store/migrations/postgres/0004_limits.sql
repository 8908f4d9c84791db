-- Limits an MSP set for a managed customer; without a row, the plan's defaults apply.
CREATE TABLE account_limits (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    users BIGINT NOT NULL,
    certificates BIGINT NOT NULL,
    agents BIGINT NOT NULL,
    targets BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
