use leptos::prelude::*;

use crate::components::numbers::push_digits;

/// An RFC 3339 time as `YYYY-MM-DD HH:MM UTC`, the exact time on hover.
#[component]
pub fn UtcTime(#[prop(into)] iso: String) -> impl IntoView {
    let shown = utc_minute(&iso).unwrap_or_else(|| iso.clone());
    view! { <time datetime=iso.clone() title=iso>{shown}</time> }
}

/// `YYYY-MM-DD HH:MM UTC` for an RFC 3339 time (`2024-05-06T07:08:09.123Z`,
/// or with a `±HH:MM` offset, converted to UTC); None when it is not one.
/// Hand-written rather than chrono's parser and formatter, which would be
/// the only chrono code in the hydrate wasm (docs/wasm-size.md).
fn utc_minute(iso: &str) -> Option<String> {
    let b = iso.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0i64, |n, &d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &b[19..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| {
                (a.is_ascii_digit() && b.is_ascii_digit()).then(|| i64::from((a - b'0') * 10 + (b - b'0')))
            };
            let (h, m) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            if *sign == b'+' {
                h * 60 + m
            } else {
                -(h * 60 + m)
            }
        }
        _ => return None,
    };
    let total = days_from_civil(year, month, day) * 1440 + hour * 60 + minute - offset_minutes;
    let (days, minute_of_day) = (total.div_euclid(1440), total.rem_euclid(1440));
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return Some(format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", minute_of_day / 60, minute_of_day % 60));
    }
    let mut shown = String::with_capacity(20);
    for (value, width, then) in
        [(year, 4, '-'), (month, 2, '-'), (day, 2, ' '), (minute_of_day / 60, 2, ':'), (minute_of_day % 60, 2, ' ')]
    {
        push_digits(&mut shown, value.unsigned_abs(), width);
        shown.push(then);
    }
    shown.push_str("UTC");
    Some(shown)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::utc_minute;

    /// What the component showed when it used chrono.
    fn with_chrono(iso: &str) -> Option<String> {
        chrono::DateTime::parse_from_rfc3339(iso)
            .ok()
            .map(|t| t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string())
    }

    #[test]
    fn formats_like_chrono() {
        for iso in [
            "2024-05-06T07:08:09.123Z",
            "2024-05-06T07:08:09Z",
            "1970-01-01T00:00:00.000Z",
            "2024-02-29T23:59:59.999999Z",
            "2024-03-01T00:30:00+01:00",
            "2023-12-31T23:30:00-01:00",
            "2024-12-31T22:15:00-05:45",
            "2000-02-29T12:00:00+14:00",
            "2100-03-01T00:00:00+00:00",
            "2024-05-06t07:08:09z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
        ] {
            assert_eq!(utc_minute(iso), with_chrono(iso), "{iso}");
        }
    }

    #[test]
    fn refuses_what_is_not_rfc_3339() {
        for iso in [
            "",
            "soon",
            "2024-05-06",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-05-06T07:08:09",
            "2024-05-06T07:08:09.Z",
            "2024-05-06T07:08:09+0100",
        ] {
            assert_eq!(utc_minute(iso), None, "{iso}");
            assert_eq!(with_chrono(iso), None, "{iso}");
        }
    }
}
