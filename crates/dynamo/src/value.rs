//! DynamoDB's data model: attribute values and items, and their JSON wire form
//! (`{"S": "..."}`, `{"N": "..."}`, `{"B": "<base64>"}`, ...).
//!
//! Owns: the `AttributeValue` type, parsing it from and writing it to the wire JSON with
//! DynamoDB's validation (empty sets, duplicate set members, bad numbers), and item size as
//! DynamoDB computes it. Must not: know about tables, keys or storage.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::number::{Number, NumberError};

/// One DynamoDB attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    M(BTreeMap<String, AttributeValue>),
    L(Vec<AttributeValue>),
    /// String set: no duplicates, never empty. Kept in insertion order as DynamoDB returns
    /// sets unordered; comparisons treat sets as sets.
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// An item: attribute name to value.
pub type Item = BTreeMap<String, AttributeValue>;

/// Deepest nesting of maps and lists DynamoDB accepts in one attribute value.
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html#limits-attributes>
pub const MAX_NESTING: usize = 32;

/// Why an attribute value or item was rejected. The display text is DynamoDB's message.
///
/// [`ValueError::Serialization`] is a malformed request body (AWS answers those with
/// `SerializationException`), [`ValueError::Corrupt`] is an internal error (a stored item that
/// does not decode); every other variant is a `ValidationException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error(
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes"
    )]
    Empty,
    #[error(
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
    )]
    MultipleTypes,
    #[error(
        "One or more parameter values were invalid: Null attribute value types must have the value of true"
    )]
    NullNotTrue,
    /// DynamoDB's message really has "An string set" and two spaces.
    #[error("One or more parameter values were invalid: An {0} set  may not be empty")]
    EmptySet(&'static str),
    #[error("One or more parameter values were invalid: Input collection {0} contains duplicates.")]
    DuplicateSetMembers(String),
    #[error(transparent)]
    Number(#[from] NumberError),
    #[error("Nesting Levels have exceeded supported limits")]
    TooDeep,
    /// An attribute name (top-level or a map key) of 64 KB or more.
    #[error(
        "1 validation error detected: Attribute name is too large, must be less than 65536 bytes"
    )]
    NameTooLong,
    #[error("{0}")]
    Serialization(String),
    #[error("stored item is corrupt: {0}")]
    Corrupt(&'static str),
}

impl ValueError {
    /// Whether AWS reports this as `SerializationException` rather than `ValidationException`.
    pub fn is_serialization(&self) -> bool {
        matches!(self, ValueError::Serialization(_))
    }

    /// Whether this is our fault (undecodable stored bytes), not the client's.
    pub fn is_internal(&self) -> bool {
        matches!(self, ValueError::Corrupt(_))
    }
}

fn wrong_json(expected: &str, got: &Value) -> ValueError {
    let kind = match got {
        Value::Null => "NULL_VALUE",
        Value::Bool(_) => "BOOLEAN_VALUE",
        Value::Number(_) => "NUMBER_VALUE",
        Value::String(_) => "STRING_VALUE",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
    };
    ValueError::Serialization(format!("{kind} can not be converted to {expected}"))
}

fn json_str<'v>(v: &'v Value, expected: &str) -> Result<&'v str, ValueError> {
    v.as_str().ok_or_else(|| wrong_json(expected, v))
}

fn json_array<'v>(v: &'v Value, expected: &str) -> Result<&'v [Value], ValueError> {
    v.as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| wrong_json(expected, v))
}

fn decode_b64(s: &str) -> Result<Vec<u8>, ValueError> {
    B64.decode(s)
        .map_err(|_| ValueError::Serialization(format!("Base64 encoded value is invalid: {s}")))
}

/// DynamoDB lists the offending input the way Java prints a list: `[a, a]`.
fn duplicates(raw: &[&str]) -> ValueError {
    ValueError::DuplicateSetMembers(format!("[{}]", raw.join(", ")))
}

impl AttributeValue {
    /// Parses the wire form (`{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}`, ...) with DynamoDB's
    /// validation.
    pub fn from_json(v: &Value) -> Result<AttributeValue, ValueError> {
        Self::from_json_at(v, 0)
    }

