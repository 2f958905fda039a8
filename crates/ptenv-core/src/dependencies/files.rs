//! Reading each kind of dependency file into requirements, with the file and line of each.

use super::*;

impl Dependencies {
    fn add_file(&mut self, path: &str, kind: Kind, text: &str) -> bool {
        if self.files.iter().any(|f| f.path == path) {
            return false;
        }
        self.files.push(File {
            path: path.to_string(),
            kind,
            sha256: sha256(text),
        });
        true
    }

    /// A requirements file, pip's format: one requirement a line, `#` comments, `\`
    /// continuations, `-r`/`-c` includes relative to the file, index options.
    pub(super) fn read_requirements(
        &mut self,
        path: &str,
        text: &str,
        read: Reader,
        depth: usize,
    ) -> Result<()> {
        if !self.add_file(path, Kind::Requirements, text) {
            return Ok(());
        }
        for (line_no, line) in logical_lines(text) {
            let origin = Origin {
                file: path.to_string(),
                line: line_no,
            };
            self.take_line(&line, origin, read, depth)?;
        }
        Ok(())
    }

    /// One line of a requirements file (or of environment.yml's `pip:` list) at `origin`.
    fn take_line(&mut self, line: &str, origin: Origin, read: Reader, depth: usize) -> Result<()> {
        match parse_line(line).map_err(|m| file_error(&origin, m))? {
            Line::Requirement(r) => self.pip.push(r.at(origin)),
            Line::Include { constraint, file } => {
                let target = relative_to(&origin.file, &file);
                check_path(&target).map_err(|m| file_error(&origin, m))?;
                if depth >= MAX_INCLUDE_DEPTH {
                    return Err(file_error(&origin, "includes nest too deep")
                        .hint("check the `-r` lines for a loop"));
                }
                let included = read(&target)
                    .map_err(|e| file_error(&origin, format!("cannot read {target}: {e}")))?
                    .ok_or_else(|| {
                        file_error(&origin, format!("{target} is not in the project"))
                            .hint(format!("create {target} or remove the line"))
                    })?;
                if !constraint {
                    return self.read_requirements(&target, &included, read, depth + 1);
                }
                if self.add_file(&target, Kind::Requirements, &included) {
                    for (n, l) in logical_lines(&included) {
                        let o = Origin {
                            file: target.clone(),
                            line: n,
                        };
                        match parse_line(&l).map_err(|m| file_error(&o, m))? {
                            Line::Requirement(r) => self.constraints.push(r.at(o)),
                            Line::Option(opt) => self.options.push((opt, o)),
                            _ => {}
                        }
                    }
                }
            }
            Line::Option(o) => self.options.push((o, origin)),
            Line::Local(what) => self.skipped.push(format!(
                "{origin}: `{what}` is not installed in the image (the project's own code is mounted at run time, not at build); inside the environment run `pip install -e .` if the project needs it"
            )),
            Line::Empty => {}
        }
        Ok(())
    }

