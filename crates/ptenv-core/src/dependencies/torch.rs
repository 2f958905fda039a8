//! Keeping the image's torch: which requirements would replace it, and comparing versions as
//! PEP 440 orders releases.

use super::*;

/// What the chosen image's torch is, from the catalog (before the image is even pulled).
#[derive(Debug, Clone, Copy)]
pub struct ImageTorch<'a> {
    /// `2.6.0`; `None` when the catalog does not know (a pinned image of another name).
    pub version: Option<&'a str>,
    /// `12.4`; `None` on a CPU build or when unknown.
    pub cuda: Option<&'a str>,
    /// The PyTorch releases the catalog has images of (`2.5.1`, `2.6.0`, …).
    pub releases: &'a [&'a str],
}

/// The rule that keeps torch: `torch` lines are checked against the image's torch and taken
/// out of the install (the image provides it); a conflict is an error naming file:line and the
/// fix. Returns the sentences to tell the user.
pub fn keep_torch(d: &mut Dependencies, image: &ImageTorch) -> Result<Vec<String>> {
    let mut said = Vec::new();
    for (o, origin) in &d.options {
        if let Some(line) = torch_index_conflict(o, image.cuda) {
            return Err(file_error(
                origin,
                format!("`{o}` points pip at PyTorch's {line} wheels, which would replace the image's torch{}", image.cuda.map_or(String::new(), |c| format!(" (CUDA {c})"))),
            )
            .hint(format!("remove the line from {}: the image already has torch with CUDA; choose a CUDA line with `cuda:` in ptenv.yaml if you need another", origin.file)));
        }
    }
    let mut kept = Vec::new();
    for r in std::mem::take(&mut d.pip) {
        if r.name != "torch" {
            kept.push(r);
            continue;
        }
        let ours = image.version.unwrap_or("the image's");
        if r.url {
            return Err(file_error(
                &r.origin,
                format!(
                    "`{}` installs torch from a URL, replacing the image's torch {ours}",
                    r.text
                ),
            )
            .hint(format!(
                "remove the line from {}: the image's torch is kept",
                r.origin.file
            )));
        }
        let verdict = match image.version {
            Some(v) if !r.specifier.is_empty() => satisfies(v, image.cuda, &r.specifier),
            _ => Some(true),
        };
        if verdict == Some(false) {
            let mut e = file_error(
                &r.origin,
                format!(
                    "`{}` conflicts with the image's torch {ours}: installing it would replace the image's CUDA build of torch",
                    r.text
                ),
            );
            let fitting: Vec<&&str> = image
                .releases
                .iter()
                .filter(|rel| satisfies(rel, image.cuda, &r.specifier) == Some(true))
                .collect();
            if let Some(rel) = fitting.last() {
                let minor = rel.split('.').take(2).collect::<Vec<_>>().join(".");
                e = e.hint(format!(
                    "to use torch {rel}, set `pytorch: \"{minor}\"` in ptenv.yaml (ptenv has its image) and keep the line"
                ));
            }
            e = e.hint(format!(
                "or drop the pin in {} (`torch` alone is satisfied by the image's torch {ours})",
                r.origin.file
            ));
            return Err(e);
        }
        said.push(format!(
            "{}: `{}` is satisfied by the image's torch {ours}, which is kept",
            r.origin, r.text
        ));
    }
    d.pip = kept;
    for c in &d.constraints {
        if c.name == "torch" {
            if let Some(v) = image.version {
                if satisfies(v, image.cuda, &c.specifier) == Some(false) {
                    return Err(file_error(
                        &c.origin,
                        format!(
                            "the constraint `{}` conflicts with the image's torch {v}",
                            c.text
                        ),
                    )
                    .hint(format!("drop the torch line from {}", c.origin.file)));
                }
            }
        }
    }
    Ok(said)
}

