//! The data model through its public API: numbers, attribute values and their wire JSON,
//! item sizes, the storage encoding and the order-preserving key encoding.

use nuvem_dynamo::keys::{KeyType, decode_key_component, encode_key_component};
use nuvem_dynamo::number::{Number, NumberError};
use nuvem_dynamo::value::{
    AttributeValue, Item, ValueError, decode_item, encode_item, item_from_json, item_size,
    item_to_json,
};
use proptest::prelude::*;
use serde_json::json;

fn n(s: &str) -> Number {
    Number::parse(s).unwrap()
}

// ---- numbers -----------------------------------------------------------------------------

#[track_caller]
fn check_number(input: &str, expected: Result<&str, NumberError>) {
    assert_eq!(
        Number::parse(input).map(|n| n.to_string()),
        expected.map(str::to_string),
        "input {input:?}"
    );
}

fn nan(s: &str) -> Result<&'static str, NumberError> {
    Err(NumberError::NotANumber(s.to_string()))
}

#[test]
fn number_parse_and_display() {
    check_number("12", Ok("12"));
    check_number("-0.5", Ok("-0.5"));
    check_number("1e10", Ok("10000000000"));
    check_number("1E+2", Ok("100"));
    check_number("0.10", Ok("0.1"));
    check_number("-0", Ok("0"));
    check_number("0000", Ok("0"));
    check_number("-0.000", Ok("0"));
    check_number("007.50", Ok("7.5"));
    check_number("+3", Ok("3"));
    check_number(".5", Ok("0.5"));
    check_number("5.", Ok("5"));
    check_number("1.5e-3", Ok("0.0015"));
    check_number("123.456E1", Ok("1234.56"));
    check_number("1E-130", Ok(&format!("0.{}1", "0".repeat(129))));
    check_number(
        "9.9999999999999999999999999999999999999E+125",
        Ok(&format!(
            "99999999999999999999999999999999999999{}",
            "0".repeat(88)
        )),
    );
    check_number(
        "1000000000000000000000000000000",
        Ok("1000000000000000000000000000000"),
    );
    // Trailing zeros are not significant digits.
    check_number(
        &format!("1{}", "0".repeat(60)),
        Ok(&format!("1{}", "0".repeat(60))),
    );
    check_number(
        "12345678901234567890123456789012345678",
        Ok("12345678901234567890123456789012345678"),
    );
    check_number(
        "0.00000000000000000000000000000000000000000001",
        Ok("0.00000000000000000000000000000000000000000001"),
    );
}

#[test]
fn number_parse_errors() {
    check_number("", nan(""));
    check_number("abc", nan("abc"));
    check_number("NaN", nan("NaN"));
    check_number("Infinity", nan("Infinity"));
    check_number("-Infinity", nan("-Infinity"));
    check_number(" 1", nan(" 1"));
    check_number("1 ", nan("1 "));
    check_number(".", nan("."));
    check_number("-", nan("-"));
    check_number("1e", nan("1e"));
    check_number("1e+", nan("1e+"));
    check_number("e5", nan("e5"));
    check_number("1.2.3", nan("1.2.3"));
    check_number("0x10", nan("0x10"));
    check_number("1,000", nan("1,000"));
    check_number("--1", nan("--1"));
    check_number(
        "123456789012345678901234567890123456789",
        Err(NumberError::TooManyDigits),
    );
    check_number("1E126", Err(NumberError::Overflow));
    check_number("-1E126", Err(NumberError::Overflow));
    check_number("1E-131", Err(NumberError::Underflow));
    check_number("1e99999999999999999999999", Err(NumberError::Overflow));
    check_number("1e-99999999999999999999999", Err(NumberError::Underflow));
    check_number("0e99999999999999999999999", Ok("0"));
}

#[test]
fn number_error_messages_are_dynamodbs() {
    assert_eq!(
        NumberError::NotANumber("abc".into()).to_string(),
        "The parameter cannot be converted to a numeric value: abc"
    );
    assert_eq!(
        NumberError::TooManyDigits.to_string(),
        "Attempting to store more than 38 significant digits in a Number"
    );
    assert_eq!(
        NumberError::Overflow.to_string(),
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    );
}

