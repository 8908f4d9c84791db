-- Certificate search keys, lowercased by the application (the same Unicode folding on both
-- engines): the subject and the SAN names, and the issuer. Rows from before get the engine's own
-- lower() of the same text once.
ALTER TABLE certificates ADD COLUMN names_key TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN issuer_key TEXT NOT NULL DEFAULT '';
UPDATE certificates SET names_key = lower(subject) || ' ' || lower(sans), issuer_key = lower(issuer);
