//! Words for a POSIX shell: what ptenv prints for the user to paste (the `docker run` line,
//! ssh commands) must run exactly the words it stands for.

/// `word` as one shell word: as is when it holds only characters no shell treats specially,
/// else in single quotes (a `'` inside becomes `'\''`). Everything, `$`, backticks and
/// newlines included, is literal inside single quotes.
pub fn quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./+:=@%,".contains(c))
    {
        word.to_string()
    } else {
        single_quoted(word)
    }
}

/// `word` in single quotes whatever it holds (a `'` inside becomes `'\''`), for text whose
/// exact bytes matter, e.g. the lines of a generated script.
pub fn single_quoted(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// Words joined into one command line, each quoted as needed. A first word with `=` is
/// quoted too: unquoted, the shell would take it for a variable assignment.
pub fn join<S: AsRef<str>>(words: &[S]) -> String {
    words
        .iter()
        .enumerate()
        .map(|(i, w)| match w.as_ref() {
            w if i == 0 && w.contains('=') => single_quoted(w),
            w => quote(w),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_and_the_rest_is_single_quoted() {
        assert_eq!(
            join(&["ssh", "-F", "/home/a b/x.conf", "it's", "", "$HOME", "a\nb"]),
            "ssh -F '/home/a b/x.conf' 'it'\\''s' '' '$HOME' 'a\nb'"
        );
        assert_eq!(quote("memlock=-1:-1"), "memlock=-1:-1");
        assert_eq!(quote("`id`"), "'`id`'");
        assert_eq!(single_quoted("numpy"), "'numpy'");
        assert_eq!(join(&["A=b", "c=d"]), "'A=b' c=d");
    }
}
