//! The `torchrun` line in front of the profile's command, for the exports that train: one
//! node (`--standalone`) or several that meet through torchrun's c10d rendezvous.
//!
//! With the c10d backend every node is started the same way: the node whose address the
//! endpoint names hosts the rendezvous store (torchrun finds out by comparing the endpoint's
//! addresses with its own), and the ranks are handed out as nodes arrive, so no node needs
//! to be told its rank. The facts and their sources: docs/multinode.md.

/// The rendezvous port when the engine does not choose one (torchrun's own default).
pub const RDZV_PORT: u16 = 29500;

/// Where the nodes of one job meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendezvous {
    /// How many nodes train together (`--nnodes`).
    pub nodes: u32,
    /// `host:port` of the node that hosts the rendezvous; may be the engine's variables, e.g.
    /// `$(PET_MASTER_ADDR):$(PET_MASTER_PORT)` for the kubelet to expand.
    pub endpoint: String,
    /// The same for every node of one run (`--rdzv_id`).
    pub id: String,
}

/// `torchrun --standalone --nproc_per_node=N` in front of the profile's command: `python
/// train.py` becomes `torchrun … train.py`; anything else runs with `--no-python`, which
/// starts the command itself N times (each with its RANK and LOCAL_RANK).
pub fn standalone(nproc: u32, cmd: &[String]) -> Vec<String> {
    let mut out = vec![
        "torchrun".to_string(),
        "--standalone".into(),
        format!("--nproc_per_node={nproc}"),
    ];
    out.extend(program(cmd));
    out
}

/// `torchrun --nnodes=N --nproc_per_node=M --rdzv_backend=c10d --rdzv_endpoint=… --rdzv_id=…`
/// in front of the profile's command, the same line on every node.
pub fn multi_node(nproc: u32, rdzv: &Rendezvous, cmd: &[String]) -> Vec<String> {
    let mut out = vec![
        "torchrun".to_string(),
        format!("--nnodes={}", rdzv.nodes),
        format!("--nproc_per_node={nproc}"),
        "--rdzv_backend=c10d".into(),
        format!("--rdzv_endpoint={}", rdzv.endpoint),
        format!("--rdzv_id={}", rdzv.id),
    ];
    out.extend(program(cmd));
    out
}

/// What torchrun starts: the script of `python script.py …`, else the command itself.
fn program(cmd: &[String]) -> Vec<String> {
    match cmd.split_first() {
        Some((first, rest))
            if matches!(first.as_str(), "python" | "python3") && !rest.is_empty() =>
        {
            rest.to_vec()
        }
        _ => {
            let mut out = vec!["--no-python".to_string()];
            out.extend(cmd.iter().cloned());
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(w: &[&str]) -> Vec<String> {
        w.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn python_scripts_run_under_torchrun_and_other_commands_with_no_python() {
        assert_eq!(
            standalone(2, &words(&["/bin/sh", "-c", "make train"])),
            words(&[
                "torchrun",
                "--standalone",
                "--nproc_per_node=2",
                "--no-python",
                "/bin/sh",
                "-c",
                "make train"
            ])
        );
        let rdzv = Rendezvous {
            nodes: 3,
            endpoint: "job-node-0-0.job:29500".into(),
            id: "job".into(),
        };
        assert_eq!(
            multi_node(4, &rdzv, &words(&["python3", "train.py", "--epochs", "3"])),
            words(&[
                "torchrun",
                "--nnodes=3",
                "--nproc_per_node=4",
                "--rdzv_backend=c10d",
                "--rdzv_endpoint=job-node-0-0.job:29500",
                "--rdzv_id=job",
                "train.py",
                "--epochs",
                "3"
            ])
        );
        // `python` alone is no script: it runs as a program.
        assert_eq!(standalone(1, &words(&["python"]))[3], "--no-python");
    }
}
