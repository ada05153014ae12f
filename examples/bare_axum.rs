//! The ceiling of any HTTP server on this machine: axum answering every POST with a
//! fixed DynamoDB-shaped body, doing no work. `cirrus bench` against it measures what
//! the generator and the HTTP stack alone cost.
//!
//! Run with `cargo run --release --example bare_axum -- 127.0.0.1:8100`.

use axum::routing::post;
use axum::Router;

fn main() -> std::io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8100".to_string());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let app = Router::new().route(
            "/",
            post(|| async {
                (
                    [("content-type", "application/x-amz-json-1.0")],
                    r#"{"Item":{"pk":{"S":"user1"},"sk":{"N":"1"}}}"#,
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind(&address).await?;
        axum::serve(listener, app).await
    })
}
