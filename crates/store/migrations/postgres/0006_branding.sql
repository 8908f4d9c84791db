-- Co-branding of platform, partner and MSP accounts: contact details and two logos.
CREATE TABLE branding (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id),
    display_name TEXT,
    support_email TEXT,
    support_phone TEXT,
    homepage_url TEXT,
    logo_light BYTEA,
    logo_light_type TEXT,
    logo_dark BYTEA,
    logo_dark_type TEXT,
    updated_at BIGINT NOT NULL
);
