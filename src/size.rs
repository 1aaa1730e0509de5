//! Byte sizes as people write them in flags and config (`16MB`, `2GB`,
//! `512KB`, plain bytes), binary units.

/// Parses a size: a whole number with an optional unit (B, KB, MB, GB;
/// case-insensitive, KiB and friends accepted).
///
/// ```
/// assert_eq!(tarn::size::parse("16MB"), Ok(16 << 20));
/// assert!(tarn::size::parse("lots").is_err());
/// ```
pub fn parse(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(digits);
    let number: usize =
        number.parse().map_err(|_| format!("'{text}' is not a size; write bytes or a number with KB, MB or GB, like 16MB"))?;
    let scale: usize = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        other => return Err(format!("unknown size unit '{other}'; use KB, MB or GB, like 16MB")),
    };
    number.checked_mul(scale).ok_or_else(|| format!("'{text}' is too large a size"))
}

/// A size as people read it: `512 MB`, `2.0 GB`.
pub fn show(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b => format!("{} MB", b.div_ceil(1 << 20)),
    }
}
