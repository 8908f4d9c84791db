-- An account's sign-in policies: that its users sign in with a second factor, and the networks
-- (a JSON array of CIDR ranges; empty: anywhere) its users' sign-ins and tokens may come from.
ALTER TABLE accounts ADD COLUMN mfa_required BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE accounts ADD COLUMN allowed_networks TEXT NOT NULL DEFAULT '[]';
