//! What an image says about itself: the facts a short probe container reads (torch's version,
//! the CUDA it was built with, its compiled GPU code, cuDNN, Python) together with what the
//! image's config declares (`NVIDIA_REQUIRE_CUDA`, labels, env). Pure: the probe's script and
//! the parsing of its output, the `NVIDIA_REQUIRE_*` expression and its evaluation against the
//! host, and the comparison with a catalog line. Running the probe and caching its answer is
//! the binary's `probe`; judging the facts against the GPUs and the driver is `select::judge_image`, with
//! the catalog's own rules (docs/compatibility.md §3, §4, §4.4, and §11 for the probe).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{self, Cc, DriverVersion, Line};
use crate::gpu::Gpu;

/// The format of [`ImageFacts`] and of the probe's script: a cached answer of another format is
/// read again from the image.
pub const FORMAT: u32 = 1;

/// The marker of the probe's one result line (torch may print warnings around it).
pub const MARKER: &str = "PTENV-IMAGE-FACTS ";

/// The probe, run as `python3 -c` (else `python -c`) with no GPU, no network and the image's
/// own user. It never raises and never initialises CUDA: `_cuda_getArchFlags()` is the compiled
/// list without a GPU, where `get_arch_list()` is empty (docs/compatibility.md §2).
pub const SCRIPT: &str = r#"
import json, sys
r = {"python": "%d.%d.%d" % tuple(sys.version_info[:3])}
try:
    import torch
except ModuleNotFoundError as e:
    r["no_torch"] = str(e)
except Exception as e:
    r["import_error"] = "%s: %s" % (type(e).__name__, e)
else:
    r["torch"] = str(torch.__version__)
    r["cuda"] = torch.version.cuda
    try:
        r["arch_flags"] = torch._C._cuda_getArchFlags()
    except Exception:
        r["arch_flags"] = None
    try:
        r["cudnn"] = torch.backends.cudnn.version()
    except Exception:
        r["cudnn"] = None
print("PTENV-IMAGE-FACTS " + json.dumps(r))
"#;

/// Everything ptenv knows about one image (by ID) without running it on a GPU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFacts {
    pub format: u32,
    /// The engine's image ID, `sha256:…` (the cache key).
    pub id: String,
    /// `linux/amd64`
    pub platform: String,
    /// Python's version, `3.11.2`; `None`: no `python3` or `python` runs in the image.
    pub python: Option<String>,
    /// PyTorch as the image has it; `None`: see `problem`.
    pub torch: Option<Torch>,
    /// Why there is no `torch`: no Python, torch not installed, or its import failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// `NVIDIA_REQUIRE_CUDA` of the image's env, as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_cuda: Option<String>,
    /// The image's labels and env (`Config.Labels`, `Config.Env`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// PyTorch inside an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Torch {
    /// `torch.__version__`, `2.6.0+cu124`.
    pub version: String,
    /// `torch.version.cuda`, `12.4`; `None` for a CPU build.
    pub cuda: Option<String>,
    /// Native code `sm_XY` and PTX `compute_XY`, as `_cuda_getArchFlags()` lists them.
    pub sass: Vec<String>,
    pub ptx: Vec<String>,
    /// `torch.backends.cudnn.version()` as `9.1.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cudnn: Option<String>,
}

/// What the probe printed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Printed {
    python: Option<String>,
    no_torch: Option<String>,
    import_error: Option<String>,
    torch: Option<String>,
    cuda: Option<String>,
    arch_flags: Option<String>,
    cudnn: Option<u64>,
}

/// The image config's part of the facts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub id: String,
    pub platform: String,
    /// `KEY=VALUE` entries of `Config.Env`.
    pub env: Vec<String>,
    pub labels: BTreeMap<String, String>,
}

/// How the probe ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran; its stdout and stderr.
    Ran(String),
    /// Neither `python3` nor `python` could be started; the engine's last message.
    NoPython(String),
}

