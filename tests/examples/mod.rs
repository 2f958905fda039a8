//! Every example under `examples/` runs as its README says (issue #11): the notebook executes
//! inside the Jupyter environment, torchrun trains with two CPU ranks that agree, and the team
//! profile resolves to the plan it promises. They run against the real torch fixture image
//! (`pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime`, loaded by the test bed).

use std::path::Path;
use std::time::Duration;

use crate::support::{Project, Testbed};

/// A test project holding a copy of `examples/<name>`, owned by uid/gid 1000 when the tests
/// run as root, as a user's own folder would be (the container user takes the folder owner's
/// IDs, so it can write results into /workspace).
fn example(name: &str) -> Project {
    let p = Project::new(&format!("ex-{name}"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    for entry in std::fs::read_dir(&src).expect("the example exists") {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), p.path().join(entry.file_name())).unwrap();
    }
    // As each example's README says: trust what its ptenv.yaml sets (env, packages, a mirror).
    p.ptenv(&["trust"]).run().assert_success();
    if rustix::process::getuid().as_raw() == 0 {
        for entry in std::fs::read_dir(p.path()).unwrap() {
            std::os::unix::fs::chown(entry.unwrap().path(), Some(1000), Some(1000)).unwrap();
        }
        std::os::unix::fs::chown(p.path(), Some(1000), Some(1000)).unwrap();
    }
    p
}

const SLOW: Duration = Duration::from_secs(1500);

#[test]
fn ddp_torchrun_trains_on_two_cpu_ranks_that_agree() {
    let tb = Testbed::get();
    let p = example("ddp-torchrun");
    p.ptenv(&["up", "--detach"])
        .env("SSL_CERT_FILE", &tb.ca_bundle)
        .timeout(SLOW)
        .run()
        .assert_success();
    let out = p
        .ptenv(&["exec", "--", "torchrun", "--nproc_per_node=2", "train.py"])
        .timeout(SLOW)
        .run();
    out.assert_success();
    let losses: Vec<(&str, &str)> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("rank "))
        .map(|l| {
            let rank = l.split_whitespace().nth(1).unwrap();
            let loss = l.rsplit("final_loss=").next().unwrap();
            (rank, loss)
        })
        .collect();
    // One whole line per rank, in rank order (the ranks take turns at stdout).
    let ranks: Vec<&str> = losses.iter().map(|(r, _)| *r).collect();
    assert_eq!(ranks, vec!["0/2", "1/2"], "both ranks finished:\n{out}");
    assert_eq!(
        losses[0].1, losses[1].1,
        "the ranks agree on the loss:\n{out}"
    );
    let loss: f64 = losses[0].1.parse().unwrap();
    assert!(loss < 0.01, "the model learned: {loss}");
    assert!(
        out.stdout.contains("backend=gloo"),
        "Gloo on the CPU:\n{out}"
    );

    // The shared memory the example's README promises (auto = half of the host's RAM).
    let shm = p
        .ptenv(&["exec", "--", "df", "-B1", "--output=size", "/dev/shm"])
        .run();
    shm.assert_success();
    let bytes: u64 = shm.stdout.lines().nth(1).unwrap().trim().parse().unwrap();
    assert!(bytes > 1 << 30, "more than 1 GiB of /dev/shm:\n{shm}");
    p.ptenv(&["down"]).run().assert_success();
}

#[test]
fn jupyter_quickstart_notebook_executes_in_the_environment() {
    let tb = Testbed::get();
    let p = example("jupyter-quickstart");
    let up = p
        .ptenv(&["up", "--json"])
        .env("SSL_CERT_FILE", &tb.ca_bundle)
        .timeout(SLOW)
        .run();
    up.assert_success();
    let v: serde_json::Value = serde_json::from_str(&up.stdout).expect("up --json prints JSON");
    assert!(
        v["url"].as_str().unwrap().starts_with("http://127.0.0.1:"),
        "{up}"
    );

    let run = p
        .ptenv(&[
            "exec",
            "--",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "quickstart.ipynb",
            "--output",
            "quickstart.out.ipynb",
        ])
        .timeout(SLOW)
        .run();
    run.assert_success();
    let out_path = p.path().join("quickstart.out.ipynb");
    let nb: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&out_path).expect("nbconvert wrote the result"),
    )
    .unwrap();
    let text: String = nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["outputs"].as_array().cloned().unwrap_or_default())
        .flat_map(|o| o["text"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(String::from))
        .collect();
    assert!(
        text.contains("torch 2.6.0+cu124"),
        "ran the real torch:\n{text}"
    );
    assert!(text.contains("weights learned: True"), "{text}");
    // The result belongs to the folder's owner, not to root.
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(&out_path).unwrap().uid();
    assert_eq!(owner, std::fs::metadata(p.path()).unwrap().uid());
    p.ptenv(&["down"]).run().assert_success();
}

#[test]
fn team_profile_resolves_to_the_promised_plan() {
    let p = example("team-profile");
    let out = p.ptenv(&["up", "--dry-run", "--json"]).run();
    out.assert_success();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let create = &v["create"];
    assert_eq!(
        create["Image"], "registry.example.com/ml-team/pytorch:2.6.0-cuda12.4-cudnn9-runtime",
        "the mirror and the pinned CUDA line:\n{out}"
    );
    assert_eq!(create["Labels"]["dev.ptenv.mode"], "ssh");
    assert_eq!(create["Labels"]["dev.ptenv.profile"], "dev");
    let ports = &create["HostConfig"]["PortBindings"];
    assert_eq!(ports["22/tcp"][0]["HostIp"], "127.0.0.1");
    assert_eq!(ports["6006/tcp"][0]["HostIp"], "127.0.0.1");
    assert_eq!(create["HostConfig"]["ShmSize"], 16u64 << 30);
    assert!(create["Env"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e == "WANDB_MODE=offline"));
    let profile = &v["profile"];
    assert_eq!(
        profile["packages"]["apt"],
        serde_json::json!(["git", "htop"])
    );
    assert_eq!(
        profile["packages"]["pip"],
        serde_json::json!(["einops", "tensorboard"])
    );
    // The notebook profile shares the team settings.
    let nb = p.ptenv(&["up", "notebook", "--dry-run", "--json"]).run();
    nb.assert_success();
    let v: serde_json::Value = serde_json::from_str(&nb.stdout).unwrap();
    assert_eq!(v["create"]["Image"], create["Image"]);
    assert_eq!(v["create"]["Labels"]["dev.ptenv.mode"], "jupyter");
    assert!(p.containers().is_empty(), "a dry run creates nothing");
    // ptenv's data folder holds the trust the README's `ptenv trust` recorded, and nothing
    // of the dry runs: no keys, no tokens.
    let data = p.data_dir().join("ptenv");
    let kept: Vec<_> = std::fs::read_dir(&data)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert_eq!(
        kept,
        ["trust"],
        "a dry run writes no keys or tokens into {}",
        data.display()
    );
}
