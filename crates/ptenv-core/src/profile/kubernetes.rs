//! The `kubernetes:` section: what `ptenv export kubernetes` writes, merged key by key.

use super::*;

/// Settings only the exports use (`ptenv export k8s`; `nccl`, `nproc_per_node` and
/// `gpus_per_node` also for `ptenv export compose --nodes`): where the pod may be scheduled, the workspace's claim, requests, and
/// multi-GPU and multi-node training. `ptenv up` ignores them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    /// Node labels the pod needs, e.g. `nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB`.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "k8s_node_selector"
    )]
    pub node_selector: BTreeMap<String, EnvValue>,
    /// Taints the pod tolerates, e.g. `{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "k8s_tolerations"
    )]
    pub tolerations: Vec<Toleration>,
    /// The PersistentVolumeClaim that holds the workspace (default `<project>-workspace`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_pvc"
    )]
    pub pvc: Option<String>,
    /// Train on N GPUs of one node: the Job runs `torchrun --nproc_per_node=N` with `command`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_nproc_per_node"
    )]
    pub nproc_per_node: Option<u32>,
    /// CPU request, as Kubernetes writes it: `4`, `500m`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_cpu"
    )]
    pub cpu: Option<EnvValue>,
    /// Memory request, a size such as `32g` (default: the size of /dev/shm, which the pod's
    /// memory pays for).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_memory"
    )]
    pub memory: Option<EnvValue>,
    /// Train on N nodes (pods): a PyTorchJob or JobSet whose pods
    /// rendezvous through torchrun's c10d backend.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_nodes"
    )]
    pub nodes: Option<u32>,
    /// GPUs each pod asks for (`nvidia.com/gpu`); torchrun starts one process per GPU unless
    /// `nproc_per_node` says otherwise.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "k8s_gpus_per_node"
    )]
    pub gpus_per_node: Option<u32>,
    /// NCCL settings passed through as `NCCL_<KEY>` variables (`socket_ifname: eth0` →
    /// `NCCL_SOCKET_IFNAME=eth0`): the network interface and debug level depend on the
    /// cluster, so ptenv never guesses them.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "k8s_nccl"
    )]
    pub nccl: BTreeMap<String, EnvValue>,
}

/// Field deserializers of [`Kubernetes`]: each value is checked where it is written (so the
/// error has its line), by the same rules as the whole section.
macro_rules! k8s_field {
    ($name:ident, $field:ident: $ty:ty, $wrap:expr) => {
        fn $name<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<$ty, D::Error> {
            checked(d, |v| {
                let value: $ty = $wrap(serde_yaml::from_value(v)?);
                Kubernetes {
                    $field: value.clone(),
                    ..Kubernetes::default()
                }
                .check()
                .map_err(bad)?;
                Ok(value)
            })
        }
    };
}
k8s_field!(k8s_node_selector, node_selector: BTreeMap<String, EnvValue>, std::convert::identity);
k8s_field!(k8s_tolerations, tolerations: Vec<Toleration>, std::convert::identity);
k8s_field!(k8s_pvc, pvc: Option<String>, Some);
k8s_field!(k8s_nproc_per_node, nproc_per_node: Option<u32>, Some);
k8s_field!(k8s_cpu, cpu: Option<EnvValue>, Some);
k8s_field!(k8s_memory, memory: Option<EnvValue>, Some);
k8s_field!(k8s_nodes, nodes: Option<u32>, Some);
k8s_field!(k8s_gpus_per_node, gpus_per_node: Option<u32>, Some);
k8s_field!(k8s_nccl, nccl: BTreeMap<String, EnvValue>, std::convert::identity);

impl Kubernetes {
    /// `over` on top of `self`: node labels merge by key, tolerations accumulate, the rest is
    /// replaced when given.
    pub(super) fn merge(&mut self, over: &Kubernetes) {
        self.node_selector.extend(over.node_selector.clone());
        for t in &over.tolerations {
            if !self.tolerations.contains(t) {
                self.tolerations.push(t.clone());
            }
        }
        if over.pvc.is_some() {
            self.pvc = over.pvc.clone();
        }
        if over.nproc_per_node.is_some() {
            self.nproc_per_node = over.nproc_per_node;
        }
        if over.cpu.is_some() {
            self.cpu = over.cpu.clone();
        }
        if over.memory.is_some() {
            self.memory = over.memory.clone();
        }
        if over.nodes.is_some() {
            self.nodes = over.nodes;
        }
        if over.gpus_per_node.is_some() {
            self.gpus_per_node = over.gpus_per_node;
        }
        self.nccl.extend(over.nccl.clone());
    }

