-- A number every process reads before it trusts a sign-in or an account view it verified earlier:
-- it moves, in the same transaction, with every change that could alter one (see
-- `SignInStore::revision`). A sign-in's last-seen touch and a user's last-login time do not move it.
CREATE TABLE auth_revision (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
    n BIGINT NOT NULL
);
INSERT INTO auth_revision (n) VALUES (0);

CREATE FUNCTION auth_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE auth_revision SET n = n + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER accounts_revision AFTER UPDATE ON accounts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION auth_revision_bump();
CREATE TRIGGER accounts_revision_rows AFTER INSERT OR DELETE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION auth_revision_bump();
CREATE TRIGGER account_closure_revision AFTER INSERT OR UPDATE OR DELETE ON account_closure
    FOR EACH STATEMENT EXECUTE FUNCTION auth_revision_bump();
CREATE TRIGGER staff_assignments_revision AFTER INSERT OR UPDATE OR DELETE ON staff_assignments
    FOR EACH STATEMENT EXECUTE FUNCTION auth_revision_bump();
CREATE TRIGGER users_revision AFTER UPDATE ON users
    FOR EACH ROW WHEN (
        (OLD.account_id, OLD.email, OLD.email_key, OLD.name, OLD.role, OLD.status, OLD.password_hash,
         OLD.mfa_enabled, OLD.expires_at)
        IS DISTINCT FROM
        (NEW.account_id, NEW.email, NEW.email_key, NEW.name, NEW.role, NEW.status, NEW.password_hash,
         NEW.mfa_enabled, NEW.expires_at)
    ) EXECUTE FUNCTION auth_revision_bump();
CREATE TRIGGER users_revision_rows AFTER DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION auth_revision_bump();
CREATE TRIGGER sessions_revision AFTER UPDATE ON sessions
    FOR EACH ROW WHEN (
        (OLD.token_hash, OLD.user_id, OLD.csrf_token, OLD.reauth_at, OLD.expires_at, OLD.ended_at, OLD.method)
        IS DISTINCT FROM
        (NEW.token_hash, NEW.user_id, NEW.csrf_token, NEW.reauth_at, NEW.expires_at, NEW.ended_at, NEW.method)
    ) EXECUTE FUNCTION auth_revision_bump();
CREATE TRIGGER sessions_revision_rows AFTER DELETE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION auth_revision_bump();