#[track_caller]
fn check_add(a: &str, b: &str, expected: Result<&str, NumberError>) {
    assert_eq!(
        n(a).checked_add(&n(b)).map(|n| n.to_string()),
        expected.map(str::to_string),
        "{a} + {b}"
    );
}

#[test]
fn number_arithmetic() {
    check_add("1", "2", Ok("3"));
    check_add("0.1", "0.2", Ok("0.3"));
    check_add("-5", "3", Ok("-2"));
    check_add("5", "-5", Ok("0"));
    check_add("999", "1", Ok("1000"));
    check_add("1E100", "1", Err(NumberError::TooManyDigits));
    check_add(
        "1E100",
        "1E90",
        Ok(&format!("10000000001{}", "0".repeat(90))),
    );
    check_add(
        "9.9999999999999999999999999999999999999E+125",
        "1E+88",
        Err(NumberError::Overflow),
    );
    check_add("0", "-7.25", Ok("-7.25"));
    check_add("-0.001", "-0.009", Ok("-0.01"));
    check_add(
        "12345678901234567890123456789012345678",
        "1",
        Ok("12345678901234567890123456789012345679"),
    );
    check_add(
        "12345678901234567890123456789012345678",
        "0.1",
        Err(NumberError::TooManyDigits),
    );
    check_add(
        "99999999999999999999999999999999999999",
        "1",
        Ok("100000000000000000000000000000000000000"),
    );
    check_add("1E-130", "-1E-130", Ok("0"));
    assert_eq!(n("10").checked_sub(&n("0.5")).unwrap().to_string(), "9.5");
    assert_eq!(n("1").checked_sub(&n("1")).unwrap().to_string(), "0");
    assert!(n("1").checked_sub(&n("1")).unwrap().is_zero());
}

#[test]
fn number_order_and_equality() {
    let sorted = [
        "-1E125", "-100", "-99.5", "-1", "-0.5", "-0.05", "-1E-130", "0", "1E-130", "0.05", "0.5",
        "1", "1.000001", "99.5", "100", "1E125",
    ];
    for w in sorted.windows(2) {
        assert!(n(w[0]) < n(w[1]), "{} < {}", w[0], w[1]);
    }
    assert_eq!(n("1.0"), n("1"));
    assert_eq!(n("100"), n("1E2"));
    assert_eq!(n("-0"), n("0"));
}

proptest! {
    #[test]
    fn number_display_round_trips(s in number_string()) {
        if let Ok(a) = Number::parse(&s) {
            let b = Number::parse(&a.to_string()).unwrap();
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.to_string(), b.to_string());
        }
    }

    #[test]
    fn number_order_matches_f64_when_far_apart(a in -1.0e6f64..1.0e6, b in -1.0e6f64..1.0e6) {
        let (x, y) = (n(&format!("{a:.6}")), n(&format!("{b:.6}")));
        if (a - b).abs() > 1e-3 {
            prop_assert_eq!(x.cmp(&y), a.partial_cmp(&b).unwrap());
        }
    }

    #[test]
    fn number_add_then_sub_is_identity(a in number_string(), b in number_string()) {
        if let (Ok(a), Ok(b)) = (Number::parse(&a), Number::parse(&b))
            && let Ok(sum) = a.checked_add(&b)
            && let Ok(back) = sum.checked_sub(&b)
        {
            prop_assert_eq!(back, a);
        }
    }

    #[test]
    fn number_parse_never_panics(s in "\\PC{0,50}") {
        let _ = Number::parse(&s);
    }
}

fn number_string() -> impl Strategy<Value = String> {
    (
        "-?",
        "[0-9]{1,20}",
        proptest::option::of("[0-9]{1,20}"),
        proptest::option::of(-140i32..140),
    )
        .prop_map(|(sign, int, frac, exp)| {
            let mut s = format!("{sign}{int}");
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            if let Some(e) = exp {
                s.push_str(&format!("e{e}"));
            }
            s
        })
}