/// `--extra-index-url https://download.pytorch.org/whl/cpu` → `Some("CPU")`; an index of
/// another CUDA line than the image's → `Some("CUDA 11.8")`. PyTorch's wheel indexes are
/// `https://download.pytorch.org/whl/<cpu|cuXYZ|rocmX.Y>` (pytorch.org "Start Locally").
pub(super) fn torch_index_conflict(option: &str, cuda: Option<&str>) -> Option<String> {
    let url = option.split([' ', '=']).nth(1)?.trim();
    if !url.contains("download.pytorch.org/whl") {
        return None;
    }
    let last = url.trim_end_matches('/').rsplit('/').next()?;
    if last == "cpu" {
        return Some("CPU-only".into());
    }
    if last.starts_with("rocm") {
        return Some(format!("ROCm ({last})"));
    }
    if let Some(digits) = last.strip_prefix("cu") {
        let ours = cuda.map(|c| c.replace('.', ""));
        if ours.as_deref() != Some(digits) {
            let (major, minor) = digits.split_at(digits.len().saturating_sub(1));
            return Some(format!("CUDA {major}.{minor}"));
        }
    }
    None
}

/// A version's release numbers and its local label: `2.6.0+cu124` → `([2, 6, 0], "cu124")`.
/// `None` for pre-, post- and dev-releases, which this small comparison does not order.
pub(super) fn version(v: &str) -> Option<(Vec<u64>, String)> {
    let (public, local) = v.split_once('+').unwrap_or((v, ""));
    let nums: Option<Vec<u64>> = public
        .trim_start_matches('v')
        .split('.')
        .map(|p| p.parse().ok())
        .collect();
    Some((nums?, local.to_lowercase()))
}

pub(super) fn cmp_release(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    let get = |v: &[u64], i: usize| v.get(i).copied().unwrap_or(0);
    (0..n)
        .map(|i| get(a, i).cmp(&get(b, i)))
        .find(|o| o.is_ne())
        .unwrap_or(std::cmp::Ordering::Equal)
}

