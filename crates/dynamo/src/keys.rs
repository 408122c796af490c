//! Order-preserving, self-delimiting byte encoding of key attribute values (S, N, B).
//!
//! Owns: turning a key attribute into bytes whose bytewise order is DynamoDB's key order
//! (S by UTF-8 bytes, B by bytes, N numerically), and back. Concatenating the encodings of a
//! partition key and a sort key sorts by partition key and then sort key, and no encoding is a
//! prefix of another, so storage keys can be built by appending components. Must not: know
//! about tables or storage key layout beyond one component, or panic on any input.
//!
//! Strings and binaries use the FoundationDB tuple-layer trick: each 0x00 byte becomes
//! `00 FF` and the component ends with `00 01`, which sorts below any continuation.
//! Numbers are a sign class byte (negative 0x01, zero 0x02, positive 0x03), then for non-zero
//! numbers a biased exponent byte and one byte per digit (`digit + 1`) ending in 0x00. Negative
//! numbers invert exponent and digits (`10 - digit`) and end in 0xFF, so larger magnitudes sort
//! first and a shorter digit string (a smaller magnitude) sorts after its extensions.

use crate::number::Number;
use crate::value::AttributeValue;

/// Scalar key attribute types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    S,
    N,
    B,
}

impl KeyType {
    /// The type of a key attribute value, if it can be one.
    pub fn of(v: &AttributeValue) -> Option<KeyType> {
        match v {
            AttributeValue::S(_) => Some(KeyType::S),
            AttributeValue::N(_) => Some(KeyType::N),
            AttributeValue::B(_) => Some(KeyType::B),
            _ => None,
        }
    }

    /// Parses an `AttributeType` from a key schema ("S", "N" or "B").
    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "S" => Some(KeyType::S),
            "N" => Some(KeyType::N),
            "B" => Some(KeyType::B),
            _ => None,
        }
    }

    /// The `AttributeType` name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::S => "S",
            KeyType::N => "N",
            KeyType::B => "B",
        }
    }
}

/// Why a key component could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Only S, N and B values can be keys. Callers validate key types against the schema
    /// first and report DynamoDB's own message; this is the backstop.
    #[error("key attribute must be of type S, N or B, not {0}")]
    NotAKeyType(&'static str),
    #[error("encoded key is truncated or malformed")]
    Malformed,
}

const NEG: u8 = 0x01;
const ZERO: u8 = 0x02;
const POS: u8 = 0x03;
/// Added to the scientific exponent (-129..=126) to make it a byte (0..=255).
const EXP_BIAS: i32 = 129;

/// Appends the order-preserving encoding of a key attribute value to `out`.
pub fn encode_key_component(v: &AttributeValue, out: &mut Vec<u8>) -> Result<(), KeyError> {
    match v {
        AttributeValue::S(s) => encode_bytes(s.as_bytes(), out),
        AttributeValue::B(b) => encode_bytes(b, out),
        AttributeValue::N(n) => encode_number(n, out),
        other => return Err(KeyError::NotAKeyType(other.type_name())),
    }
    Ok(())
}

/// Appends the encoding of every S or B key that starts with `prefix` up to where the keys
/// differ: the escaped bytes without the terminator, so a `begins_with` on a sort key is one
/// prefix range. Other types have no prefix encoding.
pub fn encode_key_prefix(prefix: &AttributeValue, out: &mut Vec<u8>) -> Result<(), KeyError> {
    let bytes = match prefix {
        AttributeValue::S(s) => s.as_bytes(),
        AttributeValue::B(b) => b.as_slice(),
        other => return Err(KeyError::NotAKeyType(other.type_name())),
    };
    for &c in bytes {
        out.push(c);
        if c == 0 {
            out.push(0xFF);
        }
    }
    Ok(())
}

/// Decodes one component of type `kind` from the front of `input`, advancing it past the
/// component.
pub fn decode_key_component(kind: KeyType, input: &mut &[u8]) -> Result<AttributeValue, KeyError> {
    match kind {
        KeyType::S => {
            let b = decode_bytes(input)?;
            String::from_utf8(b)
                .map(AttributeValue::S)
                .map_err(|_| KeyError::Malformed)
        }
        KeyType::B => decode_bytes(input).map(AttributeValue::B),
        KeyType::N => decode_number(input).map(AttributeValue::N),
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.reserve(b.len() + 2);
    for &c in b {
        out.push(c);
        if c == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

fn decode_bytes(input: &mut &[u8]) -> Result<Vec<u8>, KeyError> {
    let mut out = Vec::new();
    let mut rest = *input;
    loop {
        let (&c, tail) = rest.split_first().ok_or(KeyError::Malformed)?;
        rest = tail;
        if c != 0 {
            out.push(c);
            continue;
        }
        let (&next, tail) = rest.split_first().ok_or(KeyError::Malformed)?;
        rest = tail;
        match next {
            0xFF => out.push(0),
            0x01 => break,
            _ => return Err(KeyError::Malformed),
        }
    }
    *input = rest;
    Ok(out)
}

fn encode_number(n: &Number, out: &mut Vec<u8>) {
    if n.is_zero() {
        out.push(ZERO);
        return;
    }
    // The exponent range is exactly 256 values, so the biased exponent is a byte.
    let exp = u8::try_from(n.exponent() + EXP_BIAS).unwrap_or(0);
    if n.is_negative() {
        out.push(NEG);
        out.push(0xFF - exp);
        out.extend(n.digits().iter().map(|&d| 10 - d));
        out.push(0xFF);
    } else {
        out.push(POS);
        out.push(exp);
        out.extend(n.digits().iter().map(|&d| d + 1));
        out.push(0x00);
    }
}

fn decode_number(input: &mut &[u8]) -> Result<Number, KeyError> {
    let (&class, mut rest) = input.split_first().ok_or(KeyError::Malformed)?;
    if class == ZERO {
        *input = rest;
        return Ok(Number::zero());
    }
    let negative = match class {
        NEG => true,
        POS => false,
        _ => return Err(KeyError::Malformed),
    };
    let (&exp_byte, tail) = rest.split_first().ok_or(KeyError::Malformed)?;
    rest = tail;
    let exp = if negative { 0xFF - exp_byte } else { exp_byte };
    let terminator = if negative { 0xFF } else { 0x00 };
    let mut digits = Vec::new();
    loop {
        let (&c, tail) = rest.split_first().ok_or(KeyError::Malformed)?;
        rest = tail;
        if c == terminator {
            break;
        }
        let d = if negative {
            10u8.checked_sub(c)
        } else {
            c.checked_sub(1)
        };
        match d {
            Some(d) if d <= 9 && c != 0 && c <= 10 => digits.push(d),
            _ => return Err(KeyError::Malformed),
        }
    }
    if digits.is_empty() {
        return Err(KeyError::Malformed);
    }
    let n = Number::from_parts(negative, digits, i32::from(exp) - EXP_BIAS)
        .ok_or(KeyError::Malformed)?;
    *input = rest;
    Ok(n)
}
