//! `ptenv export compose|k8s [PROFILE] [-o FILE]`: the container `ptenv up` would create, as a
//! Compose file or Kubernetes manifests, for machines other than this one (`crate::exporting`
//! makes and writes them); this file turns the flags into a request and says what was made.
//! Without `-o` the main document goes to stdout and no secret is printed.

use std::path::PathBuf;

use serde::Serialize;

use super::Ctx;
use crate::cli::{ExportArgs, ExportCommon, ExportTarget};
use crate::error::Result;
use crate::export::OutFile;
use crate::exporting::{self, K8sRequest, Request};
use crate::profile::Mode;

/// `--json` (fields in alphabetical order, as the JSON has always been written).
#[derive(Serialize)]
struct Json<'a> {
    base_image: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    document: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<&'a [PathBuf]>,
    image: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a PathBuf>,
    profile: &'a str,
    target: &'a str,
    warnings: &'a [String],
}

pub fn run(ctx: &Ctx, args: ExportArgs) -> Result<i32> {
    let request = |common: &ExportCommon, k8s: Option<K8sRequest>| Request {
        profile: common.mode.clone(),
        flags: common.profile.layer(),
        driver: common.driver.clone(),
        gpu: common.gpu.clone(),
        trust: common.trust,
        output: common.output.clone(),
        k8s,
    };
    let req = match &args.target {
        ExportTarget::Compose(common) => request(common, None),
        ExportTarget::K8s(k) => request(
            &k.common,
            Some(K8sRequest {
                kind: k.kind,
                gpu_count: k.gpu_count,
                pvc: k.pvc.clone(),
                host_path: k.host_path,
            }),
        ),
    };
    let done = exporting::export(ctx, &req)?;
    let (p, r, target) = (&ctx.printer, &done.rendered, done.target);
    let json = Json {
        base_image: &done.base_image,
        document: None,
        files: None,
        image: &done.image,
        output: None,
        profile: &done.profile.name,
        target,
        warnings: &r.warnings,
    };
    match &done.written {
        Some((file, written)) => {
            p.info(format!("Wrote {}", file.display()));
            for f in written {
                p.detail(format!("wrote {}", f.display()));
            }
            if !written.is_empty() {
                p.info(format!("  and beside it: {}", summarize(&r.files)));
            }
            for n in &r.next {
                p.info(format!("  {n}"));
            }
            p.json(&Json {
                output: Some(file),
                files: Some(written),
                ..json
            });
        }
        None => {
            p.result(r.text.trim_end());
            let mode = done.profile.mode;
            if !r.files.is_empty() {
                p.info(format!(
                    "note: this file refers to files ptenv writes beside it ({}); `ptenv export {target} -o FILE` writes them (secrets 0600)",
                    summarize(&r.files)
                ));
            } else if req.k8s.is_some() && done.mode_has_files && mode != Mode::Shell {
                p.info(format!(
                    "note: the Secret with the {} is not printed; `ptenv export k8s -o FILE` writes it to a 0600 file beside FILE",
                    if mode == Mode::Jupyter { "Jupyter token" } else { "ssh keys" }
                ));
            }
            p.json(&Json {
                document: Some(&r.text),
                ..json
            });
        }
    }
    Ok(0)
}

/// `ptenv-jupyter/Dockerfile, 4 files of the mode, 1 secret`.
fn summarize(files: &[OutFile]) -> String {
    let secrets = files.iter().filter(|f| f.secret).count();
    let mut parts: Vec<String> = files
        .iter()
        .filter(|f| f.path.file_name().is_some_and(|n| n == "Dockerfile"))
        .map(|f| f.path.display().to_string())
        .collect();
    let others = files.len() - secrets - parts.len();
    if others > 0 {
        parts.push(format!("{others} file(s) of the mode"));
    }
    if secrets > 0 {
        let names: Vec<String> = files
            .iter()
            .filter(|f| f.secret)
            .map(|f| f.path.display().to_string())
            .collect();
        parts.push(format!("the secret(s) {}", names.join(", ")));
    }
    parts.join(", ")
}
