//! A moto_server on 127.0.0.1 for the S3 and SQS tests, started once per test
//! binary and killed with it, plus AWS clients that talk to it.

use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Moto {
    pub url: String,
}

/// The shared server; `scripts/test.sh` installs it and sets TARN_MOTO_SERVER.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let program =
            std::env::var("TARN_MOTO_SERVER").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/moto_server").to_string());
        assert!(std::path::Path::new(&program).exists(), "moto_server is not at {program}; run scripts/test.sh, which installs it");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut command = Command::new(&program);
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
        // The server dies with the test process.
        unsafe {
            use std::os::unix::process::CommandExt;
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        // PR_SET_PDEATHSIG fires when the spawning *thread* ends, so spawn from
        // a thread that lives as long as the test process.
        let (sender, receiver) = std::sync::mpsc::channel::<u32>();
        std::thread::spawn(move || {
            let mut child: Child = command.spawn().unwrap();
            sender.send(child.id()).unwrap();
            // Reaps the server if it ever exits; the test process ending kills it.
            let _ = child.wait();
        });
        receiver.recv().unwrap();
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "moto_server did not start on port {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { url: format!("http://127.0.0.1:{port}") }
    })
}

pub async fn clients() -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let credentials = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "tests");
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .endpoint_url(&moto().url)
        .load()
        .await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(true).build();
    (aws_sdk_s3::Client::from_conf(s3), aws_sdk_sqs::Client::new(&shared))
}

/// Environment for a `tarn` subprocess that talks to moto.
pub fn aws_env(command: &mut Command) -> &mut Command {
    command
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", &moto().url)
}

/// Creates a bucket on moto.
pub fn create_bucket(bucket: &str) {
    blocking(|| async {
        let (s3, _) = clients().await;
        s3.create_bucket().bucket(bucket).send().await.unwrap();
    });
}

/// The objects under `prefix` of the lake at `url` (`s3://bucket/lake`),
/// keys relative to the lake, with their bytes.
pub fn objects(url: &str, prefix: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let (bucket, lake) = url.trim_start_matches("s3://").split_once('/').unwrap();
    blocking(|| async {
        let (s3, _) = clients().await;
        let mut found = std::collections::BTreeMap::new();
        let mut pages = s3.list_objects_v2().bucket(bucket).prefix(format!("{lake}/{prefix}")).into_paginator().send();
        while let Some(page) = pages.next().await {
            for object in page.unwrap().contents() {
                let key = object.key().unwrap();
                let body = s3.get_object().bucket(bucket).key(key).send().await.unwrap().body.collect().await.unwrap();
                found.insert(key.strip_prefix(&format!("{lake}/")).unwrap().to_string(), body.to_vec());
            }
        }
        found
    })
}

/// Deletes the object `relative` of the lake at `url`.
pub fn delete_object(url: &str, relative: &str) {
    let (bucket, lake) = url.trim_start_matches("s3://").split_once('/').unwrap();
    blocking(|| async {
        let (s3, _) = clients().await;
        s3.delete_object().bucket(bucket).key(format!("{lake}/{relative}")).send().await.unwrap();
    });
}

/// Runs an SDK call to completion from synchronous test code, on a thread
/// of its own (so it works inside an async test too).
fn blocking<T: Send, F: std::future::Future<Output = T>>(call: impl FnOnce() -> F + Send) -> T {
    std::thread::scope(|scope| {
        scope.spawn(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(call())).join().unwrap()
    })
}

/// Writes the object `relative` of the lake at `url`.
pub fn put_object(url: &str, relative: &str, bytes: Vec<u8>) {
    let (bucket, lake) = url.trim_start_matches("s3://").split_once('/').unwrap();
    blocking(|| async {
        let (s3, _) = clients().await;
        s3.put_object().bucket(bucket).key(format!("{lake}/{relative}")).body(bytes.into()).send().await.unwrap();
    });
}
