use super::pod::port_name;
use super::*;
use crate::export::fixture::{assert_snapshot, build};
use crate::profile::Mode;

fn opts(kind: Option<K8sKind>) -> Options {
    Options {
        kind,
        gpu_count: None,
        nodes: None,
        workspace: Workspace::Claim("proj-data".into()),
        secret_file: Some("k8s.secret.yaml".into()),
    }
}

fn docs(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [serde_yaml::Value], kind: &str) -> &'a serde_yaml::Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn dollars_in_args_and_env_reach_the_process_as_written() {
    let f = build(
            "profiles:\n  odd:\n    mode: shell\n    env: {A: 'costs $5 and $(HOME)'}\n    command: [sh, -c, 'echo $(id) $HOME']\n",
            "odd",
        );
    let r = render(&f.input(), &opts(Some(K8sKind::Pod))).unwrap();
    let pod = find(&docs(&r.text), "Pod").clone();
    let c = &pod["spec"]["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"echo $$(id) $$HOME"), "{args:?}");
    let a = c["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "A")
        .unwrap();
    assert_eq!(a["value"], "costs $$5 and $$(HOME)");
}

#[test]
fn a_root_container_user_is_not_declared_non_root() {
    // ptenv run as root in root's folder: the container user is root.
    let mut f = build("", "jupyter");
    f.spec.user = Some("0:0".into());
    let r = render(&f.input(), &opts(None)).unwrap();
    let d = docs(&r.text);
    let security = &find(&d, "Pod")["spec"]["securityContext"];
    assert_eq!(security["runAsUser"], 0);
    assert_eq!(
        security["runAsNonRoot"], false,
        "a pod the kubelet would refuse"
    );
    let f = build("", "jupyter");
    let r = render(&f.input(), &opts(None)).unwrap();
    assert_eq!(
        find(&docs(&r.text), "Pod")["spec"]["securityContext"]["runAsNonRoot"],
        true
    );
}

#[test]
fn jupyter_pod_with_service_configmap_and_secret() {
    let f = build("", "jupyter");
    let r = render(&f.input(), &opts(None)).unwrap();
    assert_snapshot("k8s-jupyter-pod.yaml", &r.text);
    assert_eq!(r.files.len(), 2);
    let secret = r.files.iter().find(|f| f.secret).unwrap();
    assert_eq!(
        secret.path,
        std::path::Path::new("ptenv-jupyter/secrets/k8s.secret.yaml")
    );
    let secret_text = String::from_utf8(secret.contents.clone()).unwrap();
    assert_snapshot("k8s-jupyter-pod.secret.yaml", &secret_text);
    assert_eq!(secret.mode, 0o600);
    // The Secret may sit in a repository: its folder keeps it out, as compose's does.
    let ignore = r.files.iter().find(|f| !f.secret).unwrap();
    assert_eq!(
        ignore.path,
        std::path::Path::new("ptenv-jupyter/.gitignore")
    );
    assert!(String::from_utf8_lossy(&ignore.contents).ends_with("\n/secrets/\n"));
    assert!(r
        .text
        .contains("kubectl apply -f ptenv-jupyter/secrets/k8s.secret.yaml"));
    assert!(!r.text.contains("Kind: Secret") && !r.text.contains("kind: Secret"));

    let d = docs(&r.text);
    let pod = find(&d, "Pod");
    let c = &pod["spec"]["containers"][0];
    assert_eq!(c["resources"]["limits"][GPU_RESOURCE], 1);
    assert_eq!(c["resources"]["requests"]["memory"], "12Gi");
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["spec"]["securityContext"]["runAsUser"], 1234);
    assert_eq!(pod["spec"]["securityContext"]["fsGroup"], 1300);
    let vols = pod["spec"]["volumes"].as_sequence().unwrap();
    let dshm = vols.iter().find(|v| v["name"] == "dshm").unwrap();
    assert_eq!(dshm["emptyDir"]["medium"], "Memory");
    assert_eq!(dshm["emptyDir"]["sizeLimit"], "12Gi");
    let ws = vols.iter().find(|v| v["name"] == "workspace").unwrap();
    assert_eq!(ws["persistentVolumeClaim"]["claimName"], "proj-data");
    let secret = vols.iter().find(|v| v["name"] == "secrets").unwrap();
    assert_eq!(
        secret["secret"]["items"][0]["mode"], 0o440,
        "the user reads the token through the fsGroup"
    );
    let svc = find(&d, "Service");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8888);
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert!(r.next.iter().any(|n| n.contains("kubectl port-forward")));
}

