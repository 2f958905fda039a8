//! The known errors in the project's containers' own output: a training run that died, a
//! Jupyter kernel that keeps restarting. The output is read by the engine; this module only
//! judges it with [`explain`](super::explain) and this machine's facts.

use super::container::ContainerShm;
use super::explain::{self, Facts, Finding, Lookup};
use super::{id, Check};
use crate::gpu::HostFacts;

/// How much of each container's output `ptenv doctor` reads: enough for a traceback and the
/// worker errors before it.
pub const TAIL_LINES: usize = 500;

/// One container's recent output, with what decides the shm advice.
#[derive(Debug, Clone)]
pub struct ContainerOutput {
    pub shm: ContainerShm,
    /// `running`, `exited`, ...
    pub state: String,
    pub output: String,
}

/// The findings in one container's output.
pub fn scan(c: &ContainerOutput, host: &HostFacts, lookup: &dyn Lookup) -> Vec<Finding> {
    explain::scan(
        &c.output,
        &Facts {
            host,
            container: Some(&c.shm),
            lookup,
        },
    )
}

/// The `logs` check: warns with each container's known errors (the line, what it is, what it
/// means here), passes when the output holds none, skips when there is no container.
pub fn check_logs(containers: &[ContainerOutput], host: &HostFacts, lookup: &dyn Lookup) -> Check {
    if containers.is_empty() {
        return Check::skip(
            id::LOGS,
            "no container of this project to read the output of",
        );
    }
    let mut evidence = Vec::new();
    // The first error in a container's output is usually the cause of the ones after it.
    let mut fixes: Vec<String> = Vec::new();
    let mut titles = Vec::new();
    for c in containers {
        let findings = scan(c, host, lookup);
        if findings.is_empty() {
            evidence.push(format!(
                "{} ({}): no known error in its last {TAIL_LINES} lines",
                c.shm.name, c.state
            ));
        }
        if let Some(first) = findings.first().filter(|f| !fixes.contains(&f.fix)) {
            fixes.push(first.fix.clone());
        }
        for f in &findings {
            evidence.push(format!(
                "{} ({}) line {}: {}",
                c.shm.name,
                c.state,
                f.line_no,
                super::redact(&f.line)
            ));
            evidence.push(format!("  {}: {}", f.pattern.id, f.pattern.title));
            if let Some(h) = &f.host {
                evidence.push(format!("  here: {h}"));
            }
            if !titles.contains(&f.pattern.title) {
                titles.push(f.pattern.title);
            }
        }
    }
    if titles.is_empty() {
        return Check::pass(id::LOGS, "no known error in the containers' output")
            .evidence_all(evidence);
    }
    Check::warn(
        id::LOGS,
        format!("the containers' output shows: {}", titles.join("; ")),
    )
    .evidence_all(evidence)
    .fix(fixes.join("; then "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::explain::NothingThere;
    use crate::doctor::Status;

    fn output(text: &str, shm: Option<i64>) -> ContainerOutput {
        ContainerOutput {
            shm: ContainerShm {
                name: "ptenv-demo-train".into(),
                shm_size: shm,
                ipc_mode: Some("private".into()),
                memlock_capped: None,
            },
            state: "exited".into(),
            output: text.into(),
        }
    }

    #[test]
    fn a_bus_error_in_the_output_warns_with_the_containers_shm_and_the_fix() {
        let log = "epoch 0\nRuntimeError: DataLoader worker (pid 31) is killed by signal: Bus error. It is possible that dataloader's workers are out of shared memory. Please try to raise your shared memory limit.\n";
        let c = check_logs(
            &[output(log, Some(1 << 20))],
            &HostFacts::default(),
            &NothingThere,
        );
        assert_eq!(c.status, Status::Warn, "{c:?}");
        assert!(c.summary.contains("ran out of shared memory"), "{c:?}");
        assert!(
            c.evidence[0].starts_with(
                "ptenv-demo-train (exited) line 2: RuntimeError: DataLoader worker (pid 31)"
            ),
            "{c:?}"
        );
        assert!(
            c.evidence.iter().any(|e| e.contains("/dev/shm of 1 MiB")),
            "{c:?}"
        );
        assert!(c.fix.as_deref().unwrap().contains("shm_size"), "{c:?}");
    }

    #[test]
    fn clean_output_passes_and_no_container_skips() {
        let c = check_logs(
            &[output("epoch 1 loss 0.3\n", None)],
            &HostFacts::default(),
            &NothingThere,
        );
        assert_eq!(c.status, Status::Pass);
        assert_eq!(
            check_logs(&[], &HostFacts::default(), &NothingThere).status,
            Status::Skip
        );
    }
}
