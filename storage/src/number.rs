//! DynamoDB numbers: exact decimals of up to 38 significant digits with a magnitude
//! between 1E-130 and 9.99...E+125 (or zero).
//!
//! Rules taken from DynamoDB's observed behaviour (its own error messages, and the
//! behaviour emulators such as dynalite and ScyllaDB Alternator test against it):
//! - Syntax is Java `BigDecimal`'s: optional sign, digits with an optional point
//!   (`1.`, `.5` are fine), optional `e`/`E` exponent with optional sign. No
//!   whitespace, no `NaN`/`Infinity`, no hex.
//! - Leading and trailing zeros are trimmed before counting significant digits, so
//!   `1000…000` with 50 zeros is one significant digit.
//! - The range check comes before the digit check (`1234…(39 digits)E125` is an
//!   overflow, not "too many digits").
//! - Numbers come back in plain notation: `1E+3` reads back as `1000`, `1.5E-5` as
//!   `0.000015`.

use std::cmp::Ordering;
use std::fmt;
use std::ops::Neg;
use std::str::FromStr;

/// An exact decimal: `(-1)^negative * mantissa * 10^exponent`.
///
/// Always normalised: `mantissa` has no trailing decimal zeros, and zero is
/// `{ negative: false, mantissa: 0, exponent: 0 }`, so derived equality is numeric equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Number {
    negative: bool,
    mantissa: u128,
    exponent: i32,
}

/// Why a string or a computation is not a valid DynamoDB number. `Display` gives
/// DynamoDB's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("A value provided cannot be converted into a number")]
    Malformed,
    #[error("Attempting to store more than 38 significant digits in a Number")]
    TooManyDigits,
    #[error(
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )]
    Overflow,
    #[error("Number underflow. Attempting to store a number with magnitude smaller than supported range")]
    Underflow,
    /// Stored bytes that no encoder of ours produced: storage corruption, never a
    /// client error, so it must not be reported as a ValidationException.
    #[error("corrupt number encoding")]
    Corrupt,
}

/// DynamoDB's precision limit.
pub const MAX_DIGITS: u32 = 38;
/// Power of ten of the leading digit of the largest magnitude (9.99…E+125).
const MAX_ADJUSTED: i64 = 125;
/// Power of ten of the leading digit of the smallest magnitude (1E-130).
const MIN_ADJUSTED: i64 = -130;
/// Parsed exponents saturate here: anything this far out fails the range check
/// anyway, and saturating keeps `1e99999999999999999999` from overflowing an i64.
const EXPONENT_CAP: i64 = 1 << 40;

