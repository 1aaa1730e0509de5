//! Trino's string, regular-expression and URL functions, one value at a
//! time: `regexp_extract`, `regexp_extract_all`, `split`, `codepoint`,
//! `url_extract_host` (as `java.net.URI` reads a host: NULL for text that
//! is not a URI, `''` for a URI without one) and `url_decode` (as
//! `java.net.URLDecoder`: `+` is a space, a bad escape is an error).

use regex::Regex;

/// A value a text function refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TextError {
    #[error("'{0}' is not a regular expression: {1}")]
    Pattern(String, String),
    #[error("pattern '{pattern}' has {groups} group(s), not group {wanted}")]
    Group { pattern: String, groups: usize, wanted: i64 },
    #[error("codepoint takes one character, not '{0}'")]
    Codepoint(String),
    #[error("url_decode: '{0}' has an incomplete or illegal % escape")]
    Escape(String),
    #[error("split: the limit must be positive, not {0}")]
    Limit(i64),
    #[error("split: the delimiter is empty")]
    EmptyDelimiter,
}

/// A pattern compiled, or why not in one line (`regex`'s own error spans
/// several, pointing at the column).
pub fn compile(pattern: &str) -> Result<Regex, TextError> {
    Regex::new(pattern).map_err(|e| TextError::Pattern(pattern.to_string(), crate::error_line(&e)))
}

fn group_of(regex: &Regex, wanted: i64) -> Result<usize, TextError> {
    let groups = regex.captures_len() - 1;
    match usize::try_from(wanted) {
        Ok(group) if group <= groups => Ok(group),
        _ => Err(TextError::Group { pattern: regex.as_str().to_string(), groups, wanted }),
    }
}

/// `regexp_extract(text, pattern, group)`: the group of the first match;
/// NULL when nothing matches or the group took no part.
pub fn regexp_extract(regex: &Regex, text: &str, group: i64) -> Result<Option<String>, TextError> {
    let group = group_of(regex, group)?;
    Ok(regex.captures(text).and_then(|c| c.get(group)).map(|m| m.as_str().to_string()))
}

/// `regexp_extract_all(text, pattern, group)`: the group of every match (a
/// group that took no part in a match is NULL).
pub fn regexp_extract_all(regex: &Regex, text: &str, group: i64) -> Result<Vec<Option<String>>, TextError> {
    let group = group_of(regex, group)?;
    Ok(regex.captures_iter(text).map(|c| c.get(group).map(|m| m.as_str().to_string())).collect())
}

/// `split(text, delimiter[, limit])`: the last of `limit` parts holds the rest.
pub fn split(text: &str, delimiter: &str, limit: Option<i64>) -> Result<Vec<String>, TextError> {
    if delimiter.is_empty() {
        return Err(TextError::EmptyDelimiter);
    }
    Ok(match limit {
        None => text.split(delimiter).map(str::to_string).collect(),
        Some(n) if n > 0 => text.splitn(n as usize, delimiter).map(str::to_string).collect(),
        Some(n) => return Err(TextError::Limit(n)),
    })
}

/// `codepoint(c)`: the Unicode code point of a one-character string.
pub fn codepoint(text: &str) -> Result<i64, TextError> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Ok(c as i64),
        _ => Err(TextError::Codepoint(text.to_string())),
    }
}

/// `url_extract_host(url)`, as `java.net.URI.getHost()`: NULL for text that
/// is not a URI, `''` for one without a (server-based) host.
pub fn url_extract_host(url: &str) -> Option<String> {
    // Characters java.net.URI refuses anywhere unescaped.
    if url.chars().any(|c| c.is_whitespace() || c.is_control() || "^`{}|\\\"<>".contains(c)) {
        return None;
    }
    let Some((scheme, rest)) = url.split_once(':') else { return Some(String::new()) };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    if !scheme_ok {
        // A relative reference ("foo", "a/b:c"): no host.
        return Some(String::new());
    }
    let Some(after) = rest.strip_prefix("//") else { return Some(String::new()) };
    let authority = after.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        let end = host_port.find(']')?;
        &host_port[..=end]
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            Some(_) => return None,
            None => host_port,
        }
    };
    // A registry-based authority (`my_host`) has no host for java.net.URI.
    let server_host = host.starts_with('[') || host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    Some(if server_host { host.to_string() } else { String::new() })
}

/// `url_decode(text)`, as `java.net.URLDecoder.decode(text, UTF-8)`.
pub fn url_decode(text: &str) -> Result<String, TextError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok()).ok_or_else(|| TextError::Escape(text.to_string()))?;
                out.push(byte);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts_as_java_reads_them() {
        let host = |u: &str| url_extract_host(u);
        assert_eq!(host("https://user:pw@example.com:8443/p/a?q=1#frag").as_deref(), Some("example.com"));
        assert_eq!(host("http://example.com:8080/path1/p.php?k1=v1&k2=v2#Ref1").as_deref(), Some("example.com"));
        assert_eq!(host("http://[2001:db8::1]:8080/").as_deref(), Some("[2001:db8::1]"));
        assert_eq!(host("foo").as_deref(), Some(""));
        assert_eq!(host("mailto:test@example.com").as_deref(), Some(""));
        assert_eq!(host("http://my_host.example.com/").as_deref(), Some(""));
        assert_eq!(host("http://example.com/^"), None);
    }

    #[test]
    fn url_decode_reads_plus_as_space_and_refuses_a_cut_escape() {
        assert_eq!(url_decode("a%20b+c").unwrap(), "a b c");
        assert_eq!(url_decode("%7E%40%3A.-*_%2B+%E2%98%83").unwrap(), "~@:.-*_+ \u{2603}");
        assert_eq!(url_decode("%FF").unwrap(), "\u{FFFD}");
        assert!(url_decode("100%").is_err());
        assert!(url_decode("%zz").is_err());
    }

    #[test]
    fn regexp_groups_and_split_limits() {
        let r = Regex::new(r"(\d+)([a-z]+)?").unwrap();
        assert_eq!(regexp_extract(&r, "1a 2b 14m", 1).unwrap().as_deref(), Some("1"));
        assert_eq!(regexp_extract(&r, "no digits", 0).unwrap(), None);
        assert_eq!(regexp_extract_all(&r, "1a 2 14m", 2).unwrap(), vec![Some("a".into()), None, Some("m".into())]);
        assert!(regexp_extract(&r, "1a", 3).unwrap_err().to_string().contains("2 group(s)"));
        assert_eq!(split("a.b.c", ".", Some(2)).unwrap(), vec!["a", "b.c"]);
        assert_eq!(split("", ",", None).unwrap(), vec![""]);
        assert_eq!(codepoint("A").unwrap(), 65);
        assert!(codepoint("AB").is_err());
    }
}
