//! Durations as operators write them: `500ms`, `4s`, `20s`, `15m`, `1h`, `7d`.
use std::time::Duration;

pub fn parse_duration(input: &str) -> Result<Duration, String> {
    let s = input.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("`{input}` has no unit (use ms, s, m, h or d, e.g. `20s`)"))?;
    let (digits, unit) = s.split_at(split);
    if digits.is_empty() {
        return Err(format!(
            "`{input}` is not a duration (e.g. `20s`, `15m`, `1h`)"
        ));
    }
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{input}` is out of range"))?;
    let secs = |mult: u64| {
        n.checked_mul(mult)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("`{input}` is out of range"))
    };
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        _ => Err(format!(
            "`{input}` has an unknown unit `{unit}` (use ms, s, m, h or d)"
        )),
    }
}

/// The inverse of [`parse_duration`], for printing the effective configuration.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= size && s.is_multiple_of(size) {
            return format!("{}{unit}", s / size);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("4s"), Ok(Duration::from_secs(4)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 7d "), Ok(Duration::from_secs(604_800)));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "20",
            "s",
            "-1s",
            "1.5s",
            "3 weeks",
            "99999999999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn formats_round_trip() {
        for s in ["250ms", "20s", "15m", "1h", "7d", "90s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
    }
}
