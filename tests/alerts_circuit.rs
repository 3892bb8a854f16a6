//! The circuit-open alert: it fires on the breaker's own answer and ends
//! once calls go through again.

use std::time::Duration;

use llm_layers::metrics::AlertKind;
use llm_layers::resilience::{BreakerPolicy, CircuitBreakerLayer};
use llm_layers::stack::LlmStack;
use llm_layers_mock::{Fault, MockConfig, MockServer};

mod support;
use support::{chat as call, firing};

#[tokio::test]
async fn an_open_circuit_breaker_is_an_alert_until_calls_go_through_again() {
    let mock = MockServer::start(MockConfig::default().fault(Some(Fault::ServerError)))
        .await
        .unwrap();
    let breaker = BreakerPolicy::default()
        .min_calls(4)
        .cool_down(Duration::from_millis(300));
    let stack = LlmStack::new()
        .with_retry(None)
        .with_breaker(CircuitBreakerLayer::new(breaker));
    let client = stack.clone().over_connector().unwrap();
    let mut statuses = Vec::new();
    for i in 0..8 {
        statuses.push(call(&client, &mock, &format!("storm {i}")).await);
    }
    assert!(statuses.contains(&503), "the breaker opened: {statuses:?}");
    assert!(firing(&stack).contains(&AlertKind::CircuitOpen));
    mock.set_fault(None);
    let mut closed = false;
    for i in 0..100 {
        if call(&client, &mock, &format!("after {i}")).await == 200
            && !firing(&stack).contains(&AlertKind::CircuitOpen)
        {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(closed);
}
