//! AWS clients from the standard credential chain and region resolution
//! (environment, profiles, SSO, instance roles), with an optional endpoint
//! for S3-compatible or local servers, which also switches S3 to path-style
//! addressing.

pub mod cloudtrail;
pub mod s3;
pub mod sqs;

/// What went wrong reaching AWS or keeping what came from it.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// An AWS call failed: what tarn was doing, and the service's answer
    /// (see [`crate::error_line`]), with what to check where that helps.
    #[error("{what}: {answer}")]
    Call { what: String, answer: String },
    /// A local file or folder for downloads could not be written.
    #[error("{path}")]
    Local {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Where and how to reach AWS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsOptions {
    pub region: Option<String>,
    /// `--endpoint-url` / `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
}

/// An SNS client for `options` (alert destinations).
pub async fn sns_client(options: &AwsOptions) -> aws_sdk_sns::Client {
    aws_sdk_sns::Client::new(&shared_config(options).await.0)
}

/// The SDK's shared config for `options`, and the endpoint it points at.
async fn shared_config(options: &AwsOptions) -> (aws_config::SdkConfig, Option<String>) {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let endpoint = options.endpoint_url.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()).filter(|e| !e.is_empty());
    if let Some(endpoint) = &endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    (loader.load().await, endpoint)
}

/// S3 and SQS clients for `options`.
pub async fn clients(options: &AwsOptions) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let (shared, endpoint) = shared_config(options).await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(endpoint.is_some()).build();
    (aws_sdk_s3::Client::from_conf(s3), aws_sdk_sqs::Client::new(&shared))
}
