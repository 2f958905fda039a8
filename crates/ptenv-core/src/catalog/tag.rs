//! The official `pytorch/pytorch` tag scheme (docs/compatibility.md §1).

use super::*;

/// A tag in the official scheme `<pytorch>-cuda<x.y>-cudnn<n>-<runtime|devel>`
/// (docs/compatibility.md §1.1, `docker.Makefile`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub pytorch: String,
    pub cuda: (u32, u32),
    pub cudnn: u32,
    pub variant: Variant,
}

/// Parse the tag of an image reference: `pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime`,
/// `registry:5000/team/pytorch:2.7.0-cuda12.8-cudnn9-devel@sha256:…`. `None` if the reference
/// has no tag or the tag is not in the official scheme.
pub fn parse_tag(reference: &str) -> Option<Tag> {
    let reference = reference.split('@').next()?;
    let last = reference.rsplit('/').next()?;
    let (_, tag) = last.split_once(':')?;
    let mut parts = tag.split('-');
    let pytorch = parts.next()?;
    let cuda = parts.next()?.strip_prefix("cuda")?;
    let cudnn = parts.next()?.strip_prefix("cudnn")?;
    let variant = match parts.next()? {
        "runtime" => Variant::Runtime,
        "devel" => Variant::Devel,
        _ => return None,
    };
    if parts.next().is_some() {
        return None;
    }
    let pv: Vec<&str> = pytorch.split('.').collect();
    if pv.len() != 3
        || pv
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let (cmaj, cmin) = cuda.split_once('.')?;
    Some(Tag {
        pytorch: pytorch.to_string(),
        cuda: (cmaj.parse().ok()?, cmin.parse().ok()?),
        cudnn: cudnn.parse().ok()?,
        variant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_in_the_official_scheme_parse() {
        assert_eq!(
            parse_tag("pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime"),
            Some(Tag {
                pytorch: "2.6.0".into(),
                cuda: (12, 4),
                cudnn: 9,
                variant: Variant::Runtime
            })
        );
        let t = parse_tag("127.0.0.1:5000/team/pytorch:2.5.1-cuda12.1-cudnn9-devel@sha256:abc")
            .unwrap();
        assert_eq!(
            (t.pytorch.as_str(), t.cuda, t.variant),
            ("2.5.1", (12, 1), Variant::Devel)
        );
        for bad in [
            "pytorch/pytorch",
            "pytorch/pytorch:latest",
            "127.0.0.1:5000/pytorch",
            "pytorch/pytorch:2.6.0-cuda12.4-cudnn9",
            "pytorch/pytorch:2.6-cuda12.4-cudnn9-runtime",
            "pytorch/pytorch:2.6.0-cuda12.4-cudnn9-runtime-extra",
            "nvcr.io/nvidia/pytorch:24.05-py3",
        ] {
            assert_eq!(parse_tag(bad), None, "{bad}");
        }
    }
}
