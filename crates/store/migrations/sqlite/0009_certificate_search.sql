-- Certificate search keys, lowercased by the application (the same Unicode folding on both
-- engines): the subject and the SAN names, and the issuer. Rows from before are filled in by the
-- application when it starts (`backfill_search_keys`).
ALTER TABLE certificates ADD COLUMN names_key TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN issuer_key TEXT NOT NULL DEFAULT '';
