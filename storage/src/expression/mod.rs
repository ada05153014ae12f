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

/// The stack a thread needs to parse, bind and evaluate the deepest expression DynamoDB
/// accepts (300 operators, each a level of recursion) in a debug build; release builds
/// need far less. The server gives its threads this much.
pub const EXPRESSION_STACK_BYTES: usize = 16 << 20;

/// Runs `work` on a thread with the stack the server's threads have.
#[cfg(test)]
pub(crate) fn on_server_stack<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match std::thread::Builder::new()
        .stack_size(EXPRESSION_STACK_BYTES)
        .spawn(work)
        .map(std::thread::JoinHandle::join)
    {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => panic!("cannot start a test thread: {e}"),
    }
}
