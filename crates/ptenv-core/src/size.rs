//! Memory sizes as people write them in profiles and on the command line (`8g`, `512m`,
//! `16GiB`), read the way `docker run --shm-size` reads them: go-units `RAMInBytes`, binary
//! units, so `8g` is 8589934592 bytes.

/// Parse a size such as `8g`, `512MiB`, `1.5g` or a plain byte count.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim_start().to_ascii_lowercase();
    let bad = || {
        format!("`{text}` is not a size; write a number with an optional unit, like `8g`, `512m` or `16GiB`")
    };
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
        return Err(bad());
    }
    let too_large = || format!("`{text}` is too large: sizes must be below 8 EiB (2^63 bytes)");
    // Accepted suffixes: k, kb, kib (and m, g, t, p likewise), b, or none.
    let unit = unit
        .strip_suffix('b')
        .map(|u| u.strip_suffix('i').unwrap_or(u))
        .unwrap_or(&unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    // Docker and the kernel take sizes and limits as signed 64-bit numbers: 2^63 and above
    // would wrap to a negative value (which a ulimit reads as "unlimited"). Whole numbers are
    // computed exactly; fractions (`1.5g`) through f64, as go-units does.
    const LIMIT: u128 = 1 << 63;
    if !number.contains('.') {
        let whole: u128 = number.parse().map_err(|_| too_large())?;
        let bytes = whole.checked_shl(shift).filter(|b| *b >> shift == whole);
        return match bytes {
            Some(b) if b < LIMIT => Ok(b as u64),
            _ => Err(too_large()),
        };
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= LIMIT as f64 {
        return Err(too_large());
    }
    Ok(bytes as u64)
}

/// Print a byte count the way people read it: `8 GiB`, `1.5 GiB`, `64 MiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 || (value - value.round()).abs() < 0.05 {
        format!("{} {}", value.round() as u64, UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_docker_ram_in_bytes() {
        assert_eq!(parse_size("8g"), Ok(8 * 1024 * 1024 * 1024));
        assert_eq!(parse_size("8G"), Ok(8589934592));
        assert_eq!(parse_size("8gb"), Ok(8589934592));
        assert_eq!(parse_size("8GiB"), Ok(8589934592));
        assert_eq!(parse_size("512m"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_size("1.5g"), Ok(1610612736));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("2 t"), Ok(2 << 40));
    }

    #[test]
    fn rejects_what_docker_rejects() {
        for bad in [
            "", "g", "8x", "8gg", "-1g", "1..5g", ".5g", "8 gigs", "eight",
        ] {
            assert!(parse_size(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn sizes_at_or_above_2_pow_63_are_refused() {
        assert_eq!(parse_size("9223372036854775807"), Ok(i64::MAX as u64));
        assert_eq!(parse_size("8191p"), Ok(8191 << 50));
        for big in [
            "9223372036854775808",
            "8192p",
            "8192.0p",
            "99999999999999999999999999999999999999999",
            "18446744073709551616",
            "16777216t",
        ] {
            let e = parse_size(big).unwrap_err();
            assert!(e.contains("too large"), "{big}: {e}");
        }
    }

    #[test]
    fn prints_human_sizes() {
        assert_eq!(human(8589934592), "8 GiB");
        assert_eq!(human(1610612736), "1.5 GiB");
        assert_eq!(human(67108864), "64 MiB");
        assert_eq!(human(100), "100 B");
    }
}
