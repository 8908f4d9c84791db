-- What a user sees of each of its sign-ins: the client that made it and how it was made.
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN method TEXT NOT NULL DEFAULT 'password';

-- A user's open sign-ins, newest first.
CREATE INDEX sessions_user_open ON sessions (user_id, id) WHERE ended_at IS NULL;
