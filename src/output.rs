//! All terminal output goes through the [`Printer`], so `--quiet`, `--verbose` and `--json` mean
//! the same thing in every command: human messages on stderr, results on stdout, and with
//! `--json` only one JSON document on stdout.

use std::io::{IsTerminal, Write};

#[derive(Debug, Clone, Copy, Default)]
pub struct Printer {
    pub quiet: bool,
    pub verbose: bool,
    pub json: bool,
}

impl Printer {
    /// Progress and status lines for humans (stderr). Silent with `--quiet` or `--json`.
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet && !self.json {
            eprintln!("{}", msg.as_ref());
        }
    }

    /// Warnings always reach stderr, even with `--json` (stdout stays machine-readable);
    /// `--quiet` silences them.
    pub fn warn(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("warning: {}", msg.as_ref());
        }
    }

    /// What a question on the terminal is about: always shown (the user is asked to decide).
    pub fn ask(&self, msg: impl AsRef<str>) {
        eprintln!("{}", msg.as_ref());
    }

    /// Details shown with `-v`.
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbose && !self.quiet {
            eprintln!("  {}", msg.as_ref());
        }
    }

    /// The command's result for humans (stdout). Not printed with `--json`.
    pub fn result(&self, msg: impl AsRef<str>) {
        if !self.json {
            println!("{}", msg.as_ref());
        }
    }

    /// The command's result as JSON (stdout), printed only with `--json`. Objects' keys come
    /// out sorted, whatever order a struct declares its fields in.
    pub fn json(&self, value: &impl serde::Serialize) {
        if self.json {
            let value = serde_json::to_value(value).expect("ptenv's results serialize");
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut out, &value);
            let _ = writeln!(out);
        }
    }

    /// Clears the screen and goes home before a result is drawn again, as `docker stats`
    /// redraws; only for humans on a terminal (`--json` and a pipe get one result after another).
    pub fn redraw(&self) {
        if !self.json && std::io::stdout().is_terminal() {
            print!("\x1b[2J\x1b[H");
        }
    }

    /// A failed command: with `--json` the error as JSON on stdout (the one document), and
    /// always `ptenv: <message>` with its hints on stderr.
    pub fn error(&self, e: &crate::error::Error) {
        #[derive(serde::Serialize)]
        struct ErrorJson<'a> {
            error: &'a str,
            hints: &'a [String],
        }
        self.json(&ErrorJson {
            error: &e.message,
            hints: &e.hints,
        });
        eprintln!("ptenv: {e}");
    }

    /// Whether progress bars and spinners make sense: a terminal on stderr and no
    /// `--quiet`/`--json`.
    pub fn fancy(&self) -> bool {
        !self.quiet && !self.json && std::io::stderr().is_terminal()
    }
}

/// Columns padded to their widest cell; the last column is not padded.
pub fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let mut widths = header.clone().map(|h| h.len());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    std::iter::once(header)
        .chain(rows)
        .map(|row| {
            row.iter()
                .zip(widths)
                .enumerate()
                .map(|(i, (cell, w))| {
                    if i + 1 == row.len() {
                        cell.clone()
                    } else {
                        format!("{cell:<w$}  ")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_lines_up() {
        let header = ["A", "B", "C", "D", "E", "F", "G"].map(String::from);
        let rows = [["long-name", "x", "y", "z", "all", "img", "/p"].map(String::from)];
        let t = super::table(&header, &rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0].find('B'), lines[1].find('x'));
        assert!(lines[1].ends_with("/p"));
    }
}
