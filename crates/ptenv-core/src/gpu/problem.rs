//! What went wrong while reading the host's NVIDIA facts, by kind, so that selection and
//! doctor decide on the kind and the sentence is written in one place ([`fmt::Display`]).
//! On the agent's wire a problem is `{"kind": "...", "detail": "..."}`; a plain string (an
//! older agent's form) is read as [`Problem::Other`].

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// NVML did not load or did not start; `detail` says why (library missing, driver not
    /// loaded, no permission).
    NvmlUnavailable { detail: String },
    /// The driver's user-space libraries and the loaded kernel module are different versions
    /// (a driver upgrade without a reboot); `detail` is the whole sentence of the source that
    /// said so.
    VersionMismatch { detail: String },
    /// NVML loaded but did not give the driver version, or gave one that is not a version.
    DriverVersionUnread { detail: String },
    /// NVML did not give the driver's CUDA version (libcuda.so.1 missing on the host); it is
    /// derived from the driver branch instead.
    CudaVersionUnread { detail: String },
    /// A GPU NVML counted does not answer; it is left out.
    GpuNotAnswering { index: u32, detail: String },
    /// Anything else a source said, as the whole sentence: a file that could not be read,
    /// `nvidia-smi` failing or listing nothing.
    Other { detail: String },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NvmlUnavailable { detail } => write!(f, "NVML: {detail}"),
            Problem::DriverVersionUnread { detail } => {
                write!(f, "NVML: cannot read the driver version: {detail}")
            }
            Problem::CudaVersionUnread { detail } => write!(
                f,
                "NVML: cannot read the CUDA version of the driver ({detail}); derived from the driver branch instead"
            ),
            Problem::GpuNotAnswering { index, detail } => write!(
                f,
                "NVML: GPU {index} does not answer ({detail}); it is left out"
            ),
            Problem::VersionMismatch { detail } | Problem::Other { detail } => f.write_str(detail),
        }
    }
}

impl From<String> for Problem {
    fn from(detail: String) -> Problem {
        Problem::Other { detail }
    }
}

impl From<&str> for Problem {
    fn from(detail: &str) -> Problem {
        Problem::Other {
            detail: detail.to_string(),
        }
    }
}

/// `HostFacts.problems` as the agent sends them: typed, or plain text from an older agent.
pub(crate) fn typed_or_text<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<Problem>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Typed(Problem),
        Text(String),
    }
    Ok(Vec::<Wire>::deserialize(d)?
        .into_iter()
        .map(|w| match w {
            Wire::Typed(p) => p,
            Wire::Text(t) => Problem::from(t),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_travel_as_kind_and_detail_and_old_text_still_reads() {
        let p = Problem::GpuNotAnswering {
            index: 1,
            detail: "unknown error (NVML_ERROR_UNKNOWN)".into(),
        };
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["kind"], "gpu_not_answering");
        assert_eq!(json["index"], 1);
        assert_eq!(
            p.to_string(),
            "NVML: GPU 1 does not answer (unknown error (NVML_ERROR_UNKNOWN)); it is left out"
        );
        #[derive(Deserialize)]
        struct Facts {
            #[serde(deserialize_with = "typed_or_text")]
            problems: Vec<Problem>,
        }
        let wire = serde_json::json!({"problems": [json, "nvidia-smi: lists no GPU"]});
        let back: Facts = serde_json::from_value(wire).unwrap();
        assert_eq!(back.problems[0], p);
        assert_eq!(
            back.problems[1],
            Problem::Other {
                detail: "nvidia-smi: lists no GPU".into()
            }
        );
    }
}