#[test]
fn ssh_deployment_runs_as_root_with_its_keys_in_the_secret() {
    let f = build("", "ssh");
    let r = render(&f.input(), &opts(Some(K8sKind::Deployment))).unwrap();
    assert_snapshot("k8s-ssh-deployment.yaml", &r.text);
    let d = docs(&r.text);
    let dep = find(&d, "Deployment");
    assert_eq!(dep["spec"]["strategy"]["type"], "Recreate");
    assert!(dep["spec"]["template"]["spec"]
        .get("securityContext")
        .is_none());
    assert!(r.warnings.iter().any(|w| w.contains("starts as root")));
    let secret = String::from_utf8(r.files[0].contents.clone()).unwrap();
    assert!(secret.contains("ssh-authorized-keys:"), "{secret}");
    assert!(secret.contains("ssh-ssh-host-ed25519-key:"));
    // The public host key is no secret (the ConfigMap has it); the private one and the
    // authorized key are.
    assert!(!r
        .text
        .contains("fixture contents of /etc/ptenv/ssh/ssh_host_ed25519_key\n"));
    assert!(!r.text.contains("of /etc/ptenv/ssh/authorized_keys"));
    assert!(r
        .text
        .contains("fixture contents of /etc/ptenv/ssh/ssh_host_ed25519_key.pub"));
}

#[test]
fn multi_gpu_training_is_a_job_running_torchrun() {
    let f = build(
            "profiles:\n  train:\n    mode: shell\n    gpus: [0, 1, 2, 3]\n    shm_size: 16g\n    command: [python, train.py, --epochs, '3']\n    kubernetes:\n      nproc_per_node: 4\n      cpu: 16\n      memory: 64g\n      node_selector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n",
            "train",
        );
    let r = render(&f.input(), &opts(None)).unwrap();
    assert_snapshot("k8s-train-job.yaml", &r.text);
    let d = docs(&r.text);
    let job = find(&d, "Job");
    let pod = &job["spec"]["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Never");
    assert_eq!(
        pod["nodeSelector"]["nvidia.com/gpu.product"],
        "NVIDIA-A100-SXM4-80GB"
    );
    assert_eq!(pod["tolerations"][0]["operator"], "Exists");
    let c = &pod["containers"][0];
    assert_eq!(
        c["args"],
        serde_yaml::to_value([
            "/bin/sh",
            crate::modes::ENTRY_SCRIPT,
            "torchrun",
            "--standalone",
            "--nproc_per_node=4",
            "train.py",
            "--epochs",
            "3"
        ])
        .unwrap()
    );
    assert_eq!(c["resources"]["limits"][GPU_RESOURCE], 4);
    assert_eq!(c["resources"]["requests"]["cpu"], "16");
    assert_eq!(c["resources"]["requests"]["memory"], "64Gi");
    assert!(
        d.iter().all(|x| x["kind"] != "Service"),
        "no port, no Service"
    );
    assert!(r.files.is_empty(), "the shell mode has no secret");
}

