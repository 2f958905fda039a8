//! The project's own files, read from its folder: the dependency files (with the torch rule
//! against the chosen image) and any file by its relative path, never through a link that
//! leads out of the project.

use crate::error::Result;

/// The project's dependency files as the profile says (or by convention), read from the
/// project folder, with the torch rule applied against the chosen image's torch (from the
/// catalog, before any pull). Returns them and what the torch rule found (the lines the image
/// satisfies); what the files ask for and the build does not install is in `skipped`.
pub fn dependencies(
    project: &std::path::Path,
    profile: &crate::profile::Profile,
    choice: &crate::select::Choice,
) -> Result<(crate::dependencies::Dependencies, Vec<String>)> {
    use crate::dependencies as deps;
    let read = reader(project);
    let mut found = deps::detect(profile.dependencies.as_ref(), &read)?;
    let releases = crate::catalog::releases();
    let image = deps::ImageTorch {
        version: Some(choice.pytorch.as_str()).filter(|v| *v != "unknown"),
        cuda: choice.cuda.as_deref(),
        releases: &releases,
    };
    let said = deps::keep_torch(&mut found, &image)?;
    Ok((found, said))
}

/// Reads a file of the project by its relative path: `None` when it is not there. A link that
/// leads out of the project is refused: it would bake another folder's file into the image.
pub fn reader(
    project: &std::path::Path,
) -> impl Fn(&str) -> std::result::Result<Option<String>, String> + '_ {
    let root = project
        .canonicalize()
        .unwrap_or_else(|_| project.to_path_buf());
    move |rel: &str| {
        let path = project.join(rel);
        match path.canonicalize() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
            Ok(real) if !real.starts_with(&root) => {
                return Err(format!("it leads out of the project to {}", real.display()))
            }
            Ok(_) => {}
        }
        std::fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| e.to_string())
    }
}
