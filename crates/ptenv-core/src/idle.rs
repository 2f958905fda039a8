//! Idle stop: a profile's `idle_stop` (a duration such as `2h`), the watcher that runs inside
//! the container beside its main process and stops the container once nothing has happened for
//! that long, and how its last words are read back (`ptenv ls`). No daemon on the host: the
//! container stops itself, so it works the same on a server reached over ssh.

use crate::modes::{ContainerFile, CONTAINER_DIR};

/// How long an environment may sit idle, in seconds, as the profile wrote it (`2h`, `30m`,
/// `90s`, `1h30m`, `1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdleStop {
    pub seconds: u64,
}

impl IdleStop {
    /// `2h`, `30m`, `2s`, `1d`, or several of them (`1h30m`). A bare number is refused: is
    /// `30` seconds or minutes?
    pub fn parse(text: &str) -> Result<IdleStop, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "`{text}` is not a duration: write a number with a unit, such as `2h`, `30m`, \
                 `90s` or `1h30m` (d, h, m, s)"
            )
        };
        let mut seconds: u64 = 0;
        let mut digits = String::new();
        let mut units = 0;
        for c in text.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                'd' => 86_400,
                'h' => 3_600,
                'm' => 60,
                's' => 1,
                _ => return Err(bad()),
            };
            let n: u64 = digits.parse().map_err(|_| bad())?;
            seconds = n
                .checked_mul(unit)
                .and_then(|s| seconds.checked_add(s))
                .ok_or_else(bad)?;
            digits.clear();
            units += 1;
        }
        if units == 0 || !digits.is_empty() {
            return Err(bad());
        }
        if seconds == 0 {
            return Err(format!(
                "`{text}` would stop the environment at once: give a positive duration such as \
                 `2h`, or leave `idle_stop` out to never stop it"
            ));
        }
        Ok(IdleStop { seconds })
    }
}

/// What a layer says about idle stop: a duration, or `off`, which turns off what a lower
/// layer (the user config, the project's top level) set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleSetting {
    Off,
    After(IdleStop),
}

impl IdleSetting {
    /// `off`, else a duration ([`IdleStop::parse`]).
    pub fn parse(text: &str) -> Result<IdleSetting, String> {
        match text.trim() {
            "off" => Ok(IdleSetting::Off),
            t => IdleStop::parse(t).map(IdleSetting::After),
        }
    }

    /// The profile's idle stop: none when turned off.
    pub fn limit(self) -> Option<IdleStop> {
        match self {
            IdleSetting::Off => None,
            IdleSetting::After(limit) => Some(limit),
        }
    }
}

/// `2h`, `1h30m`, `45s`: the shortest way to write it back.
impl std::fmt::Display for IdleStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut left = self.seconds;
        for (unit, name) in [(86_400, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
            if left >= unit {
                write!(f, "{}{name}", left / unit)?;
                left %= unit;
            }
        }
        Ok(())
    }
}

