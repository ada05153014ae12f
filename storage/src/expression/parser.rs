//! A hand-written tokenizer and recursive-descent parser for DynamoDB's condition
//! (and filter / key-condition), update and projection expressions.
//!
//! Parsing runs in two phases, because DynamoDB reports errors in a fixed priority
//! order rather than in text order:
//!
//! 1. Syntax: the text is tokenized and parsed into a raw tree. The first syntax
//!    error is fatal and reported as `Syntax error; token: "x", near: "..."`, where
//!    `near` is the source text from the token before the offending one to the token
//!    after it (DynamoDB's rule, reverse-engineered from its messages: `a b` gives
//!    token `b` near `a b`; `numx * :v` gives token `*` near `numx * :v`; a missing
//!    token at the end gives `<EOF>` near the last token).
//! 2. Semantics: the raw tree is converted to the AST while every semantic problem
//!    (redundant parentheses, unknown or misplaced functions, reserved words, operand
//!    counts, path limits, ...) is recorded once per category; the highest-priority
//!    category wins. The priority lists mirror dynalite, whose messages and ordering
//!    were captured from DynamoDB.
//!
//! Checks that need ExpressionAttributeNames/Values (undefined or unused
//! placeholders, value types, overlaps through `#name`s) live in `bind`.

use super::ast::{
    balanced_tree, Comparator, Condition, ExpressionError, ExpressionKind, Operand, Path,
    PathElement, Projection, SetOperand, SetValue, UpdateActions,
};
use super::nesting::{too_deep, Grammar, Tokens};
use super::reserved::is_reserved;

/// DynamoDB rejects any expression longer than 4 KB, counted in bytes of the raw text.
pub const MAX_EXPRESSION_BYTES: usize = 4096;
/// The deepest document path DynamoDB accepts (each name or index is one level).
pub const MAX_PATH_DEPTH: usize = 32;
/// The most candidates the right-hand side of `IN` may list.
pub const MAX_IN_CANDIDATES: usize = 100;
/// The most operators and functions one condition or update expression may contain.
pub const MAX_OPERATORS: usize = 300;
/// The largest list index DynamoDB accepts (it stores indexes as a Java `int`).
pub const MAX_LIST_INDEX: u64 = 2_147_483_647;
/// Parenthesis / function nesting beyond this is not followed, so that a hostile 4 KB
/// expression cannot overflow the stack. Every level of a valid expression adds an
/// operator or a function (DynamoDB refuses redundant parentheses), so no valid
/// expression nests deeper; a deeper one gets the error DynamoDB gives it when the
/// tokens tell which (`nesting`), else a syntax error. Following this depth takes more
/// stack than a 2 MiB thread has in a debug build: the server's threads get
/// [`super::EXPRESSION_STACK_BYTES`].
const MAX_NESTING: usize = MAX_OPERATORS + 1;

const CONDITION_KEYWORDS: &[&str] = &["AND", "BETWEEN", "IN", "NOT", "OR"];
const UPDATE_KEYWORDS: &[&str] = &["ADD", "DELETE", "REMOVE", "SET"];
pub(super) const CONDITION_FUNCTIONS: &[&str] = &[
    "attribute_exists",
    "attribute_not_exists",
    "attribute_type",
    "begins_with",
    "contains",
    "size",
];
pub(super) const UPDATE_FUNCTIONS: &[&str] = &["if_not_exists", "list_append"];
/// What DynamoDB lists as the acceptable operand types when `attribute_type` is given a
/// document path instead of a value (captured from DynamoDB, including its internal
/// type names).
const ATTRIBUTE_TYPE_OPERAND_TYPES: &str =
    "{S,SS,N,NS,B,BS,BOOL,NULL,L,M,HD,DOUBLE,FLOAT,HDS,FS,DOUBLESET,DICT,DECIMAL,INT,DECIMALSET,INTSET}";

/// Parses a ConditionExpression, FilterExpression or KeyConditionExpression; `kind`
/// only selects the parameter name in error messages.
pub fn parse_condition(text: &str, kind: ExpressionKind) -> Result<Condition, ExpressionError> {
    let mut parser = Parser::new(text, kind, CONDITION_KEYWORDS)?;
    let raw = parser.condition_expression()?;
    let mut checker = Checker::new(kind);
    checker.redundant_parens = parser.redundant_parens;
    let condition = checker.condition(&raw);
    checker.check_operator_count();
    checker.finish(condition, CONDITION_PRIORITY)
}

/// Parses an UpdateExpression.
pub fn parse_update(text: &str) -> Result<UpdateActions, ExpressionError> {
    let kind = ExpressionKind::Update;
    let mut parser = Parser::new(text, kind, UPDATE_KEYWORDS)?;
    let sections = parser.update_expression()?;
    let mut checker = Checker::new(kind);
    let actions = checker.update(&sections);
    checker.check_operator_count();
    checker.finish(actions, UPDATE_PRIORITY)
}

/// Parses a ProjectionExpression.
pub fn parse_projection(text: &str) -> Result<Projection, ExpressionError> {
    let kind = ExpressionKind::Projection;
    let mut parser = Parser::new(text, kind, &[])?;
    let raw = parser.projection_expression()?;
    let mut checker = Checker::new(kind);
    let paths: Vec<Path> = raw.iter().map(|p| checker.path(p)).collect();
    if !checker.has_placeholders {
        checker.check_overlaps(&paths.iter().collect::<Vec<_>>());
    }
    checker.finish(Projection(paths), PROJECTION_PRIORITY)
}

/// An error message with DynamoDB's `Invalid <Parameter>: ` prefix.
pub(crate) fn invalid(kind: ExpressionKind, message: &str) -> ExpressionError {
    ExpressionError(format!("Invalid {}: {}", kind.parameter(), message))
}

/// Renders a path as DynamoDB does in messages: `[a, b, [3]]`.
pub(crate) fn format_path(path: &Path) -> String {
    let parts: Vec<String> = path
        .0
        .iter()
        .map(|element| match element {
            PathElement::Attribute(name) | PathElement::Name(name) => name.clone(),
            PathElement::Index(index) => format!("[{index}]"),
        })
        .collect();
    format!("[{}]", parts.join(", "))
}

enum Relation {
    Disjoint,
    Overlap,
    Conflict,
}

/// How two paths of one update or projection relate: one a prefix of the other
/// (overlap), diverging where one indexes a list and the other names a map member
/// (conflict), or neither.
fn relation(a: &Path, b: &Path) -> Relation {
    for (x, y) in a.0.iter().zip(b.0.iter()) {
        match (x, y) {
            (PathElement::Index(i), PathElement::Index(j)) => {
                if i != j {
                    return Relation::Disjoint;
                }
            }
            (PathElement::Index(_), _) | (_, PathElement::Index(_)) => return Relation::Conflict,
            (x, y) => {
                if x != y {
                    return Relation::Disjoint;
                }
            }
        }
    }
    Relation::Overlap
}

/// DynamoDB's overlap/conflict message for the first offending pair, if any (without
/// the `Invalid ...:` prefix). Any overlap outranks any conflict, as in DynamoDB.
pub(crate) fn path_overlap_error(paths: &[&Path]) -> Option<String> {
    let mut conflict = None;
    for (j, second) in paths.iter().enumerate() {
        for first in &paths[..j] {
            match relation(first, second) {
                Relation::Disjoint => {}
                Relation::Overlap => {
                    return Some(format!(
                        "Two document paths overlap with each other; must remove or rewrite \
                         one of these paths; path one: {}, path two: {}",
                        format_path(first),
                        format_path(second)
                    ));
                }
                Relation::Conflict => {
                    if conflict.is_none() {
                        conflict = Some(format!(
                            "Two document paths conflict with each other; must remove or \
                             rewrite one of these paths; path one: {}, path two: {}",
                            format_path(first),
                            format_path(second)
                        ));
                    }
                }
            }
        }
    }
    conflict
}

