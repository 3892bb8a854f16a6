//! Single flight across processes: a lock with a lease per key.
//!
//! One script call per attempt reads the entry and, when there is none,
//! tries to take the lock, so a process never takes the lock for an answer
//! another process already stored. The leader's lease is renewed at a third
//! of its length while the leader runs, and released (only if still its
//! own) when the answer is stored or known not to be.

use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use llm_layers_core::CanonicalKey;
use redis::{Script, Value};

use super::counters::{FlightRole, Op};
use super::Inner;
use crate::store::{Claim, Lease, StoreError};

/// `KEYS[1]` the entry, `KEYS[2]` the lock; `ARGV[1]` a token, `ARGV[2]`
/// the lease in ms. `{1, value}`: the entry; `{2}`: the lock is ours;
/// `{3}`: another process holds it.
const CLAIM: &str = r"
local entry = redis.call('GET', KEYS[1])
if entry then return {1, entry} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {2} end
return {3}
";

/// Extends the lease if the lock is still ours.
const RENEW: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Frees the lock if it is still ours (`ARGV[2]`, the lease, unused).
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

static CLAIM_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CLAIM));
static RENEW_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RENEW));
static RELEASE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RELEASE));

/// Pauses between attempts while another process leads.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(100);

enum Attempt {
    Found(Vec<u8>),
    Locked,
    Held,
}

/// Claims `key` for this process: see [`crate::CacheStore::claim`].
pub(super) async fn claim(store: Arc<Inner>, key: CanonicalKey) -> Result<Claim, StoreError> {
    let deadline = Instant::now() + store.config.flight_wait;
    let token = format!("{:032x}", fastrand::u128(..));
    let mut pause = FIRST_PAUSE;
    let mut waited = false;
    loop {
        if Instant::now() >= deadline {
            store.counters.flight(FlightRole::TimedOut);
            return Ok(Claim::Alone);
        }
        let attempt = match try_claim(&store, &key, &token).await {
            Ok(attempt) => attempt,
            // Counted by `run`; without Redis there is no one to agree with.
            Err(_) => return Ok(Claim::Alone),
        };
        match attempt {
            Attempt::Found(value) => match store.read_value(&key, &value) {
                Some(entry) => {
                    if waited {
                        store.counters.flight(FlightRole::Followed);
                    }
                    store.counters.looked_up(true);
                    return Ok(Claim::Found(entry));
                }
                // Unusable: removed, and the next attempt may lead.
                None => {
                    store.drop_unusable(&store.keys.entry(&key)).await;
                    continue;
                }
            },
            Attempt::Locked => {
                store.counters.flight(FlightRole::Led);
                return Ok(Claim::Lead(Lease::new(RedisLease::hold(
                    store.clone(),
                    key,
                    token,
                ))));
            }
            Attempt::Held => {
                let now = Instant::now();
                if now + pause > deadline {
                    store.counters.flight(FlightRole::TimedOut);
                    return Ok(Claim::Alone);
                }
                waited = true;
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
        }
    }
}

async fn try_claim(store: &Inner, key: &CanonicalKey, token: &str) -> Result<Attempt, StoreError> {
    let script = &*CLAIM_SCRIPT;
    let mut connection = store.connection();
    let lease = store.config.flight_lease.as_millis().max(1) as u64;
    let answer: Value = store
        .run(Op::Claim, store.config.operation_timeout, async {
            script
                .key(store.keys.entry(key))
                .key(store.keys.lock(key))
                .arg(token)
                .arg(lease)
                .invoke_async(&mut connection)
                .await
        })
        .await?;
    Ok(match answer {
        Value::Array(mut parts) if parts.len() == 2 => match parts.pop() {
            Some(Value::BulkString(value)) => Attempt::Found(value),
            _ => Attempt::Held,
        },
        Value::Array(parts) if matches!(parts.first(), Some(Value::Int(2))) => Attempt::Locked,
        _ => Attempt::Held,
    })
}

/// A held lock: renewed in the background, released when dropped.
struct RedisLease {
    store: Arc<Inner>,
    lock: String,
    token: String,
    renewal: Option<tokio::task::JoinHandle<()>>,
}

impl RedisLease {
    fn hold(store: Arc<Inner>, key: CanonicalKey, token: String) -> RedisLease {
        let lock = store.keys.lock(&key);
        let renewal = tokio::runtime::Handle::try_current().ok().map(|runtime| {
            let (store, lock, token) = (store.clone(), lock.clone(), token.clone());
            runtime.spawn(async move { renew(store, lock, token).await })
        });
        RedisLease {
            store,
            lock,
            token,
            renewal,
        }
    }
}

async fn renew(store: Arc<Inner>, lock: String, token: String) {
    let lease = store.config.flight_lease;
    loop {
        tokio::time::sleep(lease / 3).await;
        let renewed = on_lock(&store, Op::Renew, &RENEW_SCRIPT, &lock, &token).await;
        // Lost (expired and taken) or Redis gone: nothing left to renew.
        if !matches!(renewed, Ok(1)) {
            return;
        }
    }
}

/// Runs a script on this leader's lock (its token, then the lease in ms).
async fn on_lock(
    store: &Inner,
    op: Op,
    script: &Script,
    lock: &str,
    token: &str,
) -> Result<i64, StoreError> {
    let mut connection = store.connection();
    let lease = store.config.flight_lease.as_millis().max(1) as u64;
    store
        .run(op, store.config.operation_timeout, async {
            script
                .key(lock)
                .arg(token)
                .arg(lease)
                .invoke_async(&mut connection)
                .await
        })
        .await
}

impl Drop for RedisLease {
    fn drop(&mut self) {
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return; // The lease expires on its own.
        };
        let (store, lock, token) = (
            self.store.clone(),
            std::mem::take(&mut self.lock),
            std::mem::take(&mut self.token),
        );
        runtime.spawn(async move {
            let _ = on_lock(&store, Op::Release, &RELEASE_SCRIPT, &lock, &token).await;
        });
    }
}
