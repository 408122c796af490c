//! The expression language through its public API: conditions and filters, updates,
//! projections and key conditions, including DynamoDB's error messages.

use std::collections::BTreeMap;

use nuvem_dynamo::expr::{ExprContext, ExprError, Path, Projection, SortCondition, is_reserved};
use nuvem_dynamo::value::{AttributeValue, Item, item_from_json, item_to_json};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The item most cases run against.
fn item() -> Item {
    item_from_json(&json!({
        "pk": {"S": "user#1"},
        "n": {"N": "10"},
        "s": {"S": "hello world"},
        "b": {"B": "AAEC"},
        "t": {"BOOL": true},
        "nul": {"NULL": true},
        "ss": {"SS": ["red", "green"]},
        "ns": {"NS": ["1", "2", "3"]},
        "l": {"L": [{"S": "a"}, {"N": "1"}, {"L": [{"S": "deep"}]}]},
        "m": {"M": {"k": {"S": "v"}, "nest": {"M": {"x": {"N": "5"}}}, "e": {"S": ""}}},
        "Status": {"S": "ok"},
    }))
    .unwrap()
}

fn values() -> BTreeMap<String, AttributeValue> {
    let v = json!({
        ":s": {"S": "hello world"}, ":hello": {"S": "hello"}, ":world": {"S": "world"},
        ":red": {"S": "red"}, ":blue": {"S": "blue"}, ":a": {"S": "a"}, ":z": {"S": "z"},
        ":n": {"N": "10"}, ":one": {"N": "1"}, ":two": {"N": "2"}, ":five": {"N": "5"}, ":twenty": {"N": "20"},
        ":b": {"B": "AAEC"}, ":b0": {"B": "AA=="}, ":t": {"BOOL": true},
        ":ssr": {"SS": ["green", "red"]}, ":ss_new": {"SS": ["blue", "red"]}, ":ns2": {"NS": ["2"]}, ":ns9": {"NS": ["9"]},
        ":ssall": {"SS": ["red", "green"]},
        ":tS": {"S": "S"}, ":tN": {"S": "N"}, ":tL": {"S": "L"}, ":tSS": {"S": "SS"}, ":tX": {"S": "X"},
        ":l": {"L": [{"S": "x"}]}, ":m": {"M": {"k": {"S": "v"}}}, ":empty": {"L": []},
        ":nul": {"NULL": true},
    });
    item_from_json(&v).unwrap()
}

