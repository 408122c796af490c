//! DynamoDB's exact decimal number type (`N`).
//!
//! Owns: parsing number strings the way DynamoDB accepts them, the normalized output form,
//! exact numeric ordering, and exact addition/subtraction with DynamoDB's limits (38
//! significant digits, magnitude between 1E-130 and 9.9999999999999999999999999999999999999E+125,
//! see <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html#HowItWorks.DataTypes.Number>).
//! Must not: go through floating point anywhere, or panic on any input.

use std::cmp::Ordering;
use std::fmt;

/// Most significant digits DynamoDB keeps in a number.
pub const MAX_DIGITS: usize = 38;
/// Largest scientific exponent `e` of `0.d1d2... × 10^e`: 9.99..E+125 is 0.999..E+126.
const MAX_EXP: i32 = 126;
/// Smallest scientific exponent: 1E-130 is 0.1E-129.
const MIN_EXP: i32 = -129;

/// An exact DynamoDB number, always normalized.
///
/// The value is `(-1)^negative × 0.d1d2d3… × 10^exp`, where `digits` holds `d1, d2, …` as
/// values 0–9 with no leading or trailing zeros. Zero is the empty digit list with `exp == 0`
/// and `negative == false`, so every value has exactly one representation and the derived
/// equality and hash are numeric equality.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Number {
    negative: bool,
    digits: Vec<u8>,
    exp: i32,
}

/// Why a number was rejected. The display text is DynamoDB's `ValidationException` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("The parameter cannot be converted to a numeric value: {0}")]
    NotANumber(String),
    #[error("Attempting to store more than 38 significant digits in a Number")]
    TooManyDigits,
    #[error(
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )]
    Overflow,
    #[error(
        "Number underflow. Attempting to store a number with magnitude smaller than supported range"
    )]
    Underflow,
}