impl ImageFacts {
    /// The facts from the image's config and the probe's outcome. `Err`: the probe ran but
    /// printed no result (its last lines, for the error).
    pub fn from_probe(config: &Config, outcome: &Outcome) -> Result<ImageFacts, String> {
        let env: BTreeMap<String, String> = config
            .env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut facts = ImageFacts {
            format: FORMAT,
            id: config.id.clone(),
            platform: config.platform.clone(),
            python: None,
            torch: None,
            problem: None,
            require_cuda: env
                .get("NVIDIA_REQUIRE_CUDA")
                .filter(|v| !v.trim().is_empty())
                .cloned(),
            labels: config.labels.clone(),
            env,
        };
        let output = match outcome {
            Outcome::NoPython(why) => {
                facts.problem = Some(format!(
                    "the image has no Python (neither `python3` nor `python` starts: {why}), so it has no PyTorch"
                ));
                return Ok(facts);
            }
            Outcome::Ran(output) => output,
        };
        let printed: Printed = output
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(MARKER))
            .and_then(|j| serde_json::from_str(j).ok())
            .ok_or_else(|| {
                let tail: Vec<&str> = output.lines().rev().take(3).collect();
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            })?;
        facts.python = printed.python;
        if let Some(e) = printed.no_torch {
            facts.problem = Some(format!("PyTorch is not installed in the image ({e})"));
        } else if let Some(e) = printed.import_error {
            facts.problem = Some(format!("`import torch` fails in the image: {e}"));
        } else if let Some(version) = printed.torch {
            let (sass, ptx) = catalog::parse_arch_list(printed.arch_flags.as_deref().unwrap_or(""));
            facts.torch = Some(Torch {
                version,
                cuda: printed.cuda.filter(|c| !c.is_empty()),
                sass: sass.into_iter().map(catalog::sm).collect(),
                ptx: ptx.into_iter().map(compute).collect(),
                cudnn: printed.cudnn.map(cudnn_version),
            });
        }
        Ok(facts)
    }

    /// Whether `NVIDIA_DISABLE_REQUIRE` turns the image's requirements off (§4.4).
    pub fn requirements_disabled(&self) -> bool {
        self.env
            .get("NVIDIA_DISABLE_REQUIRE")
            .is_some_and(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
    }

    /// The image's PyTorch as a catalog line, so the catalog's rules judge it: its CUDA line,
    /// its compiled code, the floor of its CUDA family and the GA driver of its CUDA version
    /// (docs/compatibility.md §4.1, §4.2). `None` without a CUDA build of torch, or for a CUDA
    /// version whose drivers ptenv does not know.
    pub fn as_line(&self) -> Option<Line> {
        let t = self.torch.as_ref()?;
        let cuda = cuda_of(t.cuda.as_deref()?)?;
        let floor = catalog::family_floor(cuda.0)?;
        let full = catalog::TOOLKIT_DRIVERS
            .iter()
            .find(|(c, _)| *c >= cuda)
            .map(|(_, d)| d.to_string())
            .unwrap_or_else(|| floor.to_string());
        Some(Line {
            pytorch: release(&t.version).to_string(),
            cuda,
            cuda_full: None,
            cudnn: t
                .cudnn
                .as_deref()
                .and_then(|c| c.split('.').next()?.parse().ok())
                .unwrap_or(0),
            cudnn_full: t.cudnn.clone(),
            status: catalog::Maturity::Stable,
            pypi_default: false,
            sass: t.sass.iter().filter_map(|s| cc_of(s, "sm_")).collect(),
            ptx: t.ptx.iter().filter_map(|s| cc_of(s, "compute_")).collect(),
            arch_verified: true,
            driver_floor: floor.to_string(),
            full_feature_driver: full,
            variants: vec![crate::profile::Variant::Runtime],
            arm64_variants: Vec::new(),
            source: "read from the image".into(),
            unverified: None,
        })
    }

    /// "torch 2.6.0+cu124, CUDA 12.4, sm_50 … sm_90, cuDNN 9.1.0, Python 3.11.2", or what is
    /// missing.
    pub fn summary(&self) -> String {
        match &self.torch {
            Some(t) => {
                let mut s = format!("torch {}", t.version);
                match &t.cuda {
                    Some(c) => s.push_str(&format!(", CUDA {c}, GPU code {}", t.arch_list())),
                    None => s.push_str(", a CPU-only build"),
                }
                if let Some(c) = &t.cudnn {
                    s.push_str(&format!(", cuDNN {c}"));
                }
                if let Some(p) = &self.python {
                    s.push_str(&format!(", Python {p}"));
                }
                s
            }
            None => self
                .problem
                .clone()
                .unwrap_or_else(|| "no PyTorch".to_string()),
        }
    }
}