fn names() -> BTreeMap<String, String> {
    [
        ("#s", "Status"),
        ("#n", "n"),
        ("#dot", "a.b"),
        ("#m", "m"),
        ("#k", "k"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

// ---- conditions --------------------------------------------------------------------------

#[track_caller]
fn check_cond(expr: &str, expected: Result<bool, &str>) {
    let (n, v) = (names(), values());
    let mut ctx = ExprContext::new(Some(&n), Some(&v));
    let got = ctx
        .condition(expr)
        .and_then(|c| c.evaluate(&item()))
        .map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_string), "expression {expr:?}");
}

#[test]
fn comparisons() {
    check_cond("n = :n", Ok(true));
    check_cond("n <> :n", Ok(false));
    check_cond("n < :twenty", Ok(true));
    check_cond("n <= :n", Ok(true));
    check_cond("n > :five", Ok(true));
    check_cond("n >= :twenty", Ok(false));
    check_cond(":five < n", Ok(true));
    check_cond("s = :s", Ok(true));
    check_cond("s > :hello", Ok(true));
    check_cond("b = :b", Ok(true));
    check_cond("b > :b0", Ok(true));
    check_cond("t = :t", Ok(true));
    check_cond("nul = :nul", Ok(true));
    // Mismatched types are false, not errors.
    check_cond("n = :s", Ok(false));
    check_cond("n < :s", Ok(false));
    check_cond("s > :n", Ok(false));
    // Missing attributes: comparisons false, <> true.
    check_cond("absent = :n", Ok(false));
    check_cond("absent < :n", Ok(false));
    check_cond("absent <> :n", Ok(true));
    // Sets are unordered; lists and maps compare structurally.
    check_cond("ss = :ssr", Ok(true));
    check_cond("ss = :ssall", Ok(true));
    check_cond("m.k = :s", Ok(false));
    check_cond("l[0] = :a", Ok(true));
    check_cond("l[2][0] = :a", Ok(false));
    check_cond("l[9] = :a", Ok(false));
    check_cond("m.nest.x = :five", Ok(true));
    // issue #18: the same path on both sides is refused.
    check_cond(
        "#m.#k = m.k",
        Err(
            "Invalid ConditionExpression: The first operand must be distinct from the remaining operands for this operator or function; operator: =, first operand: [m, k]",
        ),
    );
    check_cond("#s = :s", Ok(false));
}

#[test]
fn between_and_in() {
    check_cond("n BETWEEN :five AND :twenty", Ok(true));
    check_cond("n BETWEEN :n AND :n", Ok(true));
    check_cond("n between :one and :five", Ok(false));
    check_cond("s BETWEEN :a AND :z", Ok(true));
    check_cond("absent BETWEEN :a AND :z", Ok(false));
    check_cond("s BETWEEN :one AND :n", Ok(false));
    check_cond("n IN (:one, :n)", Ok(true));
    check_cond("n IN (:one)", Ok(false));
    check_cond("s IN (:s, :n)", Ok(true));
    check_cond("absent IN (:s)", Ok(false));
}

#[test]
fn logic_and_precedence() {
    check_cond("n = :n AND s = :s", Ok(true));
    check_cond("n = :one OR s = :s", Ok(true));
    check_cond("NOT n = :one", Ok(true));
    check_cond("NOT n = :n", Ok(false));
    // NOT binds tighter than AND, AND tighter than OR.
    check_cond("n = :one AND s = :s OR t = :t", Ok(true));
    check_cond("n = :one AND (s = :s OR t = :t)", Ok(false));
    check_cond("t = :t OR n = :one AND s = :hello", Ok(true));
    check_cond("(t = :t OR n = :one) AND s = :hello", Ok(false));
    check_cond("NOT n = :n OR t = :t", Ok(true));
    check_cond("NOT (n = :n OR t = :t)", Ok(false));
    check_cond("NOT NOT n = :n", Ok(true));
    check_cond("(n = :n)", Ok(true));
    // issue #18: DynamoDB refuses parentheses directly around parentheses.
    check_cond(
        "((((n = :n))))",
        Err("Invalid ConditionExpression: The expression has redundant parentheses;"),
    );
    check_cond(
        "n = :n AND ((t = :t))",
        Err("Invalid ConditionExpression: The expression has redundant parentheses;"),
    );
    check_cond("((t = :t) OR n = :n)", Ok(true));
}

#[test]
fn functions() {
    check_cond("attribute_exists(n)", Ok(true));
    check_cond("attribute_exists(absent)", Ok(false));
    check_cond("attribute_not_exists(absent)", Ok(true));
    check_cond("attribute_not_exists(pk)", Ok(false));
    check_cond("attribute_exists(m.nest.x)", Ok(true));
    check_cond("attribute_exists(l[2][0])", Ok(true));
    check_cond("attribute_exists(l[3])", Ok(false));
    check_cond("attribute_exists(#s)", Ok(true));
    check_cond("attribute_type(n, :tN)", Ok(true));
    check_cond("attribute_type(n, :tS)", Ok(false));
    check_cond("attribute_type(l, :tL)", Ok(true));
    check_cond("attribute_type(ss, :tSS)", Ok(true));
    check_cond("begins_with(s, :hello)", Ok(true));
    check_cond("begins_with(s, :world)", Ok(false));
    check_cond("begins_with(b, :b0)", Ok(true));
    check_cond("begins_with(n, :hello)", Ok(false));
    check_cond("contains(s, :world)", Ok(true));
    check_cond("contains(s, :red)", Ok(false));
    check_cond("contains(ss, :red)", Ok(true));
    check_cond("contains(ss, :blue)", Ok(false));
    check_cond("contains(ns, :two)", Ok(true));
    check_cond("contains(l, :a)", Ok(true));
    check_cond("contains(l, :z)", Ok(false));
    check_cond("contains(absent, :a)", Ok(false));
    check_cond("size(s) = :n", Ok(false));
    check_cond("size(s) > :n", Ok(true));
    check_cond("size(ss) = :two", Ok(true));
    check_cond("size(l) BETWEEN :one AND :five", Ok(true));
    check_cond("size(m) < :five", Ok(true));
    check_cond("size(b) < :five", Ok(true));
    check_cond("size(n) = :two", Ok(false));
    check_cond("size(absent) = :two", Ok(false));
    check_cond("size(m.e) < :one", Ok(true));
}

#[test]
fn condition_errors() {
    let c = "Invalid ConditionExpression: ";
    check_cond("", Err(&format!("{c}The expression can not be empty;")));
    check_cond("   ", Err(&format!("{c}The expression can not be empty;")));
    check_cond(
        "n = = :n",
        Err(&format!("{c}Syntax error; token: \"=\", near: \"= = :n\"")),
    );
    check_cond(
        "n = :n AND",
        Err(&format!("{c}Syntax error; token: <EOF>, near: \"AND\"")),
    );
    check_cond(
        "n",
        Err(&format!("{c}Syntax error; token: <EOF>, near: \"n\"")),
    );
    check_cond(
        "n = :n)",
        Err(&format!("{c}Syntax error; token: \")\", near: \":n)\"")),
    );
    check_cond(
        "(n = :n",
        Err(&format!("{c}Syntax error; token: <EOF>, near: \":n\"")),
    );
    check_cond(
        "n @ :n",
        Err(&format!("{c}Syntax error; token: \"@\", near: \"n @ :n\"")),
    );
    check_cond(
        "col-name = :n",
        Err(&format!(
            "{c}Syntax error; token: \"-\", near: \"col-name\""
        )),
    );
    check_cond(
        "status = :n",
        Err(&format!(
            "{c}Attribute name is a reserved keyword; reserved keyword: status"
        )),
    );
    check_cond(
        "m.size = :n",
        Err(&format!(
            "{c}Attribute name is a reserved keyword; reserved keyword: size"
        )),
    );
    check_cond(
        "#nope = :n",
        Err(&format!(
            "{c}An expression attribute name used in the document path is not defined; attribute name: #nope"
        )),
    );
    check_cond(
        "n = :nope",
        Err(&format!(
            "{c}An expression attribute value used in expression is not defined; attribute value: :nope"
        )),
    );
    check_cond(
        "attribute_exists(n, s)",
        Err(&format!(
            "{c}Incorrect number of operands for operator or function; operator or function: attribute_exists, number of operands: 2"
        )),
    );
    check_cond(
        "attribute_exists(:n)",
        Err(&format!(
            "{c}Operator or function requires a document path; operator or function: attribute_exists"
        )),
    );
    check_cond(
        "foo(n)",
        Err(&format!("{c}Invalid function name; function: foo")),
    );
    check_cond(
        "n = foo(n)",
        Err(&format!("{c}Invalid function name; function: foo")),
    );
    check_cond(
        "begins_with(s, :n)",
        Err(&format!(
            "{c}Incorrect operand type for operator or function; operator or function: begins_with, operand type: N"
        )),
    );
    check_cond(
        "n < :l",
        Err(&format!(
            "{c}Incorrect operand type for operator or function; operator or function: <, operand type: L"
        )),
    );
    check_cond(
        "n BETWEEN :twenty AND :five",
        Err(&format!(
            "{c}The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{N:20}}, upper bound operand: AttributeValue: {{N:5}}"
        )),
    );
    check_cond(
        "attribute_type(n, :tX)",
        Err(&format!(
            "{c}Invalid attribute type name found in type descriptor; type: X"
        )),
    );
    check_cond(
        "size(n, s) = :n",
        Err(&format!(
            "{c}Incorrect number of operands for operator or function; operator or function: size, number of operands: 2"
        )),
    );
    check_cond(
        "l[x] = :n",
        Err(&format!("{c}Syntax error; token: \"x\", near: \"[x]\"")),
    );
    check_cond(
        "1n = :n",
        Err(&format!("{c}Syntax error; token: \"1n\", near: \"1n =\"")),
    );
    let deep = format!("a{} = :n", ".b".repeat(32));
    check_cond(
        &deep,
        Err(&format!(
            "{c}The document path has too many nesting levels; nesting levels: 33"
        )),
    );
    let long = format!("n = :n{}", " ".repeat(4096));
    check_cond(
        &long,
        Err(&format!(
            "{c}Expression size has exceeded the maximum allowed size; expression size: 4102"
        )),
    );
    let parens = format!("{}n = :n{}", "(".repeat(200), ")".repeat(200));
    assert!(
        ExprContext::new(None, Some(&values()))
            .condition(&parens)
            .is_err()
    );
    let many = (0..101).map(|_| ":n").collect::<Vec<_>>().join(", ");
    check_cond(
        &format!("n IN ({many})"),
        Err(&format!(
            "{c}The IN operator is provided with too many number of operands; number of operands: 101"
        )),
    );
}

#[test]
fn filter_errors_name_the_parameter() {
    let v = values();
    let mut ctx = ExprContext::new(None, Some(&v));
    let err = ctx.filter("n = ").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Invalid FilterExpression: Syntax error; token: <EOF>, near: \"=\""
    );
}

