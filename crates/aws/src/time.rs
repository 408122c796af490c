//! Timestamps in AWS's ISO 8601 basic format (`20150830T123600Z`), without a date library.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC instant with second precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AmzDate {
    pub unix_seconds: i64,
}

impl AmzDate {
    pub fn to_system_time(self) -> SystemTime {
        if self.unix_seconds >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.unix_seconds as u64)
        } else {
            UNIX_EPOCH - Duration::from_secs(self.unix_seconds.unsigned_abs())
        }
    }

    pub fn from_system_time(t: SystemTime) -> Self {
        let unix_seconds = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        Self { unix_seconds }
    }

    /// `YYYYMMDDTHHMMSSZ`.
    pub fn to_amz_string(self) -> String {
        let (y, m, d, hh, mm, ss) = self.civil();
        format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
    }

    /// `YYYY-MM-DDTHH:MM:SS.000Z`, the format of S3's XML timestamps.
    pub fn to_iso8601(self) -> String {
        let (y, m, d, hh, mm, ss) = self.civil();
        format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.000Z")
    }

    fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        let days = self.unix_seconds.div_euclid(86_400);
        let secs = self.unix_seconds.rem_euclid(86_400) as u32;
        let (y, m, d) = civil_from_days(days);
        (y, m, d, secs / 3600, (secs / 60) % 60, secs % 60)
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `YYYYMMDDTHHMMSSZ`; `None` for anything else, including impossible dates.
pub fn parse_amz_date(s: &str) -> Option<AmzDate> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || d == 0 || d > 31 || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, m, d);
    if civil_from_days(days) != (y as i64, m, d) {
        return None; // e.g. February 30th
    }
    Some(AmzDate {
        unix_seconds: days * 86_400 + (hh * 3600 + mm * 60 + ss) as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(s: &str, unix: Option<i64>) {
        assert_eq!(parse_amz_date(s).map(|d| d.unix_seconds), unix, "{s}");
        if let Some(u) = unix {
            assert_eq!(AmzDate { unix_seconds: u }.to_amz_string(), s);
        }
    }

    #[test]
    fn amz_dates() {
        check("19700101T000000Z", Some(0));
        check("20150830T123600Z", Some(1_440_938_160));
        check("20000229T235959Z", Some(951_868_799));
        check("20240101T000000Z", Some(1_704_067_200));
        check("20230229T000000Z", None);
        check("20150830T123600", None);
        check("2015-08-30T12:36:00Z", None);
        check("20151330T123600Z", None);
        check("2015083OT123600Z", None);
        check("", None);
        assert_eq!(
            AmzDate {
                unix_seconds: 1_440_938_160
            }
            .to_iso8601(),
            "2015-08-30T12:36:00.000Z"
        );
    }
}