impl Number {
    /// Zero.
    pub fn zero() -> Number {
        Number {
            negative: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// Parses a number string as DynamoDB does.
    ///
    /// DynamoDB parses with Java's `BigDecimal` grammar: an optional sign, digits with an
    /// optional decimal point (".5" and "5." are both accepted), and an optional exponent
    /// (`e`/`E`, optional sign). Whitespace, "NaN", "Infinity", hex and the empty string are
    /// rejected. Leading and trailing zeros are not significant digits.
    pub fn parse(s: &str) -> Result<Number, NumberError> {
        let bad = || NumberError::NotANumber(s.to_string());
        let bytes = s.as_bytes();
        let mut pos = 0;
        let mut negative = false;
        match bytes.first() {
            Some(b'-') => {
                negative = true;
                pos = 1;
            }
            Some(b'+') => pos = 1,
            _ => {}
        }
        let mut all_digits: Vec<u8> = Vec::new();
        let mut point: Option<usize> = None;
        let mut saw_digit = false;
        while let Some(&c) = bytes.get(pos) {
            match c {
                b'0'..=b'9' => {
                    saw_digit = true;
                    all_digits.push(c - b'0');
                }
                b'.' if point.is_none() => point = Some(all_digits.len()),
                _ => break,
            }
            pos += 1;
        }
        if !saw_digit {
            return Err(bad());
        }
        let mut exp10: i64 = 0;
        if matches!(bytes.get(pos), Some(b'e' | b'E')) {
            pos += 1;
            let mut exp_negative = false;
            match bytes.get(pos) {
                Some(b'-') => {
                    exp_negative = true;
                    pos += 1;
                }
                Some(b'+') => pos += 1,
                _ => {}
            }
            let start = pos;
            while let Some(&c) = bytes.get(pos) {
                if !c.is_ascii_digit() {
                    break;
                }
                // Saturate: anything this large is out of range anyway.
                exp10 = exp10.saturating_mul(10).saturating_add(i64::from(c - b'0'));
                pos += 1;
            }
            if pos == start {
                return Err(bad());
            }
            if exp_negative {
                exp10 = -exp10;
            }
        }
        if pos != bytes.len() {
            return Err(bad());
        }
        // Value = 0.all_digits × 10^(integer digit count + exp10).
        let int_len = point.unwrap_or(all_digits.len());
        let sci_exp = i64::try_from(int_len)
            .unwrap_or(i64::MAX)
            .saturating_add(exp10);
        Number::from_raw(negative, all_digits, sci_exp)
    }

    /// Builds a normalized number from `0.digits × 10^exp`, stripping zeros and checking
    /// DynamoDB's limits.
    fn from_raw(negative: bool, mut digits: Vec<u8>, exp: i64) -> Result<Number, NumberError> {
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        let exp = exp.saturating_sub(i64::try_from(leading).unwrap_or(i64::MAX));
        if digits.len() > MAX_DIGITS {
            return Err(NumberError::TooManyDigits);
        }
        if exp > i64::from(MAX_EXP) {
            return Err(NumberError::Overflow);
        }
        if exp < i64::from(MIN_EXP) {
            return Err(NumberError::Underflow);
        }
        Ok(Number {
            negative,
            digits,
            exp: i32::try_from(exp).map_err(|_| NumberError::Overflow)?,
        })
    }

    /// Rebuilds a number from its parts (storage and key decoding), rejecting anything that
    /// is not already normalized so decoded garbage cannot create a second representation.
    pub(crate) fn from_parts(negative: bool, digits: Vec<u8>, exp: i32) -> Option<Number> {
        if digits.is_empty() {
            return (!negative && exp == 0).then(Number::zero);
        }
        let normalized = digits.len() <= MAX_DIGITS
            && digits.iter().all(|&d| d <= 9)
            && digits.first() != Some(&0)
            && digits.last() != Some(&0)
            && (MIN_EXP..=MAX_EXP).contains(&exp);
        normalized.then_some(Number {
            negative,
            digits,
            exp,
        })
    }

    /// Whether the number is negative (zero is not).
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// The significant digits, each 0–9, most significant first; empty for zero.
    pub fn digits(&self) -> &[u8] {
        &self.digits
    }

    /// The scientific exponent: the value's magnitude is `0.digits × 10^exponent`.
    pub fn exponent(&self) -> i32 {
        self.exp
    }

    /// Whether this is zero.
    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Exact sum, or DynamoDB's error when the result does not fit.
    pub fn checked_add(&self, other: &Number) -> Result<Number, NumberError> {
        if other.is_zero() {
            return Ok(self.clone());
        }
        if self.is_zero() {
            return Ok(other.clone());
        }
        // Lay both magnitudes out as integers in units of 10^low, least significant first.
        let low = (self.exp - len_i32(&self.digits)).min(other.exp - len_i32(&other.digits));
        let a = self.units(low);
        let b = other.units(low);
        let (negative, magnitude) = if self.negative == other.negative {
            (self.negative, add_units(&a, &b))
        } else {
            match cmp_units(&a, &b) {
                Ordering::Equal => return Ok(Number::zero()),
                Ordering::Greater => (self.negative, sub_units(&a, &b)),
                Ordering::Less => (other.negative, sub_units(&b, &a)),
            }
        };
        // `magnitude` is little-endian; turn it into 0.d1d2… × 10^exp.
        let len = magnitude.len();
        let mut digits: Vec<u8> = magnitude.into_iter().rev().collect();
        let exp = i64::from(low) + i64::try_from(len).unwrap_or(0);
        if digits.len() > MAX_DIGITS {
            // Trailing zeros are not significant; strip them before judging precision.
            while digits.last() == Some(&0) {
                digits.pop();
            }
        }
        Number::from_raw(negative, digits, exp)
    }

    /// Exact difference, or DynamoDB's error when the result does not fit.
    pub fn checked_sub(&self, other: &Number) -> Result<Number, NumberError> {
        self.checked_add(&other.negated())
    }

    /// The number with its sign flipped (zero stays zero).
    pub fn negated(&self) -> Number {
        Number {
            negative: !self.negative && !self.is_zero(),
            digits: self.digits.clone(),
            exp: self.exp,
        }
    }

    /// The magnitude as little-endian decimal digits in units of `10^low`.
    fn units(&self, low: i32) -> Vec<u8> {
        let zeros = usize::try_from(self.exp - len_i32(&self.digits) - low).unwrap_or(0);
        let mut out = vec![0u8; zeros];
        out.extend(self.digits.iter().rev());
        out
    }

    fn cmp_magnitude(&self, other: &Number) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            // Normalized: a larger exponent is a larger magnitude; equal exponents compare
            // digit-wise, where a proper prefix is the smaller number.
            (false, false) => self
                .exp
                .cmp(&other.exp)
                .then_with(|| self.digits.cmp(&other.digits)),
        }
    }
}

