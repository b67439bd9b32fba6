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

/// `n` in decimal, zero-padded to `width` digits, written straight into
/// `out`. Dates and the billing chart write dozens of numbers a render, and
/// `format!` with a width costs about 2,300 instructions a time.
pub fn push_digits(out: &mut String, n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let at = at.min(digits.len().saturating_sub(width));
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::{format_credits, push_digits};

    #[test]
    fn digits_are_zero_padded_to_the_width() {
        for (n, width, shown) in
            [(0, 1, "0"), (7, 2, "07"), (2024, 4, "2024"), (12345, 2, "12345"), (u64::MAX, 1, "18446744073709551615")]
        {
            let mut out = String::from(">");
            push_digits(&mut out, n, width);
            assert_eq!(out, format!(">{shown}"));
        }
    }

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
