//! The host ports of the container: the one the profile asks for, or the next free one when it
//! is taken (a host port the profile pins never moves).

use std::collections::HashMap;
use std::net::{IpAddr, TcpListener};

use super::Up;
use crate::error::{Error, Result};
use crate::plan::Spec;

/// How far above a taken port ptenv looks for a free one.
const PORT_SEARCH: u16 = 100;

impl Up {
    /// For each port, the first free host port from the one the profile wants on, skipping
    /// `avoid`; warns when one moves. A host port the user pinned in the profile never moves:
    /// taken, it is an error that says who holds it.
    pub(super) fn pick_ports(
        &self,
        spec: &Spec,
        wanted: &[u16],
        avoid: &HashMap<u16, String>,
    ) -> Result<Vec<u16>> {
        let mut hosts = Vec::new();
        for (port, want) in spec.ports.iter().zip(wanted) {
            if self.profile.pinned_host_port(port.container) == Some(*want) {
                let holder = avoid.get(want).cloned().or_else(|| {
                    (!bindable(&port.bind, *want)).then(|| "another program".to_string())
                });
                if let Some(who) = holder {
                    return Err(Error::new(format!(
                        "port {}:{want}, which profile `{}` pins for the container's port {}, is taken by {who}",
                        port.bind, self.profile.name, port.container
                    ))
                    .hint(format!(
                        "free it (`docker ps` or `ss -ltnp 'sport = :{want}'` shows who holds it), or change the host port in `ports:`; without one, ptenv picks a free port"
                    )));
                }
                hosts.push(*want);
                continue;
            }
            let free = free_port(&port.bind, *want, |n| {
                !avoid.contains_key(&n) && !hosts.contains(&n)
            })
            .ok_or_else(|| {
                Error::new(format!(
                    "no free port on {} between {} and {}",
                    port.bind,
                    want,
                    want.saturating_add(PORT_SEARCH)
                ))
                .hint("give the profile another host port, e.g. `ports: [\"9000:8888\"]`")
            })?;
            if free != *want {
                self.printer.warn(format!(
                    "port {}:{} is taken; using {} for the container's port {}",
                    port.bind, want, free, port.container
                ));
            }
            hosts.push(free);
        }
        Ok(hosts)
    }
}

/// The first port from `from` on that `usable` allows and that can be bound on `bind` now.
pub(super) fn free_port(bind: &str, from: u16, usable: impl Fn(u16) -> bool) -> Option<u16> {
    bind.parse::<IpAddr>().ok()?;
    (from..=from.saturating_add(PORT_SEARCH)).find(|port| usable(*port) && bindable(bind, *port))
}

/// Whether `port` can be bound on `bind` now.
pub(super) fn bindable(bind: &str, port: u16) -> bool {
    bind.parse::<IpAddr>()
        .is_ok_and(|ip| TcpListener::bind((ip, port)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_moves_to_the_next_free_one() {
        let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let free = free_port("127.0.0.1", port, |_| true).unwrap();
        assert!(free > port, "{free} should be above the held {port}");
        let skipped = free_port("127.0.0.1", port, |n| n != free).unwrap();
        assert!(skipped > free, "the engine's ports are skipped too");
        assert_eq!(free_port("not-an-ip", 80, |_| true), None);
    }
}