/// `POW10[n] == 10^n` for every power a 38-digit mantissa can need.
const POW10: [u128; 39] = {
    let mut table = [1u128; 39];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

const TEN_POW_19: u128 = POW10[19];

// Sortable-encoding class bytes: negatives < zero < positives.
const SORT_NEGATIVE: u8 = 0x01;
const SORT_ZERO: u8 = 0x02;
const SORT_POSITIVE: u8 = 0x03;

/// Longest plain-notation text: `-0.` + 129 zeros + 38 digits.
const DISPLAY_CAPACITY: usize = 176;

impl Number {
    pub const ZERO: Number = Number {
        negative: false,
        mantissa: 0,
        exponent: 0,
    };

    /// Parses DynamoDB's number syntax, rejecting what DynamoDB rejects.
    pub fn parse(text: &str) -> Result<Number, NumberError> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let negative = match bytes.first() {
            Some(b'-') => {
                i = 1;
                true
            }
            Some(b'+') => {
                i = 1;
                false
            }
            _ => false,
        };

        let mut digits = DigitScan::default();
        while let Some(d) = bytes.get(i).and_then(|b| ascii_digit(*b)) {
            digits.push(d);
            i += 1;
        }
        let integer_len = digits.seen;
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            while let Some(d) = bytes.get(i).and_then(|b| ascii_digit(*b)) {
                digits.push(d);
                i += 1;
            }
        }
        if digits.seen == 0 {
            return Err(NumberError::Malformed);
        }

        let mut exponent: i64 = 0;
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            let exponent_negative = match bytes.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let start = i;
            while let Some(d) = bytes.get(i).and_then(|b| ascii_digit(*b)) {
                exponent = (exponent * 10 + i64::from(d)).min(EXPONENT_CAP);
                i += 1;
            }
            if i == start {
                return Err(NumberError::Malformed);
            }
            if exponent_negative {
                exponent = -exponent;
            }
        }
        if i != bytes.len() {
            return Err(NumberError::Malformed);
        }

        let Some(first) = digits.first_nonzero else {
            return Ok(Number::ZERO);
        };
        // The digit at scan position k stands for 10^(integer_len - 1 - k + exponent).
        let power_of = |position: u64| integer_len as i64 - 1 - position as i64 + exponent;
        let adjusted = power_of(first);
        if adjusted > MAX_ADJUSTED {
            return Err(NumberError::Overflow);
        }
        if adjusted < MIN_ADJUSTED {
            return Err(NumberError::Underflow);
        }
        if digits.last_nonzero - first >= u64::from(MAX_DIGITS) {
            return Err(NumberError::TooManyDigits);
        }
        Ok(Number {
            negative,
            mantissa: digits.mantissa,
            // Within [-167, 125]: the range and digit checks above bound it.
            exponent: power_of(digits.last_nonzero) as i32,
        })
    }

    /// Builds `(-1)^negative * mantissa * 10^exponent`, normalising it and applying
    /// DynamoDB's range and precision limits.
    pub fn from_parts(
        negative: bool,
        mantissa: u128,
        exponent: i32,
    ) -> Result<Number, NumberError> {
        Self::normalise(negative, mantissa, i64::from(exponent))
    }

    pub fn from_i64(value: i64) -> Number {
        if value == 0 {
            return Number::ZERO;
        }
        let (mantissa, zeros) = strip_trailing_zeros(u128::from(value.unsigned_abs()));
        Number {
            negative: value < 0,
            mantissa,
            exponent: zeros as i32,
        }
    }

    /// The value as an i64 when it is an integer in i64's range (e.g. a TTL epoch).
    pub fn to_i64_exact(&self) -> Option<i64> {
        // Normalised, so a negative exponent always means a non-zero fractional part.
        let scale = POW10.get(usize::try_from(self.exponent).ok()?)?;
        let magnitude = i128::try_from(self.mantissa.checked_mul(*scale)?).ok()?;
        i64::try_from(if self.negative { -magnitude } else { magnitude }).ok()
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The exact sum. DynamoDB never rounds: a sum needing more than 38 significant
    /// digits is rejected, and DynamoDB reports that with its overflow message
    /// (observed for `1e50 + 1`), so this returns `Overflow` for it too.
    pub fn checked_add(self, other: Number) -> Result<Number, NumberError> {
        if other.is_zero() {
            return Ok(self);
        }
        if self.is_zero() {
            return Ok(other);
        }
        let (high, low) = if self.exponent >= other.exponent {
            (self, other)
        } else {
            (other, self)
        };
        let shift = usize::try_from(high.exponent - low.exponent).unwrap_or(usize::MAX);
        // If the aligned mantissa does not fit in a u128 (> 3.4E38), the exact result
        // is at least 3.4E38 - 1E38 units of low's last digit, whose lowest digit is
        // low's non-zero last digit: more than 38 digits, so it cannot be stored.
        let scaled = POW10
            .get(shift)
            .and_then(|scale| high.mantissa.checked_mul(*scale))
            .ok_or(NumberError::Overflow)?;
        let (negative, magnitude) = if high.negative == low.negative {
            let sum = scaled
                .checked_add(low.mantissa)
                .ok_or(NumberError::Overflow)?;
            (high.negative, sum)
        } else if scaled >= low.mantissa {
            (high.negative, scaled - low.mantissa)
        } else {
            (low.negative, low.mantissa - scaled)
        };
        Self::normalise(negative, magnitude, i64::from(low.exponent)).map_err(|err| match err {
            NumberError::TooManyDigits => NumberError::Overflow,
            other => other,
        })
    }

    /// The exact difference; errors as [`Number::checked_add`].
    pub fn checked_sub(self, other: Number) -> Result<Number, NumberError> {
        self.checked_add(-other)
    }

    /// DynamoDB's storage size of this number, in bytes.
    ///
    /// DynamoDB stores a number as base-100 digits aligned on the decimal point
    /// (leading and trailing all-zero pairs dropped), plus one exponent byte, plus one
    /// more byte for a negative number; zero takes one byte. So `1`, `12` and `100`
    /// cost 2, `123` and `1.5` cost 3, `0.15` costs 2, `-42` costs 3. This is the rule
    /// dynalite uses (`1 + ceil(n/2) + …` in its `valSize`) and it matches capacity
    /// and 400KB-limit measurements against DynamoDB; the developer guide's "1 byte per
    /// two significant digits, plus 1" is its approximation.
    pub fn size_in_bytes(&self) -> usize {
        if self.is_zero() {
            return 1;
        }
        let lowest = i64::from(self.exponent);
        let highest = lowest + digit_count(self.mantissa) - 1;
        let pairs = highest.div_euclid(2) - lowest.div_euclid(2) + 1;
        1 + pairs as usize + usize::from(self.negative)
    }

    /// Appends an encoding whose memcmp order is numeric order and which is
    /// self-delimiting (no encoding is a prefix of another's).
    ///
    /// Layout: a class byte (negative < zero < positive); for non-zero numbers the
    /// leading digit's power of ten biased by 130 (one byte: the range is exactly 256
    /// powers), then the digits two per byte as `1 + pair` (1..=100, the last pair
    /// zero-padded), then a 0 terminator. The terminator sorts below every pair, so a
    /// shorter digit string (= trailing zeros) sorts first. Negative numbers
    /// complement every byte after the class byte, reversing the magnitude order.
    pub fn encode_sortable(&self, out: &mut Vec<u8>) {
        if self.is_zero() {
            out.push(SORT_ZERO);
            return;
        }
        let mut buf = [0u8; MAX_DIGITS as usize];
        let digits = decimal_digits(self.mantissa, &mut buf);
        let adjusted = i64::from(self.exponent) + digits.len() as i64 - 1;
        let (class, flip) = if self.negative {
            (SORT_NEGATIVE, 0xFF)
        } else {
            (SORT_POSITIVE, 0x00)
        };
        out.reserve(3 + digits.len().div_ceil(2));
        out.push(class);
        out.push((adjusted - MIN_ADJUSTED) as u8 ^ flip);
        for pair in digits.chunks(2) {
            let low = pair.get(1).copied().unwrap_or(0);
            out.push((1 + pair[0] * 10 + low) ^ flip);
        }
        out.push(flip);
    }

    /// Reads one [`Number::encode_sortable`] encoding from the front of `bytes`,
    /// returning it and how many bytes it took.
    pub fn decode_sortable(bytes: &[u8]) -> Result<(Number, usize), NumberError> {
        let flip = match bytes.first() {
            Some(&SORT_ZERO) => return Ok((Number::ZERO, 1)),
            Some(&SORT_NEGATIVE) => 0xFF,
            Some(&SORT_POSITIVE) => 0x00,
            _ => return Err(NumberError::Corrupt),
        };
        let adjusted = i64::from(*bytes.get(1).ok_or(NumberError::Corrupt)? ^ flip) + MIN_ADJUSTED;
        let mut mantissa: u128 = 0;
        let mut digits: i64 = 0;
        let mut last_pair = 0u8;
        let mut at = 2;
        loop {
            let byte = *bytes.get(at).ok_or(NumberError::Corrupt)? ^ flip;
            at += 1;
            if byte == 0 {
                break;
            }
            if byte > 100 || digits >= i64::from(MAX_DIGITS) || (digits == 0 && byte <= 10) {
                // Not a pair, too many pairs, or a leading zero digit.
                return Err(NumberError::Corrupt);
            }
            last_pair = byte - 1;
            mantissa = mantissa * 100 + u128::from(last_pair);
            digits += 2;
        }
        if digits == 0 || last_pair == 0 {
            return Err(NumberError::Corrupt);
        }
        if last_pair.is_multiple_of(10) {
            // Padding of an odd-length digit string.
            mantissa /= 10;
            digits -= 1;
        }
        let number = Number {
            negative: flip == 0xFF,
            mantissa,
            exponent: (adjusted - digits + 1) as i32,
        };
        Ok((number, at))
    }

    /// Appends a compact (not order-preserving) encoding for stored items: a varint
    /// of `zigzag(exponent) << 1 | negative`, then the mantissa as a varint. Integers
    /// below 128 and short decimals take two bytes.
    pub fn encode_compact(&self, out: &mut Vec<u8>) {
        let exponent = i64::from(self.exponent);
        let zigzag = u128::from(((exponent << 1) ^ (exponent >> 63)) as u64);
        write_varint(out, (zigzag << 1) | u128::from(self.negative));
        write_varint(out, self.mantissa);
    }

    /// Reads one [`Number::encode_compact`] encoding from the front of `bytes`,
    /// returning it and how many bytes it took.
    pub fn decode_compact(bytes: &[u8]) -> Result<(Number, usize), NumberError> {
        let (header, header_len) = read_varint(bytes).ok_or(NumberError::Corrupt)?;
        let (mantissa, mantissa_len) =
            read_varint(&bytes[header_len..]).ok_or(NumberError::Corrupt)?;
        let negative = header & 1 == 1;
        let zigzag = header >> 1;
        let magnitude = i64::try_from(zigzag >> 1).map_err(|_| NumberError::Corrupt)?;
        let exponent = if zigzag & 1 == 1 {
            -magnitude - 1
        } else {
            magnitude
        };
        let exponent = i32::try_from(exponent).map_err(|_| NumberError::Corrupt)?;
        let number = Number {
            negative,
            mantissa,
            exponent,
        };
        // Only canonical numbers are ever written, so anything else is corruption.
        match Number::from_parts(negative, mantissa, exponent) {
            Ok(canonical) if canonical == number => Ok((number, header_len + mantissa_len)),
            _ => Err(NumberError::Corrupt),
        }
    }

    fn normalise(negative: bool, mantissa: u128, exponent: i64) -> Result<Number, NumberError> {
        if mantissa == 0 {
            return Ok(Number::ZERO);
        }
        let (mantissa, zeros) = strip_trailing_zeros(mantissa);
        let exponent = exponent + i64::from(zeros);
        let digits = digit_count(mantissa);
        let adjusted = exponent + digits - 1;
        if adjusted > MAX_ADJUSTED {
            return Err(NumberError::Overflow);
        }
        if adjusted < MIN_ADJUSTED {
            return Err(NumberError::Underflow);
        }
        if digits > i64::from(MAX_DIGITS) {
            return Err(NumberError::TooManyDigits);
        }
        Ok(Number {
            negative,
            mantissa,
            exponent: exponent as i32,
        })
    }

    fn signum(&self) -> i8 {
        match (self.is_zero(), self.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        }
    }
}

