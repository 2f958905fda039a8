//! `ptenv lock` and `ptenv up` with a lock, against the real engine and the local registry
//! (issue #10): digests come from the registry; a tag pushed again does not move a locked
//! `up`, and `lock --check` names the change; a host that would choose another image keeps the
//! lock until `--relock`; a locked image that cannot run here is refused with the fix.
//!
//! Tests that push use a repository of their own (`ptenv-locktest-<unique>`), so the shared
//! fixtures are only read.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::lifecycle::{only_container, shell_project};
use crate::support::{docker, docker_inspect, docker_ok, Project, Testbed};

const TAG: &str = "2.6.0-cuda12.4-cudnn9-runtime";

/// A repository name no other test (or earlier run) uses.
fn unique_repo(what: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}/ptenv-locktest-{what}-{:x}{:x}/pytorch",
        Testbed::get().registry(),
        std::process::id(),
        nanos
    )
}

/// Build an image FROM the small fixture with `/ptenv-lock-marker` containing `marker`, push
/// it as `image`, and remove the local tag (so ptenv must pull what it uses). Returns the
/// digest the registry gave it.
fn push_marked(image: &str, marker: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!(
            "FROM {}\nRUN echo {marker} > /ptenv-lock-marker\n",
            Testbed::get().small_image
        ),
    )
    .unwrap();
    docker_ok(&["build", "-q", "-t", image, dir.path().to_str().unwrap()]);
    docker_ok(&["push", "-q", image]);
    let digests = docker_inspect(image)["RepoDigests"].clone();
    let repo = image.rsplit_once(':').unwrap().0;
    let digest = digests
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .find_map(|d| d.strip_prefix(&format!("{repo}@")))
        .unwrap_or_else(|| panic!("no digest of {repo} in {digests}"))
        .to_string();
    docker_ok(&["rmi", image]);
    digest
}

