//! Why `select` found no image, by kind, and why a container runs on the CPU: the variants
//! carry the facts, and the sentences the user reads are written here and nowhere else.
//! Callers decide on the variant (`doctor` on [`SelectError::is_arch_mismatch`]), never on
//! the text.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::error::Error;
use crate::profile::Variant;

/// Why the container runs on the CPU (rule f).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuReason {
    /// The profile says `gpus: none`.
    GpusNone,
    /// No NVIDIA driver and no GPU were found.
    NoDriver,
    /// NVML answered with the driver's version and no usable GPU.
    NoUsableGpu { driver: String },
    /// The driver is loaded, but no source could list its GPUs.
    GpusNotListed { driver: String },
}

impl CpuReason {
    /// What is missing, as the start of a sentence: "No NVIDIA driver was found on this
    /// machine". `None` for `gpus: none`, which is a wish, not a missing piece.
    fn cause(&self) -> Option<String> {
        match self {
            CpuReason::GpusNone => None,
            CpuReason::NoDriver => Some("No NVIDIA driver was found on this machine".to_string()),
            CpuReason::NoUsableGpu { driver } => Some(format!(
                "The NVIDIA driver {driver} is installed but reports no usable GPU"
            )),
            CpuReason::GpusNotListed { driver } => Some(format!(
                "The NVIDIA driver {driver} is loaded but ptenv could not list its GPUs"
            )),
        }
    }
}

impl fmt::Display for CpuReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.cause() {
            None => f.write_str(
                "The profile says `gpus: none`, so the container runs on the CPU and no GPU is requested from Docker.",
            ),
            Some(cause) => write!(
                f,
                "{cause}, so the container runs on the CPU and no GPU is requested from Docker."
            ),
        }
    }
}

/// In `--json` the reason is the sentence the user reads.
impl Serialize for CpuReason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// GPUs the profile asks for by name: a count or devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    Count(u32),
    Devices(Vec<String>),
}

/// How the GPU that blocks a release stands to the release's GPU code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeLimit {
    /// Newer than the newest code: `arch` and `cc` of that newest code.
    TooNew { arch: String, cc: String },
    /// Older than the oldest code.
    TooOld { arch: String, cc: String },
    /// Inside the span, but not among the architectures built.
    Missing,
}

/// What to run instead when no line of the release has code for a GPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instead {
    /// The nearest release that covers the GPUs: its `minor`, image and CUDA span;
    /// `blackwell_driver` is this machine's driver when a Blackwell GPU also needs R570.
    Release {
        minor: String,
        image: String,
        span: String,
        blackwell_driver: Option<String>,
    },
    /// A Jetson GPU: NVIDIA's L4T images.
    Jetson,
    /// No release ptenv knows (`known`, "2.0.1 to 2.14.0") covers the GPU.
    Nothing { known: String },
}

/// One line of a release and the GPUs it covers, when no line covers them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialFit {
    pub image: String,
    pub cuda: String,
    /// The indexes of the GPUs it has code for.
    pub devices: Vec<String>,
}

/// Why `select::choose` has no image for the profile on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectError {
    /// The profile asks for GPUs by count or device and the machine has none to give.
    NoGpu {
        profile: String,
        asked: Asked,
        cause: CpuReason,
        /// The first problem the GPU sources reported, named for devices asked by name.
        problem: Option<String>,
    },
    /// The profile asks for GPUs of a machine whose GPUs ptenv cannot read (an engine reached
    /// only through its Docker API), without a pinned image to take unchecked. `some`: a count
    /// or devices rather than all; `why`: the problem the facts carry.
    GpusUnknown {
        profile: String,
        some: bool,
        why: String,
    },
    /// More GPUs asked for than the machine has.
    TooFewGpus {
        profile: String,
        asked: u32,
        have: usize,
    },
    /// A device asked for by index or UUID that is not on the machine; `have` describes
    /// the GPUs that are.
    NoSuchDevice {
        profile: String,
        device: String,
        have: Vec<String>,
    },
    /// `pytorch: latest` with a `cuda:` no release has.
    NoReleaseWithCuda { known: String, cuda: String },
    /// A release the catalog does not know; `newest` is the newest minor it does.
    UnknownRelease {
        asked: String,
        known: String,
        newest: String,
    },
    /// A `cuda:` the release has no line of.
    NoSuchCudaLine {
        release: String,
        cuda: String,
        lines: Vec<String>,
    },
    /// Architecture mismatch: no line of the release has code for `gpu` (described).
    NoCodeForGpu {
        minor: String,
        gpu: String,
        limit: Box<CodeLimit>,
        instead: Box<Instead>,
        /// With several GPUs, the indexes of those some line does cover.
        usable: Vec<String>,
    },
    /// Architecture mismatch: every GPU is covered by some line, no line covers them all.
    NoSingleImage {
        minor: String,
        gpus: Vec<String>,
        partial: Vec<PartialFit>,
    },
    /// Lines have code for the GPUs, but the driver is too old for each of them.
    DriverTooOld {
        driver: String,
        minor: String,
        variant: Variant,
        /// `(image, why it does not run)` for the lines that have code for the GPUs.
        misfits: Vec<(String, String)>,
        /// A devel profile whose runtime variant would run on this driver.
        runtime_fits: bool,
    },
}