/// Tracks the significant digits of a decimal digit string in one pass.
#[derive(Default)]
struct DigitScan {
    /// Digits from the first to the last non-zero one, while there are at most 38.
    mantissa: u128,
    /// Digits seen so far (integer and fraction).
    seen: u64,
    first_nonzero: Option<u64>,
    last_nonzero: u64,
}

impl DigitScan {
    fn push(&mut self, digit: u8) {
        let position = self.seen;
        self.seen += 1;
        if digit == 0 {
            // Zeros count only once a later non-zero digit shows they are not trailing.
            return;
        }
        match self.first_nonzero {
            None => {
                self.first_nonzero = Some(position);
                self.mantissa = u128::from(digit);
            }
            Some(first) => {
                if position - first < u64::from(MAX_DIGITS) {
                    let gap = (position - self.last_nonzero) as usize;
                    self.mantissa = self.mantissa * POW10[gap] + u128::from(digit);
                }
            }
        }
        self.last_nonzero = position;
    }
}

fn ascii_digit(byte: u8) -> Option<u8> {
    byte.is_ascii_digit().then(|| byte - b'0')
}

/// Number of decimal digits of a non-zero value.
fn digit_count(value: u128) -> i64 {
    i64::from(value.ilog10()) + 1
}

fn strip_trailing_zeros(mut value: u128) -> (u128, u32) {
    let mut zeros = 0;
    // u64 division is far cheaper than u128's, and most numbers fit.
    if let Ok(mut small) = u64::try_from(value) {
        while small % 10 == 0 {
            small /= 10;
            zeros += 1;
        }
        return (u128::from(small), zeros);
    }
    while value.is_multiple_of(10) {
        value /= 10;
        zeros += 1;
    }
    (value, zeros)
}

