//! A mode's setup with this machine's secrets: the core decides what the mode needs
//! ([`setup_with`]); the project's tokens and keys come from ptenv's data folder here.

use super::{setup_with, Setup, SetupInput};
use crate::error::Result;
use crate::profile::Profile;
use crate::secrets::Store;

/// What a mode adds to the container of `profile`: its command, environment and the files
/// copied in before start. Reads (or makes) the project's secrets.
pub fn setup(profile: &Profile, input: &SetupInput) -> Result<Setup> {
    let mut store = Store::open(&crate::project::data_dir(input.project)?)?;
    setup_with(&mut store, profile, input)
}

/// What [`setup`] would add, for `ptenv up --dry-run`: the stored secrets when they exist,
/// throwaway ones otherwise, and nothing written to ptenv's data folder.
pub fn preview(profile: &Profile, input: &SetupInput) -> Result<Setup> {
    let mut store = Store::preview(&crate::project::data_dir(input.project)?);
    setup_with(&mut store, profile, input)
}

#[cfg(test)]
mod tests {
    use super::super::{ContainerFile, ENTRY_SCRIPT};
    use super::*;
    use crate::identity::User;
    use crate::modes::ssh;
    use crate::profile::{Layer, Sources};
    use crate::project::Project;

    fn setup_of(mode: &str, store: &mut Store, new_token: bool) -> Setup {
        let profile = Sources::default().resolve(mode, &Layer::default()).unwrap();
        let user = User::for_ids(1234, 1300);
        let project = Project::new(std::path::Path::new("/home/ana/demo"));
        let input = SetupInput {
            user: &user,
            project: &project,
            new_token,
        };
        setup_with(store, &profile, &input).unwrap()
    }

    fn file<'a>(setup: &'a Setup, path: &str) -> &'a ContainerFile {
        setup
            .files
            .iter()
            .find(|f| f.path == path)
            .unwrap_or_else(|| panic!("no {path} in {:?}", setup.files))
    }

    #[test]
    fn jupyter_gets_its_token_as_a_private_file_of_the_user_never_in_env_or_command() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let s = setup_of("jupyter", &mut store, false);
        let token = store.jupyter_token(false).unwrap();
        let f = file(&s, "/etc/ptenv/jupyter/token");
        assert_eq!(f.contents, token.as_bytes());
        assert_eq!((f.mode, f.uid, f.gid), (0o600, 1234, 1300));
        assert_eq!(
            s.env,
            [(
                "JUPYTER_TOKEN_FILE".to_string(),
                "/etc/ptenv/jupyter/token".to_string()
            )]
        );
        let visible = format!("{:?} {:?} {:?}", s.env, s.command, s.files);
        assert!(!visible.contains(&token), "{visible}");
        assert!(!s.run_as_root);
        // Only the token is copied in; the entry script is in the image.
        assert_eq!(s.files.len(), 1, "{:?}", s.files);
        assert_eq!(s.command.as_ref().unwrap()[..2], ["/bin/sh", ENTRY_SCRIPT]);
        // --new-token changes the file (so `up` recreates the container).
        let rotated = setup_of("jupyter", &mut store, true);
        assert_ne!(
            file(&rotated, "/etc/ptenv/jupyter/token").contents,
            f.contents
        );
    }

    #[test]
    fn ssh_gets_root_owned_keys_and_config_and_starts_as_root() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let s = setup_of("ssh", &mut store, false);
        assert!(s.run_as_root);
        assert_eq!(
            s.command.as_deref().unwrap(),
            ["/bin/sh", "/etc/ptenv/ssh/start.sh"]
        );
        let host = file(&s, "/etc/ptenv/ssh/ssh_host_ed25519_key");
        assert_eq!((host.mode, host.uid), (0o600, 0));
        assert!(host
            .contents
            .starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----"));
        let client = store.client_key("x").unwrap();
        let auth = file(&s, "/etc/ptenv/ssh/authorized_keys");
        assert_eq!(
            auth.contents,
            format!("{}\n", client.public_openssh).as_bytes()
        );
        assert_eq!((auth.mode, auth.uid), (0o644, 0));
        let config =
            String::from_utf8(file(&s, "/etc/ptenv/ssh/sshd_config").contents.clone()).unwrap();
        assert!(config.contains("\nAllowUsers dev\n"), "{config}");
        // The client's private key never goes into the container.
        let all: Vec<u8> = s.files.iter().flat_map(|f| f.contents.clone()).collect();
        let all = String::from_utf8_lossy(&all);
        assert!(!all.contains(client.private_openssh.as_str()));
        assert!(s.env.is_empty());
        assert!(s.runs_profile_command);
        // The profile's own command goes to the start script, which runs it as the user.
        let own: Vec<String> = vec!["python".into(), "serve.py".into()];
        let user = User::for_ids(1234, 1300);
        let project = crate::project::Project::new(std::path::Path::new("/home/ana/demo"));
        let input = SetupInput {
            user: &user,
            project: &project,
            new_token: false,
        };
        let s = ssh::setup_running(&mut store, &input, Some(&own)).unwrap();
        assert_eq!(
            s.command.as_deref().unwrap(),
            ["/bin/sh", "/etc/ptenv/ssh/start.sh", "python", "serve.py"]
        );
    }

    #[test]
    fn the_shell_idles_as_the_user() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = Store::open(tmp.path()).unwrap();
        let s = setup_of("shell", &mut store, false);
        assert!(!s.run_as_root);
        assert_eq!(
            s.command.as_deref().unwrap(),
            ["/bin/sh", ENTRY_SCRIPT, "sleep", "infinity"]
        );
        assert!(s.files.is_empty(), "nothing to copy in: {:?}", s.files);
    }
}