const CPU_HINT_GPUS: &str = "run on the CPU with `--gpus none`, or `gpus: none` in ptenv.yaml";
const CPU_HINT_NO_FIT: &str = "or run on the CPU: `--gpus none` (or `gpus: none` in ptenv.yaml)";

impl SelectError {
    /// No image has GPU code for the GPUs: the failure doctor names "architecture mismatch".
    pub fn is_arch_mismatch(&self) -> bool {
        matches!(
            self,
            SelectError::NoCodeForGpu { .. } | SelectError::NoSingleImage { .. }
        )
    }

    /// What went wrong, in one sentence.
    pub fn message(&self) -> String {
        match self {
            SelectError::GpusUnknown { profile, some, why } => format!(
                "the profile `{profile}` asks for {}, but {why}",
                if *some { "GPUs" } else { "all GPUs" }
            ),
            SelectError::NoGpu {
                profile,
                asked,
                cause,
                ..
            } => {
                let cause = lowercase_first(&cause.cause().unwrap_or_default());
                match asked {
                    Asked::Count(n) => format!(
                        "the profile `{profile}` asks for {n} GPU{}, but {cause}",
                        if *n == 1 { "" } else { "s" }
                    ),
                    Asked::Devices(d) => format!(
                        "the profile `{profile}` asks for GPU {}, but {cause}",
                        d.join(", ")
                    ),
                }
            }
            SelectError::TooFewGpus {
                profile,
                asked,
                have,
            } => format!("the profile `{profile}` asks for {asked} GPUs, but this machine has {have}"),
            SelectError::NoSuchDevice {
                profile, device, ..
            } => format!(
                "the profile `{profile}` asks for GPU `{device}`, which is not on this machine"
            ),
            SelectError::NoReleaseWithCuda { known, cuda } => {
                format!("no PyTorch release that ptenv knows ({known}) has a CUDA {cuda} image")
            }
            SelectError::UnknownRelease { asked, known, .. } => {
                format!("ptenv knows the images of PyTorch {known}, not {asked}")
            }
            SelectError::NoSuchCudaLine { release, cuda, .. } => {
                format!("PyTorch {release} has no CUDA {cuda} image")
            }
            SelectError::NoCodeForGpu {
                minor, gpu, limit, ..
            } => match limit.as_ref() {
                CodeLimit::TooNew { arch, cc } => format!(
                    "Your {gpu} needs GPU code built for its generation; PyTorch {minor} images only contain code up to {arch} ({cc}), so PyTorch would fail with \"no kernel image is available for execution on the device\""
                ),
                CodeLimit::TooOld { arch, cc } => format!(
                    "Your {gpu} is too old for every PyTorch {minor} image: their oldest GPU code is for {arch} ({cc})"
                ),
                CodeLimit::Missing => {
                    format!("no PyTorch {minor} image has GPU code for your {gpu}")
                }
            },
            SelectError::NoSingleImage { minor, gpus, .. } => format!(
                "no single PyTorch {minor} image has GPU code for all of your GPUs: {}",
                gpus.join("; ")
            ),
            SelectError::DriverTooOld {
                driver,
                minor,
                variant,
                ..
            } => format!(
                "NVIDIA driver {driver} is too old for every PyTorch {minor} {variant} image that runs on your GPUs"
            ),
        }
    }

