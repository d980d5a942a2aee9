//! Short human forms of durations for screens and messages.

use std::time::Duration;

/// "850ms", "12s", "3m05s", "2h10m", "3d04h".
pub(crate) fn duration(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 && d.as_millis() > 0 {
        return format!("{}ms", d.as_millis());
    }
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(duration(Duration::from_millis(850)), "850ms");
        assert_eq!(duration(Duration::from_secs(0)), "0s");
        assert_eq!(duration(Duration::from_secs(12)), "12s");
        assert_eq!(duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(duration(Duration::from_secs(7800)), "2h10m");
        assert_eq!(duration(Duration::from_secs(3 * 86400 + 4 * 3600)), "3d04h");
    }
}
