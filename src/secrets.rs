//! Secrets ptenv keeps per project: the Jupyter token, the ssh client key pair, the sshd host
//! key pair and the known_hosts file that pins it.
//!
//! They live in the project's data folder (mode 0700) as files of mode 0600, written
//! atomically ([`crate::atomic`]), so a crash never leaves half a key. Reading a secret and
//! making it when missing hold the folder's lock ([`crate::flock`]), so two commands starting
//! at once agree on one token and one key. Randomness comes from the operating system's secure source (`getrandom`).
//! A folder or file whose permissions were loosened is tightened with a warning; one that
//! belongs to someone else, or a symlink where a secret should be, is refused.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ssh_key::private::{Ed25519Keypair, KeypairData};
use ssh_key::{Algorithm, LineEnding, PrivateKey};

use crate::atomic;
use crate::error::{Error, Result};
use crate::flock;

/// Bytes of randomness in a Jupyter token: 256 bits, written as 64 hex digits.
const TOKEN_BYTES: usize = 32;

const TOKEN_FILE: &str = "jupyter-token";
const CLIENT_KEY_FILE: &str = "ssh/client_ed25519";
const HOST_KEY_FILE: &str = "ssh/host_ed25519";
const KNOWN_HOSTS_FILE: &str = "ssh/known_hosts";
const LOCK_FILE: &str = ".lock";

/// The project's secrets folder. Warnings about permissions that had to be tightened collect
/// in `warnings`, for the command to print.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    pub warnings: Vec<String>,
    /// False for a dry run: existing secrets are read, missing ones are made up for the
    /// preview, and nothing on disk is created, written or re-permissioned.
    persist: bool,
}

pub use crate::modes::KeyPair;

/// The core's modes ask for the project's secrets through this.
impl crate::modes::Secrets for Store {
    fn jupyter_token(&mut self, rotate: bool) -> Result<String> {
        Store::jupyter_token(self, rotate)
    }
    fn client_key(&mut self, comment: &str) -> Result<KeyPair> {
        Store::client_key(self, comment)
    }
    fn host_key(&mut self, comment: &str) -> Result<KeyPair> {
        Store::host_key(self, comment)
    }
    fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

impl Store {
    /// The secrets folder `dir` (created 0700 with its parents when absent).
    pub fn open(dir: &Path) -> Result<Store> {
        let mut store = Store {
            dir: dir.to_path_buf(),
            warnings: Vec::new(),
            persist: true,
        };
        store.private_dir(dir)?;
        store.private_dir(&dir.join("ssh"))?;
        Ok(store)
    }

    /// The secrets folder `dir` for a dry run (`ptenv up --dry-run`): what exists is used,
    /// what is missing is generated in memory only, and the disk is left as it is.
    pub fn preview(dir: &Path) -> Store {
        Store {
            dir: dir.to_path_buf(),
            warnings: Vec::new(),
            persist: false,
        }
    }

