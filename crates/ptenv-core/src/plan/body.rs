//! A [`Spec`] as the Engine API's create body and as the `docker run` line an expert would
//! type, field for field.

use super::*;

impl Spec {
    /// Replace the host ports (after `up` found free ones) and the label that records them.
    pub fn set_host_ports(&mut self, hosts: &[u16]) {
        for (port, host) in self.ports.iter_mut().zip(hosts) {
            port.host = *host;
        }
        self.set_ports_label();
    }

    pub(super) fn set_ports_label(&mut self) {
        self.labels
            .insert(LABEL_PORTS.to_string(), ports_label(&self.ports));
    }

    /// The same container without the memlock limit the engine refused, recording the cap in a
    /// label. The config hash stays, so the next `up` reuses this container.
    pub fn without_memlock(&self, engine_limit: &str) -> Spec {
        let mut spec = self.clone();
        spec.ulimits.retain(|u| u.name != "memlock");
        spec.labels
            .insert(LABEL_MEMLOCK.to_string(), engine_limit.to_string());
        spec
    }

    /// The config hash recorded in the labels.
    pub fn config_hash(&self) -> &str {
        self.labels
            .get(LABEL_CONFIG)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The container's configured environment as the engine gets it: the spec's, with the GPU
    /// request's devices as `NVIDIA_VISIBLE_DEVICES` in place of any other value. Docker puts
    /// the request only in the main process's environment, so a `docker exec` process
    /// (`ptenv shell`, `ptenv exec`) would see the image's `all` (docs/gpus.md §8). Not for a
    /// count, whose devices the engine picks.
    pub fn engine_env(&self) -> Vec<String> {
        let visible = match &self.gpus {
            Some(GpuRequest::All) => "all".to_string(),
            Some(GpuRequest::Devices(d)) => d.join(","),
            Some(GpuRequest::Count(_)) | None => return self.env.clone(),
        };
        self.env
            .iter()
            .filter(|e| !e.starts_with("NVIDIA_VISIBLE_DEVICES="))
            .cloned()
            .chain([format!("NVIDIA_VISIBLE_DEVICES={visible}")])
            .collect()
    }

    /// The `POST /containers/create` body, Engine API field names and value types (ports are
    /// strings, sizes are bytes), exactly what the engine receives.
    pub fn create_body(&self) -> Value {
        let mut config = serde_json::Map::new();
        config.insert("Image".into(), json!(self.image));
        config.insert("Cmd".into(), json!(self.cmd));
        if let Some(user) = &self.user {
            config.insert("User".into(), json!(user));
        }
        config.insert("Env".into(), json!(self.engine_env()));
        config.insert("WorkingDir".into(), json!(self.workdir));
        config.insert("Labels".into(), json!(self.labels));
        let mut host = serde_json::Map::new();
        // As docker's CLI sends `--mount`: `ReadOnly` only when set.
        let mut mounts: Vec<Value> = self
            .mounts
            .iter()
            .map(|m| {
                let kind = if m.volume { "volume" } else { "bind" };
                let mut v = json!({ "Type": kind, "Source": m.source, "Target": m.target });
                if m.readonly {
                    v["ReadOnly"] = json!(true);
                }
                v
            })
            .collect();
        // As docker's CLI sends `--mount type=volume,volume-label=…` (found by tests/parity).
        mounts.extend(self.volumes.iter().map(|v| {
            json!({
                "Type": "volume",
                "Source": v.name,
                "Target": v.target,
                "VolumeOptions": { "DriverConfig": {}, "Labels": v.labels },
            })
        }));
        host.insert("Mounts".into(), json!(mounts));
        // docker's CLI always sends PortBindings, `{}` without `-p` (found by tests/parity).
        let mut bindings = serde_json::Map::new();
        if !self.ports.is_empty() {
            let mut exposed = serde_json::Map::new();
            for p in &self.ports {
                let key = format!("{}/tcp", p.container);
                exposed.insert(key.clone(), json!({}));
                bindings.insert(
                    key,
                    json!([{ "HostIp": p.bind, "HostPort": p.host.to_string() }]),
                );
            }
            config.insert("ExposedPorts".into(), Value::Object(exposed));
        }
        host.insert("PortBindings".into(), Value::Object(bindings));
        // docker/cli opts/gpus.go: `all` is Count -1; devices fill DeviceIDs with Count 0; the
        // capabilities default to [["gpu"]] and Options to an empty map.
        match &self.gpus {
            None => {}
            Some(GpuRequest::All) => {
                host.insert(
                    "DeviceRequests".into(),
                    json!([{ "Driver": "", "Count": -1, "Capabilities": [["gpu"]], "Options": {} }]),
                );
            }
            Some(GpuRequest::Count(n)) => {
                host.insert(
                    "DeviceRequests".into(),
                    json!([{ "Driver": "", "Count": n, "Capabilities": [["gpu"]], "Options": {} }]),
                );
            }
            Some(GpuRequest::Devices(ids)) => {
                host.insert(
                    "DeviceRequests".into(),
                    json!([{ "Driver": "", "Count": 0, "DeviceIDs": ids, "Capabilities": [["gpu"]], "Options": {} }]),
                );
            }
        }
        if let Some(bytes) = self.shm_size {
            host.insert("ShmSize".into(), json!(bytes));
        }
        if self.ipc_host {
            host.insert("IpcMode".into(), json!("host"));
        }
        if !self.ulimits.is_empty() {
            host.insert(
                "Ulimits".into(),
                json!(self
                    .ulimits
                    .iter()
                    .map(|u| json!({ "Name": u.name, "Soft": u.soft, "Hard": u.hard }))
                    .collect::<Vec<_>>()),
            );
        }
        host.insert("Init".into(), json!(self.init));
        config.insert("HostConfig".into(), Value::Object(host));
        Value::Object(config)
    }

    /// The `docker run` line an expert would type for this container (shown with `-v`),
    /// quoted so that pasting it into a shell runs exactly this container.
    pub fn docker_run_line(&self) -> String {
        crate::shell::join(&self.docker_run_args())
    }

    /// The words of [`Spec::docker_run_line`].
    fn docker_run_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["docker", "run", "-d", "--name"]
            .into_iter()
            .map(String::from)
            .collect();
        args.push(self.name.clone());
        let mut flag = |name: &str, value: String| {
            args.push(name.to_string());
            args.push(value);
        };
        match &self.gpus {
            Some(GpuRequest::All) => flag("--gpus", "all".into()),
            Some(GpuRequest::Count(n)) => flag("--gpus", n.to_string()),
            // docker reads `--gpus` as CSV: the quotes keep the list's commas in one field.
            Some(GpuRequest::Devices(d)) => flag("--gpus", format!("\"device={}\"", d.join(","))),
            None => {}
        }
        if self.ipc_host {
            flag("--ipc", "host".into());
        }
        if let Some(b) = self.shm_size {
            flag("--shm-size", b.to_string());
        }
        for u in &self.ulimits {
            flag("--ulimit", format!("{}={}:{}", u.name, u.soft, u.hard));
        }
        for p in &self.ports {
            flag(
                "-p",
                format!(
                    "{}:{}:{}",
                    crate::address::port_spec_host(&p.bind),
                    p.host,
                    p.container
                ),
            );
        }
        for m in &self.mounts {
            flag("--mount", m.mount_flag());
        }
        for v in &self.volumes {
            flag("--mount", v.mount_flag());
        }
        for e in self.engine_env() {
            flag("-e", e);
        }
        if let Some(u) = &self.user {
            flag("--user", u.clone());
        }
        args.push("--init".into());
        args.extend(["-w".to_string(), self.workdir.clone(), self.image.clone()]);
        args.extend(self.cmd.iter().cloned());
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{profile, spec_for};

    #[test]
    fn the_reference_docker_run_line_maps_field_for_field() {
        // docker run --gpus all --ipc host --ulimit memlock=-1 --ulimit stack=67108864
        //   -p 127.0.0.1:8888:8888 -v $PWD:/workspace IMAGE   (docs/compatibility.md §7)
        let p = profile("jupyter", "ipc: host\n");
        let spec = spec_for(&p, true, &Setup::default());
        let body = spec.create_body();
        let host = &body["HostConfig"];
        assert_eq!(
            host["DeviceRequests"],
            json!([{"Driver": "", "Count": -1, "Capabilities": [["gpu"]], "Options": {}}])
        );
        assert_eq!(host["IpcMode"], "host");
        assert!(
            host.get("ShmSize").is_none(),
            "never both ShmSize and host IPC"
        );
        assert_eq!(
            host["Ulimits"],
            json!([{"Name": "memlock", "Soft": -1, "Hard": -1},
                   {"Name": "stack", "Soft": 67108864, "Hard": 67108864}])
        );
        assert_eq!(
            host["PortBindings"],
            json!({"8888/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8888"}]})
        );
        assert_eq!(body["ExposedPorts"], json!({"8888/tcp": {}}));
        assert_eq!(
            host["Mounts"],
            json!([{"Type": "bind", "Source": "/home/ana/proj", "Target": "/workspace"},
                   {"Type": "volume", "Source": spec.volumes[0].name, "Target": "/home/dev",
                    "VolumeOptions": {"DriverConfig": {},
                                      "Labels": {"dev.ptenv.project": "/home/ana/proj", "dev.ptenv.volume": "home"}}}])
        );
        assert!(host.get("Binds").is_none());
        assert_eq!(host["Init"], true);
        assert_eq!(body["WorkingDir"], "/workspace");
        assert_eq!(body["User"], "1234:1300");
        assert_eq!(body["Image"], "ptenv/x:1");
    }

    /// The words a POSIX shell makes of `line` when `docker run` is replaced by a program
    /// that prints its arguments.
    fn shell_argv(line: &str) -> Vec<String> {
        let rest = line.strip_prefix("docker run ").expect(line);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {rest}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_terminator('\0').map(String::from).collect()
    }

    #[test]
    fn the_docker_run_line_pastes_into_a_shell_as_the_spec() {
        let odd = "it's \"a b\" $HOME `id` \\ x\ny";
        let yaml = format!(
            "profiles:\n  t:\n    mode: shell\n    env: {{ODD: {odd:?}}}\n    command: [echo, {odd:?}, '']\n    mounts: [{{source: '/data/a b,\"c\"', target: /in, readonly: true}}]\n"
        );
        let p = profile("t", &yaml);
        let spec = spec_for(&p, false, &Setup::default());
        let argv = shell_argv(&spec.docker_run_line());
        let after = |flag: &str| -> Vec<&str> {
            argv.windows(2)
                .filter(|w| w[0] == flag)
                .map(|w| w[1].as_str())
                .collect()
        };
        assert_eq!(
            after("-e"),
            vec![
                format!("ODD={odd}"),
                "UV_CONSTRAINT=/etc/ptenv/dependencies/image.txt".into()
            ],
            "{argv:?}"
        );
        assert_eq!(after("--name"), vec![spec.name.as_str()]);
        // docker reads `--mount` as CSV: the field with `,` and `"` is quoted for it.
        assert_eq!(
            after("--mount"),
            vec![
                "type=bind,source=/home/ana/proj,target=/workspace",
                "type=bind,\"source=/data/a b,\"\"c\"\"\",target=/in,readonly",
                &format!(
                    "type=volume,source={},target=/home/dev,volume-label=dev.ptenv.project=/home/ana/proj,volume-label=dev.ptenv.volume=home",
                    spec.volumes[0].name
                ),
            ]
        );
        let tail: Vec<String> = std::iter::once(spec.image.clone())
            .chain(spec.cmd.iter().cloned())
            .collect();
        assert_eq!(argv[argv.len() - tail.len()..], tail[..], "{argv:?}");

        // An IPv6 bind is bracketed, as `docker run -p` needs it.
        let p = profile(
            "t",
            "profiles:\n  t:\n    mode: shell\n    bind: '::1'\n    ports: [8080]\n",
        );
        let argv = shell_argv(&spec_for(&p, false, &Setup::default()).docker_run_line());
        assert!(argv.iter().any(|a| a == "[::1]:8080:8080"), "{argv:?}");
    }
}
