//! Checks an AWS Signature Version 4 on a request, as an AWS service does:
//! the `Authorization` header's access key must be the one tarn was given,
//! the signature must be the one tarn computes over the request (its method,
//! path, query, signed headers and the SHA-256 of its body, so a tampered
//! body fails), `X-Amz-Date` must be within five minutes of now, and a
//! session token must be the one tarn holds. The canonical request and the
//! signature are computed by the AWS SDK's own signer (`aws-sigv4`), so the
//! rules are the SDK's, not a copy of them.

use aws_sigv4::http_request::{SessionTokenMode, SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};

/// How far `X-Amz-Date` may be from now (AWS allows five minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(300);

/// The service name requests are signed for.
pub const SERVICE: &str = "cloudtrail-data";

/// The credentials callers sign with.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// When set, a request must carry this `X-Amz-Security-Token`.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

/// Why a request's signature is refused, as AWS names it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing Authentication Token")]
    Missing,
    #[error("{0}")]
    Incomplete(String),
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    #[error("{0}")]
    BadSignature(String),
}

impl AuthError {
    /// The error code AWS sends, and its HTTP status.
    pub fn code(&self) -> (&'static str, u16) {
        match self {
            AuthError::Missing => ("MissingAuthenticationTokenException", 403),
            AuthError::Incomplete(_) => ("IncompleteSignatureException", 400),
            AuthError::UnknownKey => ("UnrecognizedClientException", 403),
            AuthError::BadSignature(_) => ("InvalidSignatureException", 403),
        }
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<Authorization<'_>, AuthError> {
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256 ") else {
        return Err(AuthError::Incomplete(format!(
            "Authorization header '{}' is not AWS4-HMAC-SHA256",
            value.split(' ').next().unwrap_or("")
        )));
    };
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {
                return Err(AuthError::Incomplete(format!(
                    "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header"
                )));
            }
        }
    }
    let missing: Vec<&str> = [("Credential", credential), ("SignedHeaders", signed), ("Signature", signature)]
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| *name)
        .collect();
    let (Some(credential), Some(signed), Some(signature)) = (credential, signed, signature) else {
        return Err(AuthError::Incomplete(format!("Authorization header requires {} parameter", missing.join(", "))));
    };
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(AuthError::Incomplete(format!(
            "Credential '{credential}' must be <access key>/<yyyymmdd>/<region>/<service>/aws4_request"
        )));
    };
    Ok(Authorization { access_key_id, date, region, service, signed_headers: signed.split(';').collect(), signature })
}

/// Checks the signature of a request: `target` is its path and query as
/// sent, `headers` its headers (names in any case), `body` its bytes.
pub fn verify(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    credentials: &Credentials,
    now: SystemTime,
) -> Result<(), AuthError> {
    let header = |name: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let auth = parse_authorization(header("authorization").ok_or(AuthError::Missing)?)?;
    if auth.access_key_id != credentials.access_key_id {
        return Err(AuthError::UnknownKey);
    }
    if auth.service != SERVICE {
        return Err(AuthError::BadSignature(format!("Credential should be scoped to correct service: '{SERVICE}'.")));
    }
    let amz_date = header("x-amz-date").ok_or_else(|| {
        AuthError::Incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.".into())
    })?;
    let signed_at = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| AuthError::Incomplete(format!("X-Amz-Date '{amz_date}' is not yyyymmddThhmmssZ")))?
        .and_utc();
    if !amz_date.starts_with(auth.date) || auth.date.len() != 8 {
        return Err(AuthError::BadSignature(format!(
            "Credential should be scoped to a valid date: '{}' is not the date of X-Amz-Date {amz_date}.",
            auth.date
        )));
    }
    check_skew(signed_at, now)?;
    let token = header("x-amz-security-token");
    if token != credentials.session_token.as_deref() {
        return Err(AuthError::UnknownKey);
    }
    let body_hash = hex(&Sha256::digest(body));
    if let Some(claimed) = header("x-amz-content-sha256")
        && claimed != body_hash
    {
        return Err(AuthError::BadSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed (an unsigned or changed body is refused).".into(),
        ));
    }
    if !auth.signed_headers.contains(&"host") {
        return Err(AuthError::BadSignature("'Host' must be a signed header.".into()));
    }
    let computed = signature(method, target, headers, body, credentials, &auth, signed_at.into())?;
    if !constant_time_eq(computed.as_bytes(), auth.signature.as_bytes()) {
        return Err(AuthError::BadSignature(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
        ));
    }
    Ok(())
}

