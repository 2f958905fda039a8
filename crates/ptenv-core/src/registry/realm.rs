//! Where a registry's answers may send ptenv, and what it may carry there.
//!
//! A registry's 401 names a token service (`Bearer realm="…"`) that ptenv then asks, with the
//! user's login from `~/.docker/config.json`. The docker engine sends that login to whatever
//! realm the registry names (its credential store ignores the URL); ptenv is stricter, since the
//! registry may come from a project file:
//!
//! - the realm must be `https`; plain `http` only on a loopback address (a test registry);
//! - the login goes only to the registry's own host, or to a host under the same parent
//!   domain (`registry-1.docker.io` → `auth.docker.io`, `registry.gitlab.com` → `gitlab.com`);
//!   a parent must have two labels at least, so `ghcr.io` shares nothing with `evil.io`, and IP
//!   addresses must match exactly. Elsewhere the token is asked for anonymously.
//!
//! Redirects (a registry sends blobs to a CDN) never carry the `Authorization` header: the
//! HTTP agent is set up that way in `super`.

use std::net::IpAddr;

/// The realm's host, when ptenv may ask it for a token; else why not, in a sentence.
pub fn check(realm: &str) -> Result<String, String> {
    let uri: http::Uri = realm
        .parse()
        .map_err(|_| format!("the registry names a token service that is not a URL ({realm})"))?;
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("the registry names a token service without a host ({realm})"))?
        .to_string();
    match uri.scheme_str() {
        Some("https") => Ok(host),
        Some("http") if is_loopback(&host) => Ok(host),
        _ => Err(format!(
            "the registry names a token service that is not https ({realm}); ptenv does not send requests for tokens in the clear"
        )),
    }
}

/// Whether the login for the registry on `registry_host` may be sent to `to_host` (hosts
/// without ports).
pub fn may_send_login(to_host: &str, registry_host: &str) -> bool {
    let to = bare(to_host);
    let registry = bare(registry_host);
    if to == registry {
        return true;
    }
    if to.parse::<IpAddr>().is_ok() || registry.parse::<IpAddr>().is_ok() {
        return false;
    }
    let parent = match registry.split_once('.') {
        Some((_, parent)) if parent.contains('.') => parent,
        // A two-label registry host (`ghcr.io`): its own subdomains only.
        _ => registry.as_str(),
    };
    to == parent || to.ends_with(&format!(".{parent}"))
}

/// Loopback: `localhost`, 127.0.0.0/8, `::1`.
pub fn is_loopback(host: &str) -> bool {
    let host = bare(host);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Lower case, without the brackets of an IPv6 literal or a trailing dot.
fn bare(host: &str) -> String {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_realm_must_be_https_except_on_loopback() {
        assert_eq!(
            check("https://auth.docker.io/token").as_deref(),
            Ok("auth.docker.io")
        );
        assert_eq!(
            check("http://127.0.0.1:5001/token").as_deref(),
            Ok("127.0.0.1")
        );
        assert_eq!(check("http://localhost/token").as_deref(), Ok("localhost"));
        assert_eq!(check("http://[::1]:8080/t").as_deref(), Ok("[::1]"));
        let refused = check("http://10.0.0.5:5001/token").unwrap_err();
        assert!(
            refused.contains("not https (http://10.0.0.5:5001/token)"),
            "{refused}"
        );
        assert!(check("http://auth.example.com/token").is_err());
        assert!(check("ftp://auth.example.com/token").is_err());
        assert!(check("/token").is_err());
        assert!(check("not a url").is_err());
    }

    #[test]
    fn a_login_goes_to_its_registry_and_its_siblings_only() {
        // The registries' own token services.
        assert!(may_send_login("auth.docker.io", "registry-1.docker.io"));
        assert!(may_send_login("gitlab.com", "registry.gitlab.com"));
        assert!(may_send_login("ghcr.io", "ghcr.io"));
        assert!(may_send_login("GHCR.io", "ghcr.io"));
        assert!(may_send_login("auth.ghcr.io", "ghcr.io"));
        assert!(may_send_login("gitlab.example.com", "registry.example.com"));
        assert!(may_send_login("127.0.0.1", "127.0.0.1"));
        assert!(may_send_login("[::1]", "::1"));
        // Anything else.
        assert!(!may_send_login("evil.example", "registry-1.docker.io"));
        assert!(!may_send_login(
            "docker.io.evil.example",
            "registry-1.docker.io"
        ));
        assert!(!may_send_login("evil.io", "ghcr.io"));
        assert!(!may_send_login("evilghcr.io", "ghcr.io"));
        assert!(!may_send_login("10.0.0.5", "127.0.0.1"));
        assert!(!may_send_login("127.0.0.2", "127.0.0.1"));
        assert!(!may_send_login("auth.example.com", "10.0.0.5"));
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["10.0.0.5", "example.com", "::2", "0.0.0.0"] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