impl Torch {
    /// "sm_50 sm_60 … compute_120", or "none".
    pub fn arch_list(&self) -> String {
        let all: Vec<&str> = self
            .sass
            .iter()
            .chain(self.ptx.iter())
            .map(String::as_str)
            .collect();
        if all.is_empty() {
            "none".into()
        } else {
            all.join(" ")
        }
    }
}

/// "2.6.0" of "2.6.0+cu124" (PEP 440's local version label dropped).
pub fn release(version: &str) -> &str {
    version.split('+').next().unwrap_or(version)
}

fn compute(cc: Cc) -> String {
    format!("compute_{}{}", cc.0, cc.1)
}

fn cc_of(text: &str, prefix: &str) -> Option<Cc> {
    let (s, p) = catalog::parse_arch_list(text);
    match prefix {
        "sm_" => s.first().copied(),
        _ => p.first().copied(),
    }
}

/// "12.4" → (12, 4).
fn cuda_of(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// cuDNN's version number as text: 90100 → 9.1.0 (cuDNN 9 counts major·10000), 8907 → 8.9.7
/// (cuDNN 8 and older count major·1000).
pub fn cudnn_version(v: u64) -> String {
    if v >= 90000 {
        format!("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100)
    } else {
        format!("{}.{}.{}", v / 1000, (v % 1000) / 100, v % 100)
    }
}

/// Where the image's facts disagree with the catalog's line for its tag, one phrase each
/// ("GPU code: the catalog says sm_75 … compute_120, the image has sm_75 … sm_120"). Empty when
/// they agree; this is also how the catalog's unverified arch lists get checked.
pub fn disagreements(line: &Line, facts: &ImageFacts) -> Vec<String> {
    let Some(t) = &facts.torch else {
        return vec![format!(
            "PyTorch: the catalog says {}, the image has none ({})",
            line.pytorch,
            facts.problem.as_deref().unwrap_or("no torch")
        )];
    };
    let mut out = Vec::new();
    if release(&t.version) != line.pytorch {
        out.push(format!(
            "PyTorch: the catalog says {}, the image has {}",
            line.pytorch, t.version
        ));
    }
    let cuda = t.cuda.as_deref().unwrap_or("none (a CPU build)");
    if cuda != line.cuda_str() {
        out.push(format!(
            "CUDA: the catalog says {}, the image's torch was built for {cuda}",
            line.cuda_str()
        ));
    } else if t.arch_list() != line.arch_list() {
        out.push(format!(
            "GPU code: the catalog says {}, the image has {}",
            line.arch_list(),
            t.arch_list()
        ));
    }
    if let Some(c) = &t.cudnn {
        if !c.starts_with(&format!("{}.", line.cudnn)) {
            out.push(format!(
                "cuDNN: the catalog says {}, the image has {c}",
                line.cudnn
            ));
        }
    }
    out
}

/// One constraint of an `NVIDIA_REQUIRE_*` expression: `cuda>=12.4`, `driver<471`,
/// `brand=tesla`, `arch>=7.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub key: String,
    pub op: String,
    pub value: String,
}

/// An `NVIDIA_REQUIRE_*` value: space-separated alternatives, each a comma-separated list of
/// constraints that must all hold (docs/compatibility.md §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub text: String,
    pub any_of: Vec<Vec<Constraint>>,
}

