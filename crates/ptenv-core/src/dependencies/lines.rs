//! One line of a requirements file: continuation lines, comments, the pip options kept, and
//! a requirement's name, extras and specifier; names normalized as pip compares them.

use super::*;

/// The logical lines of a requirements file with their first line's number: `\` at the end
/// joins the next line; comments (`#` at the start or after whitespace) are removed.
pub(super) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        let (start, mut acc) = current.take().unwrap_or((i + 1, String::new()));
        if let Some(body) = line.strip_suffix('\\') {
            acc.push_str(body);
            current = Some((start, acc));
            continue;
        }
        acc.push_str(line);
        out.push((start, acc.trim().to_string()));
    }
    if let Some((start, acc)) = current {
        out.push((start, acc.trim().to_string()));
    }
    out
}

pub(super) fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return line[..i].trim_end();
        }
    }
    line.trim_end()
}

/// A requirement without its origin yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Parsed {
    pub(super) text: String,
    pub(super) name: String,
    pub(super) specifier: String,
    pub(super) url: bool,
}

impl Parsed {
    pub(super) fn at(self, origin: Origin) -> Requirement {
        Requirement {
            text: self.text,
            name: self.name,
            specifier: self.specifier,
            url: self.url,
            origin,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Line {
    Empty,
    Requirement(Parsed),
    Include {
        constraint: bool,
        file: String,
    },
    /// An index or resolver option, as written.
    Option(String),
    /// An editable or local-path install of the project's own code.
    Local(String),
}

/// Options of pip's requirements-file format that change where packages come from or how
/// they resolve; they are kept for the install (pip's "Requirements File Format").
pub(super) const KEPT_OPTIONS: [&str; 10] = [
    "-i",
    "--index-url",
    "--extra-index-url",
    "--no-index",
    "-f",
    "--find-links",
    "--trusted-host",
    "--pre",
    "--prefer-binary",
    "--only-binary",
];

/// One logical line of a requirements file.
///
/// ```text
/// einops>=0.7  # a comment
/// torch==2.5.1 ; sys_platform == "linux"
/// -r requirements-dev.txt
/// --extra-index-url https://download.pytorch.org/whl/cpu
/// -e .
/// ```
pub(super) fn parse_line(line: &str) -> std::result::Result<Line, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Line::Empty);
    }
    if line.starts_with('-') {
        let (opt, value) = match line.split_once(['=', ' ', '\t']) {
            Some((o, v)) => (o, v.trim()),
            None => (line, ""),
        };
        return match opt {
            "-r" | "--requirement" | "-c" | "--constraint" => {
                if value.is_empty() {
                    return Err(format!("`{opt}` needs a file name"));
                }
                Ok(Line::Include {
                    constraint: opt.starts_with("-c") || opt == "--constraint",
                    file: value.to_string(),
                })
            }
            "-e" | "--editable" => Ok(Line::Local(line.to_string())),
            o if KEPT_OPTIONS.contains(&o) => Ok(Line::Option(line.to_string())),
            o => Err(format!(
                "the option `{o}` is not one ptenv passes to the image build (it keeps {}, -r and -c)",
                KEPT_OPTIONS.join(", ")
            )),
        };
    }
    if line.starts_with('.') || line.starts_with('/') || line.starts_with("file:") {
        return Ok(Line::Local(line.to_string()));
    }
    parse_requirement(line).map(Line::Requirement)
}

/// A PEP 508 requirement: `name[extras] specifier ; marker` or `name[extras] @ url ; marker`,
/// possibly followed by pip's per-requirement options (`--hash=…`).
pub(super) fn parse_requirement(line: &str) -> std::result::Result<Parsed, String> {
    if line
        .split(['@', ' '])
        .next()
        .is_some_and(|w| w.contains("://"))
    {
        return Err(format!(
            "`{line}` is a URL without a package name; write it as `name @ {line}`"
        ));
    }
    let body = line.split(" --").next().unwrap_or(line);
    let body = body.split(';').next().unwrap_or(body).trim();
    let end = body
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(body.len());
    let name = &body[..end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!("`{line}` is not a requirement (PEP 508)"));
    }
    let mut rest = body[end..].trim_start();
    if rest.starts_with('[') {
        let close = rest
            .find(']')
            .ok_or_else(|| format!("`{line}`: an extras list `[` is not closed"))?;
        rest = rest[close + 1..].trim_start();
    }
    let url = rest.starts_with('@');
    let specifier = if url {
        String::new()
    } else {
        let s = rest.trim_start_matches('(').trim_end_matches(')');
        s.chars().filter(|c| !c.is_whitespace()).collect()
    };
    if !url && !specifier.is_empty() && !specifier.starts_with(['=', '!', '<', '>', '~']) {
        return Err(format!("`{line}` is not a requirement (PEP 508)"));
    }
    Ok(Parsed {
        text: line.to_string(),
        name: normalize(name),
        specifier,
        url,
    })
}

/// PEP 503 normalization: `Torch_Vision` and `torch.vision` are `torch-vision`.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            dash = true;
        } else {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Whether `name` (normalized) is one of the packages the image brings.
pub fn in_image_stack(name: &str) -> bool {
    IMAGE_STACK
        .iter()
        .any(|p| name == *p || (p.ends_with('-') && name.starts_with(p)))
}
