//! What DynamoDB says about an expression nested deeper than the parser follows it.
//!
//! The recursive-descent parser stops at a fixed depth of parentheses and function
//! calls, so that no 4 KB expression can exhaust a worker's stack. DynamoDB reads such
//! an expression to the end and then reports what is wrong with it. With at most 300
//! operators allowed, an expression nested that deep has redundant parentheses, an
//! unknown function, or more operators than DynamoDB takes, and which one can be told
//! from the tokens alone, without recursion. They are checked in the order DynamoDB
//! reports them (the parser's semantic priorities).

use super::parser::{TokKind, Token, CONDITION_FUNCTIONS, MAX_OPERATORS, UPDATE_FUNCTIONS};

/// The expression's text and tokens, as the parser has them.
pub(super) struct Tokens<'a> {
    pub text: &'a str,
    pub tokens: &'a [Token],
}

/// Which expression the tokens are.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Grammar {
    Condition,
    Update,
}

/// Keywords a `(` may follow without being a function call's.
const GROUPING_KEYWORDS: &[&str] = &["AND", "OR", "NOT"];
const CONDITION_OPERATOR_KEYWORDS: &[&str] = &["AND", "OR", "NOT", "IN", "BETWEEN"];

impl Tokens<'_> {
    fn text(&self, index: usize) -> &str {
        self.tokens
            .get(index)
            .and_then(|t| self.text.get(t.start..t.end))
            .unwrap_or("")
    }

    fn is_punct(&self, index: usize, punct: &str) -> bool {
        self.tokens.get(index).map(|t| t.kind) == Some(TokKind::Punct) && self.text(index) == punct
    }

    fn is_keyword(&self, index: usize, keywords: &[&str]) -> bool {
        self.tokens.get(index).map(|t| t.kind) == Some(TokKind::Ident)
            && keywords
                .iter()
                .any(|k| self.text(index).eq_ignore_ascii_case(k))
    }

    /// Whether the token at `index` names a function: an identifier before `(` that is
    /// not a keyword of the grammar.
    fn is_call(&self, index: usize) -> bool {
        self.tokens.get(index).map(|t| t.kind) == Some(TokKind::Ident)
            && !self.is_keyword(index, CONDITION_OPERATOR_KEYWORDS)
            && self.is_punct(index + 1, "(")
    }

    /// Whether the `(` at `index` groups an expression (rather than opening a call's
    /// arguments or IN's candidates).
    fn is_group(&self, index: usize) -> bool {
        index == 0
            || self.tokens[index - 1].kind != TokKind::Ident
            || self.is_keyword(index - 1, GROUPING_KEYWORDS)
    }

    /// A group whose only content is another group, `((x))`.
    fn has_redundant_parentheses(&self) -> bool {
        let mut open = Vec::new();
        let mut closing = vec![None; self.tokens.len()];
        for index in 0..self.tokens.len() {
            if self.is_punct(index, "(") {
                open.push(index);
            } else if self.is_punct(index, ")") {
                if let Some(start) = open.pop() {
                    closing[start] = Some(index);
                }
            }
        }
        (0..self.tokens.len().saturating_sub(1)).any(|index| {
            self.is_group(index)
                && self.is_punct(index + 1, "(")
                && matches!(
                    (closing[index], closing[index + 1]),
                    (Some(outer), Some(inner)) if inner + 1 == outer
                )
        })
    }

    /// The first function name the grammar does not know, with DynamoDB's message.
    fn unknown_function(&self, grammar: Grammar) -> Option<String> {
        let (known, other) = match grammar {
            Grammar::Condition => (CONDITION_FUNCTIONS, UPDATE_FUNCTIONS),
            Grammar::Update => (UPDATE_FUNCTIONS, CONDITION_FUNCTIONS),
        };
        (0..self.tokens.len()).find_map(|index| {
            let name = self.text(index);
            if !self.is_call(index) || known.contains(&name) {
                return None;
            }
            Some(match (grammar, other.contains(&name)) {
                (Grammar::Condition, true) => {
                    format!(
                        "The function is not allowed in a condition expression; function: {name}"
                    )
                }
                (Grammar::Update, true) => {
                    format!("The function is not allowed in an update expression; function: {name}")
                }
                _ => format!("Invalid function name; function: {name}"),
            })
        })
    }

    /// The operators and functions, counted as the parser's semantic phase counts them.
    fn operators(&self, grammar: Grammar) -> usize {
        let mut count = 0usize;
        let mut betweens = 0usize;
        for index in 0..self.tokens.len() {
            let counts = match grammar {
                Grammar::Condition if self.is_keyword(index, &["BETWEEN"]) => {
                    betweens += 1;
                    true
                }
                // The AND of each BETWEEN belongs to it.
                Grammar::Condition if self.is_keyword(index, &["AND"]) && betweens > 0 => {
                    betweens -= 1;
                    false
                }
                Grammar::Condition => {
                    self.is_keyword(index, CONDITION_OPERATOR_KEYWORDS)
                        || ["=", "<>", "<", "<=", ">", ">="]
                            .iter()
                            .any(|op| self.is_punct(index, op))
                }
                Grammar::Update => self.is_punct(index, "+") || self.is_punct(index, "-"),
            };
            if counts || self.is_call(index) {
                count += 1;
            }
        }
        count
    }
}