#[test]
fn missing_item_is_empty_item() {
    let v = values();
    let mut ctx = ExprContext::new(None, Some(&v));
    let c = ctx.condition("attribute_not_exists(pk)").unwrap();
    assert_eq!(c.evaluate(&Item::new()), Ok(true));
}

// ---- unused names and values -------------------------------------------------------------

#[track_caller]
fn check_unused(names: Value, values: Value, exprs: &[&str], expected: Result<(), &str>) {
    let names: BTreeMap<String, String> = serde_json::from_value(names).unwrap();
    let values = item_from_json(&values).unwrap();
    let mut ctx = ExprContext::new(Some(&names), Some(&values));
    let mut result = Ok(());
    for e in exprs {
        if let Err(e) = ctx.condition(e) {
            result = Err(e);
        }
    }
    let got = result
        .and_then(|()| ctx.finish())
        .map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_string));
}

#[test]
fn unused_names_and_values() {
    check_unused(
        json!({"#a": "a"}),
        json!({":v": {"S": "x"}}),
        &["#a = :v"],
        Ok(()),
    );
    check_unused(
        json!({"#a": "a"}),
        json!({":v": {"S": "x"}}),
        &["#a = :v", "#a <> :v"],
        Ok(()),
    );
    check_unused(
        json!({"#a": "a"}),
        json!({":v": {"S": "x"}, ":w": {"S": "y"}, ":u": {"N": "1"}}),
        &["#a = :v"],
        Err("Value provided in ExpressionAttributeValues unused in expressions: keys: {:u, :w}"),
    );
    check_unused(
        json!({"#a": "a", "#b": "b"}),
        json!({":v": {"S": "x"}}),
        &["#a = :v"],
        Err("Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"),
    );
    check_unused(
        json!({}),
        json!({":v": {"S": "x"}}),
        &["a = :v"],
        Err("ExpressionAttributeNames must not be empty"),
    );
    check_unused(
        json!({"#a": "a"}),
        json!({}),
        &["#a = #a"],
        Err("ExpressionAttributeValues must not be empty"),
    );
    check_unused(
        json!({"a": "a"}),
        json!({":v": {"S": "x"}}),
        &["x = :v"],
        Err("ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\""),
    );
}

// ---- updates -----------------------------------------------------------------------------

#[track_caller]
fn check_update(start: Value, expr: &str, expected: Result<Value, &str>) {
    let (n, v) = (names(), values());
    let mut ctx = ExprContext::new(Some(&n), Some(&v));
    let mut it = item_from_json(&start).unwrap();
    let got = ctx
        .update(expr)
        .and_then(|u| u.apply(&mut it))
        .map(|()| item_to_json(&it))
        .map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_string), "expression {expr:?}");
}

