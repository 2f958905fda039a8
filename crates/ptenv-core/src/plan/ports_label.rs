//! The published ports as a label on the container, so a later `up` finds the host ports it
//! chose.

use super::*;

/// `127.0.0.1:8889->8888/tcp,…`, as `docker ps` shows ports.
pub fn ports_label(ports: &[PublishedPort]) -> String {
    ports
        .iter()
        .map(|p| format!("{}:{}->{}/tcp", p.bind, p.host, p.container))
        .collect::<Vec<_>>()
        .join(",")
}

/// The host ports recorded in a ports label, by container port.
pub fn parse_ports_label(text: &str) -> Vec<PublishedPort> {
    text.split(',')
        .filter_map(|item| {
            // "127.0.0.1:8889->8888/tcp"
            let (host_side, container) = item.split_once("->")?;
            let container = container.trim_end_matches("/tcp").parse().ok()?;
            let (bind, host) = host_side.rsplit_once(':')?;
            Some(PublishedPort {
                container,
                host: host.parse().ok()?,
                bind: bind.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_label_round_trips() {
        let ports = vec![
            PublishedPort {
                container: 8888,
                host: 8890,
                bind: "127.0.0.1".into(),
            },
            PublishedPort {
                container: 22,
                host: 2222,
                bind: "::1".into(),
            },
        ];
        assert_eq!(parse_ports_label(&ports_label(&ports)), ports);
        assert!(parse_ports_label("").is_empty());
    }
}