/// Whether the image's torch `have` (public version, with its CUDA line as the local label
/// `cuXYZ` the official wheels carry) satisfies a PEP 440 specifier like `>=2.4,<2.7`.
/// `None` when this comparison cannot tell (pre-releases): the build's constraints decide.
pub fn satisfies(have: &str, cuda: Option<&str>, specifier: &str) -> Option<bool> {
    let (ours, _) = version(have)?;
    let our_local = cuda.map(|c| format!("cu{}", c.replace('.', "")));
    for clause in specifier.split(',').filter(|c| !c.is_empty()) {
        let op_len = ["===", "~=", "==", "!=", "<=", ">="]
            .iter()
            .find(|op| clause.starts_with(**op))
            .map_or(1, |op| op.len());
        let (op, v) = clause.split_at(op_len);
        let ok = match op {
            "===" => v == have,
            "==" | "!=" => {
                let eq = if let Some(prefix) = v.strip_suffix(".*") {
                    let (p, _) = version(prefix)?;
                    p.iter()
                        .enumerate()
                        .all(|(i, n)| ours.get(i).copied().unwrap_or(0) == *n)
                } else {
                    let (want, local) = version(v)?;
                    cmp_release(&ours, &want).is_eq()
                        && (local.is_empty() || Some(&local) == our_local.as_ref())
                };
                eq == (op == "==")
            }
            "~=" => {
                let (want, _) = version(v)?;
                if want.len() < 2 {
                    return None;
                }
                cmp_release(&ours, &want).is_ge()
                    && ours
                        .iter()
                        .take(want.len() - 1)
                        .eq(want.iter().take(want.len() - 1))
            }
            "<=" => cmp_release(&ours, &version(v)?.0).is_le(),
            ">=" => cmp_release(&ours, &version(v)?.0).is_ge(),
            "<" => cmp_release(&ours, &version(v)?.0).is_lt(),
            ">" => cmp_release(&ours, &version(v)?.0).is_gt(),
            _ => return None,
        };
        if !ok {
            return Some(false);
        }
    }
    Some(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependencies::tests::{files, image};

    #[test]
    fn versions_compare_as_pep_440_says() {
        let t = |spec: &str| satisfies("2.6.0", Some("12.4"), spec);
        for yes in [
            "",
            ">=2.0",
            "==2.6.0",
            "==2.6",
            "==2.6.*",
            "~=2.6",
            "~=2.5",
            "<2.7,>=2.6",
            "!=2.5.1",
            "==2.6.0+cu124",
            "<=2.6.0",
            "===2.6.0",
            ">2.5.1",
        ] {
            assert_eq!(t(yes), Some(true), "{yes}");
        }
        for no in [
            "==2.5.1",
            "<2.6",
            "==2.5.*",
            "~=2.6.1",
            ">2.6",
            "==2.6.0+cpu",
            "!=2.6.0",
            ">=2.7",
            "~=2.7",
        ] {
            assert_eq!(t(no), Some(false), "{no}");
        }
        assert_eq!(t(">=2.6.0rc1"), None, "pre-releases: the build decides");
        assert_eq!(normalize("Torch_Vision..x"), "torch-vision-x");
        assert!(in_image_stack("nvidia-cublas-cu12") && in_image_stack("triton"));
        assert!(!in_image_stack("nvidia") && !in_image_stack("torchmetrics"));
    }

    #[test]
    fn torch_stays_the_image_s_torch() {
        let read = files(&[("requirements.txt", "einops\ntorch>=2.0\ntorchvision\n")]);
        let mut d = detect(None, &read).unwrap();
        let said = keep_torch(&mut d, &image()).unwrap();
        assert_eq!(
            said,
            ["requirements.txt:2: `torch>=2.0` is satisfied by the image's torch 2.6.0, which is kept"]
        );
        let names: Vec<&str> = d.pip.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["einops", "torchvision"],
            "torchvision: the build's constraints pin it"
        );

        let refuse = |text: &str| {
            let mut d = detect(None, &files(&[("requirements.txt", text)])).unwrap();
            keep_torch(&mut d, &image()).unwrap_err()
        };
        let e = refuse("einops\ntorch==2.5.1\n");
        assert!(
            e.message.starts_with(
                "requirements.txt:2: `torch==2.5.1` conflicts with the image's torch 2.6.0"
            ),
            "{e}"
        );
        assert_eq!(e.hints[0], "to use torch 2.5.1, set `pytorch: \"2.5\"` in ptenv.yaml (ptenv has its image) and keep the line");
        assert!(
            e.hints[1].contains("drop the pin in requirements.txt"),
            "{e:?}"
        );
        let e = refuse("torch<2.6\n");
        assert!(e.hints[0].contains("pytorch: \"2.5\""), "{e:?}");
        let e = refuse("torch==2.3.0\n");
        assert_eq!(e.hints.len(), 1, "no image of 2.3 in the catalog: {e:?}");
        let e = refuse("torch\n--extra-index-url https://download.pytorch.org/whl/cpu\n");
        assert!(
            e.message.starts_with("requirements.txt:2:") && e.message.contains("CPU-only"),
            "{e}"
        );
        let e = refuse("--index-url https://download.pytorch.org/whl/cu118\ntorch\n");
        assert!(e.message.contains("CUDA 11.8"), "{e}");
        let e = refuse("torch @ https://download.pytorch.org/whl/cpu/torch-2.6.0%2Bcpu-cp311-cp311-linux_x86_64.whl\n");
        assert!(e.message.contains("from a URL"), "{e}");
        let e = refuse("torch==2.6.0+cpu\n");
        assert!(e.message.contains("conflicts"), "{e}");
        // The image's own CUDA index is harmless.
        let mut d = detect(
            None,
            &files(&[(
                "requirements.txt",
                "--extra-index-url https://download.pytorch.org/whl/cu124\ntorch==2.6.0\n",
            )]),
        )
        .unwrap();
        keep_torch(&mut d, &image()).unwrap();
        // A pinned image the catalog does not know: the build's constraints decide.
        let mut d = detect(None, &files(&[("requirements.txt", "torch==2.5.1\n")])).unwrap();
        let unknown = ImageTorch {
            version: None,
            ..image()
        };
        assert_eq!(keep_torch(&mut d, &unknown).unwrap().len(), 1);
    }
}
