//! The facts of a machine reached over ssh, read there by the same code as here. ptenv copies
//! its own binary to the server (when the server's OS and CPU match this one), cached under
//! the remote user's cache folder by version and content hash, and runs the hidden
//! `ptenv agent facts` there: NVML first with the same fallbacks and the same
//! `PTENV_NVML_LIB` override as locally, the RAM, the user's IDs and home, as JSON. When the
//! agent cannot run (another CPU, a home mounted noexec), `nvidia-smi` over ssh gives the GPUs.
//! [`Remote`] is that machine as a [`Machine`]: commands ask it as they ask [`crate::host::Local`].

use std::cell::OnceCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::gpu::HostFacts;
use crate::host::Machine;
use crate::identity::User;
use crate::transport::SshConnection;

/// What `ptenv agent facts` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentFacts {
    /// The agent's ptenv version.
    pub version: String,
    pub facts: HostFacts,
    /// RAM in bytes; 0 when unknown.
    pub ram: u64,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// The facts of the machine this runs on: the agent's answer.
pub fn facts_here() -> AgentFacts {
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    AgentFacts {
        version: env!("CARGO_PKG_VERSION").to_string(),
        facts: crate::gpu::detect(),
        ram: crate::host::ram(),
        uid,
        gid,
        home: crate::host::home().display().to_string(),
    }
}

/// The server's answer when ptenv cannot run there: `id`, `$HOME`, `MemTotal` and
/// `nvidia-smi`'s CSV, each after a marker line.
const FALLBACK_SCRIPT: &str = "echo @arch; uname -m; echo @ids; id -u; id -g; echo @home; echo \"$HOME\"; echo @mem; grep MemTotal: /proc/meminfo; echo @smi; nvidia-smi --query-gpu=";

/// A machine reached over ssh; its facts are read once, when first asked.
pub struct Remote {
    conn: Arc<SshConnection>,
    facts: OnceCell<AgentFacts>,
}

impl Remote {
    pub fn new(conn: Arc<SshConnection>) -> Remote {
        Remote {
            conn,
            facts: OnceCell::new(),
        }
    }

    fn facts(&self) -> &AgentFacts {
        self.facts.get_or_init(|| {
            run_agent(&self.conn, "facts")
                .and_then(|out| parse_answer(&out))
                .unwrap_or_else(|why| fallback(&self.conn, &why))
        })
    }
}

impl Machine for Remote {
    fn gpu_facts(&self) -> HostFacts {
        self.facts().facts.clone()
    }
    fn ram(&self) -> u64 {
        self.facts().ram
    }
    fn home(&self) -> PathBuf {
        PathBuf::from(&self.facts().home)
    }
    fn container_user(&self, _project: &Path) -> User {
        // The project is not a folder on the server: the container runs as the server user.
        let f = self.facts();
        User::for_ids(f.uid, f.gid)
    }
    fn folder_access(&self, folder: &Path) -> Option<((u32, u32), u32)> {
        // GNU stat (the servers ptenv's agent serves are Linux): owner, group, and the raw
        // mode in hex.
        let command = format!(
            "stat -L -c '%u %g %f' -- {}",
            crate::shell::quote(&folder.to_string_lossy())
        );
        let out = self.conn.run(&command, None).ok()?;
        if !out.status.success() {
            return None;
        }
        parse_stat(&String::from_utf8_lossy(&out.stdout))
    }
    fn describe(&self) -> String {
        self.conn.host.to_string()
    }
    fn is_remote(&self) -> bool {
        true
    }
    fn connection(&self) -> Option<Arc<SshConnection>> {
        Some(self.conn.clone())
    }
    fn doctor_host(&self, _root: &Path) -> crate::doctor::host::HostReport {
        // The root is this machine's (`PTENV_SYSROOT`): the agent reads the server's own.
        let place = self.describe();
        let answer = run_agent(&self.conn, "doctor")
            .and_then(|out| parse_answer::<crate::doctor::host::HostReport>(&out));
        match answer {
            Ok(mut report) => {
                for c in &mut report.checks {
                    c.place = Some(format!("{place}, by ptenv's agent"));
                }
                report
            }
            Err(why) => {
                let facts = self.facts().facts.clone();
                let mut report = crate::doctor::host::without_agent(facts, &place, &why);
                for c in &mut report.checks {
                    c.place = Some(format!("{place}, by nvidia-smi over ssh"));
                }
                report
            }
        }
    }
}

/// What the agent printed and how it ended.
struct Answer {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    code: Option<i32>,
}

