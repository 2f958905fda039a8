//! The `WWW-Authenticate` challenge of a registry's 401 answer (RFC 7235), as registries send
//! it: `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",
//! scope="repository:library/ubuntu:pull"` (the token flow of the distribution spec) or
//! `Basic realm="Registry Realm"` (htpasswd registries).

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Get a token from `realm` for `service` and `scope`, then send it as `Bearer`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
    /// Send the user and password with every request.
    Basic,
}

/// Read the challenge; `None` for a scheme ptenv does not speak (or no challenge at all).
pub fn parse(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header
        .split_once(char::is_whitespace)
        .unwrap_or((header, ""));
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Some(Challenge::Basic),
        "bearer" => {
            let mut params = params(rest);
            Some(Challenge::Bearer {
                realm: params.remove("realm")?,
                service: params.remove("service"),
                scope: params.remove("scope"),
            })
        }
        _ => None,
    }
}

/// `a="x,y", b=z` → {a: "x,y", b: "z"}; names are lower-cased, quotes and escapes undone.
fn params(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ','))
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if name.is_empty() {
            return out;
        }
        if chars.next() != Some('=') {
            continue;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string();
        }
        out.insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_s_bearer_challenge_is_read() {
        let c = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:pytorch/pytorch:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:pytorch/pytorch:pull".into()),
            })
        );
    }

    #[test]
    fn commas_inside_quotes_spaces_and_case_are_handled() {
        let c = parse(
            r#"bearer  Realm="https://r.example/token" , scope="repository:a/b:pull,push", service=reg"#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://r.example/token".into(),
                service: Some("reg".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        let c = parse(r#"Bearer realm="https://x/t\"q\"""#).unwrap();
        assert!(matches!(c, Challenge::Bearer { ref realm, .. } if realm == r#"https://x/t"q""#));
    }

    #[test]
    fn basic_and_unknown_schemes() {
        assert_eq!(
            parse(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse("Negotiate"), None);
        assert_eq!(parse(""), None);
        // A bearer challenge without a realm cannot be answered.
        assert_eq!(parse(r#"Bearer service="x""#), None);
    }
}