/// The decimal digits (values 0..=9) of a non-zero mantissa below 10^38.
fn decimal_digits(mantissa: u128, buf: &mut [u8; MAX_DIGITS as usize]) -> &[u8] {
    let mut start = buf.len();
    // Two u64 halves of 19 digits each, so the loop divides u64s, not u128s.
    let mut low = (mantissa % TEN_POW_19) as u64;
    let mut high = (mantissa / TEN_POW_19) as u64;
    if high == 0 {
        while low != 0 {
            start -= 1;
            buf[start] = (low % 10) as u8;
            low /= 10;
        }
    } else {
        for _ in 0..19 {
            start -= 1;
            buf[start] = (low % 10) as u8;
            low /= 10;
        }
        while high != 0 {
            start -= 1;
            buf[start] = (high % 10) as u8;
            high /= 10;
        }
    }
    &buf[start..]
}

fn write_varint(out: &mut Vec<u8>, mut value: u128) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn read_varint(bytes: &[u8]) -> Option<(u128, usize)> {
    let mut value: u128 = 0;
    for (index, byte) in bytes.iter().enumerate() {
        let shift = 7 * index as u32;
        let payload = u128::from(byte & 0x7F);
        if shift >= 128 || (shift > 0 && payload >> (128 - shift) != 0) {
            return None;
        }
        value |= payload << shift;
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        let by_sign = self.signum().cmp(&other.signum());
        if by_sign != Ordering::Equal || self.is_zero() {
            return by_sign;
        }
        let self_digits = digit_count(self.mantissa);
        let other_digits = digit_count(other.mantissa);
        let self_leading = i64::from(self.exponent) + self_digits;
        let other_leading = i64::from(other.exponent) + other_digits;
        let magnitude = self_leading.cmp(&other_leading).then_with(|| {
            // Same leading power: scale the shorter mantissa up to the longer's length
            // (at most 38 digits, so no overflow) and compare as integers.
            if self_digits >= other_digits {
                let scale = POW10[(self_digits - other_digits) as usize];
                self.mantissa.cmp(&(other.mantissa * scale))
            } else {
                let scale = POW10[(other_digits - self_digits) as usize];
                (self.mantissa * scale).cmp(&other.mantissa)
            }
        });
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Neg for Number {
    type Output = Number;

    fn neg(self) -> Number {
        Number {
            negative: !self.negative && !self.is_zero(),
            ..self
        }
    }
}

impl From<i64> for Number {
    fn from(value: i64) -> Number {
        Number::from_i64(value)
    }
}

impl FromStr for Number {
    type Err = NumberError;

    fn from_str(text: &str) -> Result<Number, NumberError> {
        Number::parse(text)
    }
}

impl fmt::Display for Number {
    /// DynamoDB's text form: plain notation, no exponent, no redundant zeros.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.pad("0");
        }
        let mut digit_buf = [0u8; MAX_DIGITS as usize];
        let digits = decimal_digits(self.mantissa, &mut digit_buf);
        let mut text = TextBuf::default();
        if self.negative {
            text.push(b'-');
        }
        let exponent = i64::from(self.exponent);
        let integer_digits = digits.len() as i64 + exponent;
        if exponent >= 0 {
            text.push_digits(digits);
            text.push_repeated(b'0', exponent as usize);
        } else if integer_digits > 0 {
            let (integer, fraction) = digits.split_at(integer_digits as usize);
            text.push_digits(integer);
            text.push(b'.');
            text.push_digits(fraction);
        } else {
            text.push(b'0');
            text.push(b'.');
            text.push_repeated(b'0', (-integer_digits) as usize);
            text.push_digits(digits);
        }
        f.pad(text.as_str()?)
    }
}

