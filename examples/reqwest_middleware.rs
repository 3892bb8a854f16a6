//! A reqwest-middleware client with the stack: the same request twice, the
//! second a cache hit, against the mock provider on loopback.
//!
//! `cargo run --example reqwest_middleware --features reqwest-middleware`

use llm_layers::reqwest_middleware::LlmMiddleware;
use llm_layers::LlmStack;
use llm_layers_mock::{MockConfig, MockServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::start(MockConfig::default()).await?;
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(LlmMiddleware::new(LlmStack::new().over_connector()?))
        .build();
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Name one prime number."}]}"#;
    for _ in 0..2 {
        let response = client
            .post(format!("{}/v1/chat/completions", mock.base_url()))
            .bearer_auth("sk-example")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        println!("x-llm-cache: {:?}", response.headers()["x-llm-cache"]);
        println!("{}", response.text().await?);
    }
    println!("upstream calls: {}", mock.stats().requests_total);
    Ok(())
}