    fn from_json_at(v: &Value, depth: usize) -> Result<AttributeValue, ValueError> {
        let obj = v
            .as_object()
            .ok_or_else(|| wrong_json("AttributeValue", v))?;
        // SDKs may send `"S": null` for unset union members; those do not count.
        let mut set = obj.iter().filter(|(_, val)| !val.is_null());
        let (kind, val) = set.next().ok_or(ValueError::Empty)?;
        if set.next().is_some() {
            return Err(ValueError::MultipleTypes);
        }
        Ok(match kind.as_str() {
            "S" => AttributeValue::S(json_str(val, "String")?.to_string()),
            "N" => AttributeValue::N(Number::parse(json_str(val, "String")?)?),
            "B" => AttributeValue::B(decode_b64(json_str(val, "Blob")?)?),
            "BOOL" => {
                AttributeValue::Bool(val.as_bool().ok_or_else(|| wrong_json("Boolean", val))?)
            }
            "NULL" => match val.as_bool() {
                Some(true) => AttributeValue::Null,
                Some(false) => return Err(ValueError::NullNotTrue),
                None => return Err(wrong_json("Boolean", val)),
            },
            "M" | "L" if depth >= MAX_NESTING => return Err(ValueError::TooDeep),
            "M" => {
                let m = val.as_object().ok_or_else(|| wrong_json("Map", val))?;
                let mut out = BTreeMap::new();
                for (name, inner) in m {
                    check_name(name)?;
                    out.insert(name.clone(), Self::from_json_at(inner, depth + 1)?);
                }
                AttributeValue::M(out)
            }
            "L" => AttributeValue::L(
                json_array(val, "List")?
                    .iter()
                    .map(|inner| Self::from_json_at(inner, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            "SS" => {
                let raw = set_strings(val, "string")?;
                if has_duplicates(&raw) {
                    return Err(duplicates(&raw));
                }
                AttributeValue::Ss(raw.iter().map(|s| s.to_string()).collect())
            }
            "NS" => {
                let raw = set_strings(val, "number")?;
                let nums: Vec<Number> = raw
                    .iter()
                    .map(|s| Number::parse(s))
                    .collect::<Result<_, _>>()?;
                if has_duplicates(&nums) {
                    return Err(duplicates(&raw));
                }
                AttributeValue::Ns(nums)
            }
            "BS" => {
                let raw = set_strings(val, "binary")?;
                let bins: Vec<Vec<u8>> = raw
                    .iter()
                    .map(|s| decode_b64(s))
                    .collect::<Result<_, _>>()?;
                if has_duplicates(&bins) {
                    return Err(duplicates(&raw));
                }
                AttributeValue::Bs(bins)
            }
            _ => return Err(ValueError::Empty),
        })
    }

    /// The wire form of this value.
    pub fn to_json(&self) -> Value {
        let (kind, v) = match self {
            AttributeValue::S(s) => ("S", Value::String(s.clone())),
            AttributeValue::N(n) => ("N", Value::String(n.to_string())),
            AttributeValue::B(b) => ("B", Value::String(B64.encode(b))),
            AttributeValue::Bool(b) => ("BOOL", Value::Bool(*b)),
            AttributeValue::Null => ("NULL", Value::Bool(true)),
            AttributeValue::M(m) => ("M", item_to_json(m)),
            AttributeValue::L(l) => ("L", Value::Array(l.iter().map(Self::to_json).collect())),
            AttributeValue::Ss(s) => ("SS", s.iter().map(|s| Value::String(s.clone())).collect()),
            AttributeValue::Ns(n) => (
                "NS",
                n.iter().map(|n| Value::String(n.to_string())).collect(),
            ),
            AttributeValue::Bs(b) => (
                "BS",
                b.iter().map(|b| Value::String(B64.encode(b))).collect(),
            ),
        };
        let mut obj = serde_json::Map::with_capacity(1);
        obj.insert(kind.to_string(), v);
        Value::Object(obj)
    }

    /// The DynamoDB type descriptor: "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS".
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::M(_) => "M",
            AttributeValue::L(_) => "L",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }

    /// Size in bytes as DynamoDB bills and limits it
    /// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>).
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => number_size(n),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            // 3 bytes of overhead per document, plus 1 byte per element.
            AttributeValue::M(m) => {
                3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>()
            }
            AttributeValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
            AttributeValue::Ns(n) => n.iter().map(number_size).sum(),
            AttributeValue::Bs(b) => b.iter().map(Vec::len).sum(),
        }
    }

    /// Value equality as DynamoDB compares values: like the derived `==`, except that sets
    /// (at any depth) are compared as unordered collections.
    pub fn same_value(&self, other: &AttributeValue) -> bool {
        match (self, other) {
            (AttributeValue::Ss(a), AttributeValue::Ss(b)) => same_set(a, b),
            (AttributeValue::Ns(a), AttributeValue::Ns(b)) => same_set(a, b),
            (AttributeValue::Bs(a), AttributeValue::Bs(b)) => same_set(a, b),
            (AttributeValue::L(a), AttributeValue::L(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_value(y))
            }
            (AttributeValue::M(a), AttributeValue::M(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka == kb && va.same_value(vb))
            }
            _ => self == other,
        }
    }
}