    /// Holds the folder's lock while a secret is read and maybe made, so two commands that
    /// need it at once end up with the same one. A preview writes nothing and needs none.
    fn lock(&self) -> Result<Option<flock::Held>> {
        if self.persist {
            flock::exclusive(&self.dir.join(LOCK_FILE)).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Stores a secret file, unless this is a preview.
    fn save(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        if self.persist {
            write_secret(path, bytes)
        } else {
            Ok(())
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn client_key_path(&self) -> PathBuf {
        self.dir.join(CLIENT_KEY_FILE)
    }

    pub fn known_hosts_path(&self) -> PathBuf {
        self.dir.join(KNOWN_HOSTS_FILE)
    }

    /// The project's Jupyter token: the stored one, or a new one when there is none or
    /// `rotate` is set (`ptenv up jupyter --new-token`).
    pub fn jupyter_token(&mut self, rotate: bool) -> Result<String> {
        let path = self.dir.join(TOKEN_FILE);
        let _held = self.lock()?;
        if !rotate {
            if let Some(bytes) = self.read_secret(&path)? {
                let token = String::from_utf8_lossy(&bytes).trim().to_string();
                if is_token(&token) {
                    return Ok(token);
                }
                self.warnings.push(format!(
                    "{} does not hold a ptenv token; a new one replaces it",
                    path.display()
                ));
            }
        }
        let token = new_token()?;
        self.save(&path, token.as_bytes())?;
        Ok(token)
    }

    /// The client key pair `ssh` logs in with (stored as `ssh/client_ed25519` and `.pub`).
    pub fn client_key(&mut self, comment: &str) -> Result<KeyPair> {
        self.key_pair(&self.dir.join(CLIENT_KEY_FILE), comment)
    }

    /// The host key pair sshd in the container presents; ptenv pins its public half.
    pub fn host_key(&mut self, comment: &str) -> Result<KeyPair> {
        self.key_pair(&self.dir.join(HOST_KEY_FILE), comment)
    }

    /// Writes ptenv's known_hosts for the project: the host key, for sshd published on
    /// 127.0.0.1:`port`.
    pub fn write_known_hosts(
        &self,
        address: std::net::SocketAddr,
        host_public: &str,
    ) -> Result<PathBuf> {
        let path = self.known_hosts_path();
        let _held = self.lock()?;
        self.save(&path, known_hosts_line(address, host_public).as_bytes())?;
        Ok(path)
    }

    fn key_pair(&mut self, path: &Path, comment: &str) -> Result<KeyPair> {
        let _held = self.lock()?;
        if let Some(bytes) = self.read_secret(path)? {
            let text = String::from_utf8_lossy(&bytes);
            let key = PrivateKey::from_openssh(text.as_bytes()).map_err(|e| {
                Error::new(format!(
                    "{} is not an OpenSSH private key: {e}",
                    path.display()
                ))
                .hint(format!(
                    "delete it (ptenv makes a new key pair), then run the command again: rm {}",
                    path.display()
                ))
            })?;
            if key.algorithm() != Algorithm::Ed25519 || key.is_encrypted() {
                return Err(Error::new(format!(
                    "{} is not an unencrypted ed25519 key as ptenv writes them",
                    path.display()
                ))
                .hint(format!(
                    "delete it (ptenv makes a new key pair), then run the command again: rm {}",
                    path.display()
                )));
            }
            let pair = to_pair(&key, path)?;
            // The .pub file is a convenience for the user; keep it in step with the key.
            let pub_path = pub_path(path);
            if fs::read_to_string(&pub_path).ok().as_deref().map(str::trim)
                != Some(pair.public_openssh.as_str())
            {
                self.save(&pub_path, format!("{}\n", pair.public_openssh).as_bytes())?;
            }
            return Ok(pair);
        }
        let key = new_ed25519(comment)?;
        let pair = to_pair(&key, path)?;
        self.save(
            &pub_path(path),
            format!("{}\n", pair.public_openssh).as_bytes(),
        )?;
        self.save(path, pair.private_openssh.as_bytes())?;
        Ok(pair)
    }

    /// Creates `dir` with mode 0700, or checks the existing one: tightened when group or
    /// others may enter it, refused when it belongs to another user.
    fn private_dir(&mut self, dir: &Path) -> Result<()> {
        match fs::symlink_metadata(dir) {
            Err(e) if e.kind() == ErrorKind::NotFound => fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| {
                    Error::new(format!("cannot create {}: {e}", dir.display()))
                        .hint("check that your home directory is writable")
                }),
            Err(e) => Err(Error::new(format!("cannot read {}: {e}", dir.display()))),
            Ok(meta) if !meta.is_dir() => Err(Error::new(format!(
                "{} should be ptenv's private folder, but it is not a folder",
                dir.display()
            ))
            .hint(format!(
                "move it away, then run the command again: {}",
                dir.display()
            ))),
            Ok(meta) => {
                check_owner(dir, &meta)?;
                if meta.mode() & 0o077 != 0 {
                    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
                        Error::new(format!("cannot make {} private: {e}", dir.display()))
                            .hint(format!("run: chmod 700 {}", dir.display()))
                    })?;
                    self.warnings.push(format!(
                        "{} was accessible to other users (mode {:o}); ptenv set it to 700",
                        dir.display(),
                        meta.mode() & 0o777
                    ));
                }
                Ok(())
            }
        }
    }

    /// Reads a secret file (None when absent). A file that group or others could read is
    /// tightened to 0600 with a warning; a symlink or another user's file is refused.
    fn read_secret(&mut self, path: &Path) -> Result<Option<Vec<u8>>> {
        let meta = match fs::symlink_metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::new(format!("cannot read {}: {e}", path.display()))),
            Ok(meta) => meta,
        };
        if !meta.is_file() {
            return Err(Error::new(format!(
                "{} is not a regular file (a symlink or a folder), so ptenv will not use it as a secret",
                path.display()
            ))
            .hint(format!(
                "remove it (ptenv makes a new one), then run the command again: rm {}",
                path.display()
            )));
        }
        check_owner(path, &meta)?;
        if meta.mode() & 0o077 != 0 && !self.persist {
            self.warnings.push(format!(
                "{} is readable by other users (mode {:o}); `ptenv up` will set it to 600",
                path.display(),
                meta.mode() & 0o777
            ));
        } else if meta.mode() & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(|e| {
                Error::new(format!("cannot make {} private: {e}", path.display()))
                    .hint(format!("run: chmod 600 {}", path.display()))
            })?;
            let mut warning = format!(
                "{} was readable by other users (mode {:o}); ptenv set it to 600",
                path.display(),
                meta.mode() & 0o777
            );
            if path.ends_with(TOKEN_FILE) {
                warning.push_str("; consider a new token: ptenv up jupyter --new-token");
            }
            self.warnings.push(warning);
        }
        fs::read(path)
            .map(Some)
            .map_err(|e| Error::new(format!("cannot read {}: {e}", path.display())))
    }
}

