//! AWS clients from the standard credential chain and region resolution
//! (environment, profiles, SSO, instance roles), with an optional endpoint
//! for S3-compatible or local servers, which also switches S3 to path-style
//! addressing.

/// Where and how to reach AWS.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AwsOptions {
    pub region: Option<String>,
    /// `--endpoint-url` / `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
}

/// S3 and SQS clients for `options`.
pub async fn clients(options: &AwsOptions) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client) {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let endpoint = options.endpoint_url.clone().or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()).filter(|e| !e.is_empty());
    if let Some(endpoint) = &endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    let shared = loader.load().await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared).force_path_style(endpoint.is_some()).build();
    (aws_sdk_s3::Client::from_conf(s3), aws_sdk_sqs::Client::new(&shared))
}

/// An SDK error as one line, with the service's code and message.
pub fn error_text<E: std::error::Error>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