#[test]
fn torchrun_runs_the_profile_s_command_in_every_mode() {
    for mode in ["shell", "ssh"] {
        let f = build(
                &format!("profiles:\n  train:\n    mode: {mode}\n    command: [python, train.py]\n    kubernetes: {{nproc_per_node: 2}}\n"),
                "train",
            );
        let r = render(&f.input(), &opts(None)).unwrap();
        let job = find(&docs(&r.text), "Job").clone();
        let args: Vec<String> = job["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        let torchrun = args.iter().position(|a| a == "torchrun");
        assert!(torchrun.is_some(), "{mode}: {args:?}");
        assert_eq!(
            args.last().map(String::as_str),
            Some("train.py"),
            "{mode}: {args:?}"
        );
        assert!(
            !args.iter().any(|a| a.contains("start.sh")),
            "{mode}: {args:?}"
        );
    }
}

#[test]
fn a_job_needs_the_profiles_own_command() {
    let f = build("", "jupyter");
    let e = render(&f.input(), &opts(Some(K8sKind::Job))).unwrap_err();
    assert!(
        e.message.contains("a Job runs the profile's `command`"),
        "{e}"
    );
    assert!(e.hints[0].contains("command: [python, train.py]"));
    let f = build("kubernetes: {nproc_per_node: 2}\n", "shell");
    let e = render(&f.input(), &opts(None)).unwrap_err();
    assert!(e.message.contains("torchrun"), "{e}");
}

#[test]
fn cpu_pods_see_no_gpu_and_host_paths_warn() {
    let f = build("gpus: none\n", "shell");
    let r = render(
        &f.input(),
        &Options {
            workspace: Workspace::HostPath,
            secret_file: None,
            ..opts(Some(K8sKind::Pod))
        },
    )
    .unwrap();
    let d = docs(&r.text);
    let c = &find(&d, "Pod")["spec"]["containers"][0];
    assert!(c["resources"].get("limits").is_none());
    let env = serde_yaml::to_string(&c["env"]).unwrap();
    assert!(env.contains("NVIDIA_VISIBLE_DEVICES"), "{env}");
    assert!(env.contains("void"));
    let ws = &find(&d, "Pod")["spec"]["volumes"][0];
    assert_eq!(ws["hostPath"]["path"], "/home/ana/proj");
    assert!(r.warnings.iter().any(|w| w.contains("hostPath")));
    // --gpu-count overrides the profile.
    let f = build("", "shell");
    let r = render(
        &f.input(),
        &Options {
            gpu_count: Some(2),
            ..opts(None)
        },
    )
    .unwrap();
    assert!(r.text.contains("nvidia.com/gpu: 2"));
    // `--gpus 2` means GPU index 2 to Docker: one GPU, and a warning.
    let f = build("gpus: [2]\n", "shell");
    let r = render(&f.input(), &opts(None)).unwrap();
    assert!(r.text.contains("nvidia.com/gpu: 1"));
    assert!(r.warnings[0].contains("--gpu-count 2"), "{:?}", r.warnings);
}

const TRAIN: &str = "profiles:\n  train:\n    mode: shell\n    gpus: all\n    shm_size: 16g\n    command: [python, train.py, --epochs, '3']\n    kubernetes:\n      nodes: 2\n      gpus_per_node: 4\n      nccl: {socket_ifname: eth0, debug: INFO}\n      node_selector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n";

fn args_of(pod: &serde_yaml::Value) -> Vec<String> {
    pod["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn env_of(pod: &serde_yaml::Value, name: &str) -> Option<String> {
    pod["containers"][0]["env"]
        .as_sequence()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| e["value"].as_str().unwrap().to_string())
}

#[test]
fn pytorchjob_has_a_master_and_workers_meeting_at_the_operators_address() {
    let f = build(TRAIN, "train");
    let r = render(
        &f.input(),
        &Options {
            nodes: Some(3),
            ..opts(Some(K8sKind::PyTorchJob))
        },
    )
    .unwrap();
    assert_snapshot("k8s-train-pytorchjob.yaml", &r.text);
    let d = docs(&r.text);
    let job = find(&d, "PyTorchJob");
    assert_eq!(job["apiVersion"], "kubeflow.org/v1");
    let spec = &job["spec"];
    assert_eq!(spec["nprocPerNode"], "4", "one process per GPU");
    assert!(spec.get("elasticPolicy").is_none(), "elastic is off");
    let replicas = &spec["pytorchReplicaSpecs"];
    assert_eq!(replicas["Master"]["replicas"], 1);
    assert_eq!(
        replicas["Worker"]["replicas"], 2,
        "--nodes 3: one master, two workers"
    );
    for role in ["Master", "Worker"] {
        let pod = &replicas[role]["template"]["spec"];
        let c = &pod["containers"][0];
        assert_eq!(c["name"], "pytorch", "the operator's container name");
        assert_eq!(c["ports"][0]["name"], "pytorchjob-port");
        assert_eq!(c["resources"]["limits"][GPU_RESOURCE], 4);
        assert_eq!(pod["restartPolicy"], "Never");
        assert_eq!(
            pod["nodeSelector"]["nvidia.com/gpu.product"],
            "NVIDIA-A100-SXM4-80GB"
        );
        assert_eq!(pod["tolerations"][0]["key"], "nvidia.com/gpu");
        let dshm = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "dshm")
            .unwrap();
        assert_eq!(dshm["emptyDir"]["sizeLimit"], "16Gi");
        assert_eq!(pod["securityContext"]["runAsUser"], 1234);
        assert_eq!(env_of(pod, "NCCL_SOCKET_IFNAME").as_deref(), Some("eth0"));
        assert_eq!(env_of(pod, "NCCL_DEBUG").as_deref(), Some("INFO"));
        let args = args_of(pod);
        assert_eq!(
            args[2..],
            [
                "torchrun",
                "--nnodes=3",
                "--nproc_per_node=4",
                "--rdzv_backend=c10d",
                // Not escaped: the kubelet expands the operator's variables.
                "--rdzv_endpoint=$(PET_MASTER_ADDR):$(PET_MASTER_PORT)",
                "--rdzv_id=ptenv-proj-0ed54153-train",
                "train.py",
                "--epochs",
                "3"
            ]
        );
    }
    assert!(d.iter().all(|x| x["kind"] != "Service"));
    assert!(r.text.contains("Kubeflow's training operator"));
    assert!(
        r.text.contains("ReadWriteMany"),
        "every node mounts the workspace"
    );
}