    /// `pyproject.toml`: `[project] dependencies`, and the named groups of
    /// `[project.optional-dependencies]` or `[dependency-groups]` (PEP 735).
    pub(super) fn read_pyproject(
        &mut self,
        path: &str,
        text: &str,
        groups: &[String],
    ) -> Result<()> {
        let at_file = |m: String| Error::new(format!("{path}: {m}"));
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            at_file(format!("is not valid TOML: {}", e.message())).hint(format!(
                "fix {path}, or set `dependencies: {{auto: false}}` in ptenv.yaml to not read it"
            ))
        })?;
        self.add_file(path, Kind::Pyproject, text);
        let project = doc.get("project").and_then(|p| p.as_table());
        let dynamic = project
            .and_then(|p| p.get("dynamic"))
            .and_then(|d| d.as_array())
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some("dependencies")));
        if dynamic {
            self.skipped.push(format!(
                "{path}: the dependencies are `dynamic` (computed by the build backend), so ptenv cannot read them; list them in requirements.txt"
            ));
        }
        let list = |v: Option<&toml::Value>, what: &str| -> Result<Vec<String>> {
            let Some(v) = v else { return Ok(Vec::new()) };
            let arr = v
                .as_array()
                .ok_or_else(|| at_file(format!("{what} is not a list")))?;
            arr.iter()
                .filter(|x| !x.is_table())
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| at_file(format!("{what} holds a non-string: {x:?}")))
                })
                .collect()
        };
        let mut wanted = list(
            project.and_then(|p| p.get("dependencies")),
            "[project] dependencies",
        )?;
        let optional = project
            .and_then(|p| p.get("optional-dependencies"))
            .and_then(|o| o.as_table());
        let dep_groups = doc.get("dependency-groups").and_then(|g| g.as_table());
        let mut stack: Vec<String> = groups.to_vec();
        let mut seen: Vec<String> = Vec::new();
        while let Some(g) = stack.pop() {
            if seen.contains(&g) {
                continue;
            }
            seen.push(g.clone());
            if let Some(v) = optional.and_then(|o| o.get(&g)) {
                wanted.extend(list(
                    Some(v),
                    &format!("[project.optional-dependencies] {g}"),
                )?);
            } else if let Some(v) = dep_groups.and_then(|o| o.get(&g)) {
                wanted.extend(list(Some(v), &format!("[dependency-groups] {g}"))?);
                // `{include-group = "other"}` entries (PEP 735).
                for inc in v.as_array().into_iter().flatten() {
                    if let Some(other) = inc.get("include-group").and_then(|x| x.as_str()) {
                        stack.push(other.to_string());
                    }
                }
            } else {
                let mut have: Vec<&String> = optional.into_iter().flat_map(|o| o.keys()).collect();
                have.extend(dep_groups.into_iter().flat_map(|o| o.keys()));
                return Err(at_file(format!("has no dependency group `{g}`"))
                    .hint(match have.is_empty() {
                        true => format!("{path} defines no groups; remove `{g}` from `dependencies: {{pyproject: {{groups: …}}}}` in ptenv.yaml"),
                        false => format!(
                            "the groups it defines: {}; fix `groups:` under `dependencies: {{pyproject: …}}` in ptenv.yaml",
                            have.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    }));
            }
        }
        let own = project
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .map(normalize);
        for req in wanted {
            let origin = Origin {
                file: path.to_string(),
                line: line_of(text, &req),
            };
            match parse_line(&req).map_err(|m| file_error(&origin, m))? {
                // `myproject[dev]`: the project's own extras, already followed above.
                Line::Requirement(r) if Some(&r.name) == own.as_ref() => {}
                Line::Requirement(r) => self.pip.push(r.at(origin)),
                _ => {
                    return Err(file_error(
                        &origin,
                        format!("`{req}` is not a requirement (PEP 508)"),
                    ))
                }
            }
        }
        Ok(())
    }

    /// `apt.txt`: Debian package names, one a line, `#` comments (repo2docker's format).
    pub(super) fn read_apt(&mut self, path: &str, text: &str) -> Result<()> {
        if !self.add_file(path, Kind::Apt, text) {
            return Ok(());
        }
        for (i, line) in text.lines().enumerate() {
            let origin = Origin {
                file: path.to_string(),
                line: i + 1,
            };
            let name = line.split('#').next().unwrap_or("").trim();
            if name.is_empty() {
                continue;
            }
            for word in name.split_whitespace() {
                crate::package_name::check_apt(word).map_err(|m| {
                    file_error(
                        &origin,
                        format!("`{word}` is not a Debian package name: {m}"),
                    )
                    .hint(format!("{path} lists Debian package names, one a line"))
                })?;
                self.apt.push((word.to_string(), origin.clone()));
            }
        }
        Ok(())
    }

    /// A conda `environment.yml`: the `pip:` list is installed; conda packages are not (the
    /// images are not conda-solvable quickly) and are reported, except those the image
    /// already provides.
    pub(super) fn read_environment(&mut self, path: &str, text: &str, read: Reader) -> Result<()> {
        #[derive(Deserialize)]
        struct Env {
            #[serde(default)]
            dependencies: Vec<serde_yaml::Value>,
        }
        let env: Env = serde_yaml::from_str(text).map_err(|e| {
            Error::new(format!("{path}: is not a conda environment file: {e}")).hint(format!(
                "fix {path}, or set `dependencies: {{auto: false}}` in ptenv.yaml to not read it"
            ))
        })?;
        self.add_file(path, Kind::Conda, text);
        let mut conda: Vec<String> = Vec::new();
        for item in env.dependencies {
            match item {
                serde_yaml::Value::String(s) => {
                    let name = s
                        .split(['=', '<', '>', '!', ' '])
                        .next()
                        .unwrap_or("")
                        .rsplit("::")
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let from_image = matches!(
                        name.as_str(),
                        "python"
                            | "pip"
                            | "pytorch"
                            | "torchvision"
                            | "torchaudio"
                            | "pytorch-cuda"
                            | "cudatoolkit"
                            | "cuda-toolkit"
                            | "numpy"
                    );
                    if !from_image {
                        conda.push(s);
                    }
                }
                serde_yaml::Value::Mapping(m) => {
                    if let Some(serde_yaml::Value::Sequence(pips)) = m.get("pip") {
                        for p in pips {
                            let Some(line) = p.as_str() else { continue };
                            let origin = Origin {
                                file: path.to_string(),
                                line: line_of(text, line),
                            };
                            self.take_line(line, origin, read, 1)?;
                        }
                    }
                }
                _ => {}
            }
        }
        if !conda.is_empty() {
            self.skipped.push(format!(
                "{path}: the conda packages {} are not installed (the image's Python is not solved by conda at build); put their pip names in requirements.txt, or Debian ones in apt.txt",
                conda.join(", ")
            ));
        }
        Ok(())
    }
}

/// The 1-based line of the first occurrence of `needle` in `text` (1 when absent).
pub(super) fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map_or(1, |i| text[..i].matches('\n').count() + 1)
}

/// `dir/a.txt` includes `b.txt`: `dir/b.txt`.
pub(super) fn relative_to(including: &str, file: &str) -> String {
    match including.rsplit_once('/') {
        Some((dir, _)) if !file.starts_with('/') => format!("{dir}/{file}"),
        _ => file.to_string(),
    }
    .trim_start_matches("./")
    .to_string()
}