// ---------------------------------------------------------------------------
// Tokenizer

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TokKind {
    /// `[A-Za-z][A-Za-z0-9_]*`: attribute names, keywords and function names.
    Ident,
    /// `#` followed by identifier characters.
    Name,
    /// `:` followed by identifier characters.
    Value,
    /// `[0-9]+`, only meaningful as a list index.
    Number,
    /// Operators and punctuation.
    Punct,
    /// Any other character; always a syntax error, but DynamoDB names it as the token.
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Token {
    pub(super) kind: TokKind,
    pub(super) start: usize,
    pub(super) end: usize,
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub(super) fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if is_space(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        let mut take_ident_tail = |end: &mut usize| {
            while let Some(&(i, next)) = chars.peek() {
                if !is_ident_char(next) {
                    break;
                }
                *end = i + next.len_utf8();
                chars.next();
            }
        };
        let kind = match c {
            // A name may not start with `_` or a digit: DynamoDB's lexer makes `_` a
            // token of its own, so `_abc` is a syntax error on `_`.
            'A'..='Z' | 'a'..='z' => {
                take_ident_tail(&mut end);
                TokKind::Ident
            }
            // A lone `#` or `:` names nothing: a syntax error, not a placeholder.
            '#' | ':' => {
                take_ident_tail(&mut end);
                match (c, end > start + 1) {
                    ('#', true) => TokKind::Name,
                    (_, true) => TokKind::Value,
                    _ => TokKind::Other,
                }
            }
            '0'..='9' => {
                while let Some(&(i, next)) = chars.peek() {
                    if !next.is_ascii_digit() {
                        break;
                    }
                    end = i + 1;
                    chars.next();
                }
                TokKind::Number
            }
            '<' | '>' => {
                if let Some(&(i, next)) = chars.peek() {
                    if next == '=' || (c == '<' && next == '>') {
                        end = i + 1;
                        chars.next();
                    }
                }
                TokKind::Punct
            }
            '(' | ')' | '[' | ']' | ',' | '.' | '=' | '+' | '-' => TokKind::Punct,
            _ => TokKind::Other,
        };
        tokens.push(Token { kind, start, end });
    }
    tokens
}

// ---------------------------------------------------------------------------
// Raw trees produced by the syntax phase

#[derive(Debug, Clone)]
enum RawElem {
    Ident(String),
    Name(String),
    /// The digits as written, so an out-of-range index can be reported verbatim.
    Index(String),
}

type RawPath = Vec<RawElem>;

#[derive(Debug, Clone)]
struct RawCall {
    name: String,
    args: Vec<Expr>,
}

/// One node of a condition. Conditions and operands share a node type because a
/// leading `(` can open either, and functions are syntactically valid in both places
/// (DynamoDB reports misplaced functions as semantic errors, not syntax errors).
#[derive(Debug, Clone)]
enum Expr {
    Path(RawPath),
    Value(String),
    Call(RawCall),
    Group(Box<Expr>),
    Compare(Box<Expr>, Comparator, Box<Expr>),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    In(Box<Expr>, Vec<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

impl Expr {
    fn is_condition(&self) -> bool {
        match self {
            Expr::Group(inner) => inner.is_condition(),
            Expr::Path(_) | Expr::Value(_) => false,
            _ => true,
        }
    }

    fn is_operand(&self) -> bool {
        match self {
            Expr::Group(inner) => inner.is_operand(),
            Expr::Path(_) | Expr::Value(_) | Expr::Call(_) => true,
            _ => false,
        }
    }

    fn unwrap_groups(&self) -> &Expr {
        match self {
            Expr::Group(inner) => inner.unwrap_groups(),
            other => other,
        }
    }
}

#[derive(Debug, Clone)]
enum RawOp {
    Path(RawPath),
    Value(String),
    Call(String, Vec<RawOp>),
}

#[derive(Debug, Clone)]
enum RawSet {
    Op(RawOp),
    Plus(RawOp, RawOp),
    Minus(RawOp, RawOp),
}

#[derive(Debug, Clone)]
enum RawSection {
    Set(Vec<(RawPath, RawSet)>),
    Remove(Vec<RawPath>),
    Add(Vec<(RawPath, String)>),
    Delete(Vec<(RawPath, String)>),
}

// ---------------------------------------------------------------------------
// Syntax phase

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    /// A condition or an operand may follow.
    Any,
    /// Only an operand may follow (comparison right-hand sides, function arguments),
    /// so `(` opens a parenthesised operand rather than a condition.
    OperandOnly,
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
    kind: ExpressionKind,
    keywords: &'static [&'static str],
    redundant_parens: bool,
}

impl<'a> Parser<'a> {
    fn new(
        text: &'a str,
        kind: ExpressionKind,
        keywords: &'static [&'static str],
    ) -> Result<Self, ExpressionError> {
        if text.len() > MAX_EXPRESSION_BYTES {
            return Err(invalid(
                kind,
                &format!(
                    "Expression size has exceeded the maximum allowed size; expression size: {}",
                    text.len()
                ),
            ));
        }
        if text.chars().all(is_space) {
            return Err(invalid(kind, "The expression can not be empty;"));
        }
        Ok(Parser {
            text,
            tokens: tokenize(text),
            pos: 0,
            depth: 0,
            kind,
            keywords,
            redundant_parens: false,
        })
    }

    fn token_text(&self, index: usize) -> Option<&'a str> {
        let token = self.tokens.get(index)?;
        self.text.get(token.start..token.end)
    }

    fn peek_kind(&self) -> Option<TokKind> {
        self.tokens.get(self.pos).map(|t| t.kind)
    }

    fn peek_punct(&self, punct: &str) -> bool {
        self.peek_kind() == Some(TokKind::Punct) && self.token_text(self.pos) == Some(punct)
    }

    fn peek_punct_at(&self, index: usize, punct: &str) -> bool {
        self.tokens.get(index).map(|t| t.kind) == Some(TokKind::Punct)
            && self.token_text(index) == Some(punct)
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        self.peek_kind() == Some(TokKind::Ident)
            && self
                .token_text(self.pos)
                .is_some_and(|t| t.eq_ignore_ascii_case(keyword))
    }

    /// Whether the current token is one of this expression type's keywords, which may
    /// not be used as attribute or function names.
    fn at_keyword(&self) -> bool {
        self.keywords.iter().any(|k| self.peek_keyword(k))
    }

    fn at_eof(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    /// The syntax error for the current token.
    fn error(&self) -> ExpressionError {
        let at = self.pos;
        let token = self.token_text(at).unwrap_or("<EOF>");
        let previous = at.checked_sub(1).and_then(|i| self.tokens.get(i));
        let current = self.tokens.get(at);
        let next = self.tokens.get(at + 1);
        let start = previous.or(current).map_or(0, |t| t.start);
        let end = next.or(current).or(previous).map_or(0, |t| t.end);
        let near = self.text.get(start..end).unwrap_or("");
        invalid(
            self.kind,
            &format!("Syntax error; token: \"{token}\", near: \"{near}\""),
        )
    }

    fn expect_punct(&mut self, punct: &str) -> Result<(), ExpressionError> {
        if self.peek_punct(punct) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), ExpressionError> {
        if self.peek_keyword(keyword) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn expect_eof(&self) -> Result<(), ExpressionError> {
        if self.at_eof() {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    fn enter(&mut self) -> Result<(), ExpressionError> {
        self.depth += 1;
        if self.depth <= MAX_NESTING {
            return Ok(());
        }
        let grammar = if self.keywords == UPDATE_KEYWORDS {
            Grammar::Update
        } else {
            Grammar::Condition
        };
        let tokens = Tokens {
            text: self.text,
            tokens: &self.tokens,
        };
        Err(too_deep(&tokens, grammar).map_or_else(|| self.error(), |m| invalid(self.kind, &m)))
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// One path element that names an attribute or map member.
    fn path_name(&mut self) -> Result<RawElem, ExpressionError> {
        match self.peek_kind() {
            Some(TokKind::Ident) if !self.at_keyword() => {
                let name = self.token_text(self.pos).unwrap_or_default().to_string();
                self.pos += 1;
                Ok(RawElem::Ident(name))
            }
            Some(TokKind::Name) => {
                let name = self.token_text(self.pos).unwrap_or_default().to_string();
                self.pos += 1;
                Ok(RawElem::Name(name))
            }
            _ => Err(self.error()),
        }
    }

    /// `.name` and `[n]` dereferences following a path head.
    fn path_tail(&mut self, path: &mut RawPath) -> Result<(), ExpressionError> {
        loop {
            if self.peek_punct(".") {
                self.pos += 1;
                path.push(self.path_name()?);
            } else if self.peek_punct("[") {
                self.pos += 1;
                if self.peek_kind() != Some(TokKind::Number) {
                    return Err(self.error());
                }
                let digits = self.token_text(self.pos).unwrap_or_default().to_string();
                self.pos += 1;
                self.expect_punct("]")?;
                path.push(RawElem::Index(digits));
            } else {
                return Ok(());
            }
        }
    }

    fn path(&mut self) -> Result<RawPath, ExpressionError> {
        let mut path = vec![self.path_name()?];
        self.path_tail(&mut path)?;
        Ok(path)
    }

    // -- conditions --

    fn condition_expression(&mut self) -> Result<Expr, ExpressionError> {
        let expr = self.or()?;
        if !expr.is_condition() {
            return Err(self.error());
        }
        self.expect_eof()?;
        Ok(expr)
    }

    fn or(&mut self) -> Result<Expr, ExpressionError> {
        let operands = self.chain("OR", Self::and)?;
        balanced_tree(operands, |a, b| Expr::Or(Box::new(a), Box::new(b)))
            .ok_or_else(|| self.error())
    }

    fn and(&mut self) -> Result<Expr, ExpressionError> {
        let operands = self.chain("AND", Self::not)?;
        balanced_tree(operands, |a, b| Expr::And(Box::new(a), Box::new(b)))
            .ok_or_else(|| self.error())
    }

    /// The operands of `x KEYWORD y KEYWORD ...` (at least one), each of which must be a
    /// condition once a keyword joins it to another. The caller joins them into a
    /// balanced tree: a long chain must not become a deep one.
    fn chain(
        &mut self,
        keyword: &str,
        operand: fn(&mut Self) -> Result<Expr, ExpressionError>,
    ) -> Result<Vec<Expr>, ExpressionError> {
        let mut operands = vec![operand(self)?];
        while self.peek_keyword(keyword) {
            if operands.len() == 1 && !operands[0].is_condition() {
                return Err(self.error());
            }
            self.pos += 1;
            let right = operand(self)?;
            if !right.is_condition() {
                return Err(self.error());
            }
            operands.push(right);
        }
        Ok(operands)
    }

    /// `NOT NOT ... x`: DynamoDB lets NOT apply to NOT. The chain is read in a loop, and
    /// the checker walks it in one (a 4 KB expression holds a thousand NOTs).
    fn not(&mut self) -> Result<Expr, ExpressionError> {
        let mut negations = 0usize;
        while self.peek_keyword("NOT") {
            self.pos += 1;
            negations += 1;
        }
        let mut expr = self.comparison()?;
        if negations > 0 && !expr.is_condition() {
            return Err(self.error());
        }
        for _ in 0..negations {
            expr = Expr::Not(Box::new(expr));
        }
        Ok(expr)
    }

    fn comparator(&self) -> Option<Comparator> {
        if self.peek_kind() != Some(TokKind::Punct) {
            return None;
        }
        match self.token_text(self.pos)? {
            "=" => Some(Comparator::Eq),
            "<>" => Some(Comparator::Ne),
            "<" => Some(Comparator::Lt),
            "<=" => Some(Comparator::Le),
            ">" => Some(Comparator::Gt),
            ">=" => Some(Comparator::Ge),
            _ => None,
        }
    }

    fn comparison(&mut self) -> Result<Expr, ExpressionError> {
        let left = self.primary(Ctx::Any)?;
        if let Some(comparator) = self.comparator() {
            if !left.is_operand() {
                return Err(self.error());
            }
            self.pos += 1;
            let right = self.primary(Ctx::OperandOnly)?;
            return Ok(Expr::Compare(Box::new(left), comparator, Box::new(right)));
        }
        if self.peek_keyword("BETWEEN") {
            if !left.is_operand() {
                return Err(self.error());
            }
            self.pos += 1;
            let low = self.primary(Ctx::OperandOnly)?;
            self.expect_keyword("AND")?;
            let high = self.primary(Ctx::OperandOnly)?;
            return Ok(Expr::Between(Box::new(left), Box::new(low), Box::new(high)));
        }
        if self.peek_keyword("IN") {
            if !left.is_operand() {
                return Err(self.error());
            }
            self.pos += 1;
            self.expect_punct("(")?;
            let mut candidates = vec![self.primary(Ctx::OperandOnly)?];
            while self.peek_punct(",") {
                self.pos += 1;
                candidates.push(self.primary(Ctx::OperandOnly)?);
            }
            self.expect_punct(")")?;
            return Ok(Expr::In(Box::new(left), candidates));
        }
        Ok(left)
    }

    fn primary(&mut self, ctx: Ctx) -> Result<Expr, ExpressionError> {
        self.enter()?;
        let result = self.primary_inner(ctx);
        self.leave();
        result
    }

    fn primary_inner(&mut self, ctx: Ctx) -> Result<Expr, ExpressionError> {
        match self.peek_kind() {
            Some(TokKind::Punct) if self.peek_punct("(") => {
                self.pos += 1;
                let inner = match ctx {
                    Ctx::Any => self.or()?,
                    Ctx::OperandOnly => self.primary(Ctx::OperandOnly)?,
                };
                self.expect_punct(")")?;
                if matches!(inner, Expr::Group(_)) {
                    self.redundant_parens = true;
                }
                if self.peek_punct(".") || self.peek_punct("[") {
                    // `(a.b).c` continues a parenthesised path; nothing else may be
                    // dereferenced.
                    let Expr::Path(path) = inner.unwrap_groups() else {
                        return Err(self.error());
                    };
                    let mut path = path.clone();
                    self.path_tail(&mut path)?;
                    return Ok(Expr::Path(path));
                }
                Ok(Expr::Group(Box::new(inner)))
            }
            Some(TokKind::Ident) if !self.at_keyword() && self.peek_punct_at(self.pos + 1, "(") => {
                let name = self.token_text(self.pos).unwrap_or_default().to_string();
                self.pos += 2;
                let mut args = vec![self.primary(Ctx::OperandOnly)?];
                while self.peek_punct(",") {
                    self.pos += 1;
                    args.push(self.primary(Ctx::OperandOnly)?);
                }
                self.expect_punct(")")?;
                Ok(Expr::Call(RawCall { name, args }))
            }
            Some(TokKind::Value) => {
                let name = self.token_text(self.pos).unwrap_or_default().to_string();
                self.pos += 1;
                Ok(Expr::Value(name))
            }
            _ => Ok(Expr::Path(self.path()?)),
        }
    }

    // -- updates --

    fn update_expression(&mut self) -> Result<Vec<RawSection>, ExpressionError> {
        let mut sections = Vec::new();
        loop {
            let section = if self.peek_keyword("SET") {
                self.pos += 1;
                let mut actions = vec![self.set_action()?];
                while self.peek_punct(",") {
                    self.pos += 1;
                    actions.push(self.set_action()?);
                }
                RawSection::Set(actions)
            } else if self.peek_keyword("REMOVE") {
                self.pos += 1;
                let mut paths = vec![self.path()?];
                while self.peek_punct(",") {
                    self.pos += 1;
                    paths.push(self.path()?);
                }
                RawSection::Remove(paths)
            } else if self.peek_keyword("ADD") {
                self.pos += 1;
                RawSection::Add(self.path_value_list()?)
            } else if self.peek_keyword("DELETE") {
                self.pos += 1;
                RawSection::Delete(self.path_value_list()?)
            } else {
                return Err(self.error());
            };
            sections.push(section);
            if self.at_eof() {
                return Ok(sections);
            }
        }
    }

    fn path_value_list(&mut self) -> Result<Vec<(RawPath, String)>, ExpressionError> {
        let mut actions = Vec::new();
        loop {
            let path = self.path()?;
            if self.peek_kind() != Some(TokKind::Value) {
                return Err(self.error());
            }
            let value = self.token_text(self.pos).unwrap_or_default().to_string();
            self.pos += 1;
            actions.push((path, value));
            if !self.peek_punct(",") {
                return Ok(actions);
            }
            self.pos += 1;
        }
    }

    fn set_action(&mut self) -> Result<(RawPath, RawSet), ExpressionError> {
        let path = self.path()?;
        self.expect_punct("=")?;
        let value = self.set_value()?;
        Ok((path, value))
    }

    fn set_value(&mut self) -> Result<RawSet, ExpressionError> {
        self.enter()?;
        let result = self.set_value_inner();
        self.leave();
        result
    }

    fn set_value_inner(&mut self) -> Result<RawSet, ExpressionError> {
        let left = if self.peek_punct("(") {
            self.pos += 1;
            let inner = self.set_value()?;
            self.expect_punct(")")?;
            match inner {
                RawSet::Op(op) => op,
                // `(a + b)` is a whole value; nothing may follow it.
                arithmetic => return Ok(arithmetic),
            }
        } else {
            self.set_operand()?
        };
        if self.peek_punct("+") {
            self.pos += 1;
            return Ok(RawSet::Plus(left, self.set_operand_term()?));
        }
        if self.peek_punct("-") {
            self.pos += 1;
            return Ok(RawSet::Minus(left, self.set_operand_term()?));
        }
        Ok(RawSet::Op(left))
    }

    /// An operand, optionally parenthesised.
    fn set_operand_term(&mut self) -> Result<RawOp, ExpressionError> {
        self.enter()?;
        let result = if self.peek_punct("(") {
            self.pos += 1;
            let op = self.set_operand_term();
            op.and_then(|op| self.expect_punct(")").map(|()| op))
        } else {
            self.set_operand()
        };
        self.leave();
        result
    }

    fn set_operand(&mut self) -> Result<RawOp, ExpressionError> {
        match self.peek_kind() {
            Some(TokKind::Ident) if !self.at_keyword() && self.peek_punct_at(self.pos + 1, "(") => {
                let name = self.token_text(self.pos).unwrap_or_default().to_string();
                self.pos += 2;
                let mut args = vec![self.set_operand_term()?];
                while self.peek_punct(",") {
                    self.pos += 1;
                    args.push(self.set_operand_term()?);
                }
                self.expect_punct(")")?;
                Ok(RawOp::Call(name, args))
            }
            Some(TokKind::Value) => {
                let name = self.token_text(self.pos).unwrap_or_default().to_string();
                self.pos += 1;
                Ok(RawOp::Value(name))
            }
            _ => Ok(RawOp::Path(self.path()?)),
        }
    }

    // -- projections --

    fn projection_expression(&mut self) -> Result<Vec<RawPath>, ExpressionError> {
        let mut paths = vec![self.path()?];
        while self.peek_punct(",") {
            self.pos += 1;
            paths.push(self.path()?);
        }
        self.expect_eof()?;
        Ok(paths)
    }
}

// ---------------------------------------------------------------------------
// Semantic phase

/// Categories of semantic error. Only the first error of each category is kept, and
/// each expression type reports the categories in its own priority order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cat {
    Parens,
    UnknownFunction,
    MisusedFunction,
    Reserved,
    Section,
    PathLimit,
    Overlap,
    OperandCount,
    TooManyIn,
    Function,
    TooManyOperators,
}

const CONDITION_PRIORITY: &[Cat] = &[
    Cat::Parens,
    Cat::UnknownFunction,
    Cat::MisusedFunction,
    Cat::Reserved,
    Cat::PathLimit,
    Cat::OperandCount,
    Cat::TooManyIn,
    Cat::Function,
    Cat::TooManyOperators,
];

const UPDATE_PRIORITY: &[Cat] = &[
    Cat::Reserved,
    Cat::UnknownFunction,
    Cat::Section,
    Cat::PathLimit,
    Cat::Overlap,
    Cat::OperandCount,
    Cat::MisusedFunction,
    Cat::Function,
    Cat::TooManyOperators,
];

const PROJECTION_PRIORITY: &[Cat] = &[Cat::Reserved, Cat::PathLimit, Cat::Overlap];

struct Checker {
    kind: ExpressionKind,
    errors: Vec<(Cat, String)>,
    redundant_parens: bool,
    operators: usize,
    has_placeholders: bool,
}

impl Checker {
    fn new(kind: ExpressionKind) -> Self {
        Checker {
            kind,
            errors: Vec::new(),
            redundant_parens: false,
            operators: 0,
            has_placeholders: false,
        }
    }

    fn record(&mut self, cat: Cat, message: String) {
        if !self.errors.iter().any(|(c, _)| *c == cat) {
            self.errors.push((cat, message));
        }
    }

    /// DynamoDB's limit on the operators and functions of a condition or an update.
    fn check_operator_count(&mut self) {
        if self.operators > MAX_OPERATORS {
            // DynamoDB stops counting at the first operator past the limit.
            let message = format!(
                "The expression contains too many operators; operator count: {}",
                MAX_OPERATORS + 1
            );
            self.record(Cat::TooManyOperators, message);
        }
    }

    fn finish<T>(mut self, value: T, priority: &[Cat]) -> Result<T, ExpressionError> {
        if self.redundant_parens {
            self.record(
                Cat::Parens,
                "The expression has redundant parentheses;".into(),
            );
        }
        for cat in priority {
            if let Some((_, message)) = self.errors.iter().find(|(c, _)| c == cat) {
                return Err(invalid(self.kind, message));
            }
        }
        // Every category recorded should be in the priority list; report a stray one
        // rather than accept a half-converted AST.
        if let Some((_, message)) = self.errors.first() {
            return Err(invalid(self.kind, message));
        }
        Ok(value)
    }

    fn path(&mut self, raw: &RawPath) -> Path {
        if raw.len() > MAX_PATH_DEPTH {
            self.record(
                Cat::PathLimit,
                format!(
                    "The document path has too many nesting levels; nesting levels: {}",
                    raw.len()
                ),
            );
        }
        let elements = raw
            .iter()
            .map(|element| match element {
                RawElem::Ident(name) => {
                    if is_reserved(name) {
                        self.record(
                            Cat::Reserved,
                            format!(
                                "Attribute name is a reserved keyword; reserved keyword: {name}"
                            ),
                        );
                    }
                    PathElement::Attribute(name.clone())
                }
                RawElem::Name(name) => {
                    self.has_placeholders = true;
                    PathElement::Name(name.clone())
                }
                RawElem::Index(digits) => match digits.parse::<u64>() {
                    Ok(index) if index <= MAX_LIST_INDEX => {
                        PathElement::Index(u32::try_from(index).unwrap_or(u32::MAX))
                    }
                    _ => {
                        self.record(
                            Cat::PathLimit,
                            format!(
                                "List index is not within the allowable range; index: {digits}"
                            ),
                        );
                        PathElement::Index(0)
                    }
                },
            })
            .collect();
        Path(elements)
    }

    fn check_overlaps(&mut self, paths: &[&Path]) {
        if let Some(message) = path_overlap_error(paths) {
            self.record(Cat::Overlap, message);
        }
    }

    fn wrong_operand_count(&mut self, name: &str, count: usize) {
        self.record(
            Cat::OperandCount,
            format!(
                "Incorrect number of operands for operator or function; operator or function: \
                 {name}, number of operands: {count}"
            ),
        );
    }

    fn requires_path(&mut self, name: &str) {
        self.record(
            Cat::Function,
            format!("Operator or function requires a document path; operator or function: {name}"),
        );
    }

    fn wrong_operand_type(&mut self, name: &str, operand_type: &str) {
        self.record(
            Cat::Function,
            format!(
                "Incorrect operand type for operator or function; operator or function: {name}, \
                 operand type: {operand_type}"
            ),
        );
    }

    fn misused(&mut self, name: &str) {
        self.record(
            Cat::MisusedFunction,
            format!(
                "The function is not allowed to be used this way in an expression; function: {name}"
            ),
        );
    }

    // -- conditions --

    /// A placeholder for a node that already recorded an error; never returned to a
    /// caller because `finish` then fails.
    fn broken_condition() -> Condition {
        Condition::AttributeExists(Path(Vec::new()))
    }

    fn condition(&mut self, expr: &Expr) -> Condition {
        match expr {
            Expr::Group(inner) => self.condition(inner),
            Expr::And(a, b) => {
                self.operators += 1;
                Condition::And(Box::new(self.condition(a)), Box::new(self.condition(b)))
            }
            Expr::Or(a, b) => {
                self.operators += 1;
                Condition::Or(Box::new(self.condition(a)), Box::new(self.condition(b)))
            }
            Expr::Not(_) => {
                // Each NOT counts as an operator; an even number of them cancel out.
                let mut inner = expr;
                let mut negations = 0usize;
                while let Expr::Not(next) = inner {
                    negations += 1;
                    inner = next;
                }
                self.operators += negations;
                let condition = self.condition(inner);
                if negations % 2 == 1 {
                    Condition::Not(Box::new(condition))
                } else {
                    condition
                }
            }
            Expr::Compare(a, comparator, b) => {
                self.operators += 1;
                let a = self.operand(a);
                let b = self.operand(b);
                match (a, b) {
                    (Some(a), Some(b)) => Condition::Compare(a, *comparator, b),
                    _ => Self::broken_condition(),
                }
            }
            Expr::Between(a, low, high) => {
                self.operators += 1;
                let a = self.operand(a);
                let low = self.operand(low);
                let high = self.operand(high);
                match (a, low, high) {
                    (Some(a), Some(low), Some(high)) => Condition::Between(a, low, high),
                    _ => Self::broken_condition(),
                }
            }
            Expr::In(a, candidates) => {
                self.operators += 1;
                if candidates.len() > MAX_IN_CANDIDATES {
                    self.record(
                        Cat::TooManyIn,
                        format!(
                            "The IN operator is provided with too many operands; number of \
                             operands: {}",
                            candidates.len()
                        ),
                    );
                }
                let a = self.operand(a);
                let candidates: Vec<Option<Operand>> =
                    candidates.iter().map(|c| self.operand(c)).collect();
                match (a, candidates.into_iter().collect::<Option<Vec<_>>>()) {
                    (Some(a), Some(candidates)) => Condition::In(a, candidates),
                    _ => Self::broken_condition(),
                }
            }
            Expr::Call(call) => self.condition_call(call),
            Expr::Path(_) | Expr::Value(_) => {
                // The syntax phase only lets conditions through here; fail closed.
                self.record(
                    Cat::Function,
                    "Syntax error; token: \"<EOF>\", near: \"\"".into(),
                );
                Self::broken_condition()
            }
        }
    }

    fn call_args(&mut self, call: &RawCall) -> Vec<Option<Operand>> {
        call.args.iter().map(|arg| self.operand(arg)).collect()
    }

    fn condition_call(&mut self, call: &RawCall) -> Condition {
        self.operators += 1;
        let name = call.name.as_str();
        let args = self.call_args(call);
        match name {
            "attribute_exists" | "attribute_not_exists" => {
                if args.len() != 1 {
                    self.wrong_operand_count(name, args.len());
                    return Self::broken_condition();
                }
                match args.into_iter().next().flatten() {
                    Some(Operand::Path(path)) if name == "attribute_exists" => {
                        Condition::AttributeExists(path)
                    }
                    Some(Operand::Path(path)) => Condition::AttributeNotExists(path),
                    Some(_) => {
                        self.requires_path(name);
                        Self::broken_condition()
                    }
                    None => Self::broken_condition(),
                }
            }
            "attribute_type" => {
                if args.len() != 2 {
                    self.wrong_operand_count(name, args.len());
                    return Self::broken_condition();
                }
                let mut args = args.into_iter();
                // The subject is a path, or (not documented, but DynamoDB takes it) a
                // constant.
                let subject = match args.next().flatten() {
                    Some(subject @ (Operand::Path(_) | Operand::Placeholder(_))) => Some(subject),
                    Some(_) => {
                        self.requires_path(name);
                        None
                    }
                    None => None,
                };
                let type_operand = match args.next().flatten() {
                    Some(Operand::Path(_)) => {
                        self.wrong_operand_type(name, ATTRIBUTE_TYPE_OPERAND_TYPES);
                        None
                    }
                    Some(Operand::Size(_) | Operand::ValueSize(_)) => {
                        self.wrong_operand_type(name, "N");
                        None
                    }
                    other => other,
                };
                match (subject, type_operand) {
                    (Some(Operand::Path(path)), Some(operand)) => {
                        Condition::AttributeType(path, operand)
                    }
                    (Some(value), Some(operand)) => Condition::ValueType(value, operand),
                    _ => Self::broken_condition(),
                }
            }
            "begins_with" | "contains" => {
                if args.len() != 2 {
                    self.wrong_operand_count(name, args.len());
                    return Self::broken_condition();
                }
                if name == "begins_with"
                    && args
                        .iter()
                        .any(|a| matches!(a, Some(Operand::Size(_) | Operand::ValueSize(_))))
                {
                    // size() yields a number, and begins_with needs strings or binaries.
                    self.wrong_operand_type(name, "N");
                }
                let mut args = args.into_iter();
                match (args.next().flatten(), args.next().flatten()) {
                    (Some(a), Some(b)) if name == "begins_with" => Condition::BeginsWith(a, b),
                    (Some(a), Some(b)) => Condition::Contains(a, b),
                    _ => Self::broken_condition(),
                }
            }
            "size" => {
                // size() is only an operand; as a whole condition it is misused.
                self.misused(name);
                Self::broken_condition()
            }
            _ => {
                self.unknown_in_condition(name);
                Self::broken_condition()
            }
        }
    }

    fn unknown_in_condition(&mut self, name: &str) {
        let message = if UPDATE_FUNCTIONS.contains(&name) {
            format!("The function is not allowed in a condition expression; function: {name}")
        } else {
            format!("Invalid function name; function: {name}")
        };
        self.record(Cat::UnknownFunction, message);
    }

    /// An operand of a comparison, BETWEEN, IN or function. `None` means an error was
    /// recorded.
    fn operand(&mut self, expr: &Expr) -> Option<Operand> {
        match expr {
            Expr::Group(inner) => self.operand(inner),
            Expr::Path(path) => Some(Operand::Path(self.path(path))),
            Expr::Value(name) => {
                self.has_placeholders = true;
                Some(Operand::Placeholder(name.clone()))
            }
            Expr::Call(call) if call.name == "size" => {
                self.operators += 1;
                let args = self.call_args(call);
                if args.len() != 1 {
                    self.wrong_operand_count("size", args.len());
                    return None;
                }
                match args.into_iter().next().flatten() {
                    Some(Operand::Path(path)) => Some(Operand::Size(path)),
                    Some(Operand::Size(_) | Operand::ValueSize(_)) => {
                        self.wrong_operand_type("size", "N");
                        None
                    }
                    // The size of a constant; `bind` rejects one of a type without a size.
                    Some(value) => Some(Operand::ValueSize(Box::new(value))),
                    None => None,
                }
            }
            Expr::Call(call) => {
                self.operators += 1;
                // Still walk the arguments so nested problems are found.
                let _ = self.call_args(call);
                if CONDITION_FUNCTIONS.contains(&call.name.as_str()) {
                    self.misused(&call.name);
                } else {
                    self.unknown_in_condition(&call.name);
                }
                None
            }
            _ => {
                // The syntax phase only lets operands through here; fail closed.
                let _ = self.condition(expr);
                self.record(
                    Cat::Function,
                    "Syntax error; token: \"<EOF>\", near: \"\"".into(),
                );
                None
            }
        }
    }

    // -- updates --

    fn update(&mut self, sections: &[RawSection]) -> UpdateActions {
        let mut actions = UpdateActions::default();
        let mut seen: Vec<&'static str> = Vec::new();
        let mut targets: Vec<Path> = Vec::new();
        for section in sections {
            let name = match section {
                RawSection::Set(_) => "SET",
                RawSection::Remove(_) => "REMOVE",
                RawSection::Add(_) => "ADD",
                RawSection::Delete(_) => "DELETE",
            };
            if seen.contains(&name) {
                self.record(
                    Cat::Section,
                    format!(
                        "The \"{name}\" section can only be used once in an update expression;"
                    ),
                );
            }
            seen.push(name);
            match section {
                RawSection::Set(list) => {
                    for (raw_path, raw_value) in list {
                        let path = self.path(raw_path);
                        targets.push(path.clone());
                        let value = self.set_value(raw_value);
                        actions.set.push((path, value));
                    }
                }
                RawSection::Remove(list) => {
                    for raw_path in list {
                        let path = self.path(raw_path);
                        targets.push(path.clone());
                        actions.remove.push(path);
                    }
                }
                RawSection::Add(list) | RawSection::Delete(list) => {
                    for (raw_path, value) in list {
                        let path = self.path(raw_path);
                        targets.push(path.clone());
                        self.has_placeholders = true;
                        let entry = (path, Operand::Placeholder(value.clone()));
                        if name == "ADD" {
                            actions.add.push(entry);
                        } else {
                            actions.delete.push(entry);
                        }
                    }
                }
            }
        }
        // With placeholders, DynamoDB reports undefined names and values before
        // overlaps, and overlaps through `#name`s are only visible after
        // substitution, so `bind` checks those expressions instead.
        if !self.has_placeholders {
            self.check_overlaps(&targets.iter().collect::<Vec<_>>());
        }
        actions
    }

    fn set_value(&mut self, raw: &RawSet) -> SetValue {
        match raw {
            RawSet::Op(op) => SetValue::Operand(self.set_operand(op)),
            RawSet::Plus(a, b) => {
                self.operators += 1;
                SetValue::Plus(self.set_operand(a), self.set_operand(b))
            }
            RawSet::Minus(a, b) => {
                self.operators += 1;
                SetValue::Minus(self.set_operand(a), self.set_operand(b))
            }
        }
    }

    fn set_operand(&mut self, raw: &RawOp) -> SetOperand {
        match raw {
            RawOp::Path(path) => SetOperand::Path(self.path(path)),
            RawOp::Value(name) => {
                self.has_placeholders = true;
                SetOperand::Placeholder(name.clone())
            }
            RawOp::Call(name, args) => {
                self.operators += 1;
                let converted: Vec<SetOperand> = args.iter().map(|a| self.set_operand(a)).collect();
                let name = name.as_str();
                let broken = SetOperand::Placeholder(String::new());
                match name {
                    "if_not_exists" | "list_append" if converted.len() != 2 => {
                        self.wrong_operand_count(name, converted.len());
                        broken
                    }
                    "if_not_exists" => {
                        let mut converted = converted.into_iter();
                        match (converted.next(), converted.next()) {
                            (Some(SetOperand::Path(path)), Some(fallback)) => {
                                SetOperand::IfNotExists(path, Box::new(fallback))
                            }
                            _ => {
                                self.requires_path(name);
                                broken
                            }
                        }
                    }
                    "list_append" => {
                        if args
                            .iter()
                            .any(|a| matches!(a, RawOp::Call(inner, _) if inner == "list_append"))
                        {
                            self.misused(name);
                        }
                        let mut converted = converted.into_iter();
                        match (converted.next(), converted.next()) {
                            (Some(a), Some(b)) => SetOperand::ListAppend(Box::new(a), Box::new(b)),
                            _ => broken,
                        }
                    }
                    _ if CONDITION_FUNCTIONS.contains(&name) => {
                        self.record(
                            Cat::UnknownFunction,
                            format!(
                                "The function is not allowed in an update expression; function: \
                                 {name}"
                            ),
                        );
                        broken
                    }
                    _ => {
                        self.record(
                            Cat::UnknownFunction,
                            format!("Invalid function name; function: {name}"),
                        );
                        broken
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expression::ast::ExpressionKind::{Condition as CondKind, Filter, KeyCondition};

    fn attr(name: &str) -> PathElement {
        PathElement::Attribute(name.to_string())
    }

    fn p(name: &str) -> Path {
        Path(vec![attr(name)])
    }

    fn op(name: &str) -> Operand {
        Operand::Path(p(name))
    }

    fn ph(name: &str) -> Operand {
        Operand::Placeholder(name.to_string())
    }

    fn cond(text: &str) -> Condition {
        match parse_condition(text, CondKind) {
            Ok(c) => c,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn cond_err(text: &str) -> String {
        match parse_condition(text, CondKind) {
            Ok(c) => panic!("{text} parsed: {c:?}"),
            Err(e) => e.0,
        }
    }

    fn filter_err(text: &str) -> String {
        match parse_condition(text, Filter) {
            Ok(c) => panic!("{text} parsed: {c:?}"),
            Err(e) => e.0,
        }
    }

    fn update(text: &str) -> UpdateActions {
        match parse_update(text) {
            Ok(u) => u,
            Err(e) => panic!("{text}: {e}"),
        }
    }

    fn update_err(text: &str) -> String {
        match parse_update(text) {
            Ok(u) => panic!("{text} parsed: {u:?}"),
            Err(e) => e.0,
        }
    }

    fn projection_err(text: &str) -> String {
        match parse_projection(text) {
            Ok(p) => panic!("{text} parsed: {p:?}"),
            Err(e) => e.0,
        }
    }

    fn syntax(kind: &str, token: &str, near: &str) -> String {
        format!("Invalid {kind}: Syntax error; token: \"{token}\", near: \"{near}\"")
    }

    // -- condition shapes --

    #[test]
    fn comparators() {
        let cases = [
            ("a = b", Comparator::Eq),
            ("a <> b", Comparator::Ne),
            ("a < b", Comparator::Lt),
            ("a <= b", Comparator::Le),
            ("a > b", Comparator::Gt),
            ("a >= b", Comparator::Ge),
        ];
        for (text, comparator) in cases {
            assert_eq!(
                cond(text),
                Condition::Compare(op("a"), comparator, op("b")),
                "{text}"
            );
        }
        assert_eq!(
            cond("a=:v"),
            Condition::Compare(op("a"), Comparator::Eq, ph(":v"))
        );
        assert_eq!(
            cond("a<=:v"),
            Condition::Compare(op("a"), Comparator::Le, ph(":v"))
        );
    }

    #[test]
    fn paths_with_names_indexes_and_placeholders() {
        let expected = Path(vec![
            attr("a"),
            attr("b"),
            PathElement::Index(3),
            PathElement::Name("#c".into()),
            PathElement::Index(0),
            PathElement::Index(12),
        ]);
        assert_eq!(
            cond("a.b[3].#c[0][12] = :v"),
            Condition::Compare(Operand::Path(expected.clone()), Comparator::Eq, ph(":v"))
        );
        assert_eq!(
            cond("a . b [ 3 ] . #c [0] [ 12 ] = :v"),
            Condition::Compare(Operand::Path(expected), Comparator::Eq, ph(":v"))
        );
        assert_eq!(
            cond("#n = :v"),
            Condition::Compare(
                Operand::Path(Path(vec![PathElement::Name("#n".into())])),
                Comparator::Eq,
                ph(":v")
            )
        );
        // A parenthesised path may continue after the parenthesis.
        assert_eq!(
            cond("(a.b).c = :v"),
            Condition::Compare(
                Operand::Path(Path(vec![attr("a"), attr("b"), attr("c")])),
                Comparator::Eq,
                ph(":v")
            )
        );
        assert_eq!(
            cond("a_ = a_1"),
            Condition::Compare(op("a_"), Comparator::Eq, op("a_1"))
        );
    }

    #[test]
    fn between_and_in() {
        assert_eq!(
            cond("a BETWEEN :lo AND :hi"),
            Condition::Between(op("a"), ph(":lo"), ph(":hi"))
        );
        assert_eq!(
            cond("(a)between(b)and(c)"),
            Condition::Between(op("a"), op("b"), op("c"))
        );
        assert_eq!(
            cond("a IN (:x, b, :z)"),
            Condition::In(op("a"), vec![ph(":x"), op("b"), ph(":z")])
        );
        assert_eq!(cond("a in (:x)"), Condition::In(op("a"), vec![ph(":x")]));
        let hundred: Vec<String> = (0..100).map(|i| format!(":v{i}")).collect();
        let text = format!("a IN ({})", hundred.join(","));
        match cond(&text) {
            Condition::In(_, candidates) => assert_eq!(candidates.len(), 100),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn functions() {
        assert_eq!(
            cond("attribute_exists(a)"),
            Condition::AttributeExists(p("a"))
        );
        assert_eq!(
            cond("attribute_not_exists (a)"),
            Condition::AttributeNotExists(p("a"))
        );
        assert_eq!(
            cond("attribute_type(a, :t)"),
            Condition::AttributeType(p("a"), ph(":t"))
        );
        assert_eq!(
            cond("begins_with(a, :p)"),
            Condition::BeginsWith(op("a"), ph(":p"))
        );
        assert_eq!(
            cond("contains(a, b)"),
            Condition::Contains(op("a"), op("b"))
        );
        assert_eq!(
            cond("contains(:v, a)"),
            Condition::Contains(ph(":v"), op("a"))
        );
        assert_eq!(
            cond("size(a) > :n"),
            Condition::Compare(Operand::Size(p("a")), Comparator::Gt, ph(":n"))
        );
        assert_eq!(
            cond("contains(a, size(b))"),
            Condition::Contains(op("a"), Operand::Size(p("b")))
        );
        assert_eq!(
            cond(":n < size(a.b)"),
            Condition::Compare(
                ph(":n"),
                Comparator::Lt,
                Operand::Size(Path(vec![attr("a"), attr("b")]))
            )
        );
        assert_eq!(
            cond("size(a) BETWEEN :lo AND :hi"),
            Condition::Between(Operand::Size(p("a")), ph(":lo"), ph(":hi"))
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        assert_eq!(
            cond("a = b and not c = d Or e between f aNd g"),
            cond("a = b AND NOT c = d OR e BETWEEN f AND g")
        );
        assert_eq!(cond("a iN (b)"), Condition::In(op("a"), vec![op("b")]));
    }

    #[test]
    fn precedence_not_and_or() {
        let eq = |a: &str, b: &str| Condition::Compare(op(a), Comparator::Eq, op(b));
        // AND binds tighter than OR.
        assert_eq!(
            cond("a = b OR c = d AND e = f"),
            Condition::Or(
                Box::new(eq("a", "b")),
                Box::new(Condition::And(
                    Box::new(eq("c", "d")),
                    Box::new(eq("e", "f"))
                ))
            )
        );
        // NOT binds tighter than AND.
        assert_eq!(
            cond("NOT a = b AND c = d"),
            Condition::And(
                Box::new(Condition::Not(Box::new(eq("a", "b")))),
                Box::new(eq("c", "d"))
            )
        );
        // NOT applies to NOT (ScyllaDB's tests, run against DynamoDB); pairs cancel.
        assert_eq!(cond("NOT NOT NOT NOT a = b"), eq("a", "b"));
        assert_eq!(
            cond("not NOT NOT a = b"),
            Condition::Not(Box::new(eq("a", "b")))
        );
        // Parentheses override.
        assert_eq!(
            cond("(a = b OR c = d) AND e = f"),
            Condition::And(
                Box::new(Condition::Or(
                    Box::new(eq("a", "b")),
                    Box::new(eq("c", "d"))
                )),
                Box::new(eq("e", "f"))
            )
        );
        assert_eq!(
            cond("NOT (a = b OR c = d)"),
            Condition::Not(Box::new(Condition::Or(
                Box::new(eq("a", "b")),
                Box::new(eq("c", "d"))
            )))
        );
        // AND and OR group left to right.
        assert_eq!(
            cond("a = b AND c = d AND e = f"),
            Condition::And(
                Box::new(Condition::And(
                    Box::new(eq("a", "b")),
                    Box::new(eq("c", "d"))
                )),
                Box::new(eq("e", "f"))
            )
        );
        assert_eq!(
            cond("NOT attribute_exists(a) OR contains(b, :v)"),
            Condition::Or(
                Box::new(Condition::Not(Box::new(Condition::AttributeExists(p("a"))))),
                Box::new(Condition::Contains(op("b"), ph(":v")))
            )
        );
    }

    #[test]
    fn single_parentheses_are_fine() {
        assert_eq!(cond("(a = b)"), cond("a = b"));
        assert_eq!(cond("(a) = (b)"), cond("a = b"));
        assert_eq!(cond("((a = b) AND c = d)"), cond("a = b AND c = d"));
        assert_eq!(
            cond("(attribute_exists(a))"),
            Condition::AttributeExists(p("a"))
        );
    }

    // -- condition errors --

    #[test]
    fn empty_and_oversized_expressions() {
        for kind in [CondKind, Filter, KeyCondition] {
            for text in ["", "   ", "\n\t "] {
                assert_eq!(
                    parse_condition(text, kind).map_err(|e| e.0),
                    Err(format!(
                        "Invalid {}: The expression can not be empty;",
                        kind.parameter()
                    ))
                );
            }
        }
        assert_eq!(
            update_err(""),
            "Invalid UpdateExpression: The expression can not be empty;"
        );
        assert_eq!(
            projection_err(" "),
            "Invalid ProjectionExpression: The expression can not be empty;"
        );
        let at_limit = format!("a = {}", "b".repeat(MAX_EXPRESSION_BYTES - 4));
        assert!(parse_condition(&at_limit, CondKind).is_ok());
        let over = format!("a = {}", "b".repeat(MAX_EXPRESSION_BYTES - 3));
        assert_eq!(
            cond_err(&over),
            "Invalid ConditionExpression: Expression size has exceeded the maximum allowed \
             size; expression size: 4097"
        );
        assert!(update_err(&format!("SET a = {}", "b".repeat(4096)))
            .starts_with("Invalid UpdateExpression: Expression size has exceeded"));
        assert!(projection_err(&"a".repeat(4097))
            .starts_with("Invalid ProjectionExpression: Expression size has exceeded"));
    }

    #[test]
    fn syntax_error_token_and_near() {
        let c = "ConditionExpression";
        assert_eq!(cond_err("a b"), syntax(c, "b", "a b"));
        assert_eq!(cond_err("a"), syntax(c, "<EOF>", "a"));
        assert_eq!(cond_err("a ="), syntax(c, "<EOF>", "="));
        assert_eq!(cond_err("#comment ="), syntax(c, "<EOF>", "="));
        assert_eq!(cond_err("attribute_type()"), syntax(c, ")", "()"));
        assert_eq!(cond_err("!!!"), syntax(c, "!", "!!"));
        assert_eq!(cond_err("a > 4"), syntax(c, "4", "> 4"));
        assert_eq!(cond_err("#list[abc].#c = :v"), syntax(c, "abc", "[abc]"));
        assert_eq!(cond_err("#list[-1].#c = :v"), syntax(c, "-", "[-1"));
        assert_eq!(cond_err("#list[].#c = :v"), syntax(c, "]", "[]."));
        assert_eq!(cond_err("a IN ()"), syntax(c, ")", "()"));
        assert_eq!(cond_err("a in b"), syntax(c, "b", "in b"));
        assert_eq!(cond_err("a in (b,c,)"), syntax(c, ")", ",)"));
        assert_eq!(cond_err("a = b AND c"), syntax(c, "<EOF>", "c"));
        assert_eq!(cond_err("a = b AND c OR d = e"), syntax(c, "OR", "c OR d"));
        assert_eq!(cond_err("(a) AND b = c"), syntax(c, "AND", ") AND b"));
        assert_eq!(cond_err("NOT a"), syntax(c, "<EOF>", "a"));
        assert_eq!(cond_err("NOT NOT a"), syntax(c, "<EOF>", "a"));
        assert_eq!(cond_err("_a = b"), syntax(c, "_", "_a"));
        assert_eq!(cond_err("# = b"), syntax(c, "#", "# ="));
        assert_eq!(cond_err("a = :"), syntax(c, ":", "= :"));
        assert_eq!(cond_err("a = 1b"), syntax(c, "1", "= 1b"));
        assert_eq!(cond_err("(a = b) = c"), syntax(c, "=", ") = c"));
        assert_eq!(cond_err("a = (b = c)"), syntax(c, "=", "b = c"));
        assert_eq!(cond_err("a > between"), syntax(c, "between", "> between"));
        assert_eq!(cond_err("size(a).b > a"), syntax(c, ".", ").b"));
        assert_eq!(cond_err("(size(a)).b > a"), syntax(c, ".", ").b"));
        assert_eq!(
            cond_err("a > :things.stuff"),
            syntax(c, ".", ":things.stuff")
        );
        assert_eq!(cond_err("ü > a"), syntax(c, "ü", "ü >"));
        assert_eq!(cond_err("a.and = b"), syntax(c, "and", ".and ="));
        assert_eq!(cond_err("a BETWEEN b c"), syntax(c, "c", "b c"));
        assert_eq!(cond_err("a = b)"), syntax(c, ")", "b)"));
        assert_eq!(cond_err("(a = b"), syntax(c, "<EOF>", "b"));
        assert_eq!(cond_err("b[4.5] > a"), syntax(c, ".", "4.5"));
        assert_eq!(
            cond_err("attribute_exists(Pictures-RearView)"),
            syntax(c, "-", "Pictures-RearView")
        );
        assert_eq!(
            filter_err("invalid filter"),
            syntax("FilterExpression", "filter", "invalid filter")
        );
        assert_eq!(
            parse_condition("pk = :a :b", KeyCondition).map_err(|e| e.0),
            Err(syntax("KeyConditionExpression", ":b", ":a :b"))
        );
    }

    #[test]
    fn more_syntax_errors_from_dynalite() {
        for text in [
            "things are not gonna be ok",
            "attribute_exists(\"Pictures.RearView\")",
            "attribute_exists(Pictures..RearView)",
            "attribute_exists(Pi#ctures.RearView)",
            "attribute_exists(asdf[a])",
            "a in b, c",
            "(a)between(b.(c.d))and(c)",
            "(a)between(b.c.d)and((c)",
            "#$.b > a",
            "b[:a] > a",
            "b[#_] > a",
            "size(a)[0] > a",
            "(size(a))[0] > a",
            "a = b AND",
            "OR a = b",
            "a = = b",
            "a <> ",
            "(",
            ")",
            ",",
        ] {
            assert!(
                cond_err(text).starts_with("Invalid ConditionExpression: Syntax error; token: "),
                "{text}: {}",
                cond_err(text)
            );
        }
    }

    #[test]
    fn redundant_parentheses() {
        for text in [
            "((a = b))",
            "((a)) = :v",
            "a=a and a > ((views))",
            "(a)between(((b.c)).d)and(c)",
            "a > whatever((:things), ((a)))",
            "a=a AND ((a=a AND a=a)) AND a=a",
            "a=a OR ((a=a OR (a=a OR a=a)))",
            "NOT ((a = b))",
        ] {
            assert_eq!(
                filter_err(text),
                "Invalid FilterExpression: The expression has redundant parentheses;",
                "{text}"
            );
        }
    }

    #[test]
    fn invalid_and_misplaced_functions() {
        let invalid_name =
            |f: &str| format!("Invalid FilterExpression: Invalid function name; function: {f}");
        assert_eq!(
            filter_err("a=a and whatever((:things)) > a"),
            invalid_name("whatever")
        );
        // Function names are case-sensitive in DynamoDB, unlike keywords.
        assert_eq!(
            filter_err("attRIbute_exIsts((views), #a)"),
            invalid_name("attRIbute_exIsts")
        );
        assert_eq!(
            filter_err("BEGINS_WITH(a, :b)"),
            invalid_name("BEGINS_WITH")
        );
        let misused = |f: &str| {
            format!(
                "Invalid FilterExpression: The function is not allowed to be used this way in an \
                 expression; function: {f}"
            )
        };
        for (text, function) in [
            (
                "a=a and attribute_exists((views), (#a)) > b",
                "attribute_exists",
            ),
            ("attribute_not_exists(things) > b", "attribute_not_exists"),
            ("attribute_type(things, :a) > b", "attribute_type"),
            ("begins_with(things, a) > b", "begins_with"),
            ("contains(:things, c) > b", "contains"),
            ("size(contains(a, b)) > a", "contains"),
            ("size(things)", "size"),
            ("NOT size(things)", "size"),
            (
                "a between b and attribute_exists(things)",
                "attribute_exists",
            ),
            ("a in (b, attribute_exists(things))", "attribute_exists"),
            ("contains(attribute_exists(a), b)", "attribute_exists"),
        ] {
            assert_eq!(filter_err(text), misused(function), "{text}");
        }
        for function in ["if_not_exists", "list_append"] {
            assert_eq!(
                cond_err(&format!("{function}(s, :f) = :f")),
                format!(
                    "Invalid ConditionExpression: The function is not allowed in a condition \
                     expression; function: {function}"
                )
            );
        }
    }

    #[test]
    fn reserved_words() {
        let reserved = |w: &str| {
            format!("Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: {w}")
        };
        assert_eq!(filter_err("attribute_exists(views, #a)"), reserved("views"));
        assert_eq!(filter_err(":a < abOrT"), reserved("abOrT"));
        assert_eq!(filter_err("m.COMMENT = :v"), reserved("COMMENT"));
        assert_eq!(filter_err("#list[0].COMMENT = :v"), reserved("COMMENT"));
        assert_eq!(
            filter_err("begins_with(m.COMMENT, :v)"),
            reserved("COMMENT")
        );
        assert_eq!(filter_err("status = :v AND name = :n"), reserved("status"));
        // The first reserved word in text order is reported.
        assert_eq!(
            filter_err("a = b AND data = c AND name = d"),
            reserved("data")
        );
        assert!(parse_condition("#m.#comment = :v", Filter).is_ok());
    }

    #[test]
    fn operand_counts() {
        for (text, function, count) in [
            ("attribute_exists(things, a) and a=a", "attribute_exists", 2),
            ("attribute_not_exists(things, b)", "attribute_not_exists", 2),
            ("attribute_type(things)", "attribute_type", 1),
            ("begins_with(things)", "begins_with", 1),
            ("begins_with(things, size(a), b)", "begins_with", 3),
            ("contains(things)", "contains", 1),
            ("size(things, a) > b", "size", 2),
        ] {
            assert_eq!(
                filter_err(text),
                format!(
                    "Invalid FilterExpression: Incorrect number of operands for operator or \
                     function; operator or function: {function}, number of operands: {count}"
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn function_operand_errors() {
        let type_error = |f: &str, t: &str| {
            format!(
                "Invalid FilterExpression: Incorrect operand type for operator or function; \
                 operator or function: {f}, operand type: {t}"
            )
        };
        assert_eq!(filter_err("size(size(a)) > :a"), type_error("size", "N"));
        assert_eq!(
            filter_err("begins_with(a, size(a))"),
            type_error("begins_with", "N")
        );
        assert_eq!(
            filter_err("attribute_type(a, size(a))"),
            type_error("attribute_type", "N")
        );
        assert_eq!(
            filter_err("attribute_type(a, S)"),
            type_error("attribute_type", ATTRIBUTE_TYPE_OPERAND_TYPES)
        );
        let requires = |f: &str| {
            format!(
                "Invalid FilterExpression: Operator or function requires a document path; \
                 operator or function: {f}"
            )
        };
        assert_eq!(
            filter_err("attribute_exists(:a) and a=a"),
            requires("attribute_exists")
        );
        assert_eq!(
            filter_err("attribute_not_exists(size(a))"),
            requires("attribute_not_exists")
        );
        assert_eq!(
            filter_err("attribute_type(size(a), :b)"),
            requires("attribute_type")
        );
        // Constants are operands too (ScyllaDB's tests, run against DynamoDB): `bind`
        // checks their types.
        assert_eq!(
            cond("attribute_type(:a, :b)"),
            Condition::ValueType(ph(":a"), ph(":b"))
        );
        assert_eq!(
            cond("size(:a) > a"),
            Condition::Compare(
                Operand::ValueSize(Box::new(ph(":a"))),
                Comparator::Gt,
                op("a")
            )
        );
    }

    #[test]
    fn error_priority_in_conditions() {
        // Redundant parentheses outrank an unknown function.
        assert_eq!(
            filter_err("whatever(((a))) = b"),
            "Invalid FilterExpression: The expression has redundant parentheses;"
        );
        // Unknown functions outrank misused ones and reserved words.
        assert_eq!(
            filter_err("size(a) AND whatever(name) = b"),
            "Invalid FilterExpression: Invalid function name; function: whatever"
        );
        // Misused functions outrank reserved words.
        assert_eq!(
            filter_err("name = b AND size(a)"),
            "Invalid FilterExpression: The function is not allowed to be used this way in an \
             expression; function: size"
        );
        // Reserved words outrank operand counts.
        assert_eq!(
            filter_err("contains(a) AND name = b"),
            "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: name"
        );
        // A syntax error anywhere outranks everything.
        assert!(filter_err("size(a) AND name = b AND").contains("Syntax error"));
    }

    #[test]
    fn in_operand_limit() {
        let many: Vec<String> = (0..101).map(|i| format!(":v{i}")).collect();
        assert_eq!(
            filter_err(&format!("a IN ({})", many.join(", "))),
            "Invalid FilterExpression: The IN operator is provided with too many operands; \
             number of operands: 101"
        );
    }

    #[test]
    fn operator_limit() {
        let ok: Vec<&str> = vec!["a = :v"; 150];
        assert!(parse_condition(&ok.join(" OR "), Filter).is_ok()); // 299 operators
        let too_many: Vec<&str> = vec!["a=:v"; 151];
        assert_eq!(
            filter_err(&too_many.join(" OR ")),
            "Invalid FilterExpression: The expression contains too many operators; operator \
             count: 301"
        );
        // Each NOT of a chain counts, though pairs of them cancel out.
        let nots = |n: usize| format!("{}a = :v", "NOT ".repeat(n));
        assert!(parse_condition(&nots(299), Filter).is_ok());
        assert_eq!(
            filter_err(&nots(300)),
            "Invalid FilterExpression: The expression contains too many operators; operator \
             count: 301"
        );
        // The Developer Guide states the same limit for UpdateExpression: each `+`, `-`
        // and function counts.
        let sums = |n: usize| -> String {
            let actions: Vec<String> = (0..n).map(|i| format!("a{i}=b+c")).collect();
            format!("SET {}", actions.join(","))
        };
        assert!(parse_update(&sums(300)).is_ok());
        assert_eq!(
            update_err(&sums(301)),
            "Invalid UpdateExpression: The expression contains too many operators; operator \
             count: 301"
        );
    }

    #[test]
    fn path_limits() {
        let deep_ok = format!("a{} = :v", ".b".repeat(31));
        assert!(parse_condition(&deep_ok, CondKind).is_ok());
        let too_deep = format!("a{} = :v", ".b".repeat(32));
        assert_eq!(
            cond_err(&too_deep),
            "Invalid ConditionExpression: The document path has too many nesting levels; \
             nesting levels: 33"
        );
        assert_eq!(
            projection_err(&format!("a{}", "[0]".repeat(32))),
            "Invalid ProjectionExpression: The document path has too many nesting levels; \
             nesting levels: 33"
        );
        assert!(parse_condition("a[2147483647] = :v", CondKind).is_ok());
        assert_eq!(
            cond_err("a[2147483648] = :v"),
            "Invalid ConditionExpression: List index is not within the allowable range; index: \
             2147483648"
        );
        assert!(cond_err("a[99999999999999999999999] = :v").contains("allowable range"));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        crate::expression::on_server_stack(deep_nesting_cases);
    }

    fn deep_nesting_cases() {
        // 149 levels, 299 operators: as deep as DynamoDB goes.
        let nested = format!("{}a = b{}", "(a = b AND ".repeat(149), ")".repeat(149));
        assert!(parse_condition(&nested, CondKind).is_ok());
        // Past the depth the parser follows, DynamoDB's message when the tokens tell it
        // (here: 601 operators), else a syntax error.
        let too_nested = format!("{}a = b{}", "(a = b AND ".repeat(300), ")".repeat(300));
        assert!(cond_err(&too_nested).ends_with("too many operators; operator count: 301"));
        let parens = format!("{}a = b{}", "(".repeat(2000), ")".repeat(2000));
        assert!(cond_err(&parens).starts_with("Invalid ConditionExpression:"));
        let sizes = format!("{}a{} > :v", "size(".repeat(800), ")".repeat(800));
        assert!(cond_err(&sizes).starts_with("Invalid ConditionExpression:"));
        let appends = format!(
            "SET a = {}a{}",
            "list_append(".repeat(300),
            ", :v)".repeat(300)
        );
        assert!(update_err(&appends).starts_with("Invalid UpdateExpression:"));
        let set_parens = format!("SET a = {}b{}", "(".repeat(2000), ")".repeat(2000));
        assert!(update_err(&set_parens).starts_with("Invalid UpdateExpression:"));
    }

    // -- updates --

    #[test]
    fn update_clauses() {
        let u = update(
            "SET a = b, c = :v + d, e = if_not_exists(e, :z), f = list_append(f, :l), g = :x - h \
             REMOVE r, s[2] ADD n :n, m :m DELETE t :t",
        );
        assert_eq!(
            u.set,
            vec![
                (p("a"), SetValue::Operand(SetOperand::Path(p("b")))),
                (
                    p("c"),
                    SetValue::Plus(
                        SetOperand::Placeholder(":v".into()),
                        SetOperand::Path(p("d"))
                    )
                ),
                (
                    p("e"),
                    SetValue::Operand(SetOperand::IfNotExists(
                        p("e"),
                        Box::new(SetOperand::Placeholder(":z".into()))
                    ))
                ),
                (
                    p("f"),
                    SetValue::Operand(SetOperand::ListAppend(
                        Box::new(SetOperand::Path(p("f"))),
                        Box::new(SetOperand::Placeholder(":l".into()))
                    ))
                ),
                (
                    p("g"),
                    SetValue::Minus(
                        SetOperand::Placeholder(":x".into()),
                        SetOperand::Path(p("h"))
                    )
                ),
            ]
        );
        assert_eq!(
            u.remove,
            vec![p("r"), Path(vec![attr("s"), PathElement::Index(2)])]
        );
        assert_eq!(u.add, vec![(p("n"), ph(":n")), (p("m"), ph(":m"))]);
        assert_eq!(u.delete, vec![(p("t"), ph(":t"))]);
    }

    #[test]
    fn update_clause_order_and_case() {
        let a = update("delete t :t add n :n remove r set a = :a");
        let b = update("SET a = :a REMOVE r ADD n :n DELETE t :t");
        assert_eq!(a, b);
        let u = update("SET a = (b), c = (:v + d), e = (f) - (:g), h = list_append((:l), i)");
        assert_eq!(u.set.len(), 4);
        assert_eq!(
            u.set[1].1,
            SetValue::Plus(
                SetOperand::Placeholder(":v".into()),
                SetOperand::Path(p("d"))
            )
        );
        assert_eq!(
            u.set[2].1,
            SetValue::Minus(
                SetOperand::Path(p("f")),
                SetOperand::Placeholder(":g".into())
            )
        );
        let nested = update("SET l = list_append(if_not_exists(l, :empty), :tail)");
        assert_eq!(
            nested.set[0].1,
            SetValue::Operand(SetOperand::ListAppend(
                Box::new(SetOperand::IfNotExists(
                    p("l"),
                    Box::new(SetOperand::Placeholder(":empty".into()))
                )),
                Box::new(SetOperand::Placeholder(":tail".into()))
            ))
        );
        let arithmetic = update("SET n = if_not_exists(n, :zero) + :one");
        assert!(matches!(
            arithmetic.set[0].1,
            SetValue::Plus(SetOperand::IfNotExists(..), _)
        ));
    }

    #[test]
    fn update_syntax_errors() {
        let u = "UpdateExpression";
        assert_eq!(update_err("SET"), syntax(u, "<EOF>", "SET"));
        // Names may not start with `_` or a digit (ScyllaDB's tests, run against DynamoDB).
        assert_eq!(update_err("SET _123 = :v"), syntax(u, "_", "SET _123"));
        assert_eq!(update_err("SET 123a = :v"), syntax(u, "123", "SET 123a"));
        assert_eq!(update_err("SET a = _f(b)"), syntax(u, "_", "= _f"));
        assert_eq!(update_err("SET # = :v"), syntax(u, "#", "SET # ="));
        assert_eq!(update_err("ADD numx"), syntax(u, "<EOF>", "numx"));
        assert_eq!(update_err("DELETE setx"), syntax(u, "<EOF>", "setx"));
        assert_eq!(update_err("SET note = :v +"), syntax(u, "<EOF>", "+"));
        assert_eq!(
            update_err("SET numx = numx * :v"),
            syntax(u, "*", "numx * :v")
        );
        assert_eq!(
            update_err("SET numx = numx / :v"),
            syntax(u, "/", "numx / :v")
        );
        assert_eq!(update_err("ADD numx 1"), syntax(u, "1", "numx 1"));
        assert_eq!(update_err("DELETE setx a"), syntax(u, "a", "setx a"));
        assert_eq!(
            update_err("INVALID SYNTAX HERE"),
            syntax(u, "INVALID", "INVALID SYNTAX")
        );
        assert_eq!(
            update_err("SET #list[0.#comment = :v"),
            syntax(u, ".", "0.#comment")
        );
        assert_eq!(update_err("SET a = :v,"), syntax(u, "<EOF>", ","));
        assert_eq!(update_err("SET add = :v"), syntax(u, "add", "SET add ="));
        assert_eq!(update_err("SET a.set = :v"), syntax(u, "set", ".set ="));
        assert_eq!(update_err("SET a = b + c + d"), syntax(u, "+", "c + d"));
        assert_eq!(update_err("SET a = (b + c) + d"), syntax(u, "+", ") + d"));
        assert_eq!(update_err("SET a = b AND c"), syntax(u, "AND", "b AND c"));
        assert_eq!(update_err("REMOVE a = b"), syntax(u, "=", "a = b"));
        assert_eq!(update_err("SET :v = a"), syntax(u, ":v", "SET :v ="));
        assert_eq!(update_err("SET a = list_append()"), syntax(u, ")", "()"));
    }

    #[test]
    fn update_semantic_errors() {
        let prefix = "Invalid UpdateExpression: ";
        assert_eq!(
            update_err("SET fieldx = :s SET otherx = :o"),
            format!("{prefix}The \"SET\" section can only be used once in an update expression;")
        );
        assert_eq!(
            update_err("remove a ADD b :b REMOVE c"),
            format!(
                "{prefix}The \"REMOVE\" section can only be used once in an update expression;"
            )
        );
        assert_eq!(
            update_err("SET COMMENT = :value"),
            format!("{prefix}Attribute name is a reserved keyword; reserved keyword: COMMENT")
        );
        assert_eq!(
            update_err("SET #list[0].COMMENT = :value"),
            format!("{prefix}Attribute name is a reserved keyword; reserved keyword: COMMENT")
        );
        assert_eq!(
            update_err("SET a = whatever(b)"),
            format!("{prefix}Invalid function name; function: whatever")
        );
        for function in ["size", "contains", "attribute_exists"] {
            assert_eq!(
                update_err(&format!("SET a = {function}(b)")),
                format!(
                    "{prefix}The function is not allowed in an update expression; function: \
                     {function}"
                )
            );
        }
        assert_eq!(
            update_err("SET r = list_append(list_append(l, :t), :t2)"),
            format!(
                "{prefix}The function is not allowed to be used this way in an expression; \
                 function: list_append"
            )
        );
        assert_eq!(
            update_err("SET r = if_not_exists(if_not_exists(n, :z), :o)"),
            format!(
                "{prefix}Operator or function requires a document path; operator or function: \
                 if_not_exists"
            )
        );
        assert_eq!(
            update_err("SET r = if_not_exists(:z, :o)"),
            format!(
                "{prefix}Operator or function requires a document path; operator or function: \
                 if_not_exists"
            )
        );
        assert_eq!(
            update_err("SET r = if_not_exists(a, :b, :c)"),
            format!(
                "{prefix}Incorrect number of operands for operator or function; operator or \
                 function: if_not_exists, number of operands: 3"
            )
        );
        assert_eq!(
            update_err("SET r = list_append(a)"),
            format!(
                "{prefix}Incorrect number of operands for operator or function; operator or \
                 function: list_append, number of operands: 1"
            )
        );
        // Reserved words outrank unknown functions, which outrank repeated sections.
        assert_eq!(
            update_err("SET a = whatever(b) SET name = :v"),
            format!("{prefix}Attribute name is a reserved keyword; reserved keyword: name")
        );
        assert_eq!(
            update_err("SET a = whatever(b) SET c = :v"),
            format!("{prefix}Invalid function name; function: whatever")
        );
    }

    #[test]
    fn update_overlaps_with_literal_paths() {
        let prefix = "Invalid UpdateExpression: ";
        assert_eq!(
            update_err("SET a = b, a = c"),
            format!(
                "{prefix}Two document paths overlap with each other; must remove or rewrite one \
                 of these paths; path one: [a], path two: [a]"
            )
        );
        assert_eq!(
            update_err("SET mapx = b REMOVE mapx.num"),
            format!(
                "{prefix}Two document paths overlap with each other; must remove or rewrite one \
                 of these paths; path one: [mapx], path two: [mapx, num]"
            )
        );
        assert_eq!(
            update_err("SET lst[0] = b, lst[0].ok = c"),
            format!(
                "{prefix}Two document paths overlap with each other; must remove or rewrite one \
                 of these paths; path one: [lst, [0]], path two: [lst, [0], ok]"
            )
        );
        assert_eq!(
            update_err("REMOVE a.b, a[0]"),
            format!(
                "{prefix}Two document paths conflict with each other; must remove or rewrite one \
                 of these paths; path one: [a, b], path two: [a, [0]]"
            )
        );
        // Overlap outranks a conflict found earlier.
        assert_eq!(
            update_err("REMOVE a.b, a[0], c, c.d"),
            format!(
                "{prefix}Two document paths overlap with each other; must remove or rewrite one \
                 of these paths; path one: [c], path two: [c, d]"
            )
        );
        // Siblings are fine; placeholder expressions are left to bind.
        assert!(parse_update("SET a.b = c, a.c = d, l[0] = e, l[1] = f").is_ok());
        assert!(parse_update("SET a = :v, a = :w").is_ok());
        assert!(parse_update("SET #a = b, a = c").is_ok());
    }

    // -- projections --

    #[test]
    fn projections() {
        assert_eq!(
            parse_projection("a, b.c[1], #d, e_"),
            Ok(Projection(vec![
                p("a"),
                Path(vec![attr("b"), attr("c"), PathElement::Index(1)]),
                Path(vec![PathElement::Name("#d".into())]),
                p("e_"),
            ]))
        );
        let pr = "ProjectionExpression";
        assert_eq!(projection_err("!!!"), syntax(pr, "!", "!!"));
        assert_eq!(projection_err("a b"), syntax(pr, "b", "a b"));
        assert_eq!(projection_err("a,"), syntax(pr, "<EOF>", ","));
        assert_eq!(projection_err("#list[].#comment"), syntax(pr, "]", "[]."));
        assert_eq!(projection_err("(a)"), syntax(pr, "(", "(a"));
        assert_eq!(projection_err(":v"), syntax(pr, ":v", ":v"));
        for (text, word) in [
            ("COMMENT", "COMMENT"),
            ("name", "name"),
            ("ADD", "ADD"),
            ("list[0].COMMENT", "list"),
        ] {
            assert_eq!(
                projection_err(text),
                format!("Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: {word}")
            );
        }
        assert_eq!(
            projection_err("a, a.b"),
            "Invalid ProjectionExpression: Two document paths overlap with each other; must \
             remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        );
        assert_eq!(
            projection_err("a.b, a"),
            "Invalid ProjectionExpression: Two document paths overlap with each other; must \
             remove or rewrite one of these paths; path one: [a, b], path two: [a]"
        );
        assert_eq!(
            projection_err("a[0], a.b"),
            "Invalid ProjectionExpression: Two document paths conflict with each other; must \
             remove or rewrite one of these paths; path one: [a, [0]], path two: [a, b]"
        );
        assert!(parse_projection("a.b, a.c, l[0], l[1]").is_ok());
        assert!(parse_projection("#a, a").is_ok());
    }

    #[test]
    fn format_paths() {
        assert_eq!(
            format_path(&Path(vec![
                attr("ab"),
                attr("bc"),
                PathElement::Index(1),
                attr("a")
            ])),
            "[ab, bc, [1], a]"
        );
    }

    proptest::proptest! {
        #[test]
        fn random_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse_condition(&text, CondKind);
            let _ = parse_update(&text);
            let _ = parse_projection(&text);
        }

        #[test]
        fn random_expression_like_text_never_panics(
            text in "[ a-cA#:_0-9().,\\[\\]=<>+-]{0,120}|(SET|REMOVE|ADD|DELETE|AND|OR|NOT|BETWEEN|IN|size|contains|if_not_exists|list_append|\\(|\\)|,|=|<>|\\+|a|#b|:c|\\[1\\]|\\.| ){0,60}"
        ) {
            let _ = parse_condition(&text, CondKind);
            let _ = parse_update(&text);
            let _ = parse_projection(&text);
        }
    }
}
