//! Health alerts through the stack against the mock: each kind starts
//! once (a gauge at 1, one log warning, an entry in the snapshot) and the
//! error alert ends once the window holds no more failures. (Its own test
//! binary, with one test: it reads the log, and `tracing` caches which
//! call sites log per process.)

use std::time::Duration;

use llm_layers::metrics::{AlertConfig, AlertKind, MetricsConfig, MetricsLayer};
use llm_layers::stack::LlmStack;
use llm_layers_mock::testing::{recorded, CapturedLogs};
use llm_layers_mock::{Fault, MockConfig, MockServer};

mod support;
use support::{chat as call, firing};

#[test]
fn errors_a_cold_cache_and_slow_calls_fire_once_and_errors_end() {
    let (logs, _logging) = CapturedLogs::on_this_thread();
    let (stack, seen) = recorded(|| async {
        let mock = MockServer::start(MockConfig::default().latency(Duration::from_millis(30)))
            .await
            .unwrap();
        let alerts = AlertConfig::default()
            .window(Duration::from_secs(2))
            .min_calls_for_errors(10)
            .min_calls_for_cache(10)
            .min_calls_for_latency(10)
            .latency_p95(vec![("gpt-4o*".into(), Duration::from_millis(5))]);
        let stack = LlmStack::new()
            .with_retry(None)
            .with_breaker(None)
            .with_metrics(MetricsLayer::new(MetricsConfig::default().alerts(alerts)));
        let client = stack.clone().over_connector().unwrap();
        mock.set_fault(Some(Fault::ServerError));
        for i in 0..12 {
            assert_eq!(call(&client, &mock, &format!("failing {i}")).await, 500);
        }
        mock.set_fault(None);
        for i in 0..12 {
            assert_eq!(call(&client, &mock, &format!("slow unique {i}")).await, 200);
        }
        let kinds = firing(&stack);
        assert!(kinds.contains(&AlertKind::ErrorRate), "{kinds:?}");
        // The failures leave the 2 s window; successes then end the alert.
        let mut ended = false;
        for i in 0..100 {
            call(&client, &mock, &format!("recovering {i}")).await;
            if !firing(&stack).contains(&AlertKind::ErrorRate) {
                ended = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(ended, "the error alert ended");
        stack
    });
    let kinds = firing(&stack);
    assert!(
        kinds.contains(&AlertKind::CacheHitRate),
        "every call missed: {kinds:?}"
    );
    assert!(
        kinds.contains(&AlertKind::LatencyP95),
        "30 ms calls against a 5 ms bound: {kinds:?}"
    );
    assert_eq!(
        seen.gauge(
            "llm_alert",
            &[("kind", "error_rate"), ("model", "gpt-4o-mini")]
        ),
        0.0
    );
    assert_eq!(
        seen.gauge(
            "llm_alert",
            &[("kind", "latency_p95"), ("model", "gpt-4o-mini")]
        ),
        1.0
    );
    let text = logs.text();
    let started = |kind: &str| {
        text.lines()
            .filter(|l| l.contains("alert started") && l.contains(kind))
            .count()
    };
    assert_eq!(started("error_rate"), 1, "{text}");
    assert_eq!(started("cache_hit_rate"), 1, "{text}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains("alert ended") && l.contains("error_rate"))
            .count(),
        1
    );
}