    /// What to do next, in the order the user should consider it. The hint that sends the
    /// user to `ptenv doctor` is not among them: the rendering for commands adds it.
    pub fn hints(&self) -> Vec<String> {
        let mut out = Vec::new();
        match self {
            SelectError::GpusUnknown { .. } => {
                out.push("find the image for that machine with `ptenv select --driver VERSION --gpu CC` (its `nvidia-smi` shows both), then pin it: `image:` in ptenv.yaml or `--image`".into());
                out.push("or run on the CPU with `--gpus none`, or reach the server over ssh (--host ssh://USER@HOST), where ptenv reads its GPUs itself".into());
            }
            SelectError::NoGpu { asked, problem, .. } => {
                if let (Asked::Devices(_), Some(p)) = (asked, problem) {
                    out.push(format!("what failed: {p}"));
                }
                out.push(CPU_HINT_GPUS.to_string());
            }
            SelectError::TooFewGpus { have, .. } => out.push(format!(
                "ask for at most {have} (`--gpus {have}`), or `--gpus all`"
            )),
            SelectError::NoSuchDevice { have, .. } => {
                out.push(format!("this machine has GPU {}", have.join(", ")));
                out.push("change `gpus:` (or --gpus) to those indexes or UUIDs, or `all`".into());
            }
            SelectError::NoReleaseWithCuda { .. } => out.push(
                "change `cuda:` (or --cuda), or remove it and let ptenv choose; `ptenv select --list` shows every line".into(),
            ),
            SelectError::UnknownRelease { newest, .. } => {
                out.push(format!(
                    "use a release among them, e.g. `--pytorch {newest}`, or `--pytorch latest` for the newest that runs here (or `pytorch:` in ptenv.yaml); `ptenv select --list` shows them all"
                ));
                out.push("or pin an image with `image: pytorch/pytorch:<tag>`; ptenv checks its tag as far as it can".into());
            }
            SelectError::NoSuchCudaLine { lines, .. } => out.push(format!(
                "its CUDA lines are {}; change `cuda:` (or --cuda), or remove it and let ptenv choose",
                lines.join(", ")
            )),
            SelectError::NoCodeForGpu {
                instead, usable, ..
            } => {
                match instead.as_ref() {
                    Instead::Release {
                        minor,
                        image,
                        span,
                        blackwell_driver,
                    } => {
                        out.push(format!(
                            "PyTorch {minor} has it: {image} ({span}). Ask for it with `--pytorch {minor}`, or `pytorch: \"{minor}\"` in ptenv.yaml"
                        ));
                        if let Some(d) = blackwell_driver {
                            out.push(format!(
                                "Blackwell GPUs also need driver R570 or newer; this machine has {d}"
                            ));
                        }
                    }
                    Instead::Jetson => out.push("Jetson boards run arm64 and need NVIDIA's L4T/JetPack PyTorch images; pin one with `image:` (ptenv cannot check it)".into()),
                    Instead::Nothing { known } => out.push(format!(
                        "no PyTorch image from {known} supports this GPU; pin an image built for it with `image:` (ptenv cannot check it)"
                    )),
                }
                if !usable.is_empty() {
                    out.push(format!(
                        "or hand the container only the GPUs it can use: `--gpus device={}`",
                        usable.join(",")
                    ));
                }
                out.push(CPU_HINT_NO_FIT.into());
            }
            SelectError::NoSingleImage { partial, .. } => {
                for l in partial {
                    out.push(format!(
                        "{} runs on GPU {}: `--gpus device={} --cuda {}`",
                        l.image,
                        l.devices.join(", "),
                        l.devices.join(","),
                        l.cuda
                    ));
                }
                out.push(CPU_HINT_NO_FIT.into());
            }
            SelectError::DriverTooOld {
                misfits,
                runtime_fits,
                ..
            } => {
                out.extend(misfits.iter().map(|(image, why)| format!("{image}: {why}")));
                if *runtime_fits {
                    out.push("the runtime variant (`--variant runtime`) runs on this driver through CUDA minor-version compatibility; it lacks only nvcc".into());
                }
                out.push(
                    "update the NVIDIA driver (your distribution's driver package, or nvidia.com/Download)".into(),
                );
                out.push(CPU_HINT_NO_FIT.into());
            }
        }
        out
    }
}

/// The error a command shows: the message, the hints, and for a missing GPU the pointer to
/// `ptenv doctor`, which checks the driver link by link.
impl From<SelectError> for Error {
    fn from(e: SelectError) -> Error {
        let mut out = Error::new(e.message());
        out.hints = e.hints();
        if matches!(e, SelectError::NoGpu { .. }) {
            out = out.hint("`ptenv doctor` checks the driver step by step");
        }
        out
    }
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Error::from(self.clone()).fmt(f)
    }
}

impl std::error::Error for SelectError {}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}
