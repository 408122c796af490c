//! Feeds arbitrary UTF-8 to every DynamoDB expression parser (condition, filter, update,
//! projection, key condition) and to the number parser, then evaluates or applies whatever
//! parses against a sample item. Nothing may panic, overflow the stack or hang.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use nuvem_dynamo::expr::ExprContext;
use nuvem_dynamo::number::Number;
use nuvem_dynamo::value::{AttributeValue, Item};

fn names() -> BTreeMap<String, String> {
    [("#a", "a"), ("#b", "b"), ("#s", "status")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn values() -> BTreeMap<String, AttributeValue> {
    let n = |s: &str| AttributeValue::N(Number::parse(s).unwrap_or_else(|_| Number::zero()));
    let mut v = BTreeMap::new();
    v.insert(":n".to_string(), n("1"));
    v.insert(
        ":big".to_string(),
        n("9.9999999999999999999999999999999999999E+125"),
    );
    v.insert(":s".to_string(), AttributeValue::S("x".to_string()));
    v.insert(":l".to_string(), AttributeValue::L(vec![n("2")]));
    v.insert(":ss".to_string(), AttributeValue::Ss(vec!["x".to_string()]));
    v.insert(":ns".to_string(), AttributeValue::Ns(vec![Number::zero()]));
    v
}

fn item() -> Item {
    let mut m = BTreeMap::new();
    m.insert(
        "b".to_string(),
        AttributeValue::L(vec![AttributeValue::Null]),
    );
    let mut item = Item::new();
    item.insert("a".to_string(), AttributeValue::M(m));
    item.insert("n".to_string(), AttributeValue::N(Number::from(7i64)));
    item.insert("ss".to_string(), AttributeValue::Ss(vec!["x".to_string()]));
    item
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = Number::parse(s);
    let (names, values) = (names(), values());
    for (n, v) in [(Some(&names), Some(&values)), (None, None)] {
        let mut ctx = ExprContext::new(n, v);
        if let Ok(c) = ctx.condition(s) {
            let _ = c.evaluate(&item());
            let _ = c.evaluate(&Item::new());
        }
        let _ = ctx.filter(s);
        if let Ok(u) = ctx.update(s) {
            let _ = u.apply(&mut item());
            let _ = u.apply(&mut Item::new());
            let _ = u.updated_paths();
        }
        if let Ok(p) = ctx.projection(s) {
            let _ = p.apply(&item());
        }
        if let Ok(k) = ctx.key_condition(s) {
            let _ = k.partition();
            let _ = k.sort();
        }
        let _ = ctx.finish();
    }
});