/// Installs the agent when the server has not got this exact binary yet, then runs its
/// request `what` (`facts`, `doctor`).
fn run_agent(conn: &SshConnection, what: &str) -> std::result::Result<Answer, String> {
    let exe =
        std::env::current_exe().map_err(|e| format!("cannot find ptenv's own binary: {e}"))?;
    let hash = own_hash(&exe)?;
    let dir = format!(
        "${{XDG_CACHE_HOME:-$HOME/.cache}}/ptenv/agent/{}-{}",
        env!("CARGO_PKG_VERSION"),
        &hash[..16]
    );
    let run = format!(
        "f=\"{dir}/ptenv\"; if [ -x \"$f\" ]; then exec \"$f\" agent {what}; else echo @missing \"$(uname -sm)\"; fi"
    );
    let out = conn.run(&run, None).map_err(|e| e.message)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if let Some(platform) = stdout.trim().strip_prefix("@missing ") {
        let here = format!("{} {}", uname_s(), uname_m());
        if platform.trim() != here {
            return Err(format!(
                "the server is {} and this ptenv is built for {here}",
                platform.trim()
            ));
        }
        let binary =
            std::fs::read(&exe).map_err(|e| format!("cannot read {}: {e}", exe.display()))?;
        // Written beside its final name and renamed, so an interrupted copy is never run;
        // the three newest builds stay (another laptop may use an older ptenv), older go.
        let install = format!(
            "d=\"{dir}\"; mkdir -p \"$d\" && t=\"$d/ptenv.tmp.$$\" && cat > \"$t\" && chmod 700 \"$t\" && mv -f \"$t\" \"$d/ptenv\" && (cd \"$d/..\" && ls -1t | tail -n +4 | while read -r old; do rm -rf -- \"$old\"; done); exec \"$d/ptenv\" agent {what}"
        );
        let out = conn.run(&install, Some(&binary)).map_err(|e| e.message)?;
        return Ok(Answer {
            stdout: out.stdout,
            stderr: out.stderr,
            code: out.status.code(),
        });
    }
    Ok(Answer {
        stdout: out.stdout,
        stderr: out.stderr,
        code: out.status.code(),
    })
}

/// The agent's JSON answer, or why it gave none.
fn parse_answer<T: serde::de::DeserializeOwned>(a: &Answer) -> std::result::Result<T, String> {
    serde_json::from_slice(&a.stdout).map_err(|_| {
        let said = String::from_utf8_lossy(&a.stderr);
        format!(
            "ptenv's agent did not run on the server (exit {}): {}",
            a.code.map_or("by a signal".to_owned(), |c| c.to_string()),
            said.trim()
        )
    })
}

/// The SHA-256 of this binary, remembered next to ptenv's cache by size and mtime so that a
/// command does not hash 100 MB each time.
fn own_hash(exe: &Path) -> std::result::Result<String, String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    let key = format!("{} {} {}", exe.display(), meta.size(), meta.mtime());
    let memo =
        directories::ProjectDirs::from("", "", "ptenv").map(|d| d.cache_dir().join("agent-hash"));
    if let Some(memo) = &memo {
        if let Ok(text) = std::fs::read_to_string(memo) {
            if let Some((k, h)) = text.rsplit_once('\t') {
                if k == key && h.len() == 64 {
                    return Ok(h.trim().to_owned());
                }
            }
        }
    }
    let bytes = std::fs::read(exe).map_err(|e| format!("{}: {e}", exe.display()))?;
    let hash = crate::project::hex(&Sha256::digest(&bytes));
    if let Some(memo) = &memo {
        // Best effort: without it the next command hashes again.
        if let Some(dir) = memo.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(memo, format!("{key}\t{hash}"));
    }
    Ok(hash)
}

fn uname_s() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "Darwin",
        other => other,
    }
}

fn uname_m() -> &'static str {
    std::env::consts::ARCH
}

/// The facts without the agent: the user's IDs, home, RAM and `nvidia-smi` over ssh.
fn fallback(conn: &SshConnection, why: &str) -> AgentFacts {
    let script = format!(
        "{FALLBACK_SCRIPT}{} --format=csv,noheader,nounits 2>&1 || echo \"@smi-failed $?\"",
        crate::gpu::parse::SMI_QUERY
    );
    let text = match conn.run(&script, None) {
        Ok(out) => String::from_utf8_lossy(&out.stdout).into_owned(),
        Err(e) => {
            return AgentFacts {
                version: String::new(),
                facts: crate::gpu::from_remote_smi(
                    Err(format!("nvidia-smi over ssh: {}", e.message)),
                    why,
                ),
                ram: 0,
                uid: 1000,
                gid: 1000,
                home: "/".into(),
            }
        }
    };
    parse_fallback(&text, why)
}