// ---- attribute values --------------------------------------------------------------------

#[track_caller]
fn check_value(input: serde_json::Value, expected: Result<serde_json::Value, &str>) {
    let got = AttributeValue::from_json(&input)
        .map(|v| v.to_json())
        .map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_string), "input {input}");
}

#[test]
fn value_json_round_trip() {
    check_value(json!({"S": "hello"}), Ok(json!({"S": "hello"})));
    check_value(json!({"S": ""}), Ok(json!({"S": ""})));
    check_value(json!({"N": "1E+2"}), Ok(json!({"N": "100"})));
    check_value(json!({"B": "AAEC"}), Ok(json!({"B": "AAEC"})));
    check_value(json!({"BOOL": false}), Ok(json!({"BOOL": false})));
    check_value(json!({"NULL": true}), Ok(json!({"NULL": true})));
    check_value(json!({"SS": ["a", "b"]}), Ok(json!({"SS": ["a", "b"]})));
    check_value(
        json!({"NS": ["1", "2.50"]}),
        Ok(json!({"NS": ["1", "2.5"]})),
    );
    check_value(
        json!({"BS": ["AA==", "AQ=="]}),
        Ok(json!({"BS": ["AA==", "AQ=="]})),
    );
    check_value(json!({"L": []}), Ok(json!({"L": []})));
    check_value(json!({"M": {}}), Ok(json!({"M": {}})));
    check_value(
        json!({"M": {"a": {"L": [{"N": "1"}, {"M": {"b": {"NULL": true}}}]}}}),
        Ok(json!({"M": {"a": {"L": [{"N": "1"}, {"M": {"b": {"NULL": true}}}]}}})),
    );
    // SDKs may serialize unset union members as null.
    check_value(json!({"S": "x", "N": null}), Ok(json!({"S": "x"})));
}

#[test]
fn value_json_errors() {
    let empty =
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes";
    check_value(json!({}), Err(empty));
    check_value(json!({"X": "1"}), Err(empty));
    check_value(
        json!({"S": "a", "N": "1"}),
        Err(
            "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes",
        ),
    );
    check_value(
        json!({"NULL": false}),
        Err(
            "One or more parameter values were invalid: Null attribute value types must have the value of true",
        ),
    );
    check_value(
        json!({"SS": []}),
        Err("One or more parameter values were invalid: An string set  may not be empty"),
    );
    check_value(
        json!({"NS": []}),
        Err("One or more parameter values were invalid: An number set  may not be empty"),
    );
    check_value(
        json!({"BS": []}),
        Err("One or more parameter values were invalid: An binary set  may not be empty"),
    );
    check_value(
        json!({"SS": ["a", "a"]}),
        Err(
            "One or more parameter values were invalid: Input collection [a, a] contains duplicates.",
        ),
    );
    check_value(
        json!({"NS": ["1", "1.0"]}),
        Err(
            "One or more parameter values were invalid: Input collection [1, 1.0] contains duplicates.",
        ),
    );
    check_value(
        json!({"N": "abc"}),
        Err("The parameter cannot be converted to a numeric value: abc"),
    );
    check_value(
        json!({"NS": ["1", "x"]}),
        Err("The parameter cannot be converted to a numeric value: x"),
    );
    check_value(
        json!({"N": 5}),
        Err("NUMBER_VALUE can not be converted to String"),
    );
    check_value(
        json!({"B": "!!"}),
        Err("Base64 encoded value is invalid: !!"),
    );
    check_value(
        json!("S"),
        Err("STRING_VALUE can not be converted to AttributeValue"),
    );
}

#[test]
fn value_error_classes() {
    let err = AttributeValue::from_json(&json!({"S": 1})).unwrap_err();
    assert!(err.is_serialization());
    let err = AttributeValue::from_json(&json!({"SS": []})).unwrap_err();
    assert!(!err.is_serialization() && !err.is_internal());
    assert!(decode_item(&[]).unwrap_err().is_internal());
}