fn len_i32(digits: &[u8]) -> i32 {
    i32::try_from(digits.len()).unwrap_or(i32::MAX)
}

fn add_units(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0u8;
    for i in 0..a.len().max(b.len()) {
        let s = a.get(i).copied().unwrap_or(0) + b.get(i).copied().unwrap_or(0) + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    trim_high_zeros(out)
}

/// `a - b` for `a >= b`, little-endian.
fn sub_units(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0i8;
    for i in 0..a.len() {
        let mut d =
            a.get(i).copied().unwrap_or(0) as i8 - b.get(i).copied().unwrap_or(0) as i8 - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(d.unsigned_abs());
    }
    trim_high_zeros(out)
}

fn trim_high_zeros(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn cmp_units(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (trim_slice(a), trim_slice(b));
    a.len()
        .cmp(&b.len())
        .then_with(|| a.iter().rev().cmp(b.iter().rev()))
}

fn trim_slice(v: &[u8]) -> &[u8] {
    let end = v.iter().rposition(|&d| d != 0).map_or(0, |p| p + 1);
    v.get(..end).unwrap_or(&[])
}

impl Ord for Number {
    fn cmp(&self, other: &Number) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl From<i64> for Number {
    fn from(v: i64) -> Number {
        let digits: Vec<u8> = v
            .unsigned_abs()
            .to_string()
            .bytes()
            .map(|b| b - b'0')
            .collect();
        let exp = i64::try_from(digits.len()).unwrap_or(0);
        // An i64 has at most 19 digits, far inside every limit.
        Number::from_raw(v < 0, digits, exp).unwrap_or_else(|_| Number::zero())
    }
}

impl From<usize> for Number {
    fn from(v: usize) -> Number {
        let digits: Vec<u8> = v.to_string().bytes().map(|b| b - b'0').collect();
        let exp = i64::try_from(digits.len()).unwrap_or(0);
        Number::from_raw(false, digits, exp).unwrap_or_else(|_| Number::zero())
    }
}

impl std::str::FromStr for Number {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Number, NumberError> {
        Number::parse(s)
    }
}

/// DynamoDB's output form: plain decimal notation without exponent, no trailing zeros after
/// the point, no leading zeros before it except a single "0" ("0.001", "100", "-12.5").
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_zero() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 140);
        if self.negative {
            s.push('-');
        }
        let digit = |d: u8| char::from(b'0' + d);
        if self.exp <= 0 {
            s.push_str("0.");
            for _ in 0..self.exp.unsigned_abs() {
                s.push('0');
            }
            s.extend(self.digits.iter().map(|&d| digit(d)));
        } else {
            let int_len = usize::try_from(self.exp).unwrap_or(0);
            for i in 0..int_len.max(self.digits.len()) {
                if i == int_len {
                    s.push('.');
                }
                s.push(digit(self.digits.get(i).copied().unwrap_or(0)));
            }
        }
        f.write_str(&s)
    }
}
