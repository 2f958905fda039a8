//! The NVML adapter: nvml-wrapper in, [`Found`] or a sentence saying why not out.
//!
//! nvml-wrapper resolves every symbol when the library loads but fails only when a missing one
//! is called, so an old `libnvidia-ml` that lacks, say, `nvmlDeviceGetArchitecture` still gives
//! the rest.

use std::path::Path;

use nvml_wrapper::enums::device::DeviceArchitecture;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

use super::usage::{Process, Usage};
use super::{parse, Found, Gpu, Problem};
use crate::catalog::DriverVersion;

fn load(lib: Option<&Path>) -> Result<Nvml, Problem> {
    match lib {
        Some(path) => Nvml::builder().lib_path(path.as_os_str()).init(),
        None => Nvml::init(),
    }
    .map_err(|e| init_problem(&e, lib))
}

/// Every GPU's utilisation, memory used and compute processes now (docs/gpus.md §3). A GPU
/// that does not answer is left out, with a sentence in the second list.
pub fn usage(lib: Option<&Path>) -> Result<(Vec<Usage>, Vec<String>), String> {
    let nvml = load(lib).map_err(|p| p.to_string())?;
    let count = nvml
        .device_count()
        .map_err(|e| format!("NVML: cannot count the GPUs: {}", describe(&e)))?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for index in 0..count {
        match usage_of(&nvml, index) {
            Ok(u) => out.push(u),
            Err(e) => problems.push(format!(
                "NVML: GPU {index} does not answer ({}); it is left out",
                describe(&e)
            )),
        }
    }
    Ok((out, problems))
}

fn usage_of(nvml: &Nvml, index: u32) -> Result<Usage, NvmlError> {
    use nvml_wrapper::enums::device::UsedGpuMemory;
    let device = nvml.device_by_index(index)?;
    let memory = device.memory_info()?;
    let processes = device
        .running_compute_processes()?
        .into_iter()
        .map(|p| Process {
            pid: p.pid,
            memory: match p.used_gpu_memory {
                UsedGpuMemory::Used(b) => Some(b),
                UsedGpuMemory::Unavailable => None,
            },
        })
        .collect();
    Ok(Usage {
        index,
        uuid: device.uuid().unwrap_or_default(),
        name: device.name().unwrap_or_default(),
        memory_total: memory.total,
        memory_used: memory.used,
        // Not every board reports utilisation (NVML_ERROR_NOT_SUPPORTED): then it counts as 0
        // and the memory and processes still say whether the GPU is busy.
        utilization: device.utilization_rates().map(|u| u.gpu).unwrap_or(0),
        processes,
    })
}

/// Load NVML (the file `lib`, else `libnvidia-ml.so.1` by the loader's search) and read the
/// driver and every GPU.
pub fn probe(lib: Option<&Path>) -> Result<Found, Problem> {
    let nvml = load(lib)?;

    let mut found = Found::default();
    match nvml.sys_driver_version() {
        Ok(v) => match DriverVersion::parse(&v) {
            Some(d) => found.driver = Some(d),
            None => found.problems.push(Problem::DriverVersionUnread {
                detail: format!("`{}` is not a version ptenv can read", v.trim()),
            }),
        },
        Err(e) => found.problems.push(Problem::DriverVersionUnread {
            detail: describe(&e),
        }),
    }
    // The _v2 call answers only when libcuda is installed (docs/compatibility.md §5); without
    // it the CUDA version is derived from the driver branch by `HostFacts::driver_cuda`.
    match nvml.sys_cuda_driver_version() {
        Ok(v) => found.cuda_driver = parse::cuda_driver_int(v),
        Err(e) => found.problems.push(Problem::CudaVersionUnread {
            detail: describe(&e),
        }),
    }
    let count = nvml.device_count().map_err(|e| Problem::NvmlUnavailable {
        detail: format!("cannot count the GPUs: {}", describe(&e)),
    })?;
    for index in 0..count {
        match gpu(&nvml, index) {
            Ok(g) => found.gpus.push(g),
            Err(e) => found.problems.push(Problem::GpuNotAnswering {
                index,
                detail: describe(&e),
            }),
        }
    }
    Ok(found)
}

fn gpu(nvml: &Nvml, index: u32) -> Result<Gpu, NvmlError> {
    let device = nvml.device_by_index(index)?;
    let cc = device.cuda_compute_capability()?;
    let arch = match device.architecture() {
        Ok(DeviceArchitecture::Unknown) | Err(_) => None,
        Ok(DeviceArchitecture::Ada) => Some("Ada Lovelace".to_string()),
        Ok(a) => Some(format!("{a:?}")),
    };
    Ok(Gpu {
        index,
        name: device.name()?,
        uuid: device.uuid().unwrap_or_default(),
        cc: (cc.major.max(0) as u32, cc.minor.max(0) as u32),
        memory_bytes: device.memory_info().map(|m| m.total).unwrap_or(0),
        arch,
    })
}

/// Why NVML did not start, in words that point at the cause.
fn init_problem(e: &NvmlError, lib: Option<&Path>) -> Problem {
    let detail = match e {
        NvmlError::LibloadingError(le) => match lib {
            Some(path) => format!(
                "cannot load {} (set by PTENV_NVML_LIB): {le}",
                path.display()
            ),
            None => {
                format!("libnvidia-ml.so.1 is not installed or not on the library path ({le})")
            }
        },
        NvmlError::LibRmVersionMismatch => {
            return Problem::VersionMismatch {
                detail: format!("NVML: {}", describe(e)),
            }
        }
        other => describe(other),
    };
    Problem::NvmlUnavailable { detail }
}

/// One NVML error as a phrase, with the NVML code name for searching.
fn describe(e: &NvmlError) -> String {
    match e {
        NvmlError::DriverNotLoaded => {
            "the NVIDIA driver is not loaded (NVML_ERROR_DRIVER_NOT_LOADED)".to_string()
        }
        NvmlError::NoPermission => {
            "no permission to talk to the driver (NVML_ERROR_NO_PERMISSION): check the permissions of /dev/nvidia*".to_string()
        }
        NvmlError::LibRmVersionMismatch => {
            "the driver library and the loaded kernel module are different versions (NVML_ERROR_LIB_RM_VERSION_MISMATCH): reboot, or reload the nvidia module, after a driver update".to_string()
        }
        NvmlError::LibraryNotFound => {
            "a driver library is missing (NVML_ERROR_LIBRARY_NOT_FOUND)".to_string()
        }
        NvmlError::Unknown => "unknown error (NVML_ERROR_UNKNOWN)".to_string(),
        NvmlError::FailedToLoadSymbol(s) => {
            format!("the library lacks a function ptenv needs ({s})")
        }
        other => other.to_string(),
    }
}
