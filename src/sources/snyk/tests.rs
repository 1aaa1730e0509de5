use super::*;
use chrono::TimeZone;
use std::time::Duration;

fn at(seconds: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc.timestamp_opt(seconds, 0).unwrap()
}

#[test]
fn a_429_waits_as_the_server_says() {
    let now = at(1_800_000_000);
    assert_eq!(rate_limit_wait(Some("7"), Some("30"), now), Duration::from_secs(7), "Retry-After first");
    assert_eq!(rate_limit_wait(None, Some("30"), now), Duration::from_secs(30), "then X-RateLimit-Reset as seconds");
    assert_eq!(rate_limit_wait(None, Some("1800000042"), now), Duration::from_secs(42), "or as the epoch second of the reset");
    assert_eq!(rate_limit_wait(Some("Fri, 15 Jan 2027 08:00:10 GMT"), None, now), Duration::from_secs(10), "or an HTTP date");
    assert_eq!(rate_limit_wait(None, None, now), Duration::from_secs(60), "else about a minute");
    assert_eq!(rate_limit_wait(Some("soon"), None, now), Duration::from_secs(60), "an unreadable header counts as none");
    assert_eq!(rate_limit_wait(Some("86400"), None, now), Duration::from_secs(900), "never more than 15 minutes");
}

#[test]
fn backoff_doubles_with_jitter_up_to_a_cap() {
    for seed in [0, 499, 999] {
        let waits: Vec<Duration> = (1..=12).map(|tries| backoff(tries, seed)).collect();
        for (tries, wait) in (1..=12).zip(&waits) {
            let full = Duration::from_millis(500).saturating_mul(1 << (tries - 1)).min(Duration::from_secs(60));
            assert!(*wait >= full / 2 && *wait <= full, "try {tries}: {wait:?} not within half of {full:?}");
        }
        assert!(waits[11] <= Duration::from_secs(60));
    }
    assert!(backoff(3, 0) < backoff(3, 999), "jitter spreads retries");
}

#[test]
fn the_cursor_admits_only_what_the_lake_does_not_hold() {
    let mut cursor = Cursor::new(None);
    assert!(cursor.admit(100, "a"));
    assert!(cursor.admit(200, "b"));
    assert!(cursor.admit(200, "c"));
    let held = cursor.checkpoint("2026-11-01T00:00:00Z", None);
    assert_eq!(held.ids, ["b", "c"]);
    // A restart asks again from 200: b and c are served again, then d at the same instant, then e.
    let mut again = Cursor::new(Some(&held));
    assert!(!again.admit(100, "a"), "older than the checkpoint");
    assert!(!again.admit(200, "c"));
    assert!(again.admit(200, "d"), "same instant, not held");
    assert!(!again.admit(200, "b"));
    assert!(again.admit(300, "e"));
    assert_eq!(again.checkpoint("x", None).ids, ["e"]);
}

#[test]
fn identical_records_at_one_instant_are_counted() {
    let mut cursor = Cursor::new(None);
    assert!(cursor.admit(5, "same"));
    assert!(cursor.admit(5, "same"));
    let held = cursor.checkpoint("x", None);
    let mut again = Cursor::new(Some(&held));
    assert!(!again.admit(5, "same"));
    assert!(!again.admit(5, "same"));
    assert!(again.admit(5, "same"), "a third copy was never held");
}

#[test]
fn a_checkpoint_round_trips_through_the_commit_log() {
    let mut cursor = Cursor::new(None);
    cursor.admit(1_763_500_000_123_000, "f1");
    let checkpoint = cursor.checkpoint("2026-11-20T00:00:00.000000Z", Some("2026-11-21T00:00:00.000000Z".into()));
    assert_eq!(checkpoint.last_created.as_deref(), Some("2025-11-18T21:06:40.123000Z"));
    let value = serde_json::to_value(&checkpoint).unwrap();
    let back: Checkpoint = serde_json::from_value(value).unwrap();
    assert_eq!(back, checkpoint);
    assert_eq!(Cursor::new(Some(&back)).last(), Some(1_763_500_000_123_000));
}

#[test]
fn fingerprints_ignore_key_order_but_not_values() {
    let a: serde_json::Value =
        serde_json::from_str(r#"{"event":"org.user.add","created":"2026-11-20T10:00:00Z","content":{"a":1,"b":2}}"#).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(r#"{"content":{"b":2,"a":1},"created":"2026-11-20T10:00:00Z","event":"org.user.add"}"#).unwrap();
    let c: serde_json::Value =
        serde_json::from_str(r#"{"event":"org.user.add","created":"2026-11-20T10:00:00Z","content":{"a":1,"b":3}}"#).unwrap();
    assert_eq!(cursor::fingerprint(&a), cursor::fingerprint(&b));
    assert_ne!(cursor::fingerprint(&a), cursor::fingerprint(&c));
}

#[test]
fn the_token_stays_out_of_debug_output() {
    // SAFETY: tests in this module do not read this variable concurrently.
    unsafe { std::env::set_var("TARN_TEST_SNYK_TOKEN_DEBUG", "s3cr3t-token-value") };
    let mut config = SnykConfig::new(Some("0de7b2d6".into()), None);
    config.token_env = "TARN_TEST_SNYK_TOKEN_DEBUG".into();
    let token = config.token().unwrap();
    assert!(!format!("{token:?} {config:?}").contains("s3cr3t"));
    assert_eq!(token.header(), "token s3cr3t-token-value");
}