/// Stack buffer for `Display`, so formatting a number does not allocate.
struct TextBuf {
    bytes: [u8; DISPLAY_CAPACITY],
    len: usize,
}

impl Default for TextBuf {
    fn default() -> Self {
        TextBuf {
            bytes: [0; DISPLAY_CAPACITY],
            len: 0,
        }
    }
}

impl TextBuf {
    fn push(&mut self, byte: u8) {
        self.bytes[self.len] = byte;
        self.len += 1;
    }

    fn push_repeated(&mut self, byte: u8, count: usize) {
        self.bytes[self.len..self.len + count].fill(byte);
        self.len += count;
    }

    fn push_digits(&mut self, digits: &[u8]) {
        for digit in digits {
            self.push(b'0' + digit);
        }
    }

    fn as_str(&self) -> Result<&str, fmt::Error> {
        std::str::from_utf8(&self.bytes[..self.len]).map_err(|_| fmt::Error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(text: &str) -> Number {
        Number::parse(text).unwrap()
    }

    #[test]
    fn parses_accepted_syntax() {
        for (text, shown) in [
            ("0", "0"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("+0e5", "0"),
            ("0e1000", "0"),
            ("000.000", "0"),
            ("3", "3"),
            ("+3", "3"),
            ("-7.1234", "-7.1234"),
            ("-17e5", "-1700000"),
            ("-17.4E37", "-174000000000000000000000000000000000000"),
            (".123", "0.123"),
            ("1.", "1"),
            ("0001.23", "1.23"),
            ("01.50", "1.5"),
            ("1e3", "1000"),
            ("1e+5", "100000"),
            ("1.5E-5", "0.000015"),
            ("123.456e1", "1234.56"),
            ("123.456e-3", "0.123456"),
            ("123.456e-2", "1.23456"),
            ("1000", "1000"),
            ("-1000.000", "-1000"),
        ] {
            assert_eq!(n(text).to_string(), shown, "{text}");
        }
        assert_eq!(n("1E+100").to_string(), format!("1{}", "0".repeat(100)));
        assert_eq!(n("1E-130").to_string(), format!("0.{}1", "0".repeat(129)));
        assert_eq!(n("-0"), Number::ZERO);
        assert!(!n("-0").is_negative());
    }

    #[test]
    fn rejects_malformed_text() {
        for text in [
            "",
            ".",
            "-",
            "+",
            "e5",
            "1e",
            "1e+",
            "1e-",
            "abc",
            "Infinity",
            "-Infinity",
            "NaN",
            "0x10",
            " 1",
            "1 ",
            "1..2",
            "1.2.3",
            "--1",
            "+-1",
            "1e5.5",
            "1_000",
            "١",
            "1e٣",
            ".e1",
        ] {
            assert_eq!(Number::parse(text), Err(NumberError::Malformed), "{text:?}");
        }
    }

    #[test]
    fn enforces_range_and_precision() {
        let max = "9.9999999999999999999999999999999999999E+125";
        assert_eq!(n(max).to_string().len(), 126);
        assert!(Number::parse(&format!("-{max}")).is_ok());
        assert!(Number::parse("1E-130").is_ok());
        assert!(Number::parse("-1E-130").is_ok());
        assert!(Number::parse("10E-131").is_ok());
        assert_eq!(Number::parse("1E126"), Err(NumberError::Overflow));
        assert_eq!(Number::parse("-11e125"), Err(NumberError::Overflow));
        assert_eq!(
            Number::parse("1e99999999999999999999999"),
            Err(NumberError::Overflow)
        );
        assert_eq!(Number::parse("1E-131"), Err(NumberError::Underflow));
        assert_eq!(Number::parse("0.9e-130"), Err(NumberError::Underflow));
        assert_eq!(
            Number::parse("1e-99999999999999999999999"),
            Err(NumberError::Underflow)
        );
        assert_eq!(
            Number::parse("123456789012345678901234567890123456789"),
            Err(NumberError::TooManyDigits)
        );
        assert_eq!(
            Number::parse("-1.23456789012345678901234567890123456789"),
            Err(NumberError::TooManyDigits)
        );
        // Range is checked before precision.
        assert_eq!(
            Number::parse("123456789012345678901234567890123456789e125"),
            Err(NumberError::Overflow)
        );
        // Leading and trailing zeros are not significant.
        assert!(Number::parse("3.1415926535897932384626433832795028841").is_ok());
        assert!(Number::parse("31415926535897932384626433832795028841e30").is_ok());
        assert!(Number::parse(&format!("000{}1{}", "0".repeat(60), "0".repeat(60))).is_ok());
        assert!(Number::parse(&format!("0.{}1{}", "0".repeat(100), "0".repeat(500))).is_ok());
        assert!(Number::parse(&format!("1{}1", "0".repeat(36))).is_ok());
        assert_eq!(
            Number::parse(&format!("1{}1", "0".repeat(37))),
            Err(NumberError::TooManyDigits)
        );
    }

    #[test]
    fn from_parts_normalises() {
        assert_eq!(Number::from_parts(false, 1500, -3).unwrap(), n("1.5"));
        assert_eq!(Number::from_parts(true, 0, 77).unwrap(), Number::ZERO);
        assert_eq!(
            Number::from_parts(false, u128::MAX, 0),
            Err(NumberError::TooManyDigits)
        );
        assert_eq!(
            Number::from_parts(false, 10, 125),
            Err(NumberError::Overflow)
        );
        assert_eq!(
            Number::from_parts(false, 1, -131),
            Err(NumberError::Underflow)
        );
    }

    #[test]
    fn integer_conversions() {
        for value in [0, 1, -1, 10, -100, 1_700_000_000, i64::MAX, i64::MIN] {
            let number = Number::from_i64(value);
            assert_eq!(number.to_string(), value.to_string());
            assert_eq!(number.to_i64_exact(), Some(value));
            assert_eq!(n(&value.to_string()), number);
        }
        assert_eq!(n("1.5").to_i64_exact(), None);
        assert_eq!(n("9223372036854775808").to_i64_exact(), None);
        assert_eq!(n("-9223372036854775809").to_i64_exact(), None);
        assert_eq!(n("1e100").to_i64_exact(), None);
        assert_eq!(n("1.7e9").to_i64_exact(), Some(1_700_000_000));
    }

    #[test]
    fn arithmetic_is_exact_or_rejected() {
        let add = |a: &str, b: &str| n(a).checked_add(n(b));
        let sub = |a: &str, b: &str| n(a).checked_sub(n(b));
        assert_eq!(
            add("1", "10000000000000000000000"),
            Ok(n("10000000000000000000001"))
        );
        assert_eq!(
            sub("10000000000000000000000", "1"),
            Ok(n("9999999999999999999999"))
        );
        assert_eq!(add("0.1", "0.2"), Ok(n("0.3")));
        assert_eq!(add("1.5", "-1.5"), Ok(Number::ZERO));
        assert_eq!(sub("-2", "-2"), Ok(Number::ZERO));
        assert_eq!(add("9e125", "9e125"), Err(NumberError::Overflow));
        assert_eq!(sub("9e125", "-9e125"), Err(NumberError::Overflow));
        assert_eq!(add("1e50", "1"), Err(NumberError::Overflow));
        assert_eq!(sub("1e50", "1"), Err(NumberError::Overflow));
        assert_eq!(add("1e125", "1e-130"), Err(NumberError::Overflow));
        assert_eq!(
            add("9.9999999999999999999999999999999999999E+125", "1E+125"),
            Err(NumberError::Overflow)
        );
        assert_eq!(
            sub("1.0000000000000000000000000000000000001E-130", "1E-130"),
            Err(NumberError::Underflow)
        );
        assert_eq!(
            add("99999999999999999999999999999999999999", "1"),
            Ok(n("1e38"))
        );
        assert_eq!(
            add("99999999999999999999999999999999999999", "2"),
            Err(NumberError::Overflow)
        );
    }

    #[test]
    fn storage_size_follows_base_100_pairs() {
        for (text, size) in [
            ("0", 1),
            ("-0", 1),
            ("1", 2),
            ("12", 2),
            ("123", 3),
            ("1234", 3),
            ("12345678901234567890123456789012345678", 20),
            ("0042", 2),
            ("100", 2),
            ("1010", 3),
            ("0.0000001", 2),
            ("1E125", 2),
            ("1E-100", 2),
            ("1.5", 3),
            ("15", 2),
            ("1.200", 3),
            ("1.234", 4),
            ("3.14159", 5),
            ("123456", 4),
            ("100.5", 4),
            ("0.15", 2),
            ("-42", 3),
            ("-1.5", 4),
        ] {
            assert_eq!(n(text).size_in_bytes(), size, "{text}");
        }
    }

    #[test]
    fn sortable_encoding_examples() {
        let ordered = [
            "-9.9999999999999999999999999999999999999E+125",
            "-1e100",
            "-100",
            "-99.1",
            "-10",
            "-9.91",
            "-1",
            "-0.5",
            "-1E-130",
            "0",
            "1E-130",
            "0.5",
            "1",
            "1.0000000000000000000000000000000000001",
            "1.05",
            "1.5",
            "2",
            "10",
            "10.5",
            "11",
            "100",
            "1e100",
            "9.9999999999999999999999999999999999999E+125",
        ];
        let encoded: Vec<Vec<u8>> = ordered
            .iter()
            .map(|text| {
                let mut out = Vec::new();
                n(text).encode_sortable(&mut out);
                out
            })
            .collect();
        for window in encoded.windows(2) {
            assert!(window[0] < window[1], "{window:?}");
        }
        for (text, bytes) in ordered.iter().zip(&encoded) {
            assert_eq!(Number::decode_sortable(bytes), Ok((n(text), bytes.len())));
            assert!(bytes.len() <= 22);
        }
    }

    #[test]
    fn decoders_reject_garbage() {
        for bytes in [
            &[][..],
            &[0x00],
            &[0x04],
            &[SORT_POSITIVE],
            &[SORT_POSITIVE, 130],
            &[SORT_POSITIVE, 130, 0],
            &[SORT_POSITIVE, 130, 5, 0],
            &[SORT_POSITIVE, 130, 11, 1, 0],
            &[SORT_POSITIVE, 130, 101, 0],
            &[SORT_NEGATIVE, 130, 0xFF],
        ] {
            assert_eq!(
                Number::decode_sortable(bytes),
                Err(NumberError::Corrupt),
                "{bytes:?}"
            );
        }
        let mut too_long = vec![SORT_POSITIVE, 130];
        too_long.extend([12; 20]);
        too_long.push(0);
        assert_eq!(
            Number::decode_sortable(&too_long),
            Err(NumberError::Corrupt)
        );

        for bytes in [&[][..], &[0x80], &[0, 10], &[2, 0], &[1, 0], &[0xFF; 30]] {
            assert_eq!(
                Number::decode_compact(bytes),
                Err(NumberError::Corrupt),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn compact_encoding_is_small() {
        for (text, len) in [
            ("0", 2),
            ("42", 2),
            ("-1.5", 2),
            ("1700000000", 2),
            ("1700000001", 6),
            ("1e100", 3),
        ] {
            let mut out = Vec::new();
            n(text).encode_compact(&mut out);
            assert_eq!(out.len(), len, "{text}");
            assert_eq!(Number::decode_compact(&out), Ok((n(text), len)));
        }
    }

    // ---- property tests ----

    /// Any valid number: random digit count, leading power anywhere in range.
    fn any_number() -> impl Strategy<Value = Number> {
        (
            any::<bool>(),
            1u32..=38,
            any::<u128>(),
            MIN_ADJUSTED..=MAX_ADJUSTED,
        )
            .prop_map(|(negative, digits, seed, adjusted)| {
                let low = POW10[digits as usize - 1];
                let mantissa = low + seed % (POW10[digits as usize] - low);
                let exponent = adjusted - i64::from(digits) + 1;
                Number::from_parts(negative, mantissa, exponent as i32).unwrap()
            })
    }

    /// Numbers crowded into a few powers, so equal leading powers and shared digit
    /// prefixes (the hard cases for ordering) are common.
    fn crowded_number() -> impl Strategy<Value = Number> {
        (any::<bool>(), 0u128..100_000, -4i32..=2).prop_map(|(negative, mantissa, exponent)| {
            Number::from_parts(negative, mantissa, exponent).unwrap()
        })
    }

    fn number() -> impl Strategy<Value = Number> {
        prop_oneof![any_number(), crowded_number()]
    }

    /// Reference magnitude: digits at fixed powers 129 down to -170, most significant first.
    const REF_LOW: i64 = -170;
    const REF_LEN: usize = 300;

    fn reference_digits(number: Number) -> Vec<u8> {
        let mut digits = vec![0u8; REF_LEN];
        let mut mantissa = number.mantissa;
        let mut power = i64::from(number.exponent);
        while mantissa != 0 {
            digits[REF_LEN - 1 - (power - REF_LOW) as usize] = (mantissa % 10) as u8;
            mantissa /= 10;
            power += 1;
        }
        digits
    }

    fn reference_cmp(a: Number, b: Number) -> Ordering {
        let sign = |x: Number| {
            if x.is_zero() {
                0
            } else if x.negative {
                -1
            } else {
                1
            }
        };
        match sign(a).cmp(&sign(b)) {
            Ordering::Equal => {
                let magnitude = reference_digits(a).cmp(&reference_digits(b));
                if a.negative {
                    magnitude.reverse()
                } else {
                    magnitude
                }
            }
            other => other,
        }
    }

    /// Exact signed sum on the reference digits, then rendered as text and parsed,
    /// so the expected error comes from `parse` (with inexact meaning overflow).
    fn reference_add(a: Number, b: Number) -> Result<Number, NumberError> {
        let (da, db) = (reference_digits(a), reference_digits(b));
        let (magnitude, negative) = if a.negative == b.negative {
            (reference_combine(&da, &db, 1), a.negative)
        } else if da >= db {
            (reference_combine(&da, &db, -1), a.negative)
        } else {
            (reference_combine(&db, &da, -1), b.negative)
        };
        let digits: String = magnitude.iter().map(|d| char::from(b'0' + d)).collect();
        let text = format!("{}{digits}E{REF_LOW}", if negative { "-" } else { "" });
        Number::parse(&text).map_err(|err| match err {
            NumberError::TooManyDigits => NumberError::Overflow,
            other => other,
        })
    }

    /// `big + sign * small` digit by digit (`big >= small` when subtracting), with
    /// one extra leading digit for the carry.
    fn reference_combine(big: &[u8], small: &[u8], sign: i16) -> Vec<u8> {
        let mut result = vec![0u8; REF_LEN + 1];
        let mut carry: i16 = 0;
        for i in (0..REF_LEN).rev() {
            let value = i16::from(big[i]) + sign * i16::from(small[i]) + carry;
            carry = value.div_euclid(10);
            result[i + 1] = value.rem_euclid(10) as u8;
        }
        result[0] = carry as u8;
        result
    }

    fn sortable(number: Number) -> Vec<u8> {
        let mut out = Vec::new();
        number.encode_sortable(&mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn display_parse_round_trip(x in number()) {
            let text = x.to_string();
            prop_assert_eq!(Number::parse(&text), Ok(x));
            prop_assert!(!text.contains(['e', 'E']));
        }

        #[test]
        fn reformatted_text_parses_to_same_number(
            x in number(),
            leading in 0usize..4,
            trailing in 0usize..4,
            point_from_right in 0usize..8,
            upper in any::<bool>(),
            plus in any::<bool>(),
        ) {
            // x = digits * 10^exponent, written as <zeros><digits><zeros> with the
            // point moved left and the exponent compensating.
            let mut buf = [0u8; 38];
            let digits: String = if x.is_zero() {
                "0".to_string()
            } else {
                decimal_digits(x.mantissa, &mut buf).iter().map(|d| char::from(b'0' + d)).collect()
            };
            let body = format!("{}{digits}{}", "0".repeat(leading), "0".repeat(trailing));
            let fraction_len = point_from_right.min(body.len());
            let (integer, fraction) = body.split_at(body.len() - fraction_len);
            let exponent = i64::from(x.exponent) - trailing as i64 + fraction_len as i64;
            let sign = if x.negative { "-" } else if plus { "+" } else { "" };
            let marker = if upper { 'E' } else { 'e' };
            let text = format!("{sign}{integer}.{fraction}{marker}{exponent}");
            prop_assert_eq!(Number::parse(&text), Ok(x), "{}", text);
        }

        #[test]
        fn ord_matches_reference(a in number(), b in number()) {
            prop_assert_eq!(a.cmp(&b), reference_cmp(a, b));
            prop_assert_eq!(a == b, reference_cmp(a, b) == Ordering::Equal);
        }

        #[test]
        fn sortable_order_is_numeric_order(a in number(), b in number()) {
            prop_assert_eq!(sortable(a).cmp(&sortable(b)), a.cmp(&b));
        }

        #[test]
        fn sortable_is_self_delimiting(a in number(), b in number(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let encoded = sortable(a);
            let mut with_tail = encoded.clone();
            with_tail.extend(&tail);
            prop_assert_eq!(Number::decode_sortable(&with_tail), Ok((a, encoded.len())));
            let other = sortable(b);
            if a != b {
                prop_assert!(!other.starts_with(&encoded));
            }
        }

        #[test]
        fn compact_round_trip(x in number(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut out = Vec::new();
            x.encode_compact(&mut out);
            let len = out.len();
            out.extend(&tail);
            prop_assert_eq!(Number::decode_compact(&out), Ok((x, len)));
            prop_assert!(len <= 21);
        }

        #[test]
        fn add_sub_match_reference(a in number(), b in number()) {
            prop_assert_eq!(a.checked_add(b), reference_add(a, b));
            prop_assert_eq!(a.checked_sub(b), reference_add(a, -b));
            prop_assert_eq!(a.checked_add(b), b.checked_add(a));
        }

        #[test]
        fn add_sub_match_i128(a in any::<i64>(), b in any::<i64>(), scale_a in 0u32..12, scale_b in 0u32..12) {
            // a * 10^-scale_a + b * 10^-scale_b, exactly, at a common scale of 10^-12.
            let x = Number::from_parts(a < 0, u128::from(a.unsigned_abs()), -(scale_a as i32)).unwrap();
            let y = Number::from_parts(b < 0, u128::from(b.unsigned_abs()), -(scale_b as i32)).unwrap();
            let common = |v: i64, scale: u32| i128::from(v) * 10i128.pow(12 - scale);
            let expected = |sum: i128| Number::from_parts(sum < 0, sum.unsigned_abs(), -12).unwrap();
            prop_assert_eq!(x.checked_add(y), Ok(expected(common(a, scale_a) + common(b, scale_b))));
            prop_assert_eq!(x.checked_sub(y), Ok(expected(common(a, scale_a) - common(b, scale_b))));
        }

        #[test]
        fn i64_round_trip(value in any::<i64>()) {
            let number = Number::from_i64(value);
            prop_assert_eq!(number.to_i64_exact(), Some(value));
            prop_assert_eq!(number.to_string(), value.to_string());
        }

        #[test]
        fn size_matches_dynalite_formula(x in number()) {
            // dynalite: 1 + ceil(n/2) + (n and the leading power both even ? 1 : 0) + negative.
            let expected = if x.is_zero() {
                1
            } else {
                let digits = digit_count(x.mantissa);
                let leading = i64::from(x.exponent) + digits - 1;
                let misaligned = digits % 2 == 0 && leading.rem_euclid(2) == 0;
                1 + (digits as usize).div_ceil(2) + usize::from(misaligned) + usize::from(x.negative)
            };
            prop_assert_eq!(x.size_in_bytes(), expected);
        }
    }
}
