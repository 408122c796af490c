//! Schedule expressions of scheduled actions
//! (<https://docs.aws.amazon.com/autoscaling/application/APIReference/API_PutScheduledAction.html>):
//! `at(yyyy-mm-ddThh:mm:ss)` (once) and `rate(value unit)` (every minute(s), hour(s) or
//! day(s)), in UTC. `cron(...)` is refused as not supported yet.

/// A parsed schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Once, at these seconds since the epoch.
    At(f64),
    /// Every this many seconds.
    Rate(f64),
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(inner) = text.strip_prefix("at(").and_then(|r| r.strip_suffix(')')) {
            return parse_time(inner).map(Schedule::At).ok_or_else(|| {
                format!("Invalid at() expression: {text}; expected at(yyyy-mm-ddThh:mm:ss)")
            });
        }
        if let Some(inner) = text.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let mut parts = inner.split_whitespace();
            let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
                return Err(format!(
                    "Invalid rate() expression: {text}; expected rate(value unit)"
                ));
            };
            let value: u64 = value.parse().ok().filter(|v| *v > 0).ok_or_else(|| {
                format!("Invalid rate() value in {text}: a positive integer is required")
            })?;
            let unit = match unit {
                "minute" | "minutes" => 60,
                "hour" | "hours" => 3600,
                "day" | "days" => 86_400,
                other => {
                    return Err(format!(
                        "Invalid rate() unit {other}: use minute(s), hour(s) or day(s)"
                    ));
                }
            };
            return Ok(Schedule::Rate((value * unit) as f64));
        }
        if text.starts_with("cron(") {
            return Err(
                "cron() schedules are not supported by nuvem yet; use at() or rate()".into(),
            );
        }
        Err(format!(
            "Invalid schedule expression: {text}; use at(yyyy-mm-ddThh:mm:ss) or rate(value unit)"
        ))
    }

    /// When the action runs next after `last_run` (or, never run, from `from`: its start
    /// time or creation), if it runs again at all before `end`.
    pub fn next(self, from: f64, last_run: Option<f64>, end: Option<f64>) -> Option<f64> {
        let next = match (self, last_run) {
            (Schedule::At(_), Some(_)) => return None,
            (Schedule::At(at), None) => at,
            (Schedule::Rate(every), None) => from + every,
            (Schedule::Rate(every), Some(last)) => last + every,
        };
        match end {
            Some(end) if next > end => None,
            _ => Some(next),
        }
    }
}

/// `yyyy-mm-ddThh:mm:ss` (UTC) as seconds since the epoch.
pub fn parse_time(text: &str) -> Option<f64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (t.next()??, t.next()??, t.next()??);
    if d.next().is_some()
        || t.next().is_some()
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..24).contains(&h)
        || !(0..60).contains(&m)
        || !(0..60).contains(&s)
    {
        return None;
    }
    Some((days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s) as f64)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(text: &str, want: Result<Schedule, &str>) {
        match (Schedule::parse(text), want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want, "{text}"),
            (Err(got), Err(want)) => assert!(got.contains(want), "{text}: {got}"),
            (got, want) => panic!("{text}: {got:?}, wanted {want:?}"),
        }
    }

    #[test]
    fn schedules() {
        check("at(1970-01-01T00:00:00)", Ok(Schedule::At(0.0)));
        check("at(2026-12-06T13:00:30)", Ok(Schedule::At(1_796_562_030.0)));
        check("at(2024-02-29T00:00:00)", Ok(Schedule::At(1_709_164_800.0)));
        check("rate(5 minutes)", Ok(Schedule::Rate(300.0)));
        check("rate(1 hour)", Ok(Schedule::Rate(3600.0)));
        check("rate(2 days)", Ok(Schedule::Rate(172_800.0)));
        check("rate(0 minutes)", Err("positive integer"));
        check("rate(5 weeks)", Err("Invalid rate() unit"));
        check("cron(0 12 * * ? *)", Err("not supported by nuvem yet"));
        check("at(2026-13-01T00:00:00)", Err("Invalid at()"));
        check("every day", Err("Invalid schedule expression"));
        let rate = Schedule::Rate(60.0);
        assert_eq!(rate.next(100.0, None, None), Some(160.0));
        assert_eq!(rate.next(100.0, Some(400.0), None), Some(460.0));
        assert_eq!(rate.next(100.0, Some(400.0), Some(450.0)), None);
        assert_eq!(Schedule::At(5.0).next(0.0, None, None), Some(5.0));
        assert_eq!(Schedule::At(5.0).next(0.0, Some(5.0), None), None);
    }
}