/// The lines of `profile`'s entry in the lock (those under `  <profile>:`), for assertions.
fn entry(lock: &str, profile: &str) -> String {
    let head = format!("  {profile}:");
    let mut lines = lock.lines().skip_while(|l| *l != head);
    assert!(lines.next().is_some(), "no entry for {profile}:\n{lock}");
    lines
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn a_tag_pushed_again_does_not_move_a_locked_up_and_check_names_the_change() {
    let repo = unique_repo("repush");
    let image = format!("{repo}:{TAG}");
    let first = push_marked(&image, "first");
    let p = shell_project("lock-repush", "");
    p.write(
        "ptenv.yaml",
        &format!("default: shell\nrepository: {repo}\ngpus: none\n"),
    );
    p.track_image(&format!("{repo}@{first}"));

    let locked = p.ptenv(&["lock"]).run();
    locked.assert_success();
    assert!(
        locked
            .stdout
            .lines()
            .any(|l| l.starts_with("shell ") && l.ends_with(&format!("{repo}@{first}"))),
        "{locked}"
    );
    let lock = p.read("ptenv.lock");
    let shell = entry(&lock, "shell");
    assert!(shell.contains(&format!("image: {image}\n")), "{lock}");
    assert!(shell.contains(&format!("digest: {first}\n")), "{lock}");
    assert!(shell.contains("platform: linux/amd64\n"), "{lock}");
    p.ptenv(&["lock", "--check"]).run().assert_success();

    // Someone pushes a different image under the same tag.
    let second = push_marked(&image, "second");
    assert_ne!(first, second);
    p.track_image(&format!("{repo}@{second}"));

    let check = p.ptenv(&["lock", "--check"]).run();
    check.assert_exit(1);
    assert!(check.stderr.contains("ptenv.lock is stale"), "{check}");
    assert!(
        check.stderr.contains(&format!(
            "profile `shell`: {image} now has digest {second} in the registry (locked: {first}): the tag was pushed again"
        )),
        "{check}"
    );
    assert!(check.stderr.contains("hint: run `ptenv lock`"), "{check}");
    assert_eq!(p.read("ptenv.lock"), lock, "--check writes nothing");

    // The locked `up` pulls the old image by digest and says so.
    let up = p.ptenv(&["up", "shell", "--detach"]).run();
    up.assert_success();
    assert!(
        up.stderr
            .contains(&format!("Using ptenv.lock: {image} pinned at sha256:")),
        "{up}"
    );
    assert!(
        up.stderr.contains(&format!("Pulling {repo}@{first}")),
        "{up}"
    );
    let c = only_container(&p);
    p.track_image(c["Config"]["Image"].as_str().unwrap());
    assert_eq!(
        c["Config"]["Labels"]["dev.ptenv.base-image"],
        format!("{repo}@{first}")
    );
    let marker = p.ptenv(&["exec", "--", "cat", "/ptenv-lock-marker"]).run();
    marker.assert_success();
    assert_eq!(marker.stdout, "first\n", "{marker}");
    // The engine holds the first image, under the first digest, and not the second.
    let base = docker_inspect(&format!("{repo}@{first}"));
    assert!(base["RepoDigests"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d == &format!("{repo}@{first}")));
    assert!(!docker(&["image", "inspect", &format!("{repo}@{second}")])
        .status
        .success());

    // `ptenv lock` takes the new digest; the check passes again.
    let relock = p.ptenv(&["lock"]).run();
    relock.assert_success();
    assert!(relock.stderr.contains("pushed again"), "{relock}");
    assert!(p
        .read("ptenv.lock")
        .contains(&format!("digest: {second}\n")));
    p.ptenv(&["lock", "--check"]).run().assert_success();
}

#[test]
fn the_lock_is_deterministic_covers_every_profile_and_goes_stale_when_the_profile_changes() {
    let tb = Testbed::get();
    tb.registry();
    let p = Project::new("lock-file");
    let yaml = format!(
        "default: shell\nrepository: {}\ngpus: none\nprofiles:\n  train:\n    mode: shell\n    pytorch: \"2.7\"\n    packages:\n      pip: [numpy]\n",
        tb.small_repo
    );
    p.write("ptenv.yaml", &yaml);

    // CI without a lock fails and says what to do.
    let missing = p.ptenv(&["lock", "--check"]).run();
    missing.assert_exit(1);
    assert!(
        missing.stderr.contains("there is no ptenv.lock"),
        "{missing}"
    );
    assert!(
        missing.stderr.contains("hint: run `ptenv lock`"),
        "{missing}"
    );

    p.ptenv(&["lock"]).run().assert_success();
    let lock = p.read("ptenv.lock");
    assert!(lock.starts_with("# ptenv.lock:"), "{lock}");
    let digest = docker_inspect(&format!("{}:{TAG}", tb.small_repo))["RepoDigests"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d.as_str())
        .find_map(|d| d.strip_prefix(&format!("{}@", tb.small_repo)))
        .expect("the fixture was pulled from the registry")
        .to_string();
    // Every profile, sorted; the derived inputs; the target machine.
    let order: Vec<usize> = ["jupyter", "shell", "ssh", "train"]
        .iter()
        .map(|n| lock.find(&format!("\n  {n}:\n")).expect(n))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{lock}");
    assert!(
        lock.contains("target:\n  machine: x86_64\nprofiles:"),
        "{lock}"
    );
    let train = entry(&lock, "train");
    assert!(
        train.contains(&format!(
            "image: {}:2.7.0-cuda12.6-cudnn9-runtime\n",
            tb.small_repo
        )),
        "{train}"
    );
    assert!(train.contains(&format!("digest: {digest}\n")), "{train}");
    assert!(train.contains("      mode: shell\n"), "{train}");
    assert!(train.contains("      pip:\n      - numpy\n"), "{train}");
    assert!(train.contains("      recipe: sha256:"), "{train}");

    // Again: the same bytes, and said so.
    let again = p.ptenv(&["lock"]).run();
    again.assert_success();
    assert!(again.stderr.contains("ptenv.lock is up to date"), "{again}");
    assert_eq!(p.read("ptenv.lock"), lock);
    let ok = p.ptenv(&["lock", "--check", "--json"]).run();
    ok.assert_success();
    let json: serde_json::Value = serde_json::from_str(&ok.stdout).expect("JSON");
    assert_eq!(json["stale"], false, "{ok}");

    // A changed package list makes the lock stale, named precisely.
    p.write(
        "ptenv.yaml",
        &yaml.replace("pip: [numpy]", "pip: [numpy]\n      apt: [git]"),
    );
    let stale = p.ptenv(&["lock", "--check"]).run();
    stale.assert_exit(1);
    assert!(
        stale
            .stderr
            .contains("profile `train`: the derived image's inputs changed: apt [] → [git]"),
        "{stale}"
    );

    // A changed PyTorch version: stale too, and a locked `up` refuses rather than guess.
    p.write(
        "ptenv.yaml",
        &yaml.replace("gpus: none", "gpus: none\npytorch: \"2.7\""),
    );
    let stale = p.ptenv(&["lock", "--check"]).run();
    stale.assert_exit(1);
    assert!(
        stale
            .stderr
            .contains("profile `shell`: its settings changed: pytorch 2.6 → 2.7"),
        "{stale}"
    );
    let up = p.ptenv(&["up", "shell", "--detach"]).run();
    up.assert_exit(1);
    assert!(
        up.stderr.contains(
            "ptenv.lock pins profile `shell` for other settings than it has now: pytorch 2.6 → 2.7"
        ),
        "{up}"
    );
    assert!(up.stderr.contains("--relock"), "{up}");
    assert!(p.containers().is_empty());

    // A damaged lock is located and the repair named.
    p.write("ptenv.lock", &lock.replace("media_type:", "mediatype:"));
    let broken = p.ptenv(&["lock", "--check"]).run();
    broken.assert_exit(1);
    assert!(broken.stderr.contains("ptenv.lock:"), "{broken}");
    assert!(
        broken.stderr.contains("unknown field `mediatype`"),
        "{broken}"
    );
    assert!(broken.stderr.contains("hint:"), "{broken}");
}

#[test]
fn a_machine_that_would_choose_another_image_keeps_the_lock_until_relock() {
    let tb = Testbed::get();
    let p = shell_project("lock-differs", "");
    p.write(
        "ptenv.yaml",
        &format!("default: shell\nrepository: {}\ngpus: all\n", tb.small_repo),
    );
    let old_image = format!("{}:2.6.0-cuda11.8-cudnn9-runtime", tb.small_repo);
    let new_image = format!("{}:{TAG}", tb.small_repo);

    // Locked for the team's oldest machine: driver 470 runs only CUDA 11.x images.
    p.ptenv(&["lock", "--driver", "470.57.02", "--gpu", "8.6"])
        .run()
        .assert_success();
    let lock = p.read("ptenv.lock");
    assert!(
        lock.contains("target:\n  machine: x86_64\n  driver: 470.57.02\n  gpus:\n  - '8.6'\n"),
        "{lock}"
    );
    assert!(
        entry(&lock, "shell").contains(&format!("image: {old_image}\n")),
        "{lock}"
    );
    // CI without a GPU checks it for the machine it was made for.
    p.ptenv(&["lock", "--check"]).run().assert_success();
    // For another machine, the selection differs and the check says which way.
    let other = p
        .ptenv(&["lock", "--check", "--driver", "550.54.15", "--gpu", "8.6"])
        .run();
    other.assert_exit(1);
    assert!(
        other.stderr.contains(&format!(
            "profile `shell`: the selected image is now {new_image} (locked: {old_image})"
        )),
        "{other}"
    );

    // This machine (no NVIDIA GPU) would take the CUDA 12.4 image; the lock is kept.
    let up = p.ptenv(&["up", "shell", "--detach"]).run();
    up.assert_success();
    assert!(
        up.stderr.contains(&format!(
            "This machine would now get {new_image}, but ptenv.lock pins {old_image} for profile `shell`"
        )),
        "{up}"
    );
    assert!(
        up.stderr.contains(
            "it was locked for a machine with NVIDIA driver 470.57.02 and GPU of compute capability 8.6, and this is a machine without an NVIDIA GPU"
        ),
        "{up}"
    );
    assert!(up.stderr.contains("Keeping the lock"), "{up}");
    assert_eq!(p.read("ptenv.lock"), lock, "the lock is kept as it was");
    let c = only_container(&p);
    p.track_image(c["Config"]["Image"].as_str().unwrap());
    let base = c["Config"]["Labels"]["dev.ptenv.base-image"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        base.starts_with(&format!("{}@sha256:", tb.small_repo)),
        "{base}"
    );

    // --relock pins this machine's choice and records this machine as the target.
    let relock = p.ptenv(&["up", "shell", "--detach", "--relock"]).run();
    relock.assert_success();
    assert!(relock.stderr.contains("Relocked"), "{relock}");
    assert!(
        relock.stderr.contains(&format!(
            "profile `shell`: the selected image is now {new_image} (locked: {old_image})"
        )),
        "{relock}"
    );
    let relocked = p.read("ptenv.lock");
    assert!(
        entry(&relocked, "shell").contains(&format!("image: {new_image}\n")),
        "{relocked}"
    );
    assert!(
        relocked.contains("target:\n  machine: x86_64\nprofiles:"),
        "{relocked}"
    );
    p.ptenv(&["lock", "--check"]).run().assert_success();
}

#[test]
fn a_locked_image_that_cannot_run_on_this_gpu_is_refused_with_the_fix() {
    let tb = Testbed::get();
    let p = shell_project("lock-refuse", "");
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\ngpus: all\npytorch: \"2.7\"\n",
            tb.small_repo
        ),
    );
    // Locked on an RTX 5090 machine: the CUDA 12.8 line, the only one with Blackwell code.
    p.ptenv(&["lock", "--driver", "570.124.06", "--gpu", "12.0"])
        .run()
        .assert_success();
    let locked = format!("{}:2.7.0-cuda12.8-cudnn9-runtime", tb.small_repo);
    assert!(
        entry(&p.read("ptenv.lock"), "shell").contains(&format!("image: {locked}\n")),
        "{}",
        p.read("ptenv.lock")
    );
    // A GTX 1080 (Pascal, 6.1): that line has no code for it.
    let gtx_1080 = crate::support::gpus::gtx_1080("550.54.15", 12040);
    let scenario = p.gpu_scenario(&gtx_1080);
    let up = p
        .ptenv(&["up", "shell", "--detach"])
        .fake_gpus(&scenario)
        .run();
    up.assert_exit(1);
    assert!(
        up.stderr.contains(&format!(
            "ptenv: the image ptenv.lock pins for profile `shell`, {locked}, cannot run here (a machine with NVIDIA driver 550.54.15 and GPU of compute capability 6.1): it has no GPU code for your GTX 1080 (Pascal, compute capability 6.1)"
        )),
        "{up}"
    );
    assert!(
        up.stderr.contains(&format!(
            "hint: `ptenv up --relock` pins {}:2.7.0-cuda12.6-cudnn9-runtime, which fits this machine",
            tb.small_repo
        )),
        "{up}"
    );
    assert!(up.stderr.contains("hint: the lock was made for a machine with NVIDIA driver 570.124.06 and GPU of compute capability 12.0"), "{up}");
    assert!(up.stderr.contains("`--gpus none`"), "{up}");
    assert!(p.containers().is_empty(), "nothing was created");
    // doctor judges the image `up` runs, the locked one (unlocked it would pass cu126), and
    // names the same fix.
    let root = crate::doctor::sysroot(&p, &[Some("nvidia")], Some("550.54.15"));
    let (_, report) = crate::doctor::doctor(&p, &["--no-container"], Some(&root), Some(&gtx_1080));
    let image = crate::doctor::check(&report, "image");
    assert_eq!(image["status"], "fail", "{image:#}");
    let said = image.to_string();
    assert!(said.contains(&locked), "{image:#}");
    assert!(
        said.contains("ptenv.lock pins it for profile `shell` at sha256:"),
        "{image:#}"
    );
    assert!(
        image["fix"].as_str().unwrap_or_default().contains(&format!(
            "`ptenv up --relock` pins {}:2.7.0-cuda12.6-cudnn9-runtime",
            tb.small_repo
        )),
        "{image:#}"
    );
    // The fix it names works: on the CPU the locked image runs, still by digest.
    let cpu = p
        .ptenv(&["up", "shell", "--gpus", "none", "--dry-run", "--json"])
        .fake_gpus(&scenario)
        .run();
    cpu.assert_success();
    let plan: serde_json::Value = serde_json::from_str(&cpu.stdout).expect("JSON");
    assert!(
        plan["image"]["base"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}@sha256:", tb.small_repo)),
        "{cpu}"
    );
    assert_eq!(plan["image"]["gpu"], false, "{cpu}");
}