/// Refuses a signature made more than [`MAX_SKEW`] from `now`, in AWS's words.
fn check_skew(signed_at: chrono::DateTime<chrono::Utc>, now: SystemTime) -> Result<(), AuthError> {
    let now: chrono::DateTime<chrono::Utc> = now.into();
    let skew = chrono::Duration::from_std(MAX_SKEW).unwrap_or_default();
    let stamp = |t: chrono::DateTime<chrono::Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    if signed_at < now - skew {
        return Err(AuthError::BadSignature(format!(
            "Signature expired: {} is now earlier than {} ({} - 5 min.)",
            stamp(signed_at),
            stamp(now - skew),
            stamp(now)
        )));
    }
    if signed_at > now + skew {
        return Err(AuthError::BadSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            stamp(signed_at),
            stamp(now + skew),
            stamp(now)
        )));
    }
    Ok(())
}

/// The signature the SDK's signer makes for this request with tarn's
/// secret, over the headers the caller said it signed.
fn signature(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    credentials: &Credentials,
    auth: &Authorization<'_>,
    signed_at: SystemTime,
) -> Result<String, AuthError> {
    let refused = |e: &dyn std::fmt::Display| AuthError::BadSignature(format!("The request cannot be signed as sent: {e}"));
    let identity = aws_credential_types::Credentials::new(
        &credentials.access_key_id,
        &credentials.secret_access_key,
        credentials.session_token.clone(),
        None,
        "tarn",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Sign exactly what the caller signed; the signer adds the date and the token itself.
    settings.excluded_headers = None;
    if !auth.signed_headers.contains(&"x-amz-security-token") {
        settings.session_token_mode = SessionTokenMode::Exclude;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(signed_at)
        .settings(settings)
        .build()
        .map_err(|e| refused(&e))?
        .into();
    let signed: Vec<(&str, &str)> = headers
        .iter()
        .filter(|(k, _)| auth.signed_headers.iter().any(|s| k.eq_ignore_ascii_case(s)))
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-amz-date") && !k.eq_ignore_ascii_case("x-amz-security-token"))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let request = SignableRequest::new(method, target, signed.into_iter(), SignableBody::Bytes(body)).map_err(|e| refused(&e))?;
    let (instructions, signature) = sign(request, &params).map_err(|e| refused(&e))?.into_parts();
    // Headers the caller listed but did not send (or sent twice) change the list.
    let ours = instructions.headers().find(|(k, _)| *k == "authorization").map(|(_, v)| v.to_string()).unwrap_or_default();
    let listed = format!("SignedHeaders={},", auth.signed_headers.join(";"));
    if !ours.contains(&listed) {
        return Err(AuthError::BadSignature(
            "The request signature we calculated does not match the signature you provided: a signed header is missing from the request."
                .into(),
        ));
    }
    Ok(signature)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal bytes, compared in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credentials(token: Option<&str>) -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: token.map(str::to_string),
        }
    }

    /// Signs a request the way an SDK client does, with the SDK's signer.
    fn signed(body: &[u8], at: SystemTime, creds: &Credentials) -> Vec<(String, String)> {
        let identity = aws_credential_types::Credentials::new(
            &creds.access_key_id,
            &creds.secret_access_key,
            creds.session_token.clone(),
            None,
            "test",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name(SERVICE)
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let headers = [("host", "127.0.0.1:9999"), ("content-type", "application/json")];
        let request = SignableRequest::new("POST", TARGET, headers.into_iter(), SignableBody::Bytes(body)).unwrap();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut all: Vec<(String, String)> = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        all.extend(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    }

    const TARGET: &str = "/PutAuditEvents?channelArn=arn%3Aaws%3Acloudtrail%3Aeu-west-1%3A111122223333%3Achannel%2Fx";

    #[test]
    fn a_request_signed_with_the_secret_passes_and_a_changed_one_does_not() {
        let (creds, now) = (credentials(None), SystemTime::now());
        let headers = signed(b"{\"auditEvents\":[]}", now, &creds);
        assert_eq!(verify("POST", TARGET, &headers, b"{\"auditEvents\":[]}", &creds, now), Ok(()));
        let tampered = verify("POST", TARGET, &headers, b"{\"auditEvents\":[1]}", &creds, now).unwrap_err();
        assert_eq!(tampered.code().0, "InvalidSignatureException");
        let other_query = verify("POST", "/PutAuditEvents?channelArn=y", &headers, b"{\"auditEvents\":[]}", &creds, now).unwrap_err();
        assert_eq!(other_query.code().0, "InvalidSignatureException");
        let wrong_secret = Credentials { secret_access_key: "other".into(), ..creds.clone() };
        assert_eq!(
            verify("POST", TARGET, &headers, b"{\"auditEvents\":[]}", &wrong_secret, now).unwrap_err().code().0,
            "InvalidSignatureException"
        );
        let other_key = Credentials { access_key_id: "AKIDOTHER".into(), ..creds };
        assert_eq!(verify("POST", TARGET, &headers, b"{\"auditEvents\":[]}", &other_key, now), Err(AuthError::UnknownKey));
    }

    #[test]
    fn a_signature_older_than_five_minutes_is_expired() {
        let creds = credentials(None);
        let then = SystemTime::now() - Duration::from_secs(20 * 60);
        let headers = signed(b"{}", then, &creds);
        let error = verify("POST", TARGET, &headers, b"{}", &creds, SystemTime::now()).unwrap_err();
        assert!(error.to_string().starts_with("Signature expired:"), "{error}");
        let four_minutes_on = then + Duration::from_secs(4 * 60);
        assert_eq!(verify("POST", TARGET, &headers, b"{}", &creds, four_minutes_on), Ok(()));
    }

    #[test]
    fn a_session_token_is_signed_and_must_be_the_one_tarn_holds() {
        let creds = credentials(Some("token-1"));
        let now = SystemTime::now();
        let headers = signed(b"{}", now, &creds);
        assert!(headers.iter().any(|(k, _)| k == "x-amz-security-token"));
        assert_eq!(verify("POST", TARGET, &headers, b"{}", &creds, now), Ok(()));
        let other = Credentials { session_token: Some("token-2".into()), ..creds.clone() };
        assert_eq!(verify("POST", TARGET, &headers, b"{}", &other, now), Err(AuthError::UnknownKey));
        let without: Vec<_> = headers.into_iter().filter(|(k, _)| k != "x-amz-security-token").collect();
        assert_eq!(verify("POST", TARGET, &without, b"{}", &creds, now), Err(AuthError::UnknownKey));
    }

    #[test]
    fn an_unsigned_request_is_missing_its_token() {
        let headers = vec![("host".to_string(), "x".to_string())];
        assert_eq!(verify("POST", TARGET, &headers, b"{}", &credentials(None), SystemTime::now()), Err(AuthError::Missing));
        let garbled = vec![("authorization".to_string(), "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE".to_string())];
        assert_eq!(
            verify("POST", TARGET, &garbled, b"{}", &credentials(None), SystemTime::now()).unwrap_err().code().0,
            "IncompleteSignatureException"
        );
    }
}
