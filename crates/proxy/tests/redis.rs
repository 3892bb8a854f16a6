//! Proxy replicas sharing one cache in a real `redis-server`: each replica
//! is the proxy binary in its own process, as in production.

use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use llm_layers_mock::testing::RedisServer;
use llm_layers_mock::{MockConfig, MockServer};

mod common;

/// A proxy process, killed and reaped when dropped.
struct Replica {
    child: Child,
    url: String,
}

impl Replica {
    fn start(mock: &MockServer, redis: &RedisServer, extra: &[&str]) -> Replica {
        let upstream = mock.base_url();
        let redis_url = redis.url();
        let mut args = vec![
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &upstream,
            "--cache-store",
            "redis",
            "--redis-url",
            &redis_url,
            "--no-retry",
            // A loaded test machine: generous, so that only a dead Redis fails open.
            "--redis-timeout",
            "1s",
        ];
        args.extend_from_slice(extra);
        let (child, url) = common::spawn_binary(&args);
        Replica { child, url }
    }

    async fn ask(&self, text: &str, api_key: &str) -> common::Answer {
        let body = format!(
            r#"{{"model":"gpt-4o","stream":true,"messages":[{{"role":"user","content":"{text}"}}]}}"#
        );
        let bearer = format!("Bearer {api_key}");
        common::request(
            false,
            "POST",
            &format!("{}/v1/chat/completions", self.url),
            &[("authorization", &bearer)],
            Bytes::from(body),
        )
        .await
        .expect("the proxy answers")
    }

    /// The cache's Redis figures from `/stats`.
    async fn redis_stats(&self) -> serde_json::Value {
        let answer = common::request(false, "GET", &format!("{}/stats", self.url), &[], "")
            .await
            .unwrap();
        let stats: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
        stats["cache"]["store"]["remote"].clone()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis, a mock provider, and two replicas on them (with `extra`
/// flags); `None` when `redis-server` is missing outside CI.
async fn two_replicas(extra: &[&str]) -> Option<(RedisServer, MockServer, Replica, Replica)> {
    let redis = RedisServer::start()?;
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let first = Replica::start(&mock, &redis, extra);
    let second = Replica::start(&mock, &redis, extra);
    Some((redis, mock, first, second))
}

fn outcome(answer: &common::Answer) -> &str {
    answer.headers["x-llm-cache"].to_str().unwrap()
}

#[tokio::test]
async fn two_replicas_share_entries_and_credentials_stay_apart() {
    let Some((_redis, mock, first, second)) = two_replicas(&[]).await else {
        return;
    };
    let miss = first.ask("shared", "sk-team-a").await;
    assert_eq!((miss.status, outcome(&miss)), (200, "MISS"));
    // The entry may still be on its way to Redis: the first replica's lock
    // holds the second one's miss until it is there.
    let hit = second.ask("shared", "sk-team-a").await;
    assert_eq!(
        outcome(&hit),
        "HIT",
        "the second replica reads the first's entry"
    );
    assert_eq!(hit.body, miss.body, "the stream replays byte for byte");
    let other = second.ask("shared", "sk-team-b").await;
    assert_eq!(outcome(&other), "MISS", "another credential never reads it");
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 2);
}

#[tokio::test]
async fn replicas_share_over_tls_with_a_private_root() {
    let Some(redis) = RedisServer::start_tls() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default()).await.unwrap();
    let root = std::env::temp_dir().join(format!("llm-layers-redis-root-{}.pem", redis.port()));
    std::fs::write(&root, redis.certificate_pem().unwrap()).unwrap();
    let trust = ["--redis-ca-file", root.to_str().unwrap()];
    let (first, second) = (
        Replica::start(&mock, &redis, &trust),
        Replica::start(&mock, &redis, &trust),
    );
    let miss = first.ask("over tls", "sk-tls").await;
    assert_eq!(outcome(&miss), "MISS");
    let hit = second.ask("over tls", "sk-tls").await;
    let _ = std::fs::remove_file(&root);
    assert_eq!(outcome(&hit), "HIT", "{}", second.redis_stats().await);
    assert_eq!(hit.body, miss.body);
}

#[tokio::test]
async fn sixty_identical_requests_across_three_replicas_make_one_upstream_call() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let mock = MockServer::start(MockConfig::default().latency(Duration::from_millis(400)))
        .await
        .unwrap();
    let replicas = [
        Replica::start(&mock, &redis, &[]),
        Replica::start(&mock, &redis, &[]),
        Replica::start(&mock, &redis, &[]),
    ];
    let calls = (0..60).map(|i| replicas[i % 3].ask("all at once", "sk-flight"));
    let answers = futures_util::future::join_all(calls).await;
    assert!(answers.iter().all(|answer| answer.status == 200));
    assert!(answers.iter().all(|answer| answer.body == answers[0].body));
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 1);
    let misses = answers.iter().filter(|a| outcome(a) == "MISS").count();
    assert_eq!(misses, 1, "one caller made the call; 59 were served");
    let mut led = 0;
    for replica in &replicas {
        led += replica.redis_stats().await["flights_led"].as_u64().unwrap();
    }
    assert_eq!(led, 1);
}