fn check_owner(path: &Path, meta: &fs::Metadata) -> Result<()> {
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(Error::new(format!(
            "{} belongs to user id {}, not to you (id {me}); ptenv keeps secrets only in files you own",
            path.display(),
            meta.uid()
        ))
        .hint(format!(
            "fix the owner (sudo chown -R {me} {}) or remove it",
            path.display()
        )));
    }
    Ok(())
}

/// `[127.0.0.1]:2222 ssh-ed25519 AAAA…`: the known_hosts form for a host on a non-standard
/// port, as ssh itself writes it. The key's comment is left out.
pub fn known_hosts_line(address: std::net::SocketAddr, host_public: &str) -> String {
    let mut parts = host_public.split_whitespace();
    let algorithm = parts.next().unwrap_or_default();
    let key = parts.next().unwrap_or_default();
    format!(
        "{} {algorithm} {key}\n",
        crate::address::known_hosts_name(address)
    )
}

/// A fresh token: 256 bits from the OS's secure random source, as 64 lowercase hex digits.
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::new(format!("the operating system's random source failed: {e}")))?;
    Ok(crate::project::hex(&bytes))
}

fn is_token(text: &str) -> bool {
    text.len() >= 32 && text.chars().all(|c| c.is_ascii_hexdigit())
}

fn new_ed25519(comment: &str) -> Result<PrivateKey> {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut())
        .map_err(|e| Error::new(format!("the operating system's random source failed: {e}")))?;
    let pair = Ed25519Keypair::from_seed(&seed);
    PrivateKey::new(KeypairData::Ed25519(pair), comment)
        .map_err(|e| Error::new(format!("cannot make an ed25519 key: {e}")))
}

fn to_pair(key: &PrivateKey, path: &Path) -> Result<KeyPair> {
    let private_openssh = key
        .to_openssh(LineEnding::LF)
        .map_err(|e| Error::new(format!("cannot encode the ssh key: {e}")))?;
    let public_openssh = key
        .public_key()
        .to_openssh()
        .map_err(|e| Error::new(format!("cannot encode the ssh key: {e}")))?;
    Ok(KeyPair {
        private_openssh,
        public_openssh,
        path: path.to_path_buf(),
    })
}