fn parse_fallback(text: &str, why: &str) -> AgentFacts {
    let section = |name: &str| -> Vec<&str> {
        text.lines()
            .skip_while(|l| l.trim() != name)
            .skip(1)
            .take_while(|l| !l.starts_with('@') || l.starts_with("@smi-failed"))
            .collect()
    };
    let ids = section("@ids");
    let num = |i: usize| ids.get(i).and_then(|v| v.trim().parse().ok());
    let smi: Vec<&str> = section("@smi");
    let smi_text = smi
        .iter()
        .filter(|l| !l.starts_with("@smi-failed"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n");
    let smi_result = if smi.iter().any(|l| l.starts_with("@smi-failed")) {
        Err(format!(
            "nvidia-smi over ssh: {}",
            smi_text.lines().next().unwrap_or("failed").trim()
        ))
    } else {
        Ok(smi_text)
    };
    let mut facts = crate::gpu::from_remote_smi(smi_result, why);
    if let Some(arch) = section("@arch")
        .first()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
    {
        facts.machine = arch.to_owned();
    }
    AgentFacts {
        version: String::new(),
        facts,
        ram: crate::host::parse_meminfo(&section("@mem").join("\n")).unwrap_or(0),
        uid: num(0).unwrap_or(1000),
        gid: num(1).unwrap_or(1000),
        home: section("@home")
            .first()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "/".into()),
    }
}

/// `ptenv agent facts`: print this machine's facts as JSON (run by ptenv itself over ssh).
pub fn run_facts() -> Result<i32> {
    print_json(&facts_here())
}

/// `ptenv agent doctor`: print doctor's host links and the Docker links' files of this
/// machine as JSON, read under `PTENV_SYSROOT` as locally.
pub fn run_doctor() -> Result<i32> {
    print_json(&crate::doctor::host::gather(
        &crate::doctor::host::sysroot(),
        crate::gpu::detect(),
    ))
}

fn print_json(value: &impl Serialize) -> Result<i32> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::new(format!("cannot write the answer: {e}")))?;
    println!("{text}");
    Ok(0)
}

/// `stat -c '%u %g %f'`'s line: owner, group, mode (hex).
fn parse_stat(line: &str) -> Option<((u32, u32), u32)> {
    let mut fields = line.split_whitespace();
    let uid = fields.next()?.parse().ok()?;
    let gid = fields.next()?.parse().ok()?;
    let mode = u32::from_str_radix(fields.next()?, 16).ok()?;
    Some(((uid, gid), mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_owner_group_and_mode() {
        assert_eq!(
            parse_stat("1000 1000 41ed\n"),
            Some(((1000, 1000), 0o40755))
        );
        assert_eq!(parse_stat("0 0 41c0"), Some(((0, 0), 0o40700)));
        assert_eq!(parse_stat("stat: cannot statx '/x': No such file"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn the_agents_answer_round_trips() {
        let here = facts_here();
        let text = serde_json::to_string(&here).unwrap();
        let answer = |out: &[u8], err: &[u8], code| Answer {
            stdout: out.to_vec(),
            stderr: err.to_vec(),
            code,
        };
        let back: AgentFacts = parse_answer(&answer(text.as_bytes(), b"", Some(0))).unwrap();
        assert_eq!(back, here);
        let e =
            parse_answer::<AgentFacts>(&answer(b"", b"sh: 1: ptenv: Permission denied", Some(126)))
                .unwrap_err();
        assert!(
            e.contains("exit 126") && e.contains("Permission denied"),
            "{e}"
        );
    }

    #[test]
    fn the_fallback_reads_ids_home_ram_and_nvidia_smi() {
        let text = "@arch\naarch64\n@ids\n1001\n1002\n@home\n/home/me\n@mem\nMemTotal:       24576000 kB\n@smi\n0, NVIDIA A100-SXM4-80GB, GPU-1, 8.0, 81920, 550.54.15\n";
        let f = parse_fallback(text, "the agent: another CPU");
        assert_eq!((f.uid, f.gid, f.home.as_str()), (1001, 1002, "/home/me"));
        assert_eq!(f.ram, 24576000 * 1024);
        assert_eq!(f.facts.machine, "aarch64");
        assert_eq!(f.facts.gpus.len(), 1, "{f:?}");
        assert_eq!(
            f.facts.driver.as_ref().map(|d| d.as_str()),
            Some("550.54.15")
        );
        assert!(
            f.facts
                .problems
                .iter()
                .any(|p| p.to_string().contains("another CPU")),
            "{f:?}"
        );
        let failed = parse_fallback(
            "@ids\n1\n1\n@home\n/h\n@mem\n@smi\nsh: 1: nvidia-smi: not found\n@smi-failed 127\n",
            "why",
        );
        assert!(failed.facts.gpus.is_empty());
        assert!(
            failed
                .facts
                .problems
                .iter()
                .any(|p| p.to_string().contains("nvidia-smi: not found")),
            "{failed:?}"
        );
    }
}
