//! The GPUs of a machine ptenv reaches only through its engine's Docker API (a `tcp://`
//! engine over TLS, no ssh): a short container with every GPU and NVIDIA's `utility`
//! capability, for which the NVIDIA container toolkit mounts the host driver's `nvidia-smi`
//! (docs/gpus.md §7), asked the same query as on a machine ptenv runs on. What runs, in which
//! image, and what its answer means are decided here; the engine adapter runs it.

use super::{parse, HostFacts, Source};
use crate::catalog;

/// An image on the engine, as its image list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageOnEngine {
    pub tags: Vec<String>,
    /// Seconds since the epoch.
    pub created: i64,
}

/// The image to run `nvidia-smi` in. The toolkit brings the program, not a C library for it:
/// an image of a usual Linux distribution is needed. The official PyTorch and NGC images are
/// (Ubuntu), so they come first; then the newest other tagged image. `None` when the engine
/// has no tagged image: ptenv does not pull one only to look.
pub fn pick_image(images: &[ImageOnEngine]) -> Option<String> {
    let rank = |tag: &str| {
        let known = catalog::parse_tag(tag).is_some() || tag.starts_with("nvcr.io/nvidia/");
        u8::from(!known)
    };
    images
        .iter()
        .flat_map(|i| {
            i.tags
                .iter()
                .filter(|t| !t.is_empty() && !t.starts_with("<none>"))
                .map(move |t| (rank(t), std::cmp::Reverse(i.created), t))
        })
        .min()
        .map(|(_, _, t)| t.clone())
}

/// The container's command: the toolkit's `nvidia-smi` with ptenv's query.
pub fn command() -> Vec<String> {
    vec![
        "nvidia-smi".to_string(),
        format!("--query-gpu={}", parse::SMI_QUERY),
        "--format=csv,noheader,nounits".to_string(),
    ]
}

/// The `DeviceRequests` entry: every GPU, with the `utility` capability (`--gpus
/// all,capabilities=utility`), which makes the toolkit mount `nvidia-smi`.
pub fn device_request() -> serde_json::Value {
    serde_json::json!({"Driver": "", "Count": -1, "Capabilities": [["gpu", "utility"]]})
}

/// How the probe went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No tagged image on the engine.
    NoImage,
    /// The container could not be made or started (an engine without the NVIDIA runtime:
    /// `could not select device driver "" with capabilities: [[gpu utility]]`).
    NotStarted(String),
    /// It ran: its exit code (`None` when it did not end in time) and output.
    Ran { code: Option<i64>, output: String },
}

/// The facts the probe gives about `engine`'s machine (`tcp://gpu-box:2376 (TLS)`), with
/// `image` the image it ran in. When it gives none, the GPUs stay unknown
/// (`Source::Unreachable`) and the problem says why, so that `select` asks for
/// `--driver/--gpu`.
pub fn facts(engine: &str, image: Option<&str>, outcome: &Outcome) -> HostFacts {
    let unknown = |why: String| {
        HostFacts {
        problems: vec![format!(
            "the GPUs of {engine} are unknown: ptenv reaches that engine only through its Docker API, and {why}"
        )
        .into()],
        source: Source::Unreachable,
        ..HostFacts::empty()
    }
    };
    let image = image.unwrap_or("no image");
    match outcome {
        Outcome::NoImage => unknown(
            "it has no image to run nvidia-smi in (a GPU container's look at its GPUs needs one; ptenv pulls none only to look)".to_string(),
        ),
        Outcome::NotStarted(e) if e.contains("could not select device driver") => {
            unknown(format!(
                "that engine has no NVIDIA runtime: a container with GPUs did not start there ({image}: {}); the NVIDIA Container Toolkit is not installed there, or dockerd was started before it",
                first_line(e)
            ))
        }
        Outcome::NotStarted(e) => unknown(format!(
            "a container with GPUs did not start there ({image}): {}",
            first_line(e)
        )),
        Outcome::Ran { code: None, .. } => unknown(format!(
            "nvidia-smi in a GPU container ({image}) did not answer in time"
        )),
        Outcome::Ran {
            code: Some(0),
            output,
        } => match parse::smi_csv(output) {
            Ok((driver, gpus)) if !gpus.is_empty() => HostFacts {
                cuda_driver: driver.as_ref().and_then(catalog::cuda_for_driver),
                driver,
                gpus,
                source: Source::ProbeContainer,
                ..HostFacts::empty()
            },
            Ok(_) => unknown(format!(
                "nvidia-smi in a GPU container ({image}) lists no GPU"
            )),
            Err(e) => unknown(format!("nvidia-smi in a GPU container ({image}): {e}")),
        },
        Outcome::Ran {
            code: Some(code),
            output,
        } => unknown(format!(
            "nvidia-smi in a GPU container ({image}) failed (exit {code}): {}",
            first_line(output)
        )),
    }
}

fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(tags: &[&str], created: i64) -> ImageOnEngine {
        ImageOnEngine {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            created,
        }
    }

    #[test]
    fn the_official_images_come_first_then_the_newest_tagged_one() {
        let images = [
            image(&["debian:bookworm"], 300),
            image(&["pytorch/pytorch:2.4.1-cuda12.1-cudnn9-runtime"], 100),
            image(&["<none>:<none>"], 900),
        ];
        assert_eq!(
            pick_image(&images).as_deref(),
            Some("pytorch/pytorch:2.4.1-cuda12.1-cudnn9-runtime")
        );
        let others = [
            image(&["postgres:16"], 100),
            image(&["debian:bookworm"], 200),
            image(&[], 999),
        ];
        assert_eq!(pick_image(&others).as_deref(), Some("debian:bookworm"));
        assert_eq!(
            pick_image(&[
                image(&["nvcr.io/nvidia/pytorch:24.05-py3"], 1),
                others[1].clone()
            ])
            .as_deref(),
            Some("nvcr.io/nvidia/pytorch:24.05-py3")
        );
        assert_eq!(pick_image(&[image(&["<none>:<none>"], 5)]), None);
        assert_eq!(pick_image(&[]), None);
    }

    #[test]
    fn the_answer_gives_the_facts_or_says_why_they_are_unknown() {
        let engine = "tcp://gpu-box:2376 (TLS)";
        let ok = facts(
            engine,
            Some("debian:bookworm"),
            &Outcome::Ran {
                code: Some(0),
                output: "0, NVIDIA RTX A5000, GPU-0a, 8.6, 24564, 550.54.15\n1, NVIDIA RTX A5000, GPU-0b, 8.6, 24564, 550.54.15\n".into(),
            },
        );
        assert_eq!(ok.source, Source::ProbeContainer);
        assert_eq!(ok.gpus.len(), 2);
        assert_eq!(ok.driver.as_ref().map(|d| d.as_str()), Some("550.54.15"));
        assert_eq!(ok.cuda_driver, Some((12, 4)));
        assert!(ok.problems.is_empty());

        let cases = [
            (Outcome::NoImage, "it has no image to run nvidia-smi in"),
            (
                Outcome::NotStarted(
                    "could not select device driver \"\" with capabilities: [[gpu utility]]\n"
                        .into(),
                ),
                "that engine has no NVIDIA runtime: a container with GPUs did not start there (debian:bookworm: could not select device driver",
            ),
            (
                Outcome::NotStarted("cannot create container x: no such image\n".into()),
                "a container with GPUs did not start there (debian:bookworm): cannot create container x",
            ),
            (
                Outcome::Ran {
                    code: Some(9),
                    output: "\nNVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n".into(),
                },
                "failed (exit 9): NVIDIA-SMI has failed because",
            ),
            (
                Outcome::Ran {
                    code: None,
                    output: String::new(),
                },
                "did not answer in time",
            ),
            (
                Outcome::Ran {
                    code: Some(0),
                    output: String::new(),
                },
                "lists no GPU",
            ),
        ];
        for (outcome, says) in cases {
            let f = facts(engine, Some("debian:bookworm"), &outcome);
            assert_eq!(f.source, Source::Unreachable, "{outcome:?}");
            let problem = f.problems[0].to_string();
            assert!(
                problem.starts_with(
                    "the GPUs of tcp://gpu-box:2376 (TLS) are unknown: ptenv reaches that engine only through its Docker API, and "
                ),
                "{problem}"
            );
            assert!(problem.contains(says), "{problem} / {says}");
        }
    }

    #[test]
    fn the_probe_asks_for_every_gpu_with_the_utility_capability() {
        assert_eq!(
            device_request(),
            serde_json::json!({"Driver": "", "Count": -1, "Capabilities": [["gpu", "utility"]]})
        );
        let cmd = command();
        assert_eq!(cmd[0], "nvidia-smi");
        assert_eq!(
            cmd[1],
            "--query-gpu=index,name,uuid,compute_cap,memory.total,driver_version"
        );
    }
}
