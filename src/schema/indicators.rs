//! Indicators: values a schema marks as IPs, domains, ARNs, ... collected into
//! the standard `p_any_*` columns so one query can search every table for them.

use std::collections::BTreeSet;
use std::net::IpAddr;

/// One indicator kind a string field may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Indicator {
    Ip,
    Domain,
    Hostname,
    Url,
    NetAddr,
    Md5,
    Sha1,
    Sha256,
    TraceId,
    AwsArn,
    AwsAccountId,
    AwsInstanceId,
    AwsTag,
    Email,
    Username,
}

pub const IP_ADDRESSES: &str = "p_any_ip_addresses";
pub const DOMAIN_NAMES: &str = "p_any_domain_names";
pub const AWS_ARNS: &str = "p_any_aws_arns";
pub const AWS_ACCOUNT_IDS: &str = "p_any_aws_account_ids";
pub const AWS_INSTANCE_IDS: &str = "p_any_aws_instance_ids";

impl Indicator {
    pub fn parse(name: &str) -> Option<Indicator> {
        Some(match name {
            "ip" => Indicator::Ip,
            "domain" => Indicator::Domain,
            "hostname" => Indicator::Hostname,
            "url" => Indicator::Url,
            "net_addr" => Indicator::NetAddr,
            "md5" => Indicator::Md5,
            "sha1" => Indicator::Sha1,
            "sha256" => Indicator::Sha256,
            "trace_id" => Indicator::TraceId,
            "aws_arn" => Indicator::AwsArn,
            "aws_account_id" => Indicator::AwsAccountId,
            "aws_instance_id" => Indicator::AwsInstanceId,
            "aws_tag" => Indicator::AwsTag,
            "email" => Indicator::Email,
            "username" => Indicator::Username,
            _ => return None,
        })
    }

    /// The `p_any_*` columns this indicator can fill.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Indicator::Ip => &[IP_ADDRESSES],
            Indicator::Domain => &[DOMAIN_NAMES],
            Indicator::Hostname | Indicator::Url | Indicator::NetAddr => &[DOMAIN_NAMES, IP_ADDRESSES],
            Indicator::Md5 => &["p_any_md5_hashes"],
            Indicator::Sha1 => &["p_any_sha1_hashes"],
            Indicator::Sha256 => &["p_any_sha256_hashes"],
            Indicator::TraceId => &["p_any_trace_ids"],
            Indicator::AwsArn => &[AWS_ARNS, AWS_ACCOUNT_IDS, AWS_INSTANCE_IDS],
            Indicator::AwsAccountId => &[AWS_ACCOUNT_IDS],
            Indicator::AwsInstanceId => &[AWS_INSTANCE_IDS],
            Indicator::AwsTag => &["p_any_aws_tags"],
            Indicator::Email => &["p_any_emails"],
            Indicator::Username => &["p_any_usernames"],
        }
    }

    /// Adds what `value` holds for this indicator to `found` (column, value).
    pub fn collect(self, value: &str, found: &mut BTreeSet<(&'static str, String)>) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        match self {
            Indicator::Ip => {
                if value.parse::<IpAddr>().is_ok() {
                    found.insert((IP_ADDRESSES, value.to_string()));
                }
            }
            Indicator::Domain => {
                if value.parse::<IpAddr>().is_err() && is_domain_like(value) {
                    found.insert((DOMAIN_NAMES, value.to_ascii_lowercase()));
                }
            }
            Indicator::Hostname => collect_host(value, found),
            Indicator::Url => {
                let after_scheme = value.split_once("://").map_or(value, |(_, rest)| rest);
                let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or_default();
                let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
                collect_host(strip_port(host_port), found);
            }
            Indicator::NetAddr => collect_host(strip_port(value), found),
            Indicator::AwsArn => {
                if !value.starts_with("arn:") {
                    return;
                }
                found.insert((AWS_ARNS, value.to_string()));
                // arn:partition:service:region:account-id:resource
                let parts: Vec<&str> = value.splitn(6, ':').collect();
                if let Some(account) = parts.get(4).filter(|a| is_account_id(a)) {
                    found.insert((AWS_ACCOUNT_IDS, account.to_string()));
                }
                if let Some(resource) = parts.get(5)
                    && let Some(id) = resource.strip_prefix("instance/").filter(|id| id.starts_with("i-"))
                {
                    found.insert((AWS_INSTANCE_IDS, id.to_string()));
                }
            }
            Indicator::AwsAccountId => {
                if is_account_id(value) {
                    found.insert((AWS_ACCOUNT_IDS, value.to_string()));
                }
            }
            Indicator::Md5 | Indicator::Sha1 | Indicator::Sha256 | Indicator::Email => {
                found.insert((self.columns()[0], value.to_ascii_lowercase()));
            }
            Indicator::TraceId | Indicator::AwsInstanceId | Indicator::AwsTag | Indicator::Username => {
                found.insert((self.columns()[0], value.to_string()));
            }
        }
    }
}

fn is_account_id(text: &str) -> bool {
    text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit())
}

/// Service names like `ec2.amazonaws.com` count; `AWS Internal` does not.
fn is_domain_like(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
}

fn strip_port(host_port: &str) -> &str {
    if let Some(rest) = host_port.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host_port.rsplit_once(':') {
        // One colon: host:port. Several: a bare IPv6 address.
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => host_port,
    }
}

fn collect_host(host: &str, found: &mut BTreeSet<(&'static str, String)>) {
    if host.is_empty() {
        return;
    }
    if host.parse::<IpAddr>().is_ok() {
        found.insert((IP_ADDRESSES, host.to_string()));
    } else if is_domain_like(host) {
        found.insert((DOMAIN_NAMES, host.to_ascii_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(indicator: Indicator, value: &str) -> Vec<(&'static str, String)> {
        let mut found = BTreeSet::new();
        indicator.collect(value, &mut found);
        found.into_iter().collect()
    }

    #[test]
    fn an_arn_gives_its_account_and_instance() {
        let found = collect(Indicator::AwsArn, "arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc");
        assert_eq!(
            found,
            vec![
                (AWS_ACCOUNT_IDS, "111122223333".to_string()),
                (AWS_ARNS, "arn:aws:ec2:eu-west-1:111122223333:instance/i-0abc".to_string()),
                (AWS_INSTANCE_IDS, "i-0abc".to_string()),
            ]
        );
    }

    #[test]
    fn a_service_name_in_an_ip_field_is_not_an_ip() {
        assert!(collect(Indicator::Ip, "ec2.amazonaws.com").is_empty());
        assert_eq!(collect(Indicator::Ip, "2001:db8::1"), vec![(IP_ADDRESSES, "2001:db8::1".to_string())]);
    }

    #[test]
    fn urls_and_net_addrs_give_their_host() {
        assert_eq!(collect(Indicator::Url, "https://user@Example.com:8443/x?y"), vec![(DOMAIN_NAMES, "example.com".to_string())]);
        assert_eq!(collect(Indicator::NetAddr, "10.1.2.3:443"), vec![(IP_ADDRESSES, "10.1.2.3".to_string())]);
        assert_eq!(collect(Indicator::NetAddr, "[2001:db8::1]:443"), vec![(IP_ADDRESSES, "2001:db8::1".to_string())]);
    }
}
