//! Numbers as people read them.

/// A decimal credits string from the API ("12345.5") with thousands
/// separators ("12,345.5"); anything else is shown as it came.
pub fn format_credits(decimal: &str) -> String {
    let (sign, rest) = decimal.strip_prefix('-').map_or(("", decimal), |r| ("-", r));
    let (whole, fraction) = rest.split_once('.').map_or((rest, None), |(w, f)| (w, Some(f)));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return decimal.to_string();
    }
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::format_credits;

    #[test]
    fn groups_thousands_and_keeps_the_fraction() {
        assert_eq!(format_credits("0"), "0");
        assert_eq!(format_credits("999"), "999");
        assert_eq!(format_credits("1000"), "1,000");
        assert_eq!(format_credits("12345.5"), "12,345.5");
        assert_eq!(format_credits("-1234567.000001"), "-1,234,567.000001");
        assert_eq!(format_credits("n/a"), "n/a");
    }
}
