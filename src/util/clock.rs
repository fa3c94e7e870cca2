//! Wall-clock formatting without a date-time dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 for a clock set before it).
pub(crate) fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The time a Unix timestamp names, relative to `now`: how long until then (zero if past,
/// [`Duration::MAX`] if beyond what the clock can represent).
pub(crate) fn until_unix(timestamp: u64, now: SystemTime) -> Duration {
    match UNIX_EPOCH.checked_add(Duration::from_secs(timestamp)) {
        Some(target) => target.duration_since(now).unwrap_or(Duration::ZERO),
        None => Duration::MAX,
    }
}

/// An HTTP-date (RFC 9110 section 5.6.7) as Unix seconds: the IMF-fixdate
/// `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete forms recipients must still accept,
/// RFC 850's `Sunday, 06-Nov-94 08:49:37 GMT` and asctime's `Sun Nov  6 08:49:37 1994`.
pub(crate) fn parse_http_date(text: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month_of = |name: &str| MONTHS.iter().position(|m| *m == name).map(|i| i as u64 + 1);
    let number = |digits: &str| -> Option<u64> {
        (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse().ok())
            .flatten()
    };
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let (year, month, day, time) = match words.as_slice() {
        // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
        [weekday, day, month, year, time, "GMT"] if weekday.ends_with(',') && year.len() == 4 => {
            (number(year)?, month_of(month)?, number(day)?, *time)
        }
        // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`; two-digit years are 1970-2069.
        [weekday, date, time, "GMT"] if weekday.ends_with(',') => {
            let mut parts = date.split('-');
            let (day, month, year) = (parts.next()?, parts.next()?, parts.next()?);
            let year = number(year)?;
            let year = match year {
                0..=69 if date.len() == 9 => 2000 + year,
                70..=99 if date.len() == 9 => 1900 + year,
                _ => year,
            };
            (year, month_of(month)?, number(day)?, *time)
        }
        // asctime: `Sun Nov  6 08:49:37 1994`
        [_weekday, month, day, time, year] if year.len() == 4 => {
            (number(year)?, month_of(month)?, number(day)?, *time)
        }
        _ => return None,
    };
    let mut clock = time.split(':').map(number);
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next()??);
    if clock.next().is_some() || day == 0 || day > 31 || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    days.checked_mul(86_400)?
        .checked_add(hour * 3600 + minute * 60 + second)
}

/// Days since 1970-01-01 of a proleptic Gregorian date, for years from 1970 (Howard
/// Hinnant's algorithm); `None` before the epoch or on overflow.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = year / 400;
    let yoe = year - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

/// RFC 3339 in UTC with second precision: `2026-11-26T05:27:41Z`.
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let secs = unix_seconds(at);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_670_861);
        assert_eq!(rfc3339(t), "2026-11-26T05:27:41Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn timestamps_beyond_the_clock_are_forever_not_a_panic() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(until_unix(u64::MAX, now), Duration::MAX);
        assert_eq!(until_unix(1_003, now), Duration::from_secs(3));
        assert_eq!(until_unix(3, now), Duration::ZERO);
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        // RFC 9110's own example, 784111777.
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(parse_http_date(form), Some(784_111_777), "{form}");
        }
        assert_eq!(
            parse_http_date("Thu, 26 Nov 2026 05:27:41 GMT"),
            Some(1_795_670_861)
        );
        assert_eq!(
            parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT"),
            Some(951_782_400)
        );
        for bad in [
            "",
            "120",
            "Sun, 06 Nov 1994 08:49:37 CET",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 99999999999999999999 08:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }
}
