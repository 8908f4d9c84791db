//! CSV cells for exports (the audit trail, usage): quoted when they need it (RFC 4180), and
//! neutralised when a spreadsheet would read them as a formula.

/// One CSV cell. A value starting with `=`, `+`, `-`, `@`, a tab or a carriage return is
/// prefixed with `'`, so that a spreadsheet shows it instead of evaluating it (a sign-in attempt
/// with the "email" `=HYPERLINK(…)` lands in the platform's trail, and so in its exports).
pub fn field(value: &str) -> String {
    let neutral =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    if neutral.contains([',', '"', '\n', '\r']) { format!("\"{}\"", neutral.replace('"', "\"\"")) } else { neutral }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_quotes_or_newlines_are_quoted() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_neutralised() {
        assert_eq!(field("=HYPERLINK(\"http://x\")"), "\"'=HYPERLINK(\"\"http://x\"\")\"");
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("-2+3"), "'-2+3");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("\tcmd"), "'\tcmd");
        assert_eq!(field("\rcmd"), "\"'\rcmd\"");
        // Elsewhere in the value these characters are harmless.
        assert_eq!(field("a=b@c-d"), "a=b@c-d");
    }
}