/// Whether a requirement holds on a host, as far as ptenv can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holds {
    Yes,
    No,
    /// It depends on something ptenv does not read (the GPUs' brand).
    Unknown,
}

impl Requirement {
    pub fn parse(text: &str) -> Requirement {
        let any_of = text
            .split_whitespace()
            .map(|alt| {
                alt.split(',')
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        let at = c.find(['<', '>', '=', '!']).unwrap_or(c.len());
                        let (key, rest) = c.split_at(at);
                        let op_len = rest
                            .chars()
                            .take_while(|ch| matches!(ch, '<' | '>' | '=' | '!'))
                            .count();
                        Constraint {
                            key: key.to_ascii_lowercase(),
                            op: rest[..op_len].to_string(),
                            value: rest[op_len..].to_string(),
                        }
                    })
                    .collect()
            })
            .collect();
        Requirement {
            text: text.trim().to_string(),
            any_of,
        }
    }

    /// The CUDA version the requirement asks of the driver in its first alternative: 12.4 for
    /// `cuda>=12.4 brand=tesla,…`.
    pub fn cuda(&self) -> Option<(u32, u32)> {
        self.any_of
            .first()?
            .iter()
            .find(|c| c.key == "cuda" && c.op == ">=")
            .and_then(|c| cuda_of(&c.value))
    }

    /// Evaluate against the driver (its version and the CUDA version it supports) and the GPUs
    /// handed to the container. An alternative that holds wins; one that depends only on what
    /// ptenv cannot read makes the answer unknown.
    pub fn holds(
        &self,
        driver: Option<&DriverVersion>,
        driver_cuda: Option<(u32, u32)>,
        gpus: &[Gpu],
    ) -> Holds {
        let mut unknown = false;
        for alt in &self.any_of {
            let mut all = Holds::Yes;
            for c in alt {
                let h = c.holds(driver, driver_cuda, gpus);
                if h == Holds::No {
                    all = Holds::No;
                    break;
                }
                if h == Holds::Unknown {
                    all = Holds::Unknown;
                }
            }
            match all {
                Holds::Yes => return Holds::Yes,
                Holds::Unknown => unknown = true,
                Holds::No => {}
            }
        }
        if self.any_of.is_empty() {
            Holds::Yes
        } else if unknown {
            Holds::Unknown
        } else {
            Holds::No
        }
    }
}

impl Constraint {
    fn holds(
        &self,
        driver: Option<&DriverVersion>,
        driver_cuda: Option<(u32, u32)>,
        gpus: &[Gpu],
    ) -> Holds {
        let cmp = |have: Option<std::cmp::Ordering>| match have {
            None => Holds::Unknown,
            Some(o) => {
                let ok = match self.op.as_str() {
                    ">=" => o.is_ge(),
                    ">" => o.is_gt(),
                    "<=" => o.is_le(),
                    "<" => o.is_lt(),
                    "=" | "==" => o.is_eq(),
                    "!=" => o.is_ne(),
                    _ => return Holds::Unknown,
                };
                if ok {
                    Holds::Yes
                } else {
                    Holds::No
                }
            }
        };
        match self.key.as_str() {
            "cuda" => cmp(driver_cuda
                .zip(cuda_of(&self.value))
                .map(|(have, want)| have.cmp(&want))),
            "driver" => cmp(driver
                .zip(DriverVersion::parse(&self.value))
                .map(|(have, want)| have.cmp(&want))),
            "arch" => {
                let Some(want) = cuda_of(&self.value) else {
                    return Holds::Unknown;
                };
                if gpus.is_empty() {
                    return Holds::Unknown;
                }
                let each: Vec<Holds> = gpus.iter().map(|g| cmp(Some(g.cc.cmp(&want)))).collect();
                if each.contains(&Holds::No) {
                    Holds::No
                } else {
                    Holds::Yes
                }
            }
            // `brand=tesla`: NVML's brand of the GPUs, which ptenv does not read.
            _ => Holds::Unknown,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