#[test]
fn value_nesting_limit() {
    let mut v = json!({"S": "leaf"});
    for _ in 0..32 {
        v = json!({"L": [v]});
    }
    assert!(AttributeValue::from_json(&v).is_ok());
    let v = json!({"L": [v]});
    assert_eq!(AttributeValue::from_json(&v), Err(ValueError::TooDeep));
}

#[test]
fn value_type_names() {
    for (v, t) in [
        (json!({"S": "x"}), "S"),
        (json!({"N": "1"}), "N"),
        (json!({"B": ""}), "B"),
        (json!({"BOOL": true}), "BOOL"),
        (json!({"NULL": true}), "NULL"),
        (json!({"M": {}}), "M"),
        (json!({"L": []}), "L"),
        (json!({"SS": ["a"]}), "SS"),
        (json!({"NS": ["1"]}), "NS"),
        (json!({"BS": ["AA=="]}), "BS"),
    ] {
        assert_eq!(AttributeValue::from_json(&v).unwrap().type_name(), t);
    }
}

#[test]
fn sets_compare_unordered() {
    let a = AttributeValue::from_json(&json!({"SS": ["a", "b"]})).unwrap();
    let b = AttributeValue::from_json(&json!({"SS": ["b", "a"]})).unwrap();
    let c = AttributeValue::from_json(&json!({"SS": ["a", "c"]})).unwrap();
    assert!(a.same_value(&b));
    assert!(!a.same_value(&c));
    let m1 = AttributeValue::M([("s".to_string(), a)].into());
    let m2 = AttributeValue::M([("s".to_string(), b)].into());
    assert!(m1.same_value(&m2));
}

// ---- sizes -------------------------------------------------------------------------------

#[track_caller]
fn check_size(input: serde_json::Value, expected: usize) {
    assert_eq!(
        AttributeValue::from_json(&input).unwrap().size(),
        expected,
        "{input}"
    );
}

#[test]
fn value_sizes() {
    check_size(json!({"S": "abc"}), 3);
    check_size(json!({"S": "é"}), 2);
    check_size(json!({"N": "0"}), 1);
    check_size(json!({"N": "1"}), 2);
    check_size(json!({"N": "12"}), 2);
    check_size(json!({"N": "123"}), 3);
    check_size(json!({"N": "1000000"}), 2);
    check_size(json!({"B": "AAEC"}), 3);
    check_size(json!({"BOOL": true}), 1);
    check_size(json!({"NULL": true}), 1);
    check_size(json!({"L": []}), 3);
    check_size(json!({"M": {}}), 3);
    check_size(json!({"L": [{"S": "ab"}, {"BOOL": true}]}), 3 + 3 + 2);
    check_size(json!({"M": {"k": {"S": "ab"}}}), 3 + 1 + 2 + 1);
    check_size(json!({"SS": ["ab", "c"]}), 3);
    check_size(json!({"NS": ["1", "123"]}), 5);
}

#[test]
fn item_json_and_size() {
    let j = json!({"pk": {"S": "user#1"}, "n": {"N": "42"}});
    let item = item_from_json(&j).unwrap();
    assert_eq!(item_to_json(&item), j);
    assert_eq!(item_size(&item), 2 + 6 + 1 + 2);
    assert!(item_from_json(&json!([])).is_err());
    assert!(item_from_json(&json!({"a": {"SS": []}})).is_err());
}

// ---- storage encoding --------------------------------------------------------------------

fn sample_item() -> Item {
    item_from_json(&json!({
        "pk": {"S": "a\u{0}b"},
        "n": {"N": "-1.5E-7"},
        "z": {"N": "0"},
        "b": {"B": "AAEC"},
        "t": {"BOOL": true}, "f": {"BOOL": false}, "null": {"NULL": true},
        "m": {"M": {"l": {"L": [{"S": ""}, {"NS": ["1", "2"]}]}}},
        "ss": {"SS": ["x", "y"]}, "bs": {"BS": ["AA=="]},
    }))
    .unwrap()
}