#[tokio::test]
async fn redis_killed_mid_run_fails_no_request_and_sharing_resumes() {
    let Some((mut redis, _mock, first, second)) = two_replicas(&[]).await else {
        return;
    };
    // Four callers at once, 15 requests each, spread over both replicas;
    // Redis is killed once 15 answers are in.
    let answered = AtomicUsize::new(0);
    let callers = (0..4).map(|caller| {
        let (replica, answered) = (if caller % 2 == 0 { &first } else { &second }, &answered);
        async move {
            let mut answers = Vec::new();
            for round in 0..15 {
                answers.push(
                    replica
                        .ask(&format!("question {}", round % 5), "sk-k")
                        .await,
                );
                answered.fetch_add(1, Ordering::SeqCst);
            }
            answers
        }
    });
    let killer = async {
        while answered.load(Ordering::SeqCst) < 15 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        redis.stop();
    };
    let (answers, ()) = tokio::join!(futures_util::future::join_all(callers), killer);
    let answers: Vec<_> = answers.into_iter().flatten().collect();
    assert_eq!(answers.len(), 60);
    assert!(
        answers
            .iter()
            .all(|answer| answer.status == 200 && !answer.body.is_empty()),
        "Redis down: every request is still answered"
    );
    assert_eq!(first.redis_stats().await["up"], false);
    redis.restart();
    // The replicas probe once a second; then entries are shared again.
    let mut shared = false;
    for attempt in 0..100 {
        let text = format!("after restart {attempt}");
        first.ask(&text, "sk-k").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if outcome(&second.ask(&text, "sk-k").await) == "HIT" {
            shared = true;
            break;
        }
    }
    assert!(shared, "{}", second.redis_stats().await);
}

#[tokio::test]
async fn a_corrupt_value_in_redis_is_a_counted_miss_never_a_wrong_answer() {
    let Some((redis, mock, first, second)) = two_replicas(&[]).await else {
        return;
    };
    let original = first.ask("fragile", "sk-c").await;
    let mut entries = String::new();
    for _ in 0..50 {
        entries = redis.command("KEYS llm-layers:default:entry:*");
        if entries.contains("entry:") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let name = entries
        .lines()
        .find(|line| line.starts_with("llm-layers:"))
        .expect("the entry is in Redis")
        .to_owned();
    assert_eq!(redis.command(&format!("SET {name} garbage")).trim(), "+OK");
    let answer = second.ask("fragile", "sk-c").await;
    assert_eq!(outcome(&answer), "MISS");
    assert_eq!(answer.body, original.body);
    assert_eq!(second.redis_stats().await["corrupt"], 1);
    assert_eq!(mock.stats().requests_to("/v1/chat/completions"), 2);
}