#[test]
fn update_set() {
    let n10 = json!({"n": {"N": "10"}});
    check_update(json!({}), "SET a = :n", Ok(json!({"a": {"N": "10"}})));
    check_update(
        n10.clone(),
        "SET n = n + :five",
        Ok(json!({"n": {"N": "15"}})),
    );
    check_update(
        n10.clone(),
        "SET n = n - :twenty",
        Ok(json!({"n": {"N": "-10"}})),
    );
    check_update(
        n10.clone(),
        "SET #n = :one + :two",
        Ok(json!({"n": {"N": "3"}})),
    );
    check_update(
        json!({}),
        "SET c = if_not_exists(c, :one)",
        Ok(json!({"c": {"N": "1"}})),
    );
    check_update(
        n10.clone(),
        "SET n = if_not_exists(n, :one)",
        Ok(n10.clone()),
    );
    check_update(
        json!({}),
        "SET c = if_not_exists(c, :one) + :two",
        Ok(json!({"c": {"N": "3"}})),
    );
    check_update(
        json!({"l": {"L": [{"S": "a"}]}}),
        "SET l = list_append(l, :l)",
        Ok(json!({"l": {"L": [{"S": "a"}, {"S": "x"}]}})),
    );
    check_update(
        json!({"l": {"L": [{"S": "a"}]}}),
        "SET l = list_append(:l, l)",
        Ok(json!({"l": {"L": [{"S": "x"}, {"S": "a"}]}})),
    );
    check_update(
        json!({}),
        "SET l = list_append(if_not_exists(l, :empty), :l)",
        Ok(json!({"l": {"L": [{"S": "x"}]}})),
    );
    // Every operand reads the item as it was before the update.
    check_update(
        n10.clone(),
        "SET a = n, n = :one, b = n",
        Ok(json!({"a": {"N": "10"}, "b": {"N": "10"}, "n": {"N": "1"}})),
    );
    check_update(
        json!({"m": {"M": {}}}),
        "SET m.a = :one, m.#k = :two",
        Ok(json!({"m": {"M": {"a": {"N": "1"}, "k": {"N": "2"}}}})),
    );
    check_update(
        json!({"l": {"L": [{"S": "a"}, {"S": "b"}]}}),
        "SET l[1] = :z, l[7] = :one",
        Ok(json!({"l": {"L": [{"S": "a"}, {"S": "z"}, {"N": "1"}]}})),
    );
    check_update(json!({}), "SET #dot = :a", Ok(json!({"a.b": {"S": "a"}})));
    check_update(json!({}), "set a = :a", Ok(json!({"a": {"S": "a"}})));
}