/// DynamoDB's message (without the parameter prefix) for an expression nested deeper
/// than the parser goes, when the tokens tell which it is.
pub(super) fn too_deep(tokens: &Tokens<'_>, grammar: Grammar) -> Option<String> {
    if grammar == Grammar::Condition && tokens.has_redundant_parentheses() {
        return Some("The expression has redundant parentheses;".into());
    }
    if let Some(message) = tokens.unknown_function(grammar) {
        return Some(message);
    }
    // DynamoDB stops counting at the first operator past the limit.
    (tokens.operators(grammar) > MAX_OPERATORS).then(|| {
        format!(
            "The expression contains too many operators; operator count: {}",
            MAX_OPERATORS + 1
        )
    })
}

#[cfg(test)]
mod tests {
    use crate::expression::parser::{parse_condition, parse_update};
    use crate::expression::ExpressionKind;

    fn condition_error(text: &str) -> String {
        match parse_condition(text, ExpressionKind::Condition) {
            Err(e) => e.0,
            Ok(_) => panic!("{text:.40}... was accepted"),
        }
    }

    #[test]
    fn deep_conditions_get_dynamodbs_message() {
        crate::expression::on_server_stack(deep_conditions_get_dynamodbs_message_cases);
    }

    fn deep_conditions_get_dynamodbs_message_cases() {
        let parens = format!("{}a<b{}", "(".repeat(2046), ")".repeat(2046));
        assert_eq!(
            condition_error(&parens),
            "Invalid ConditionExpression: The expression has redundant parentheses;"
        );
        let ors = format!("a<b {}{}", "or (a<b ".repeat(454), ")".repeat(454));
        assert_eq!(
            condition_error(&ors),
            "Invalid ConditionExpression: The expression contains too many operators; \
             operator count: 301"
        );
        let sizes = format!("a < {}b{}", "size(".repeat(680), ")".repeat(680));
        assert_eq!(
            condition_error(&sizes),
            "Invalid ConditionExpression: The expression contains too many operators; \
             operator count: 301"
        );
        let unknown = format!("a < {}b{}", "f(".repeat(1355), ")".repeat(1355));
        assert_eq!(
            condition_error(&unknown),
            "Invalid ConditionExpression: Invalid function name; function: f"
        );
        let misplaced = format!("a < {}b{}", "list_append(".repeat(300), ")".repeat(300));
        assert_eq!(
            condition_error(&misplaced),
            "Invalid ConditionExpression: The function is not allowed in a condition \
             expression; function: list_append"
        );
        // Nothing the tokens tell: a syntax error, as for any unparseable text.
        assert!(condition_error(&"(".repeat(4096)).contains("Syntax error"));
    }

    #[test]
    fn a_between_owns_its_and() {
        crate::expression::on_server_stack(a_between_owns_its_and_cases);
    }

    fn a_between_owns_its_and_cases() {
        // 101 BETWEENs joined by 100 ORs: 201 operators, not 302.
        let betweens = vec!["a BETWEEN b AND c"; 101].join(" OR ");
        let nested = format!("{}{}{}", "(".repeat(101), betweens, ")".repeat(101));
        assert_eq!(
            condition_error(&nested),
            "Invalid ConditionExpression: The expression has redundant parentheses;"
        );
        let tokens = super::Tokens {
            text: &betweens,
            tokens: &crate::expression::parser::tokenize(&betweens),
        };
        assert_eq!(tokens.operators(super::Grammar::Condition), 201);
    }

    #[test]
    fn deep_updates_get_dynamodbs_message() {
        crate::expression::on_server_stack(deep_updates_get_dynamodbs_message_cases);
    }

    fn deep_updates_get_dynamodbs_message_cases() {
        let unknown = format!("SET a = {}b{}", "f(".repeat(300), ")".repeat(300));
        assert_eq!(
            parse_update(&unknown).unwrap_err().0,
            "Invalid UpdateExpression: Invalid function name; function: f"
        );
        let sizes = format!("SET a = {}b{}", "size(".repeat(300), ")".repeat(300));
        assert_eq!(
            parse_update(&sizes).unwrap_err().0,
            "Invalid UpdateExpression: The function is not allowed in an update expression; \
             function: size"
        );
    }
}