fn same_set<T: Ord>(a: &[T], b: &[T]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut a: Vec<&T> = a.iter().collect();
    let mut b: Vec<&T> = b.iter().collect();
    a.sort();
    b.sort();
    a == b
}

fn has_duplicates<T: Ord>(v: &[T]) -> bool {
    let mut sorted: Vec<&T> = v.iter().collect();
    sorted.sort();
    sorted.windows(2).any(|w| matches!(w, [a, b] if a == b))
}

fn set_strings<'v>(v: &'v Value, kind: &'static str) -> Result<Vec<&'v str>, ValueError> {
    let raw = json_array(v, "Set")?
        .iter()
        .map(|m| json_str(m, "String"))
        .collect::<Result<Vec<_>, _>>()?;
    if raw.is_empty() {
        return Err(ValueError::EmptySet(kind));
    }
    Ok(raw)
}

/// "1 byte per two significant digits, plus 1 byte", per the capacity-unit page.
fn number_size(n: &Number) -> usize {
    n.digits().len().div_ceil(2) + 1
}

/// Parses an item: a JSON object of attribute name to wire-form attribute value.
pub fn item_from_json(v: &Value) -> Result<Item, ValueError> {
    let obj = v.as_object().ok_or_else(|| wrong_json("Map", v))?;
    obj.iter()
        .map(|(k, v)| {
            check_name(k)?;
            Ok((k.clone(), AttributeValue::from_json(v)?))
        })
        .collect()
}

/// Longest attribute name, in UTF-8 bytes
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html>).
pub const MAX_ATTRIBUTE_NAME_BYTES: usize = 65535;

/// Refuses an attribute name longer than [`MAX_ATTRIBUTE_NAME_BYTES`].
pub fn check_name(name: &str) -> Result<(), ValueError> {
    if name.len() > MAX_ATTRIBUTE_NAME_BYTES {
        return Err(ValueError::NameTooLong);
    }
    Ok(())
}

/// The wire form of an item.
pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// An item's size: attribute name lengths (UTF-8 bytes) plus value sizes.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

// ---- Storage encoding ----------------------------------------------------------------------
//
// Format 1: a format byte, then the item as `count, (name, value)*`. Lengths and counts are
// LEB128 varints. Each value is a tag byte and its payload; numbers are stored as their
// normalized parts (sign byte, exponent as i16 little-endian, digit count, one digit per byte)
// so decoding never re-parses text. Decoding checks every length against the remaining input
// and re-validates number normalization, so garbage is an error, not a panic or a huge
// allocation.

const FORMAT_V1: u8 = 1;
/// Decoding depth bound: deeper than anything we store, shallow enough for any stack.
const MAX_DECODE_DEPTH: usize = 128;

const TAG_S: u8 = 0;
const TAG_N: u8 = 1;
const TAG_B: u8 = 2;
const TAG_FALSE: u8 = 3;
const TAG_TRUE: u8 = 4;
const TAG_NULL: u8 = 5;
const TAG_M: u8 = 6;
const TAG_L: u8 = 7;
const TAG_SS: u8 = 8;
const TAG_NS: u8 = 9;
const TAG_BS: u8 = 10;

/// Encodes an item for storage.
pub fn encode_item(item: &Item) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + item_size(item));
    out.push(FORMAT_V1);
    encode_map(item, &mut out);
    out
}

/// Decodes bytes written by [`encode_item`].
pub fn decode_item(bytes: &[u8]) -> Result<Item, ValueError> {
    let (&format, rest) = bytes.split_first().ok_or(ValueError::Corrupt("empty"))?;
    if format != FORMAT_V1 {
        return Err(ValueError::Corrupt("unknown format byte"));
    }
    let mut r = Reader { input: rest };
    let item = r.map(0)?;
    if !r.input.is_empty() {
        return Err(ValueError::Corrupt("trailing bytes"));
    }
    Ok(item)
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len());
    out.extend_from_slice(b);
}

fn put_number(out: &mut Vec<u8>, n: &Number) {
    out.push(u8::from(n.is_negative()));
    // The exponent is within -129..=126, so it always fits an i16.
    let exp = i16::try_from(n.exponent()).unwrap_or(0);
    out.extend_from_slice(&exp.to_le_bytes());
    put_bytes(out, n.digits());
}

fn encode_map(m: &BTreeMap<String, AttributeValue>, out: &mut Vec<u8>) {
    put_varint(out, m.len());
    for (k, v) in m {
        put_bytes(out, k.as_bytes());
        encode_value(v, out);
    }
}