impl serde::Serialize for IdleStop {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The watcher inside the container (run by the image's `python3`).
pub fn watcher_path() -> String {
    format!("{CONTAINER_DIR}/idle-watch.py")
}

/// The watcher's file, owned by the user the container's command runs as (it must be able to
/// end that command).
pub fn watcher_file(uid: u32, gid: u32) -> ContainerFile {
    ContainerFile {
        path: watcher_path(),
        contents: include_str!("idle/watch.py").as_bytes().to_vec(),
        mode: 0o644,
        uid,
        gid,
    }
}

/// `command` with the watcher started beside it: `sh` starts the watcher in the background and
/// then becomes the command (exec), so the watcher's parent is the container's main process,
/// the one it ends. A missing python3 is said on the container's output, and the command runs.
pub fn watched(command: Vec<String>, limit: IdleStop) -> Vec<String> {
    let script = format!(
        "if command -v python3 >/dev/null; then python3 {} {} {} & \
         else echo 'ptenv: idle_stop needs python3 in the image; this environment will not stop by itself' >&2; fi; \
         exec \"$@\"",
        watcher_path(),
        limit.seconds,
        limit
    );
    let mut out = vec!["/bin/sh".into(), "-c".into(), script, "sh".into()];
    out.extend(command);
    out
}

/// Where the watcher keeps the time of the last activity it saw, for `ptenv ls`: as the file's
/// modification time, which the engine's archive endpoint reports without reading the file
/// (`HEAD /containers/{id}/archive`, docs/idle-stop.md); its text says the same for a person.
pub fn activity_path() -> String {
    format!("{CONTAINER_DIR}/last-activity")
}

/// The file the watcher rewrites in place: made empty at create, owned by the user the watcher
/// runs as (who cannot make files in /etc/ptenv, and must own it to set its time).
pub fn activity_file(uid: u32, gid: u32) -> ContainerFile {
    ContainerFile {
        path: activity_path(),
        contents: Vec::new(),
        mode: 0o644,
        uid,
        gid,
    }
}

/// The watcher's last activity (seconds since the Unix epoch) from the activity file's size and
/// modification time as the engine reports them (RFC 3339, `2026-12-04T16:19:14.205974104Z`):
/// none while the file is still empty (the watcher has not written it yet).
pub fn last_activity(size: i64, mtime: &str) -> Option<i64> {
    if size <= 0 {
        return None;
    }
    rfc3339_seconds(mtime)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` as seconds since the Unix epoch.
fn rfc3339_seconds(text: &str) -> Option<i64> {
    let num = |s: &str| -> Option<i64> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, time) = text.split_once(['T', 't'])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let (clock, offset) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0)
    } else {
        let at = time.rfind(['+', '-'])?;
        let (h, mm) = time[at + 1..].split_once(':')?;
        let sign = if time.as_bytes()[at] == b'-' { -1 } else { 1 };
        (&time[..at], sign * (num(h)? * 3600 + num(mm)? * 60))
    };
    let clock = clock.split('.').next()?;
    let mut c = clock.splitn(3, ':');
    let (h, mi, s) = (num(c.next()?)?, num(c.next()?)?, num(c.next()?)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm, proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// The label on a container with a watcher: its `idle_stop` (`2h`).
pub const LABEL: &str = "dev.ptenv.idle-stop";

/// What the watcher prints when it stops the environment, up to the duration.
pub const STOPPED: &str = "ptenv: stopped: idle for ";

/// The duration in the watcher's last words, if `log_tail` (the container's last output lines)
/// ends with them: `ptenv ls` shows "stopped: idle 2h".
pub fn stopped_idle(log_tail: &str) -> Option<String> {
    let line = log_tail.lines().rev().find(|l| l.contains(STOPPED))?;
    let rest = &line[line.find(STOPPED)? + STOPPED.len()..];
    rest.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_need_a_unit_and_are_written_back_short() {
        for (text, seconds, shown) in [
            ("2h", 7_200, "2h"),
            ("30m", 1_800, "30m"),
            ("2s", 2, "2s"),
            ("1h30m", 5_400, "1h30m"),
            ("90m", 5_400, "1h30m"),
            ("1d", 86_400, "1d"),
            (" 3s ", 3, "3s"),
        ] {
            let d = IdleStop::parse(text).unwrap();
            assert_eq!(d.seconds, seconds, "{text}");
            assert_eq!(d.to_string(), shown, "{text}");
        }
        for bad in ["", "30", "h", "2x", "2 h", "-1h", "1.5h", "h2"] {
            let e = IdleStop::parse(bad).unwrap_err();
            assert!(e.contains("is not a duration"), "{bad}: {e}");
        }
        assert!(IdleStop::parse("0s").unwrap_err().contains("at once"));
        assert!(IdleStop::parse("99999999999999999999d").is_err());
    }

    #[test]
    fn the_watcher_starts_beside_the_command_which_stays_the_main_process() {
        let cmd = watched(
            vec![
                "/bin/sh".into(),
                "/etc/ptenv/entry.sh".into(),
                "sleep".into(),
            ],
            IdleStop::parse("2h").unwrap(),
        );
        assert_eq!(cmd[..2], ["/bin/sh", "-c"]);
        assert!(
            cmd[2].contains("python3 /etc/ptenv/idle-watch.py 7200 2h &"),
            "{}",
            cmd[2]
        );
        assert!(cmd[2].ends_with("exec \"$@\""), "{}", cmd[2]);
        assert_eq!(cmd[3..], ["sh", "/bin/sh", "/etc/ptenv/entry.sh", "sleep"]);
        let file = watcher_file(1000, 1000);
        assert_eq!(file.path, "/etc/ptenv/idle-watch.py");
        let text = String::from_utf8(file.contents).unwrap();
        assert!(
            text.contains("say(\"stopped: idle for %s"),
            "the log line ls reads"
        );
        assert!(
            text.contains(&format!("ACTIVITY_FILE = \"{}\"", activity_path())),
            "the file ls reads"
        );
        let activity = activity_file(1000, 1000);
        assert_eq!(activity.path, "/etc/ptenv/last-activity");
        assert!(activity.contents.is_empty());
        assert_eq!((activity.uid, activity.mode), (1000, 0o644));
    }

    #[test]
    fn the_last_activity_is_the_file_s_time_once_written() {
        // `date -u -d 2026-12-04T16:19:14Z +%s`
        assert_eq!(
            last_activity(11, "2026-12-04T16:19:14.205974104Z"),
            Some(1_796_401_154)
        );
        assert_eq!(
            last_activity(11, "2026-12-04T17:19:14+01:00"),
            Some(1_796_401_154)
        );
        assert_eq!(
            last_activity(11, "2026-12-04T15:49:14.5-00:30"),
            Some(1_796_401_154)
        );
        assert_eq!(last_activity(11, "1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(last_activity(11, "2000-02-29T00:00:00Z"), Some(951_782_400));
        assert_eq!(
            last_activity(0, "2026-12-04T16:19:14Z"),
            None,
            "made at create, not written yet"
        );
        for bad in [
            "",
            "yesterday",
            "2026-12-04",
            "2026-13-04T00:00:00Z",
            "2026-12-04T16:19:14",
        ] {
            assert_eq!(last_activity(11, bad), None, "{bad}");
        }
    }

    #[test]
    fn ls_reads_the_watcher_s_last_words() {
        let tail = "[I 10:00] Jupyter Server is running\n\
                    ptenv: stopped: idle for 2h (no session, no Jupyter activity, no GPU use since 2026-12-04T08:00:00Z)\n\
                    [C 10:00] received signal 15, stopping\n";
        assert_eq!(stopped_idle(tail).as_deref(), Some("2h"));
        assert_eq!(stopped_idle("exited\n"), None);
    }
}