#[test]
fn storage_encoding_round_trips() {
    let item = sample_item();
    assert_eq!(decode_item(&encode_item(&item)).unwrap(), item);
    assert_eq!(
        decode_item(&encode_item(&Item::new())).unwrap(),
        Item::new()
    );
}

#[test]
fn storage_decoding_rejects_garbage() {
    let bytes = encode_item(&sample_item());
    for cut in 0..bytes.len() {
        assert!(decode_item(&bytes[..cut]).is_err(), "prefix of {cut} bytes");
    }
    assert!(decode_item(&[9]).is_err());
    assert!(
        decode_item(&[
            1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
        ])
        .is_err()
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(decode_item(&trailing).is_err());
}

proptest! {
    #[test]
    fn storage_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_item(&bytes);
        let mut v = vec![1u8];
        v.extend(&bytes);
        let _ = decode_item(&v);
    }

    #[test]
    fn storage_decoding_of_mutations_never_panics(i in any::<prop::sample::Index>(), b in any::<u8>()) {
        let mut bytes = encode_item(&sample_item());
        let at = i.index(bytes.len());
        bytes[at] = b;
        let _ = decode_item(&bytes);
    }
}

// ---- key encoding ------------------------------------------------------------------------

fn enc(v: &AttributeValue) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key_component(v, &mut out).unwrap();
    out
}

#[track_caller]
fn check_key_order(kind: KeyType, a: AttributeValue, b: AttributeValue) {
    assert!(enc(&a) < enc(&b), "{a:?} should sort before {b:?}");
    for v in [a, b] {
        let bytes = enc(&v);
        let mut input = bytes.as_slice();
        assert_eq!(decode_key_component(kind, &mut input).unwrap(), v);
        assert!(input.is_empty());
    }
}

fn s(x: &str) -> AttributeValue {
    AttributeValue::S(x.to_string())
}
fn num(x: &str) -> AttributeValue {
    AttributeValue::N(n(x))
}
fn bin(x: &[u8]) -> AttributeValue {
    AttributeValue::B(x.to_vec())
}

#[test]
fn key_order_examples() {
    check_key_order(KeyType::S, s(""), s("a"));
    check_key_order(KeyType::S, s("a"), s("a\u{0}"));
    check_key_order(KeyType::S, s("a\u{0}"), s("a\u{1}"));
    check_key_order(KeyType::S, s("a"), s("b"));
    check_key_order(KeyType::S, s("Z"), s("a"));
    check_key_order(KeyType::S, s("z"), s("é"));
    check_key_order(KeyType::B, bin(b""), bin(b"\0"));
    check_key_order(KeyType::B, bin(b"\0"), bin(b"\0\0"));
    check_key_order(KeyType::B, bin(b"\0\xff"), bin(b"\x01"));
    check_key_order(KeyType::N, num("-1E125"), num("-2"));
    check_key_order(KeyType::N, num("-2"), num("-1.5"));
    check_key_order(KeyType::N, num("-1.5"), num("-1"));
    check_key_order(KeyType::N, num("-1"), num("-0.1"));
    check_key_order(KeyType::N, num("-1E-130"), num("0"));
    check_key_order(KeyType::N, num("0"), num("1E-130"));
    check_key_order(KeyType::N, num("0.1"), num("1"));
    check_key_order(KeyType::N, num("1"), num("1.5"));
    check_key_order(KeyType::N, num("1.5"), num("2"));
    check_key_order(KeyType::N, num("9"), num("10"));
    check_key_order(KeyType::N, num("10"), num("10.01"));
    check_key_order(KeyType::N, num("99999"), num("1E125"));
}