#[test]
fn update_set_errors() {
    let u = "Invalid UpdateExpression: ";
    check_update(
        json!({}),
        "SET a = absent",
        Err("The provided expression refers to an attribute that does not exist in the item"),
    );
    check_update(
        json!({}),
        "SET a = absent + :one",
        Err("The provided expression refers to an attribute that does not exist in the item"),
    );
    check_update(
        json!({"s": {"S": "x"}}),
        "SET a = s + :one",
        Err("An operand in the update expression has an incorrect data type"),
    );
    check_update(
        json!({"s": {"S": "x"}}),
        "SET a = list_append(s, :l)",
        Err("An operand in the update expression has an incorrect data type"),
    );
    check_update(
        json!({}),
        "SET a.b = :one",
        Err("The document path provided in the update expression is invalid for update"),
    );
    check_update(
        json!({"a": {"S": "x"}}),
        "SET a.b = :one",
        Err("The document path provided in the update expression is invalid for update"),
    );
    check_update(
        json!({"a": {"M": {}}}),
        "SET a[0] = :one",
        Err("The document path provided in the update expression is invalid for update"),
    );
    check_update(
        json!({"a": {"M": {}}}),
        "SET a.b.c = :one",
        Err("The document path provided in the update expression is invalid for update"),
    );
    check_update(
        json!({"n": {"N": "99999999999999999999999999999999999999"}}),
        "SET n = n + :one",
        Ok(json!({"n": {"N": "100000000000000000000000000000000000000"}})),
    );
    check_update(
        json!({"n": {"N": "99999999999999999999999999999999999999"}}),
        "SET n = n + :s",
        Err(&format!(
            "{u}Incorrect operand type for operator or function; operator or function: +, operand type: S"
        )),
    );
    check_update(
        json!({}),
        "SET a = list_append(:l, :s)",
        Err(&format!(
            "{u}Incorrect operand type for operator or function; operator or function: list_append, operand type: S"
        )),
    );
    // An index past the end appends, however large; past DynamoDB's largest it is refused.
    check_update(
        json!({"l": {"L": [{"S": "a"}]}}),
        "SET l[4294967294] = :one",
        Ok(json!({"l": {"L": [{"S": "a"}, {"N": "1"}]}})),
    );
    check_update(
        json!({"l": {"L": [{"S": "a"}]}}),
        "SET l[4294967295] = :one",
        Err(&format!(
            "{u}List index is not within the allowable range; index: [4294967295]"
        )),
    );
    // A function nested in another call of itself is refused; the two in one another are not.
    for (expr, function) in [
        (
            "SET a = list_append(list_append(:l, :l), :l)",
            "list_append",
        ),
        (
            "SET a = list_append(:l, list_append(:l, :l))",
            "list_append",
        ),
        (
            "SET a = list_append(if_not_exists(a, list_append(:l, :l)), :l)",
            "list_append",
        ),
        (
            "SET a = if_not_exists(a, if_not_exists(b, :one))",
            "if_not_exists",
        ),
    ] {
        check_update(
            json!({}),
            expr,
            Err(&format!(
                "{u}The function is not allowed to be used this way in an expression; function: {function}"
            )),
        );
    }
    check_update(
        json!({}),
        "SET a = if_not_exists(a, list_append(:l, :l))",
        Ok(json!({"a": {"L": [{"S": "x"}, {"S": "x"}]}})),
    );
    check_update(
        json!({}),
        "SET a = :one SET b = :one",
        Err(&format!(
            "{u}The \"SET\" section can only be used once in an update expression;"
        )),
    );
    check_update(
        json!({}),
        "REMOVE a REMOVE b",
        Err(&format!(
            "{u}The \"REMOVE\" section can only be used once in an update expression;"
        )),
    );
    check_update(
        json!({}),
        "SET a = :one, a = :two",
        Err(&format!(
            "{u}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a]"
        )),
    );
    check_update(
        json!({}),
        "SET a = :one REMOVE a.b",
        Err(&format!(
            "{u}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        )),
    );
    check_update(
        json!({}),
        "SET a[1] = :one REMOVE a.b",
        Err(&format!(
            "{u}Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, [1]], path two: [a, b]"
        )),
    );
    check_update(
        json!({}),
        "SET name = :one",
        Err(&format!(
            "{u}Attribute name is a reserved keyword; reserved keyword: name"
        )),
    );
    check_update(
        json!({}),
        "SET a = :one + :two + :five",
        Err(&format!(
            "{u}Syntax error; token: \"+\", near: \":two + :five\""
        )),
    );
    check_update(
        json!({}),
        "SET a = if_not_exists(:one, :two)",
        Err(&format!(
            "{u}Operator or function requires a document path; operator or function: if_not_exists"
        )),
    );
    check_update(
        json!({}),
        "SET a = if_not_exists(a)",
        Err(&format!(
            "{u}Incorrect number of operands for operator or function; operator or function: if_not_exists, number of operands: 1"
        )),
    );
    check_update(
        json!({}),
        "SET a = size(a)",
        Err(&format!("{u}Invalid function name; function: size")),
    );
    check_update(
        json!({}),
        "UPSERT a = :one",
        Err(&format!(
            "{u}Syntax error; token: \"UPSERT\", near: \"UPSERT a\""
        )),
    );
    check_update(
        json!({}),
        "SET",
        Err(&format!("{u}Syntax error; token: <EOF>, near: \"SET\"")),
    );
    check_update(
        json!({}),
        "",
        Err(&format!("{u}The expression can not be empty;")),
    );
}

#[test]
fn update_remove() {
    let l = json!({"l": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}, {"N": "3"}]}});
    check_update(
        json!({"a": {"S": "x"}, "b": {"S": "y"}}),
        "REMOVE a",
        Ok(json!({"b": {"S": "y"}})),
    );
    check_update(json!({}), "REMOVE a", Ok(json!({})));
    // issue #18: removing through a missing map is an error; a missing leaf is not.
    check_update(
        json!({}),
        "REMOVE a.b[2]",
        Err("The document path provided in the update expression is invalid for update"),
    );
    check_update(
        json!({"a": {"M": {}}}),
        "REMOVE a.b",
        Ok(json!({"a": {"M": {}}})),
    );
    check_update(
        l.clone(),
        "REMOVE l[1]",
        Ok(json!({"l": {"L": [{"N": "0"}, {"N": "2"}, {"N": "3"}]}})),
    );
    // Indexes name elements of the original list.
    check_update(
        l.clone(),
        "REMOVE l[0], l[2]",
        Ok(json!({"l": {"L": [{"N": "1"}, {"N": "3"}]}})),
    );
    check_update(
        l.clone(),
        "REMOVE l[2], l[0]",
        Ok(json!({"l": {"L": [{"N": "1"}, {"N": "3"}]}})),
    );
    check_update(l.clone(), "REMOVE l[9]", Ok(l.clone()));
    check_update(
        json!({"m": {"M": {"a": {"N": "1"}, "b": {"N": "2"}}}}),
        "REMOVE m.a",
        Ok(json!({"m": {"M": {"b": {"N": "2"}}}})),
    );
    check_update(
        json!({"a": {"S": "x"}}),
        "REMOVE a[0]",
        Err("The document path provided in the update expression is invalid for update"),
    );
    check_update(
        json!({"a": {"N": "1"}}),
        "SET b = a REMOVE a",
        Ok(json!({"b": {"N": "1"}})),
    );
}

