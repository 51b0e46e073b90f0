//! THE retry policy of every outbound call (PagerDuty sends, LLM requests): exponential backoff with jitter up
//! to a maximum delay, a server's `Retry-After` hint honoured (up to that maximum), a budget of retries, and
//! cancellation. Callers keep their own judgement of which failures are worth retrying and say so with
//! [`Attempt`]; the loop, the delays and the budget live only here. The HTTP helpers below (429/5xx,
//! `Retry-After` in seconds, transport errors) are the common classification for plain HTTP callers.
//!
//! It must not know any particular service: no URLs, no service-specific error codes.

use std::future::Future;
use std::time::Duration;

use fake::rand::RngExt;
use tokio_util::sync::CancellationToken;

/// Longest wait between two attempts unless a caller sets its own.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Delay before the first retry; doubles each retry.
    pub base_delay: Duration,
    pub max_delay: Duration,
}

/// What one attempt ended with.
pub enum Attempt<T> {
    /// Final: success or a failure that retrying cannot fix.
    Done(T),
    /// Worth retrying; `retry_after` is the server's own hint.
    Retry { last: T, retry_after: Option<Duration> },
}

/// How a retried operation ended.
pub struct Retried<T> {
    pub outcome: T,
    /// Retried attempts made (0 when the first attempt was final).
    pub retries: u32,
    /// True when the budget ran out on a retryable failure.
    pub exhausted: bool,
}

impl RetryPolicy {
    pub fn new(max_retries: u32, base_delay: Duration) -> Self {
        Self { max_retries, base_delay, max_delay: MAX_DELAY }
    }

    /// The same policy with another cap on a single wait.
    pub fn with_max_delay(self, max_delay: Duration) -> Self {
        Self { max_delay, ..self }
    }

    /// Delay before retry number `retry` (from 1): `base × 2^(retry-1)` capped at the maximum, then a random
    /// value in its upper half (so concurrent senders spread out), or the server's `Retry-After` when larger.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self.base_delay.saturating_mul(1u32 << (retry.saturating_sub(1)).min(20)).min(self.max_delay);
        let half = exponential / 2;
        let jitter =
            if half.is_zero() { Duration::ZERO } else { half.mul_f64(fake::rand::rng().random_range(0.0..=1.0)) };
        let backoff = half + jitter;
        match retry_after {
            Some(hint) => hint.min(self.max_delay).max(backoff),
            None => backoff,
        }
    }

    /// Runs `attempt` until it is final, the budget is spent, or `cancel` fires (then `None`: no further
    /// attempt starts once cancelled).
    pub async fn run<T, F, Fut>(&self, cancel: &CancellationToken, mut attempt: F) -> Option<Retried<T>>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Attempt<T>>,
    {
        let mut retries = 0;
        loop {
            if cancel.is_cancelled() {
                return None;
            }
            let outcome = tokio::select! {
                biased;
                () = cancel.cancelled() => return None,
                outcome = attempt(retries) => outcome,
            };
            match outcome {
                Attempt::Done(outcome) => return Some(Retried { outcome, retries, exhausted: false }),
                Attempt::Retry { last, .. } if retries >= self.max_retries => {
                    return Some(Retried { outcome: last, retries, exhausted: true })
                }
                Attempt::Retry { retry_after, .. } => {
                    retries += 1;
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => return None,
                        () = tokio::time::sleep(self.delay(retries, retry_after)) => {}
                    }
                }
            }
        }
    }
}

/// Whether an HTTP status is worth retrying.
pub fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status)
}

/// Whether a transport error is worth retrying: timeouts, refused or reset connections and broken bodies
/// are; a request that could not even be built is not.
pub fn is_retryable_error(error: &reqwest::Error) -> bool {
    !error.is_builder() && !error.is_redirect()
}

/// Parses `Retry-After` given in seconds (the HTTP-date form is ignored: PagerDuty documents no such header).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let seconds: f64 = value?.trim().parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn delays_grow_with_jitter_up_to_the_maximum() {
        let policy = RetryPolicy::new(10, Duration::from_secs(1));
        for _ in 0..50 {
            let first = policy.delay(1, None);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1), "{first:?}");
            let third = policy.delay(3, None);
            assert!(third >= Duration::from_secs(2) && third <= Duration::from_secs(4), "{third:?}");
            assert!(policy.delay(30, None) <= MAX_DELAY);
        }
        assert_eq!(policy.delay(1, Some(Duration::from_secs(7))), Duration::from_secs(7));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(600))), MAX_DELAY);
        assert_eq!(RetryPolicy::new(3, Duration::ZERO).delay(2, None), Duration::ZERO);

        let capped = RetryPolicy::new(10, Duration::from_millis(400)).with_max_delay(Duration::from_secs(8));
        for _ in 0..50 {
            let first = capped.delay(1, None);
            assert!(first >= Duration::from_millis(200) && first <= Duration::from_millis(400), "{first:?}");
            assert!(capped.delay(3, None) >= Duration::from_millis(800));
            let late = capped.delay(30, None);
            assert!(late >= Duration::from_secs(4) && late <= Duration::from_secs(8), "{late:?}");
        }
        assert_eq!(capped.delay(1, Some(Duration::from_secs(60))), Duration::from_secs(8));
    }

    #[test]
    fn statuses_and_hints() {
        for status in [429, 500, 502, 503, 504] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [200, 202, 400, 401, 403, 404, 413] {
            assert!(!is_retryable_status(status), "{status}");
        }
        assert_eq!(parse_retry_after(Some(" 2 ")), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(None), None);
    }

    #[tokio::test]
    async fn retries_until_done_or_budget_spent() {
        let policy = RetryPolicy::new(3, Duration::from_millis(1));
        let token = CancellationToken::new();
        let calls = AtomicU32::new(0);
        let result = policy
            .run(&token, |_| async {
                let n = calls.fetch_add(1, Ordering::SeqCst);
                if n < 2 {
                    Attempt::Retry { last: n, retry_after: None }
                } else {
                    Attempt::Done(n)
                }
            })
            .await
            .unwrap();
        assert_eq!((result.outcome, result.retries, result.exhausted), (2, 2, false));

        let always =
            policy.run(&token, |n| async move { Attempt::Retry { last: n, retry_after: None } }).await.unwrap();
        assert_eq!((always.outcome, always.retries, always.exhausted), (3, 3, true));

        token.cancel();
        let cancelled = policy.run(&token, |n| async move { Attempt::<u32>::Done(n) }).await;
        assert!(cancelled.is_none(), "no attempt starts after cancel");
    }
}
