//! Which trail events a webhook receives: its `events` patterns, each an action's name
//! (`user.created`), a noun's every action (`user.*`) or everything (`*`).

/// The most patterns one webhook lists.
pub const MAX_PATTERNS: usize = 50;

/// Checks one pattern: `*`, `noun.*` or `noun.verb`, lower-case letters, digits and `_`.
pub fn pattern(raw: &str) -> Result<String, String> {
    let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let fits = raw == "*"
        || match raw.split_once('.') {
            Some((noun, "*")) => word(noun),
            Some((noun, verb)) => word(noun) && word(verb),
            None => false,
        };
    if fits && raw.len() <= 100 {
        Ok(raw.to_owned())
    } else {
        Err("each must be `*`, `noun.*` or an action such as `user.created`".into())
    }
}

/// Whether `action` matches one of `patterns`.
pub fn matches(patterns: &[String], action: &str) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some("") => true,
        Some(prefix) => action.starts_with(prefix),
        None => p == action,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_an_action_a_noun_or_everything() {
        let p = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(matches(&p(&["user.*"]), "user.created"));
        assert!(!matches(&p(&["user.*"]), "users.created"));
        assert!(matches(&p(&["*"]), "access_session.started"));
        assert!(matches(&p(&["auth.login"]), "auth.login"));
        assert!(!matches(&p(&["auth.login"]), "auth.login_failed"));
        for good in ["*", "user.*", "access_session.started"] {
            assert!(pattern(good).is_ok(), "{good}");
        }
        for bad in ["", "user", "User.*", "*.created", "user.*.x", "user..", ".*"] {
            assert!(pattern(bad).is_err(), "{bad}");
        }
    }
}
