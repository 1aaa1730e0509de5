//! Records per second from the Snyk REST API to committed Parquet, against
//! the in-process Snyk API the tests use (a real HTTP server on 127.0.0.1,
//! one connection a request), and how much of that time is the server's.
//!
//! `cargo bench --bench snyk`. It serves TARN_BENCH_SNYK_RECORDS (default
//! 100,000) realistic org audit records, then:
//! 1. server only: fetches every page the way tarn does (GET, `links.next`)
//!    with no decoding;
//! 2. tarn: `pull snyk --once` into a fresh lake (chunks of 10,000).

#[path = "../tests/common/snyk_api.rs"]
mod snyk_api;

use snyk_api::{Scope, SnykApi, TOKEN, records};
use std::time::Instant;

fn main() {
    let count: usize = std::env::var("TARN_BENCH_SNYK_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let api = SnykApi::start();
    let org = snyk_api::uuid(1, 1);
    // Whole seconds, so both readers below start at the first record.
    let start = chrono::SubsecRound::trunc_subsecs(chrono::Utc::now() - chrono::Duration::days(60), 0);
    let served: Vec<_> = records(Scope { group: "4a18d42f-0706-4ad0-b127-24078731fbed", org: Some(&org) }, 1, start, count)
        .into_iter()
        .filter(|r| r["event"] != "api.access")
        .collect();
    let bytes: usize = served.iter().map(|r| r.to_string().len()).sum();
    api.add_org(&org, served.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();

    // 1. The server alone (with the TLS provider tarn's client installs).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let server_only = runtime.block_on(async {
        let client = reqwest::Client::new();
        let began = Instant::now();
        let mut next = Some(format!(
            "/rest/orgs/{org}/audit_logs/search?version=2024-04-29&from={}&size=100&sort_order=ASC",
            start.format("%Y-%m-%dT%H:%M:%SZ")
        ));
        let mut items = 0;
        while let Some(path) = next {
            let body = client
                .get(format!("{}{path}", api.url))
                .header("Authorization", format!("token {TOKEN}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
            items += page["data"]["items"].as_array().unwrap().len();
            next = page["links"]["next"].as_str().map(str::to_string);
        }
        assert_eq!(items, served.len());
        began.elapsed()
    });

    // 2. tarn.
    let dir = std::env::temp_dir().join(format!("tarn-bench-snyk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let lake = tarn::lake::Lake::open(&dir.join("lake")).unwrap();
    let registry = tarn::schema::Registry::built_in();
    unsafe { std::env::set_var("TARN_BENCH_SNYK_TOKEN", TOKEN) };
    let mut config = tarn::sources::snyk::SnykConfig::new(Some(org.clone()), None);
    config.api_url = api.url.clone();
    config.token_env = "TARN_BENCH_SNYK_TOKEN".into();
    config.from = Some(start.to_rfc3339());
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let began = Instant::now();
    let report = runtime.block_on(tarn::sources::snyk::pull(&lake, &registry, &config, "bench", true, stop)).unwrap();
    let took = began.elapsed();
    assert_eq!(report.rows as usize, served.len());
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "snyk: {} records ({:.1} MB of JSON) in {} pages, {} commits: {:.2} s, {:.0} records/s; server alone {:.2} s ({:.0}% of the time)",
        report.rows,
        bytes as f64 / 1e6,
        report.pages,
        report.commits,
        took.as_secs_f64(),
        report.rows as f64 / took.as_secs_f64(),
        server_only.as_secs_f64(),
        100.0 * server_only.as_secs_f64() / took.as_secs_f64()
    );
}