#[test]
fn update_add_and_delete() {
    let u = "Invalid UpdateExpression: ";
    check_update(json!({}), "ADD c :one", Ok(json!({"c": {"N": "1"}})));
    check_update(
        json!({"c": {"N": "1"}}),
        "ADD c :two",
        Ok(json!({"c": {"N": "3"}})),
    );
    check_update(
        json!({}),
        "ADD s :ss_new",
        Ok(json!({"s": {"SS": ["blue", "red"]}})),
    );
    check_update(
        json!({"s": {"SS": ["red", "x"]}}),
        "ADD s :ss_new",
        Ok(json!({"s": {"SS": ["red", "x", "blue"]}})),
    );
    check_update(
        json!({"s": {"NS": ["1"]}}),
        "ADD s :ss_new",
        Err("An operand in the update expression has an incorrect data type"),
    );
    check_update(
        json!({"s": {"S": "x"}}),
        "ADD s :one",
        Err("An operand in the update expression has an incorrect data type"),
    );
    check_update(
        json!({"m": {"M": {}}}),
        "ADD m.c :one",
        Ok(json!({"m": {"M": {"c": {"N": "1"}}}})),
    );
    check_update(
        json!({}),
        "ADD c :s",
        Err(&format!(
            "{u}Incorrect operand type for operator or function; operator: ADD, operand type: STRING"
        )),
    );
    check_update(
        json!({}),
        "ADD c :l",
        Err(&format!(
            "{u}Incorrect operand type for operator or function; operator: ADD, operand type: LIST"
        )),
    );
    check_update(
        json!({"s": {"NS": ["2", "9", "3"]}}),
        "DELETE s :ns2",
        Ok(json!({"s": {"NS": ["9", "3"]}})),
    );
    check_update(json!({"s": {"NS": ["9"]}}), "DELETE s :ns9", Ok(json!({})));
    check_update(json!({}), "DELETE s :ns9", Ok(json!({})));
    check_update(
        json!({"s": {"SS": ["a"]}}),
        "DELETE s :ns9",
        Err("An operand in the update expression has an incorrect data type"),
    );
    check_update(
        json!({}),
        "DELETE s :one",
        Err(&format!(
            "{u}Incorrect operand type for operator or function; operator: DELETE, operand type: NUMBER"
        )),
    );
    check_update(
        json!({}),
        "ADD c n",
        Err(&format!("{u}Syntax error; token: \"n\", near: \"c n\"")),
    );
    check_update(
        json!({"c": {"N": "1"}, "s": {"SS": ["red"]}, "gone": {"S": "x"}}),
        "SET a = :one REMOVE gone ADD c :one DELETE s :ssr",
        Ok(json!({"a": {"N": "1"}, "c": {"N": "2"}})),
    );
    check_update(
        json!({}),
        "add c :one set a = :two",
        Ok(json!({"a": {"N": "2"}, "c": {"N": "1"}})),
    );
}

#[test]
fn updated_paths() {
    let (n, v) = (names(), values());
    let mut ctx = ExprContext::new(Some(&n), Some(&v));
    let u = ctx
        .update("SET a.b = :one, #n = :two REMOVE l[1] ADD c :one")
        .unwrap();
    let paths: Vec<String> = u.updated_paths().iter().map(|p| p.to_string()).collect();
    assert_eq!(paths, ["a.b", "n", "l[1]", "c"]);
    assert_eq!(u.updated_attributes(), ["a", "n", "l", "c"]);
    let start = item_from_json(&json!({"a": {"M": {"b": {"N": "0"}, "x": {"N": "9"}}}, "l": {"L": [{"N": "0"}, {"N": "1"}]}})).unwrap();
    let mut after = start.clone();
    u.apply(&mut after).unwrap();
    let old = Projection::from_paths(u.updated_paths()).apply(&start);
    assert_eq!(
        item_to_json(&old),
        json!({"a": {"M": {"b": {"N": "0"}}}, "l": {"L": [{"N": "1"}]}})
    );
    let new = Projection::from_paths(u.updated_paths()).apply(&after);
    assert_eq!(
        item_to_json(&new),
        json!({"a": {"M": {"b": {"N": "1"}}}, "n": {"N": "2"}, "c": {"N": "1"}})
    );
}

// ---- projections -------------------------------------------------------------------------

#[track_caller]
fn check_projection(expr: &str, expected: Result<Value, &str>) {
    let n = names();
    let mut ctx = ExprContext::new(Some(&n), None);
    let got = ctx
        .projection(expr)
        .map(|p| item_to_json(&p.apply(&item())))
        .map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_string), "expression {expr:?}");
}

#[test]
fn projections() {
    let p = "Invalid ProjectionExpression: ";
    check_projection("pk", Ok(json!({"pk": {"S": "user#1"}})));
    // DynamoDB's largest list index is 4294967294: past it the path is refused.
    check_projection("l[4294967294]", Ok(json!({})));
    for index in ["4294967295", "99999999999999999999999"] {
        check_projection(
            &format!("l[{index}]"),
            Err(&format!(
                "{p}List index is not within the allowable range; index: [{index}]"
            )),
        );
    }
    check_projection(
        "pk, n, absent",
        Ok(json!({"pk": {"S": "user#1"}, "n": {"N": "10"}})),
    );
    check_projection("#s", Ok(json!({"Status": {"S": "ok"}})));
    check_projection(
        "m.k, m.nest.x",
        Ok(json!({"m": {"M": {"k": {"S": "v"}, "nest": {"M": {"x": {"N": "5"}}}}}})),
    );
    check_projection(
        "l[2], l[0]",
        Ok(json!({"l": {"L": [{"S": "a"}, {"L": [{"S": "deep"}]}]}})),
    );
    check_projection("l[2][0]", Ok(json!({"l": {"L": [{"L": [{"S": "deep"}]}]}})));
    check_projection("l[9], m.nope, s.x, n[0]", Ok(json!({})));
    check_projection("#m.#k", Ok(json!({"m": {"M": {"k": {"S": "v"}}}})));
    check_projection(
        "pk, pk",
        Err(&format!(
            "{p}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [pk], path two: [pk]"
        )),
    );
    check_projection(
        "m, m.k",
        Err(&format!(
            "{p}Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [m], path two: [m, k]"
        )),
    );
    check_projection(
        "#x",
        Err(&format!(
            "{p}An expression attribute name used in the document path is not defined; attribute name: #x"
        )),
    );
    check_projection(
        "pk,",
        Err(&format!("{p}Syntax error; token: <EOF>, near: \",\"")),
    );
    check_projection(
        "data",
        Err(&format!(
            "{p}Attribute name is a reserved keyword; reserved keyword: data"
        )),
    );
    check_projection(
        "pk n",
        Err(&format!("{p}Syntax error; token: \"n\", near: \"pk n\"")),
    );
}