#[test]
fn key_encoding_rejects_non_key_types_and_garbage() {
    assert!(encode_key_component(&AttributeValue::Bool(true), &mut Vec::new()).is_err());
    assert!(encode_key_component(&AttributeValue::L(vec![]), &mut Vec::new()).is_err());
    for (kind, bytes) in [
        (KeyType::S, &b""[..]),
        (KeyType::S, b"abc"),
        (KeyType::S, b"a\0"),
        (KeyType::S, b"a\0\x05"),
        (KeyType::S, b"\xff\0\x01"),
        (KeyType::N, b""),
        (KeyType::N, b"\x07"),
        (KeyType::N, b"\x03"),
        (KeyType::N, b"\x03\x81\x00"),
        (KeyType::N, b"\x03\x81\x02"),
        (KeyType::N, b"\x03\x81\x0b\x00"),
        (KeyType::N, b"\x03\x81\x01\x00"),
    ] {
        let mut input = bytes;
        assert!(
            decode_key_component(kind, &mut input).is_err(),
            "{kind:?} {bytes:?}"
        );
    }
}

fn arb_number() -> impl Strategy<Value = Number> {
    (
        any::<bool>(),
        proptest::collection::vec(0u8..10, 0..38),
        -129i32..=126,
    )
        .prop_map(|(neg, digits, exp)| {
            let digits: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            let digits = if digits.is_empty() {
                "0".to_string()
            } else {
                digits
            };
            let sign = if neg { "-" } else { "" };
            // 0.digits × 10^exp, clamped into range by construction of the exponent.
            Number::parse(&format!("{sign}0.{digits}e{exp}")).unwrap_or_else(|_| Number::zero())
        })
}

proptest! {
    #[test]
    fn key_numbers_sort_numerically(a in arb_number(), b in arb_number()) {
        let (ea, eb) = (enc(&AttributeValue::N(a.clone())), enc(&AttributeValue::N(b.clone())));
        prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
        let mut input = ea.as_slice();
        prop_assert_eq!(decode_key_component(KeyType::N, &mut input).unwrap(), AttributeValue::N(a));
        prop_assert!(input.is_empty());
    }

    #[test]
    fn key_bytes_sort_bytewise(a in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(255u8), any::<u8>()], 0..12),
                               b in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), Just(255u8), any::<u8>()], 0..12)) {
        let (ea, eb) = (enc(&bin(&a)), enc(&bin(&b)));
        prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
        let mut input = ea.as_slice();
        prop_assert_eq!(decode_key_component(KeyType::B, &mut input).unwrap(), bin(&a));
        prop_assert!(input.is_empty());
    }

    #[test]
    fn key_strings_sort_by_utf8(a in "[a\\x00\\x01é😀]{0,6}", b in "[a\\x00\\x01é😀]{0,6}") {
        prop_assert_eq!(enc(&s(&a)).cmp(&enc(&s(&b))), a.as_bytes().cmp(b.as_bytes()));
    }

    #[test]
    fn key_pairs_sort_lexicographically(pa in "[ab\\x00]{0,3}", sa in arb_number(), pb in "[ab\\x00]{0,3}", sb in arb_number()) {
        let pair = |p: &str, s: &Number| {
            let mut out = Vec::new();
            encode_key_component(&AttributeValue::S(p.to_string()), &mut out).unwrap();
            encode_key_component(&AttributeValue::N(s.clone()), &mut out).unwrap();
            out
        };
        let expected = pa.as_bytes().cmp(pb.as_bytes()).then(sa.cmp(&sb));
        prop_assert_eq!(pair(&pa, &sa).cmp(&pair(&pb, &sb)), expected);
        let bytes = pair(&pa, &sa);
        let mut input = bytes.as_slice();
        prop_assert_eq!(decode_key_component(KeyType::S, &mut input).unwrap(), AttributeValue::S(pa));
        prop_assert_eq!(decode_key_component(KeyType::N, &mut input).unwrap(), AttributeValue::N(sa));
        prop_assert!(input.is_empty());
    }

    #[test]
    fn key_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
        for kind in [KeyType::S, KeyType::N, KeyType::B] {
            let mut input = bytes.as_slice();
            let _ = decode_key_component(kind, &mut input);
        }
    }
}
