//! Records per second from SQS notification to committed Parquet, against
//! moto_server on 127.0.0.1, and how much of that time is the server's.
//!
//! `cargo bench --bench sqs` (moto_server from TARN_MOTO_SERVER or ./.venv,
//! which scripts/test.sh installs). It uploads a generated CloudTrail corpus
//! to a bucket whose notifications go to a queue, then:
//! 1. server only: drains a second queue carrying the same notifications —
//!    receive, GetObject each object (8 at once), delete — with no decoding;
//! 2. tarn: `pull sqs --once` on the first queue into a fresh lake.
//!
//! The server's share is (1) / (2).
//!
//! Size: TARN_BENCH_SQS_FILES (default 100) files of 1,000 events.

use futures::StreamExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    // The SDK's standard chain reads these; set before any thread starts.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "bench");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "bench");
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let files: u64 = std::env::var("TARN_BENCH_SQS_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let (mut moto, url) = start_moto();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let result = runtime.block_on(run(&url, files));
    let _ = moto.kill();
    let _ = moto.wait();
    result.unwrap();
}

fn start_moto() -> (Child, String) {
    let program =
        std::env::var("TARN_MOTO_SERVER").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/moto_server").to_string());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program} ({e}); run scripts/test.sh once to install it"));
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, format!("http://127.0.0.1:{port}"))
}

async fn run(url: &str, files: u64) -> Result<(), String> {
    let aws = tarn::sources::aws::AwsOptions { region: Some("us-east-1".into()), endpoint_url: Some(url.to_string()) };
    let (s3, sqs) = tarn::sources::aws::clients(&aws).await;
    let scratch = std::env::temp_dir().join(format!("tarn-bench-sqs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut plan = tarn::generate::Plan::new(&scratch.join("sample"));
    plan.cloudtrail_events = files * 1_000;
    plan.events_per_file = 1_000;
    plan.snyk_events = 0;
    let generated = tarn::generate::generate(&plan).map_err(|e| e.to_string())?;

    s3.create_bucket().bucket("bench").send().await.map_err(|e| e.to_string())?;
    let mut queues = Vec::new();
    for name in ["tarn", "server-only"] {
        queues
            .push(sqs.create_queue().queue_name(name).send().await.map_err(|e| e.to_string())?.queue_url().unwrap_or_default().to_string());
    }
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
    let to_queue = QueueConfiguration::builder()
        .queue_arn("arn:aws:sqs:us-east-1:123456789012:tarn")
        .events(Event::S3ObjectCreated)
        .build()
        .map_err(|e| e.to_string())?;
    let configuration = NotificationConfiguration::builder().queue_configurations(to_queue).build();
    s3.put_bucket_notification_configuration()
        .bucket("bench")
        .notification_configuration(configuration)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    for file in &generated.cloudtrail_files {
        let key = file.strip_prefix(scratch.join("sample")).unwrap().display().to_string();
        s3.put_object().bucket("bench").key(&key).body(std::fs::read(file).unwrap().into()).send().await.map_err(|e| e.to_string())?;
        let body = serde_json::json!({"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "bench"}, "object": {"key": key}}}]}).to_string();
        sqs.send_message().queue_url(&queues[1]).message_body(body).send().await.map_err(|e| e.to_string())?;
    }

    // 1. The server's part alone.
    let started = Instant::now();
    let mut fetched = 0u64;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&queues[1])
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let messages = received.messages().to_vec();
        if messages.is_empty() {
            break;
        }
        let keys: Vec<String> = messages
            .iter()
            .filter_map(|m| serde_json::from_str::<serde_json::Value>(m.body()?).ok())
            .filter_map(|v| v["Records"][0]["s3"]["object"]["key"].as_str().map(str::to_string))
            .collect();
        let sizes: Vec<usize> = futures::stream::iter(keys.into_iter().map(|key| {
            let s3 = s3.clone();
            async move {
                let object = s3.get_object().bucket("bench").key(key).send().await.unwrap();
                object.body.collect().await.unwrap().into_bytes().len()
            }
        }))
        .buffer_unordered(8)
        .collect()
        .await;
        fetched += sizes.len() as u64;
        for message in &messages {
            sqs.delete_message()
                .queue_url(&queues[1])
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    let server = started.elapsed().as_secs_f64();

    // 2. tarn, notification to committed Parquet.
    let lake = tarn::lake::Lake::open(&scratch.join("lake")).map_err(|e| e.to_string())?;
    let registry = tarn::schema::Registry::built_in();
    let config = tarn::sources::aws::sqs::SqsConfig {
        queue_url: queues[0].clone(),
        region: Some("us-east-1".into()),
        endpoint_url: Some(url.to_string()),
        chunk_size: 10_000,
        frequency: 1,
        delete_consumed_messages: true,
        log_type: None,
        max_receives: 5,
        visibility_timeout: 300,
        max_record_size: tarn::formats::json::DEFAULT_MAX_RECORD,
        dedupe_window: "24h".into(),
    };
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let report = tarn::sources::aws::sqs::pull(&lake, &registry, &config, true, stop).await.map_err(|e| e.to_string())?;
    let total = started.elapsed().as_secs_f64();
    assert_eq!(report.rows, generated.cloudtrail_events, "every event lands");
    assert_eq!(fetched, files);
    println!(
        "{} objects, {} events ({:.0} MB uncompressed): tarn {:.1} s = {:.0} events/s ({:.1} MB/s), {} commits; server-only receive+get+delete {:.1} s = {:.0}% of tarn's time",
        files,
        report.rows,
        generated.cloudtrail_bytes as f64 / 1e6,
        total,
        report.rows as f64 / total,
        generated.cloudtrail_bytes as f64 / 1e6 / total,
        report.commits,
        server,
        100.0 * server / total
    );
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}
