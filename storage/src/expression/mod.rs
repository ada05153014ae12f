//! DynamoDB's expression language: condition, filter, key-condition, projection and
//! update expressions. `parser` turns text into the AST (`ast`) with `#name` and
//! `:value` placeholders still in it; `bind` substitutes a request's
//! ExpressionAttributeNames/Values; `eval`, `update` and `projection` run a bound AST
//! against an item. Parsing happens once per distinct text (callers cache the parsed
//! AST); nothing here re-parses during evaluation.

pub mod ast;
pub mod bind;
pub mod eval;
mod nesting;
pub mod parser;
pub mod projection;
pub mod reserved;
pub mod update;

pub use ast::*;