fn pub_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes `bytes` to `path` with mode 0600, atomically (see [`crate::atomic`]): never
/// readable by others, not even for a moment, and the process's own.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic::write(
        path,
        bytes,
        atomic::Mode::Exactly(0o600),
        atomic::Owner::Process,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o777
    }

    #[test]
    fn a_preview_uses_what_exists_and_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("proj");
        let mut preview = Store::preview(&dir);
        let token = preview.jupyter_token(false).unwrap();
        assert!(is_token(&token));
        preview.client_key("c").unwrap();
        preview.host_key("h").unwrap();
        preview
            .write_known_hosts("127.0.0.1:2222".parse().unwrap(), "ssh-ed25519 AAAA")
            .unwrap();
        assert!(!dir.exists(), "a preview creates nothing");

        // Once stored, the preview shows the stored secrets and leaves loose modes alone.
        let mut store = Store::open(&dir).unwrap();
        let stored = store.jupyter_token(false).unwrap();
        fs::set_permissions(dir.join(TOKEN_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let mut preview = Store::preview(&dir);
        assert_eq!(preview.jupyter_token(false).unwrap(), stored);
        assert_eq!(mode(&dir.join(TOKEN_FILE)), 0o644);
        assert!(
            preview.warnings[0].contains("will set it to 600"),
            "{:?}",
            preview.warnings
        );
        assert_ne!(preview.jupyter_token(true).unwrap(), stored);
        assert_eq!(
            Store::open(&dir).unwrap().jupyter_token(false).unwrap(),
            stored
        );
    }

    #[test]
    fn tokens_are_256_random_bits_in_hex() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.len(), 64);
        assert!(is_token(&a));
        assert_ne!(a, b);
    }

    #[test]
    fn the_token_is_stored_0600_reused_and_rotated() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("projects/demo-1234");
        let mut store = Store::open(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("ssh")), 0o700);
        let first = store.jupyter_token(false).unwrap();
        assert_eq!(mode(&dir.join(TOKEN_FILE)), 0o600);
        assert_eq!(fs::read_to_string(dir.join(TOKEN_FILE)).unwrap(), first);
        assert_eq!(store.jupyter_token(false).unwrap(), first);
        let rotated = store.jupyter_token(true).unwrap();
        assert_ne!(rotated, first);
        assert_eq!(store.jupyter_token(false).unwrap(), rotated);
        assert!(store.warnings.is_empty(), "{:?}", store.warnings);
        // No temporary files are left behind.
        let mut names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec![LOCK_FILE, TOKEN_FILE, "ssh"]);
    }

    #[test]
    fn first_uses_at_the_same_time_all_get_the_same_secrets() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::sync::Arc::new(tmp.path().join("p"));
        Store::open(&dir).unwrap();
        let n = 8;
        let start = std::sync::Arc::new(std::sync::Barrier::new(n));
        let threads: Vec<_> = (0..n)
            .map(|_| {
                let (dir, start) = (dir.clone(), start.clone());
                std::thread::spawn(move || {
                    let mut store = Store::open(&dir).unwrap();
                    start.wait();
                    let token = store.jupyter_token(false).unwrap();
                    let key = store.client_key("c").unwrap().public_openssh;
                    (token, key)
                })
            })
            .collect();
        let got: Vec<(String, String)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        let stored = fs::read_to_string(dir.join(TOKEN_FILE)).unwrap();
        let stored_key = fs::read_to_string(pub_path(&dir.join(CLIENT_KEY_FILE))).unwrap();
        for (token, key) in &got {
            assert_eq!(token, &stored, "{got:?}");
            assert_eq!(key, stored_key.trim(), "{got:?}");
        }
    }

    #[test]
    fn loosened_permissions_are_tightened_with_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let token = Store::open(&dir).unwrap().jupyter_token(false).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(dir.join(TOKEN_FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let mut store = Store::open(&dir).unwrap();
        assert_eq!(store.jupyter_token(false).unwrap(), token);
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join(TOKEN_FILE)), 0o600);
        assert_eq!(store.warnings.len(), 2, "{:?}", store.warnings);
        assert!(
            store.warnings[1].contains("--new-token"),
            "{:?}",
            store.warnings
        );
    }

    #[test]
    fn a_symlink_is_never_read_as_a_secret() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let mut store = Store::open(&dir).unwrap();
        let elsewhere = tmp.path().join("elsewhere");
        fs::write(&elsewhere, "0123456789abcdef0123456789abcdef").unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join(TOKEN_FILE)).unwrap();
        let err = store.jupyter_token(false).unwrap_err();
        assert!(err.message.contains("not a regular file"), "{err}");
        assert!(err.hints[0].contains("rm "), "{err}");
    }

    #[test]
    fn key_pairs_are_ed25519_openssh_stored_0600_and_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let mut store = Store::open(&dir).unwrap();
        let client = store.client_key("ptenv-demo").unwrap();
        let host = store.host_key("ptenv-demo host").unwrap();
        assert!(client
            .private_openssh
            .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(client.public_openssh.starts_with("ssh-ed25519 AAAA"));
        assert!(client.public_openssh.ends_with(" ptenv-demo"));
        assert_ne!(client.public_openssh, host.public_openssh);
        for f in [CLIENT_KEY_FILE, HOST_KEY_FILE] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
            assert_eq!(mode(&pub_path(&dir.join(f))), 0o600, "{f}.pub");
        }
        assert_eq!(
            fs::read_to_string(pub_path(&client.path)).unwrap().trim(),
            client.public_openssh
        );
        let again = Store::open(&dir).unwrap().client_key("other").unwrap();
        assert_eq!(again.public_openssh, client.public_openssh);
        assert_eq!(*again.private_openssh, *client.private_openssh);
    }

    #[test]
    fn a_damaged_key_is_refused_with_the_fix() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("p");
        let mut store = Store::open(&dir).unwrap();
        write_secret(&dir.join(CLIENT_KEY_FILE), b"not a key").unwrap();
        let err = store.client_key("x").unwrap_err();
        assert!(err.message.contains("not an OpenSSH private key"), "{err}");
        assert!(err.hints[0].contains("rm "), "{err}");
    }

    #[test]
    fn known_hosts_pins_the_host_key_on_its_port() {
        assert_eq!(
            known_hosts_line(
                "127.0.0.1:2223".parse().unwrap(),
                "ssh-ed25519 AAAAC3Nz host comment"
            ),
            "[127.0.0.1]:2223 ssh-ed25519 AAAAC3Nz\n"
        );
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("p")).unwrap();
        let path = store
            .write_known_hosts("[::1]:2222".parse().unwrap(), "ssh-ed25519 AAAAC3Nz x")
            .unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            fs::read_to_string(path).unwrap(),
            "[::1]:2222 ssh-ed25519 AAAAC3Nz\n"
        );
    }
}