#[test]
fn a_multi_arch_tag_is_pinned_by_its_index_digest_and_a_missing_platform_is_refused() {
    let repo = unique_repo("index");
    let amd64 = format!("{repo}:amd64");
    let arm64 = format!("{repo}:arm64");
    push_marked(&amd64, "amd64");
    // Built here, so really amd64; the index below calls it arm64, which is all ptenv sees.
    push_marked(&arm64, "arm64");
    let index = format!("{repo}:{TAG}");
    docker_ok(&["manifest", "create", "--insecure", &index, &amd64, &arm64]);
    docker_ok(&["manifest", "annotate", &index, &arm64, "--arch", "arm64"]);
    let pushed = docker_ok(&["manifest", "push", "--purge", "--insecure", &index]);
    let index_digest = pushed.lines().last().unwrap().trim().to_string();
    assert!(index_digest.starts_with("sha256:"), "{pushed}");

    let p = shell_project("lock-index", "");
    let yaml = format!("default: shell\nrepository: {repo}\ngpus: none\n");
    p.write("ptenv.yaml", &yaml);
    p.track_image(&format!("{repo}@{index_digest}"));
    p.ptenv(&["lock"]).run().assert_success();
    let shell = entry(&p.read("ptenv.lock"), "shell");
    assert!(
        shell.contains(&format!("digest: {index_digest}\n")),
        "the index's digest, not one platform's: {shell}"
    );
    assert!(
        shell.contains("media_type: application/vnd.docker.distribution.manifest.list.v2+json\n"),
        "{shell}"
    );

    // `up` pulls the index by digest; the engine takes this machine's platform from it.
    let up = p.ptenv(&["up", "shell", "--detach"]).run();
    up.assert_success();
    let c = only_container(&p);
    p.track_image(c["Config"]["Image"].as_str().unwrap());
    assert_eq!(
        c["Config"]["Labels"]["dev.ptenv.base-image"],
        format!("{repo}@{index_digest}")
    );
    let marker = p.ptenv(&["exec", "--", "cat", "/ptenv-lock-marker"]).run();
    assert_eq!(marker.stdout, "amd64\n", "{marker}");

    // An index without this machine's platform cannot be pinned for it.
    let arm_only = format!("{repo}:2.7.0-cuda12.6-cudnn9-runtime");
    docker_ok(&["manifest", "create", "--insecure", &arm_only, &arm64]);
    docker_ok(&["manifest", "annotate", &arm_only, &arm64, "--arch", "arm64"]);
    docker_ok(&["manifest", "push", "--purge", "--insecure", &arm_only]);
    p.write(
        "ptenv.yaml",
        &format!("{yaml}profiles:\n  arm:\n    mode: shell\n    pytorch: \"2.7\"\n"),
    );
    let refused = p.ptenv(&["lock"]).run();
    refused.assert_exit(1);
    assert!(
        refused.stderr.contains(&format!(
            "ptenv: {arm_only} has no linux/amd64 image in the registry (it has linux/arm64)"
        )),
        "{refused}"
    );
    assert!(refused.stderr.contains("hint:"), "{refused}");
    assert!(
        p.read("ptenv.lock")
            .contains(&format!("digest: {index_digest}\n")),
        "a failed lock leaves the file as it was"
    );
}