    /// The NCCL settings as the container's environment: `NCCL_SOCKET_IFNAME=eth0`.
    pub fn nccl_env(&self) -> Vec<(String, String)> {
        self.nccl
            .iter()
            .map(|(k, v)| (format!("NCCL_{}", k.to_ascii_uppercase()), v.0.clone()))
            .collect()
    }

    /// What one layer cannot check alone: names and values as the API server would refuse them.
    fn check(&self) -> std::result::Result<(), String> {
        if let Some(pvc) = &self.pvc {
            if !is_dns_subdomain(pvc) {
                return Err(format!(
                    "`kubernetes.pvc: {pvc}` is not a claim name: lowercase letters, digits, `-` and `.`, starting and ending with a letter or digit"
                ));
            }
        }
        for (k, v) in &self.node_selector {
            check_label_key(k)?;
            let v = &v.0;
            let ok = v.len() <= 63
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && (v.is_empty()
                    || v.starts_with(|c: char| c.is_ascii_alphanumeric())
                        && v.ends_with(|c: char| c.is_ascii_alphanumeric()));
            if !ok {
                return Err(format!(
                    "`kubernetes.node_selector`: `{v}` is not a label value (at most 63 letters, digits, `-`, `_`, `.`)"
                ));
            }
        }
        for t in &self.tolerations {
            if let Some(k) = &t.key {
                check_label_key(k)?;
            }
            match (t.operator, &t.key, &t.value) {
                (TolerationOperator::Exists, _, Some(v)) => {
                    return Err(format!(
                        "`kubernetes.tolerations`: `operator: Exists` takes no value (`{v}`); use `operator: Equal`"
                    ))
                }
                (TolerationOperator::Equal, None, _) => {
                    return Err(
                        "`kubernetes.tolerations`: `operator: Equal` needs a `key`".to_string()
                    )
                }
                _ => {}
            }
        }
        if self.nproc_per_node == Some(0) {
            return Err("`kubernetes.nproc_per_node` must be at least 1".into());
        }
        if self.nodes == Some(0) {
            return Err(
                "`kubernetes.nodes` must be at least 1 (the number of pods that train together)"
                    .into(),
            );
        }
        for (k, v) in &self.nccl {
            let key_ok = !k.is_empty()
                && k.starts_with(|c: char| c.is_ascii_lowercase())
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !key_ok {
                return Err(format!(
                    "`kubernetes.nccl`: `{k}` is not an NCCL setting name: write it in lowercase without the prefix, e.g. `socket_ifname` for NCCL_SOCKET_IFNAME"
                ));
            }
            // NCCL's documented levels (docs/multinode.md): a typo would silently log nothing.
            if k == "debug" && !["VERSION", "WARN", "INFO", "TRACE"].contains(&v.0.as_str()) {
                return Err(format!(
                    "`kubernetes.nccl.debug: {}` is not an NCCL debug level: VERSION, WARN, INFO or TRACE",
                    v.0
                ));
            }
        }
        if let Some(cpu) = &self.cpu {
            let c = cpu.0.as_str();
            let number = |t: &str| {
                !t.is_empty()
                    && t.chars().all(|c| c.is_ascii_digit() || c == '.')
                    && t.matches('.').count() <= 1
                    && t.chars().any(|c| c.is_ascii_digit())
            };
            let ok = match c.strip_suffix('m') {
                Some(milli) => !milli.is_empty() && milli.chars().all(|c| c.is_ascii_digit()),
                None => number(c),
            };
            if !ok
                || c.trim_end_matches('m')
                    .chars()
                    .all(|c| c == '0' || c == '.')
            {
                return Err(format!(
                    "`kubernetes.cpu: {c}` is not a CPU request: write e.g. `4`, `0.5` or `500m`"
                ));
            }
        }
        if let Some(m) = &self.memory {
            parse_size(&m.0).map_err(|e| format!("`kubernetes.memory`: {e}"))?;
        }
        Ok(())
    }
}

/// A toleration as Kubernetes writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Toleration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub operator: TolerationOperator,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<TaintEffect>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TolerationOperator {
    /// Kubernetes' default.
    #[default]
    Equal,
    Exists,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