#[test]
fn projection_from_paths() {
    let p = Projection::from_paths(vec![
        Path::name("m").child("nest"),
        Path::name("l").index(1),
    ]);
    assert_eq!(
        item_to_json(&p.apply(&item())),
        json!({"m": {"M": {"nest": {"M": {"x": {"N": "5"}}}}}, "l": {"L": [{"N": "1"}]}})
    );
}

// ---- key conditions ----------------------------------------------------------------------

/// Expected partition key name, `:value` placeholder, and sort condition.
type KeyExpectation<'a> = (&'a str, &'a str, Option<(&'a str, SortCondition)>);

#[track_caller]
fn check_key(expr: &str, expected: Result<KeyExpectation<'_>, &str>) {
    let (n, v) = (names(), values());
    let mut ctx = ExprContext::new(Some(&n), Some(&v));
    let got = ctx.key_condition(expr).map_err(|e| e.to_string()).map(|k| {
        let (pk, pv) = k.partition();
        let sort = k.sort().map(|(n, c)| (n.to_string(), c));
        (pk.to_string(), pv.clone(), sort)
    });
    let expected = expected.map_err(str::to_string).map(|(pk, pv, sort)| {
        (
            pk.to_string(),
            values()[pv].clone(),
            sort.map(|(n, c)| (n.to_string(), c)),
        )
    });
    assert_eq!(got, expected, "expression {expr:?}");
}

fn val(k: &str) -> AttributeValue {
    values()[k].clone()
}

#[test]
fn key_conditions() {
    let k = "Invalid KeyConditionExpression: ";
    check_key("pk = :s", Ok(("pk", ":s", None)));
    check_key("#s = :s", Ok(("Status", ":s", None)));
    check_key(
        "pk = :s AND sk = :n",
        Ok(("pk", ":s", Some(("sk", SortCondition::Eq(val(":n")))))),
    );
    check_key(
        "pk = :s AND sk < :n",
        Ok(("pk", ":s", Some(("sk", SortCondition::Lt(val(":n")))))),
    );
    check_key(
        "pk = :s AND sk <= :n",
        Ok(("pk", ":s", Some(("sk", SortCondition::Le(val(":n")))))),
    );
    check_key(
        "sk > :n AND pk = :s",
        Ok(("pk", ":s", Some(("sk", SortCondition::Gt(val(":n")))))),
    );
    check_key(
        "pk = :s AND sk >= :n",
        Ok(("pk", ":s", Some(("sk", SortCondition::Ge(val(":n")))))),
    );
    check_key(
        "pk = :s AND sk BETWEEN :one AND :n",
        Ok((
            "pk",
            ":s",
            Some(("sk", SortCondition::Between(val(":one"), val(":n")))),
        )),
    );
    check_key(
        "(pk = :s) AND (begins_with(sk, :hello))",
        Ok((
            "pk",
            ":s",
            Some(("sk", SortCondition::BeginsWith(val(":hello")))),
        )),
    );
    check_key(
        "pk = :s OR sk = :n",
        Err(&format!(
            "{k}Invalid operator used in KeyConditionExpression: OR"
        )),
    );
    check_key(
        "NOT pk = :s",
        Err(&format!(
            "{k}Invalid operator used in KeyConditionExpression: NOT"
        )),
    );
    check_key(
        "pk = :s AND attribute_exists(sk)",
        Err(&format!(
            "{k}Invalid operator used in KeyConditionExpression: attribute_exists"
        )),
    );
    check_key(
        "pk = :s AND sk IN (:n)",
        Err(&format!(
            "{k}Invalid operator used in KeyConditionExpression: IN"
        )),
    );
    check_key(
        "pk <> :s",
        Err(&format!(
            "{k}Invalid operator used in KeyConditionExpression: <>"
        )),
    );
    check_key(
        "pk = :s AND a = :n AND b = :n",
        Err(&format!("{k}Conditions can be of length 1 or 2 only")),
    );
    check_key(
        "pk = :s AND pk = :n",
        Err(&format!(
            "{k}KeyConditionExpressions must only contain one condition per key"
        )),
    );
    check_key("pk < :s", Err("Query key condition not supported"));
    check_key(
        "pk.a = :s",
        Err(&format!(
            "{k}KeyConditionExpressions cannot have conditions on nested attributes; attribute: pk.a"
        )),
    );
    check_key(
        "pk = sk",
        Err(&format!(
            "{k}Key conditions must compare a key attribute name with an expression attribute value"
        )),
    );
}