#[test]
fn a_tag_the_registry_lacks_or_a_registry_that_does_not_answer_is_said_with_the_fix() {
    let tb = Testbed::get();
    let p = Project::new("lock-registry-errors");
    p.write(
        "ptenv.yaml",
        &format!(
            "repository: {}/ptenv-locktest-no-such-repo/pytorch\ngpus: none\n",
            tb.registry()
        ),
    );
    let missing = p.ptenv(&["lock"]).run();
    missing.assert_exit(1);
    assert!(
        missing.stderr.contains(&format!(
            "ptenv: cannot pin {}/ptenv-locktest-no-such-repo/pytorch:{TAG}: the registry has no such tag",
            tb.registry
        )),
        "{missing}"
    );
    assert!(
        missing.stderr.contains("hint: check `repository:`"),
        "{missing}"
    );
    assert!(missing.stderr.contains("docker login"), "{missing}");
    assert!(!p.path().join("ptenv.lock").exists());

    p.write(
        "ptenv.yaml",
        "repository: 127.0.0.1:5999/ptenv-fixture/pytorch\ngpus: none\n",
    );
    let down = p.ptenv(&["lock"]).run();
    down.assert_exit(1);
    assert!(
        down.stderr
            .contains("the registry 127.0.0.1:5999 does not answer"),
        "{down}"
    );
    assert!(down.stderr.contains("hint: check the network"), "{down}");
}