#[test]
fn jobset_is_one_indexed_job_whose_first_pod_hosts_the_rendezvous() {
    let f = build(TRAIN, "train");
    let r = render(&f.input(), &opts(Some(K8sKind::JobSet))).unwrap();
    assert_snapshot("k8s-train-jobset.yaml", &r.text);
    let d = docs(&r.text);
    let js = find(&d, "JobSet");
    assert_eq!(js["apiVersion"], "jobset.x-k8s.io/v1alpha2");
    let name = js["metadata"]["name"].as_str().unwrap();
    assert!(
        name.len() <= 40,
        "{name}: its pods' names fit 63 characters"
    );
    assert_eq!(js["spec"]["network"]["enableDNSHostnames"], true);
    let rjob = &js["spec"]["replicatedJobs"][0];
    assert_eq!(rjob["replicas"], 1);
    let job = &rjob["template"]["spec"];
    assert_eq!(job["completionMode"], "Indexed");
    assert_eq!(job["completions"], 2, "kubernetes.nodes: 2");
    assert_eq!(job["parallelism"], 2);
    let pod = &job["template"]["spec"];
    let args = args_of(pod);
    assert!(
        args.contains(&format!("--rdzv_endpoint={name}-node-0-0.{name}:29500")),
        "{args:?}"
    );
    assert!(args.contains(&"--nnodes=2".to_string()));
    assert_eq!(pod["containers"][0]["resources"]["limits"][GPU_RESOURCE], 4);
    assert!(r.text.contains("JobSet controller"));
}

#[test]
fn multi_node_requests_that_cannot_work_are_clear_errors() {
    let f = build(TRAIN, "train");
    let e = render(
        &f.input(),
        &Options {
            nodes: Some(0),
            ..opts(None)
        },
    )
    .unwrap_err();
    assert!(e.message.contains("`--nodes 0`"), "{e}");
    assert!(e.hints[0].contains("--nodes 2"));
    let e = render(
        &f.input(),
        &Options {
            nodes: Some(2),
            ..opts(Some(K8sKind::Pod))
        },
    )
    .unwrap_err();
    assert!(e.message.contains("a Pod is one pod"), "{e}");
    assert!(e.hints[0].contains("--kind pytorchjob"));
    // An interactive profile (Jupyter's server never ends) is no training job.
    let f = build("", "jupyter");
    for kind in [K8sKind::PyTorchJob, K8sKind::JobSet] {
        let e = render(
            &f.input(),
            &Options {
                nodes: Some(2),
                ..opts(Some(kind))
            },
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("runs the profile's `command` under torchrun on every node"),
            "{e}"
        );
        assert!(e.hints[1].contains("--kind pod"));
    }
    // Without nodes anywhere, a PyTorchJob cannot be sized.
    let f = build(
        "profiles:\n  t:\n    mode: shell\n    command: [python, t.py]\n",
        "t",
    );
    let e = render(&f.input(), &opts(Some(K8sKind::PyTorchJob))).unwrap_err();
    assert!(e.message.contains("needs the number of nodes"), "{e}");
    // Nodes in the profile make a PyTorchJob the default; an explicit Job says it ignores them.
    let f = build(TRAIN, "train");
    let r = render(&f.input(), &opts(None)).unwrap();
    assert!(r.text.contains("kind: PyTorchJob"));
    let r = render(&f.input(), &opts(Some(K8sKind::Job))).unwrap();
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("`kubernetes.nodes: 2`")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn helpers() {
    assert_eq!(quantity(12 << 30), "12Gi");
    assert_eq!(quantity((12 << 30) + 1), "12289Mi");
    assert_eq!(quantity(64 << 20), "64Mi");
    assert_eq!(port_name(Mode::Jupyter, 8888), "jupyter");
    assert_eq!(port_name(Mode::Shell, 6006), "tcp-6006");
    let f = build("", "jupyter");
    assert!(base_name(&f.input()).len() <= 54);
    assert!(crate::profile::is_dns_subdomain(&default_claim(&f.input())));
}