/// RFC 1123 subdomain, as Kubernetes object names: `a-b.c`, at most 253 characters.
pub fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

/// A label key: `[prefix/]name`, the prefix a DNS subdomain, the name at most 63 letters,
/// digits, `-`, `_`, `.`, starting and ending with a letter or digit.
pub(super) fn check_label_key(key: &str) -> std::result::Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name_ok && prefix.is_none_or(is_dns_subdomain) {
        Ok(())
    } else {
        Err(format!(
            "`{key}` is not a Kubernetes label key (e.g. `nvidia.com/gpu.product`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::tests::{err, project};

    #[test]
    fn the_kubernetes_section_merges_and_is_checked() {
        let s = project(
            "kubernetes:\n  node_selector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}\n  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n  pvc: team-data\n  nccl: {socket_ifname: eth0, debug: INFO}\nprofiles:\n  train:\n    mode: shell\n    kubernetes: {nproc_per_node: 4, cpu: 8, memory: 64g, node_selector: {pool: gpu}, nodes: 2, gpus_per_node: 8, nccl: {debug: WARN}}\n",
        );
        let k = s.resolve("train", &Layer::default()).unwrap().kubernetes;
        assert_eq!(k.node_selector.len(), 2, "node labels merge by key");
        assert_eq!(k.node_selector["pool"], EnvValue("gpu".into()));
        assert_eq!(
            k.tolerations,
            vec![Toleration {
                key: Some("nvidia.com/gpu".into()),
                operator: TolerationOperator::Exists,
                value: None,
                effect: Some(TaintEffect::NoSchedule),
            }]
        );
        assert_eq!(k.pvc.as_deref(), Some("team-data"));
        assert_eq!(k.nproc_per_node, Some(4));
        assert_eq!(k.cpu, Some(EnvValue("8".into())));
        assert_eq!(k.nodes, Some(2));
        assert_eq!(k.gpus_per_node, Some(8));
        assert_eq!(
            k.nccl_env(),
            vec![
                ("NCCL_DEBUG".to_string(), "WARN".to_string()),
                ("NCCL_SOCKET_IFNAME".to_string(), "eth0".to_string())
            ],
            "NCCL settings merge by key"
        );
        let plain = s.resolve("shell", &Layer::default()).unwrap();
        assert_eq!(plain.kubernetes.nproc_per_node, None);
        assert_eq!(
            Sources::default()
                .resolve("shell", &Layer::default())
                .unwrap()
                .kubernetes,
            Kubernetes::default()
        );

        let bad = [
            ("kubernetes: {pvc: Team_Data}\n", "not a claim name"),
            (
                "kubernetes: {node_selector: {'-x': a}}\n",
                "not a Kubernetes label key",
            ),
            (
                "kubernetes: {node_selector: {pool: 'a b'}}\n",
                "not a label value",
            ),
            (
                "kubernetes: {tolerations: [{key: a, operator: Exists, value: b}]}\n",
                "takes no value",
            ),
            ("kubernetes: {tolerations: [{value: b}]}\n", "needs a `key`"),
            ("kubernetes: {nproc_per_node: 0}\n", "at least 1"),
            (
                "kubernetes: {nodes: 0}\n",
                "`kubernetes.nodes` must be at least 1",
            ),
            (
                "kubernetes: {nccl: {NCCL_DEBUG: INFO}}\n",
                "not an NCCL setting name",
            ),
            (
                "kubernetes: {nccl: {debug: info}}\n",
                "not an NCCL debug level",
            ),
            ("kubernetes: {cpu: lots}\n", "not a CPU request"),
            ("kubernetes: {cpu: 0}\n", "not a CPU request"),
            ("kubernetes: {memory: much}\n", "kubernetes.memory"),
        ];
        for (text, want) in bad {
            let e = err(text);
            assert!(
                e.message.contains(want),
                "{text:?} gave {e}, wanted {want:?}"
            );
            assert!(!e.hints.is_empty());
        }
        let e = err("kubernetes: {tolerations: [{key: a, effect: NoSchedul}]}\n");
        assert!(e.message.contains("unknown variant `NoSchedul`"), "{e}");
        let e = err("kubernetes: {node_selecter: {}}\n");
        assert!(e.message.contains("unknown field `node_selecter`"), "{e}");
        assert!(is_dns_subdomain("a-b.c9"));
        assert!(!is_dns_subdomain("a..b"));
    }
}