#[test]
fn a_lock_that_pins_another_repository_is_refused_by_up_and_doctor() {
    let tb = Testbed::get();
    tb.registry();
    let p = Project::new("lock-foreign");
    p.write(
        "ptenv.yaml",
        &format!(
            "default: shell\nrepository: {}\ngpus: none\n",
            tb.small_repo
        ),
    );
    p.ptenv(&["lock"]).run().assert_success();
    // A hand-edited lock: the profile's settings as they are, the image another repository's.
    let lock = p.read("ptenv.lock");
    let ours = format!("image: {}:{TAG}\n", tb.small_repo);
    assert!(entry(&lock, "shell").contains(&ours), "{lock}");
    p.write(
        "ptenv.lock",
        &lock.replace(&ours, &format!("image: evil.example/x:{TAG}\n")),
    );

    let up = p.ptenv(&["up", "shell", "--dry-run"]).run();
    up.assert_exit(1);
    assert!(
        up.stderr
            .contains("ptenv: ptenv.lock pins profile `shell` to evil.example/x@sha256:"),
        "{up}"
    );
    assert!(
        up.stderr.contains(&format!(
            "not an image of {}, the repository",
            tb.small_repo
        )),
        "{up}"
    );
    assert!(up.stderr.contains("hint: run `ptenv lock`"), "{up}");
    assert!(!up.stderr.contains("Using ptenv.lock"), "{up}");

    let (_, report) = crate::doctor::doctor(&p, &["--no-container"], None, None);
    let image = crate::doctor::check(&report, "image");
    assert_eq!(image["status"], "fail", "{image:#}");
    assert!(
        image.to_string().contains("evil.example/x@sha256:"),
        "{image:#}"
    );
    assert!(
        image["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("run `ptenv lock`"),
        "{image:#}"
    );
}