#[test]
fn key_condition_orient() {
    let v = values();
    let mut ctx = ExprContext::new(None, Some(&v));
    let mut kc = ctx.key_condition("sk = :n AND pk = :s").unwrap();
    assert_eq!(kc.partition().0, "sk");
    assert!(kc.orient("pk"));
    assert_eq!(kc.partition(), ("pk", &val(":s")));
    assert_eq!(kc.sort().map(|(n, _)| n), Some("sk"));
    assert!(!kc.orient("other"));
}

// ---- reserved words and robustness -------------------------------------------------------

#[test]
fn reserved_words() {
    for w in [
        "ABORT", "status", "Name", "zone", "data", "size", "ttl", "year",
    ] {
        assert!(is_reserved(w), "{w}");
    }
    for w in ["pk", "sk", "user", "users_", "abc", ""] {
        assert_eq!(is_reserved(w), w == "user", "{w}");
    }
}

proptest! {
    #[test]
    fn parsers_never_panic(s in "[a-z#:()\\[\\]0-9 ,.=<>+\\-]{0,60}|\\PC{0,40}") {
        let (n, v) = (names(), values());
        let mut ctx = ExprContext::new(Some(&n), Some(&v));
        if let Ok(c) = ctx.condition(&s) {
            let _ = c.evaluate(&item());
        }
        if let Ok(u) = ctx.update(&s) {
            let _ = u.apply(&mut item());
        }
        if let Ok(p) = ctx.projection(&s) {
            let _ = p.apply(&item());
        }
        let _ = ctx.key_condition(&s);
        let _ = ctx.finish();
    }

    #[test]
    fn token_soup_never_panics(toks in proptest::collection::vec(prop_oneof![
        Just("a"), Just("#s"), Just("#m"), Just(":n"), Just(":l"), Just(":ssr"), Just(":nope"),
        Just("("), Just(")"), Just("["), Just("]"), Just("0"), Just("99999999999999999999999"),
        Just("."), Just(","), Just("="), Just("<>"), Just("<"), Just(">="), Just("+"), Just("-"),
        Just("AND"), Just("OR"), Just("NOT"), Just("BETWEEN"), Just("IN"), Just("SET"),
        Just("REMOVE"), Just("ADD"), Just("DELETE"), Just("size"), Just("contains"),
        Just("attribute_exists"), Just("begins_with"), Just("if_not_exists"),
        Just("list_append"), Just("l"), Just("m"), Just("n"), Just("status"),
    ], 0..40)) {
        let s = toks.join(" ");
        let (n, v) = (names(), values());
        let mut ctx = ExprContext::new(Some(&n), Some(&v));
        if let Ok(c) = ctx.condition(&s) {
            let _ = c.evaluate(&item());
        }
        if let Ok(u) = ctx.update(&s) {
            let _ = u.apply(&mut item());
        }
        if let Ok(p) = ctx.projection(&s) {
            let _ = p.apply(&item());
        }
        let _ = ctx.key_condition(&s);
    }

    #[test]
    fn generated_conditions_parse(s in condition_text()) {
        let (n, v) = (names(), values());
        let mut ctx = ExprContext::new(Some(&n), Some(&v));
        let c = ctx.condition(&s);
        prop_assert!(c.is_ok(), "{} -> {:?}", s, c.err());
        let _ = c.map(|c| c.evaluate(&item()));
    }
}

fn condition_text() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        Just("n = :n".to_string()),
        Just("attribute_exists(m.k)".to_string()),
        Just("size(l) > :one".to_string()),
        Just("s BETWEEN :a AND :z".to_string()),
        Just("#s IN (:s, :red)".to_string()),
        Just("contains(ss, :red)".to_string()),
    ];
    atom.prop_recursive(4, 32, 2, |nest| {
        prop_oneof![
            (nest.clone(), nest.clone()).prop_map(|(a, b)| format!("{a} AND {b}")),
            (nest.clone(), nest.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
            nest.clone().prop_map(|a| format!("NOT (n = :n OR {a})")),
            nest.prop_map(|a| format!("(n = :n AND {a})")),
        ]
    })
}

#[test]
fn longest_expressions_parse_and_evaluate() {
    // 300 operators at most (150 comparisons and 149 ANDs here), counted across the
    // expression; nesting is only bounded by that.
    let chain = vec!["n = :n"; 150].join(" AND ");
    check_cond(&chain, Ok(true));
    let chain = vec!["n = :n"; 151].join(" AND ");
    check_cond(
        &chain,
        Err(
            "Invalid ConditionExpression: The expression contains too many operators; operator count: 301",
        ),
    );
    let nots = format!("{}n = :n", "NOT ".repeat(299));
    check_cond(&nots, Ok(false));
    let nots = format!("{}n = :n", "NOT ".repeat(300));
    check_cond(
        &nots,
        Err(
            "Invalid ConditionExpression: The expression contains too many operators; operator count: 301",
        ),
    );
    let nested = format!(
        "SET l = {}:l{}",
        "list_append(:l, ".repeat(301),
        ")".repeat(301)
    );
    assert!(
        ExprContext::new(None, Some(&values()))
            .update(&nested)
            .is_err()
    );
}

#[test]
fn error_type_is_comparable() {
    let v = values();
    let mut ctx = ExprContext::new(None, Some(&v));
    let a = ctx.condition("a =").unwrap_err();
    assert!(matches!(a, ExprError::Invalid { .. }));
}