fn encode_value(v: &AttributeValue, out: &mut Vec<u8>) {
    match v {
        AttributeValue::S(s) => {
            out.push(TAG_S);
            put_bytes(out, s.as_bytes());
        }
        AttributeValue::N(n) => {
            out.push(TAG_N);
            put_number(out, n);
        }
        AttributeValue::B(b) => {
            out.push(TAG_B);
            put_bytes(out, b);
        }
        AttributeValue::Bool(b) => out.push(if *b { TAG_TRUE } else { TAG_FALSE }),
        AttributeValue::Null => out.push(TAG_NULL),
        AttributeValue::M(m) => {
            out.push(TAG_M);
            encode_map(m, out);
        }
        AttributeValue::L(l) => {
            out.push(TAG_L);
            put_varint(out, l.len());
            for v in l {
                encode_value(v, out);
            }
        }
        AttributeValue::Ss(s) => {
            out.push(TAG_SS);
            put_varint(out, s.len());
            for s in s {
                put_bytes(out, s.as_bytes());
            }
        }
        AttributeValue::Ns(n) => {
            out.push(TAG_NS);
            put_varint(out, n.len());
            for n in n {
                put_number(out, n);
            }
        }
        AttributeValue::Bs(b) => {
            out.push(TAG_BS);
            put_varint(out, b.len());
            for b in b {
                put_bytes(out, b);
            }
        }
    }
}

struct Reader<'a> {
    input: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, ValueError> {
        let (&b, rest) = self
            .input
            .split_first()
            .ok_or(ValueError::Corrupt("truncated"))?;
        self.input = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<usize, ValueError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return usize::try_from(v).map_err(|_| ValueError::Corrupt("length too large"));
            }
        }
        Err(ValueError::Corrupt("varint too long"))
    }

    /// A count of things that each take at least one byte: bounded by the remaining input,
    /// so a garbage count cannot trigger a huge allocation.
    fn count(&mut self) -> Result<usize, ValueError> {
        let n = self.varint()?;
        if n > self.input.len() {
            return Err(ValueError::Corrupt("count past end"));
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], ValueError> {
        let n = self.varint()?;
        if n > self.input.len() {
            return Err(ValueError::Corrupt("length past end"));
        }
        let (head, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(head)
    }

    fn string(&mut self) -> Result<String, ValueError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| ValueError::Corrupt("invalid UTF-8"))
    }

    fn number(&mut self) -> Result<Number, ValueError> {
        let negative = match self.byte()? {
            0 => false,
            1 => true,
            _ => return Err(ValueError::Corrupt("bad number sign")),
        };
        let exp = i16::from_le_bytes([self.byte()?, self.byte()?]);
        let digits = self.bytes()?.to_vec();
        Number::from_parts(negative, digits, i32::from(exp))
            .ok_or(ValueError::Corrupt("number not normalized"))
    }

    fn map(&mut self, depth: usize) -> Result<BTreeMap<String, AttributeValue>, ValueError> {
        let n = self.count()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.string()?;
            let v = self.value(depth)?;
            if m.insert(k, v).is_some() {
                return Err(ValueError::Corrupt("duplicate map key"));
            }
        }
        Ok(m)
    }

    fn value(&mut self, depth: usize) -> Result<AttributeValue, ValueError> {
        if depth > MAX_DECODE_DEPTH {
            return Err(ValueError::Corrupt("nested too deeply"));
        }
        Ok(match self.byte()? {
            TAG_S => AttributeValue::S(self.string()?),
            TAG_N => AttributeValue::N(self.number()?),
            TAG_B => AttributeValue::B(self.bytes()?.to_vec()),
            TAG_FALSE => AttributeValue::Bool(false),
            TAG_TRUE => AttributeValue::Bool(true),
            TAG_NULL => AttributeValue::Null,
            TAG_M => AttributeValue::M(self.map(depth + 1)?),
            TAG_L => {
                let n = self.count()?;
                let mut l = Vec::with_capacity(n);
                for _ in 0..n {
                    l.push(self.value(depth + 1)?);
                }
                AttributeValue::L(l)
            }
            TAG_SS => {
                let n = self.count()?;
                AttributeValue::Ss((0..n).map(|_| self.string()).collect::<Result<_, _>>()?)
            }
            TAG_NS => {
                let n = self.count()?;
                AttributeValue::Ns((0..n).map(|_| self.number()).collect::<Result<_, _>>()?)
            }
            TAG_BS => {
                let n = self.count()?;
                let b = (0..n).map(|_| self.bytes().map(<[u8]>::to_vec));
                AttributeValue::Bs(b.collect::<Result<_, _>>()?)
            }
            _ => return Err(ValueError::Corrupt("unknown value tag")),
        })
    }
}
