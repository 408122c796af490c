//! Provisioned throughput: token buckets that make a PROVISIONED table's read and write
//! capacity units (and each global index's) a limit, as DynamoDB does
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/provisioned-capacity-mode.html>,
//! burst capacity: <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/burst-adaptive-capacity.html>).
//!
//! Each table has a read and a write [`Bucket`]; each global index has its own two. A bucket
//! fills at its provisioned units per second and holds at most `burst_secs` seconds of them
//! (DynamoDB keeps up to 300 s of unused capacity); a new bucket starts full, as a table that
//! was idle. A request is admitted while every bucket it draws on holds capacity (more than
//! zero units); what it consumed ([`crate::capacity`]: per item size, eventually consistent
//! reads at half, transactions at double) is debited once it ran, so a bucket may go into
//! debt, repaid by the refill before the next request is admitted: DynamoDB too knows a
//! request's price only once it read the items. A write draws on the table's write bucket and
//! on every global index's (a global index short of write capacity throttles writes to its
//! table, as AWS documents); a read draws on the table's read bucket, or the index's for a
//! Query or Scan of a global index. Local indexes share the table's capacity.
//! PAY_PER_REQUEST tables are counted, never refused.
//!
//! Simplifications (documented in the README): one bucket per table and index, no
//! partitions (so no per-partition limit and no adaptive capacity to rebalance them); buckets
//! live in each node's memory, so every node admits up to the provisioned rate.
//!
//! Owns: the buckets and the counters (`consumed`, `throttled`) health and the autoscaler
//! read. Must not: price requests (see [`crate::capacity`]) or touch the store.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::capacity::{Consumed, Kind};
use crate::catalog::{BillingMode, TableMeta};
use crate::error::{Error, Result};
use crate::index::IndexKind;

/// DynamoDB keeps up to five minutes of unused capacity for bursts.
pub const DEFAULT_BURST_SECS: u64 = 300;

/// One token bucket: `rate` units per second, at most `rate × burst_secs` held (at least one
/// second's worth). Times are seconds on the caller's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    rate: f64,
    burst_secs: f64,
    tokens: f64,
    at: f64,
}

impl Bucket {
    /// A full bucket of `rate` units per second at `now`.
    pub fn new(rate: f64, burst_secs: f64, now: f64) -> Self {
        let mut b = Self {
            rate,
            burst_secs: burst_secs.max(1.0),
            tokens: 0.0,
            at: now,
        };
        b.tokens = b.capacity();
        b
    }

    /// The most the bucket holds.
    pub fn capacity(&self) -> f64 {
        self.rate * self.burst_secs
    }

    /// Units available at `now` (negative while in debt).
    pub fn tokens(&mut self, now: f64) -> f64 {
        self.refill(now);
        self.tokens
    }

    fn refill(&mut self, now: f64) {
        if now > self.at {
            self.tokens = (self.tokens + (now - self.at) * self.rate).min(self.capacity());
            self.at = now;
        }
    }

    /// Whether a request may start at `now`: the bucket holds more than zero units.
    pub fn admits(&mut self, now: f64) -> bool {
        self.tokens(now) > 0.0
    }

    /// Takes `units` a request consumed (may leave the bucket in debt).
    pub fn debit(&mut self, units: f64, now: f64) {
        self.refill(now);
        self.tokens -= units;
    }

    /// A new provisioned rate from `now` on: what the bucket holds is kept, up to the new
    /// capacity.
    pub fn set_rate(&mut self, rate: f64, now: f64) {
        self.refill(now);
        self.rate = rate;
        self.tokens = self.tokens.min(self.capacity());
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }
}

/// One direction (read or write) of a table or index: its bucket and counters.
#[derive(Debug, Clone)]
struct Lane {
    bucket: Bucket,
    consumed: f64,
    throttled: u64,
}

impl Lane {
    fn new(units: u64, burst_secs: f64, now: f64) -> Self {
        Self {
            bucket: Bucket::new(units as f64, burst_secs, now),
            consumed: 0.0,
            throttled: 0,
        }
    }

    fn usage(&self) -> LaneUsage {
        LaneUsage {
            provisioned: self.bucket.rate() as u64,
            consumed: self.consumed,
            throttled: self.throttled,
        }
    }
}

#[derive(Debug, Clone)]
struct Pair {
    read: Lane,
    write: Lane,
}

impl Pair {
    fn new(read: u64, write: u64, burst_secs: f64, now: f64) -> Self {
        Self {
            read: Lane::new(read, burst_secs, now),
            write: Lane::new(write, burst_secs, now),
        }
    }

    fn set(&mut self, read: u64, write: u64, now: f64) {
        self.read.bucket.set_rate(read as f64, now);
        self.write.bucket.set_rate(write as f64, now);
    }

    fn lane(&mut self, kind: Kind) -> &mut Lane {
        match kind {
            Kind::Read => &mut self.read,
            Kind::Write => &mut self.write,
        }
    }
}

/// What the meter knows of one table: its mode, its lanes, its global indexes' lanes.
#[derive(Debug, Clone)]
struct TableLanes {
    id: String,
    mode: BillingMode,
    table: Pair,
    globals: BTreeMap<String, Pair>,
}

/// What a request is about to draw on, for admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demand<'a> {
    /// A read of the table, or of `index` (a Query or Scan with `IndexName`).
    Read {
        table: &'a str,
        index: Option<&'a str>,
    },
    /// A write to the table (and so to each of its global indexes).
    Write { table: &'a str },
}

/// The consumed units (since the node started), provisioned rate and throttled requests of
/// one direction of a table or index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LaneUsage {
    pub provisioned: u64,
    pub consumed: f64,
    pub throttled: u64,
}

/// One table's or global index's counters on this node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Usage {
    pub table: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<String>,
    pub billing_mode: &'static str,
    pub read: LaneUsage,
    pub write: LaneUsage,
}

/// Every table's buckets on this node.
#[derive(Debug)]
pub struct Meter {
    burst_secs: f64,
    epoch: Instant,
    tables: Mutex<HashMap<String, TableLanes>>,
}

impl Meter {
    pub fn new(burst_secs: u64) -> Self {
        Self {
            burst_secs: burst_secs as f64,
            epoch: Instant::now(),
            tables: Mutex::new(HashMap::new()),
        }
    }

    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, TableLanes>> {
        self.tables.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows `meta`'s billing mode and capacities (a table seen for the first time, or
    /// created anew under the same name, starts with full buckets).
    pub fn sync(&self, meta: &TableMeta) {
        let now = self.now();
        let mut tables = self.lock();
        self.sync_locked(&mut tables, meta, now);
    }

    fn sync_locked(&self, tables: &mut HashMap<String, TableLanes>, meta: &TableMeta, now: f64) {
        let fresh = || TableLanes {
            id: meta.id.clone(),
            mode: meta.billing_mode,
            table: Pair::new(
                meta.read_capacity,
                meta.write_capacity,
                self.burst_secs,
                now,
            ),
            globals: BTreeMap::new(),
        };
        let lanes = tables.entry(meta.name.clone()).or_insert_with(fresh);
        // A new table under the name starts afresh; one switched to provisioned starts with
        // full buckets (what it consumed on demand is no debt).
        if lanes.id != meta.id {
            *lanes = fresh();
        }
        let switched =
            lanes.mode != meta.billing_mode && meta.billing_mode == BillingMode::Provisioned;
        lanes.mode = meta.billing_mode;
        lanes
            .table
            .set(meta.read_capacity, meta.write_capacity, now);
        let globals: Vec<_> = meta
            .indexes
            .iter()
            .filter(|i| i.kind == IndexKind::Global)
            .collect();
        lanes
            .globals
            .retain(|name, _| globals.iter().any(|g| &g.name == name));
        for g in globals {
            match lanes.globals.get_mut(&g.name) {
                Some(pair) => pair.set(g.read_capacity, g.write_capacity, now),
                None => {
                    lanes.globals.insert(
                        g.name.clone(),
                        Pair::new(g.read_capacity, g.write_capacity, self.burst_secs, now),
                    );
                }
            }
        }
        if switched {
            for pair in std::iter::once(&mut lanes.table).chain(lanes.globals.values_mut()) {
                for lane in [&mut pair.read, &mut pair.write] {
                    lane.bucket = Bucket::new(lane.bucket.rate(), self.burst_secs, now);
                }
            }
        }
    }

    /// Forgets a deleted table.
    pub fn forget(&self, table: &str) {
        self.lock().remove(table);
    }

    /// Admits every demand of one request, or refuses it with
    /// `ProvisionedThroughputExceededException` (counted on the bucket that refused).
    pub fn admit(&self, demands: &[Demand<'_>]) -> Result<()> {
        self.admit_at(demands, self.now())
    }

    fn admit_at(&self, demands: &[Demand<'_>], now: f64) -> Result<()> {
        let mut tables = self.lock();
        for demand in demands {
            let (Demand::Read { table, .. } | Demand::Write { table }) = *demand;
            let Some(lanes) = tables.get_mut(table) else {
                continue;
            };
            if lanes.mode != BillingMode::Provisioned {
                continue;
            }
            match *demand {
                Demand::Read { index, .. } => {
                    let lane = match index.and_then(|i| lanes.globals.get_mut(i)) {
                        Some(pair) => &mut pair.read,
                        None => &mut lanes.table.read,
                    };
                    if !lane.bucket.admits(now) {
                        lane.throttled += 1;
                        return Err(exceeded(index.filter(|i| lanes.globals.contains_key(*i))));
                    }
                }
                Demand::Write { .. } => {
                    if !lanes.table.write.bucket.admits(now) {
                        lanes.table.write.throttled += 1;
                        return Err(exceeded(None));
                    }
                    for (name, pair) in lanes.globals.iter_mut() {
                        if !pair.write.bucket.admits(now) {
                            pair.write.throttled += 1;
                            // The table's write is throttled because of its index.
                            lanes.table.write.throttled += 1;
                            return Err(exceeded(Some(name)));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Debits what one operation consumed on `meta` (`kind` units on the table, its local
    /// indexes (the table's capacity) and its global indexes (their own)).
    pub fn charge(&self, meta: &TableMeta, kind: Kind, consumed: &Consumed) {
        self.charge_at(meta, kind, consumed, self.now());
    }

    fn charge_at(&self, meta: &TableMeta, kind: Kind, consumed: &Consumed, now: f64) {
        let mut tables = self.lock();
        self.sync_locked(&mut tables, meta, now);
        Self::debit(&mut tables, &meta.name, kind, consumed, now);
    }

    /// Like [`charge`](Self::charge) for a table known by name only (batches and
    /// transactions, whose records stay inside their transaction); a table this node has not
    /// seen is not charged (admission syncs every table a request names first).
    pub fn charge_named(&self, table: &str, kind: Kind, consumed: &Consumed) {
        let now = self.now();
        Self::debit(&mut self.lock(), table, kind, consumed, now);
    }

    /// Whether this node has buckets for `table`.
    pub fn knows(&self, table: &str) -> bool {
        self.lock().contains_key(table)
    }

    fn debit(
        tables: &mut HashMap<String, TableLanes>,
        table: &str,
        kind: Kind,
        consumed: &Consumed,
        now: f64,
    ) {
        let Some(lanes) = tables.get_mut(table) else {
            return;
        };
        let provisioned = lanes.mode == BillingMode::Provisioned;
        let on_table = consumed.table + consumed.local.values().sum::<f64>();
        let lane = lanes.table.lane(kind);
        if provisioned {
            lane.bucket.debit(on_table, now);
        }
        lane.consumed += on_table;
        for (name, units) in &consumed.global {
            if let Some(pair) = lanes.globals.get_mut(name) {
                let lane = pair.lane(kind);
                if provisioned {
                    lane.bucket.debit(*units, now);
                }
                lane.consumed += units;
            }
        }
    }

    /// Every table's and global index's counters, by table then index.
    pub fn usage(&self) -> Vec<Usage> {
        let tables = self.lock();
        let mut out = Vec::new();
        for (name, lanes) in tables.iter() {
            let mode = lanes.mode.as_str();
            out.push(Usage {
                table: name.clone(),
                index: None,
                billing_mode: mode,
                read: lanes.table.read.usage(),
                write: lanes.table.write.usage(),
            });
            for (index, pair) in &lanes.globals {
                out.push(Usage {
                    table: name.clone(),
                    index: Some(index.clone()),
                    billing_mode: mode,
                    read: pair.read.usage(),
                    write: pair.write.usage(),
                });
            }
        }
        out.sort_by(|a, b| (&a.table, &a.index).cmp(&(&b.table, &b.index)));
        out
    }
}

/// DynamoDB's refusal, naming the table or the global index short of capacity.
fn exceeded(index: Option<&str>) -> Error {
    Error::ProvisionedThroughputExceeded(match index {
        None => "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.".into(),
        Some(index) => format!(
            "The level of configured provisioned throughput for one or more global secondary indexes of the table was exceeded. Consider increasing your provisioning level for the under-provisioned global secondary indexes with the UpdateTable API. Index: {index}"
        ),
    })
}

/// What a request with this input will draw on (tables named in it, by ARN or name), for
/// [`Meter::admit`]. Operations that use no capacity draw on nothing.
pub fn demands<'a>(operation: &str, input: &'a serde_json::Value) -> Vec<Demand<'a>> {
    let name = |v: &'a serde_json::Value| v.as_str().map(crate::ops::table_name);
    let mut out = Vec::new();
    match operation {
        "GetItem" => {
            out.extend(name(&input["TableName"]).map(|table| Demand::Read { table, index: None }))
        }
        "Query" | "Scan" => out.extend(name(&input["TableName"]).map(|table| Demand::Read {
            table,
            index: input["IndexName"].as_str(),
        })),
        "PutItem" | "UpdateItem" | "DeleteItem" => {
            out.extend(name(&input["TableName"]).map(|table| Demand::Write { table }))
        }
        "BatchGetItem" | "BatchWriteItem" => {
            if let Some(tables) = input["RequestItems"].as_object() {
                for table in tables.keys() {
                    let table = crate::ops::table_name(table);
                    out.push(if operation == "BatchGetItem" {
                        Demand::Read { table, index: None }
                    } else {
                        Demand::Write { table }
                    });
                }
            }
        }
        "TransactGetItems" | "TransactWriteItems" => {
            for item in input["TransactItems"].as_array().into_iter().flatten() {
                for (action, body) in item.as_object().into_iter().flatten() {
                    if let Some(table) = name(&body["TableName"]) {
                        out.push(match action.as_str() {
                            "Get" => Demand::Read { table, index: None },
                            // A ConditionCheck is priced as a write.
                            _ => Demand::Write { table },
                        });
                    }
                }
            }
        }
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step against a bucket of 10 units/s with a burst of `burst` seconds: at `t`,
    /// either ask whether a request is admitted (`Admit(expected)`) or debit units.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Admit(bool),
        Debit(f64),
        Rate(f64),
        Tokens(f64),
    }

    #[track_caller]
    fn check(burst: f64, steps: &[(f64, Step)]) {
        let mut b = Bucket::new(10.0, burst, 0.0);
        for (i, (t, step)) in steps.iter().enumerate() {
            match *step {
                Step::Admit(want) => assert_eq!(b.admits(*t), want, "step {i} at {t}: {b:?}"),
                Step::Debit(units) => b.debit(units, *t),
                Step::Rate(rate) => b.set_rate(rate, *t),
                Step::Tokens(want) => {
                    let got = b.tokens(*t);
                    assert!(
                        (got - want).abs() < 1e-9,
                        "step {i} at {t}: {got} != {want}"
                    );
                }
            }
        }
    }

    use Step::*;

    #[test]
    fn buckets() {
        // Starts full: burst seconds of capacity.
        check(300.0, &[(0.0, Tokens(3000.0)), (0.0, Admit(true))]);
        // A burst of less than a second still holds one second.
        check(0.0, &[(0.0, Tokens(10.0))]);
        // Spending everything refuses until the refill.
        check(
            1.0,
            &[
                (0.0, Debit(10.0)),
                (0.0, Admit(false)),
                (0.05, Admit(true)),
                (0.05, Tokens(0.5)),
            ],
        );
        // Debt: a large request is admitted on any capacity, then must be repaid.
        check(
            1.0,
            &[
                (0.0, Debit(9.5)),
                (0.0, Admit(true)),
                (0.0, Debit(20.0)),
                (0.0, Tokens(-19.5)),
                (1.0, Admit(false)),
                (1.95, Admit(false)),
                (2.0, Admit(true)),
            ],
        );
        // Unused capacity accumulates up to the burst, no further.
        check(
            5.0,
            &[
                (0.0, Debit(50.0)),
                (2.0, Tokens(20.0)),
                (100.0, Tokens(50.0)),
            ],
        );
        // A higher rate refills faster from the change on; a lower one caps what is held.
        check(
            1.0,
            &[
                (0.0, Debit(10.0)),
                (0.0, Rate(100.0)),
                (0.5, Tokens(50.0)),
                (0.5, Rate(10.0)),
                (0.5, Tokens(10.0)),
            ],
        );
        // A clock that goes backwards takes nothing back.
        check(1.0, &[(5.0, Debit(5.0)), (4.0, Tokens(5.0))]);
        // Zero capacity (a table with 0 units is impossible on AWS, but a bucket must not
        // divide by it or admit forever after the first request).
        let mut zero = Bucket::new(0.0, 300.0, 0.0);
        assert!(!zero.admits(10.0));
    }

    fn table(mode: BillingMode, read: u64, write: u64, gsi_write: Option<u64>) -> TableMeta {
        let mut meta: TableMeta = serde_json::from_value(serde_json::json!({
            "version": 2, "name": "t", "id": "id-1",
            "hash_key": {"name": "pk", "kind": "S"}, "range_key": null,
            "billing_mode": mode, "read_capacity": read, "write_capacity": write,
            "created": 0.0, "tags": [],
        }))
        .unwrap();
        if let Some(w) = gsi_write {
            meta.indexes.push(
                serde_json::from_value(serde_json::json!({
                    "name": "g", "id": "ix", "kind": "Global",
                    "hash_key": {"name": "gk", "kind": "S"}, "range_key": null,
                    "projection": "All", "read_capacity": 1, "write_capacity": w,
                }))
                .unwrap(),
            );
        }
        meta
    }

    #[test]
    fn meter() {
        let m = Meter::new(1);
        let write = [Demand::Write { table: "t" }];
        let read = [Demand::Read {
            table: "t",
            index: None,
        }];
        // An unknown table is admitted (the operation will say it does not exist).
        m.admit_at(&write, 0.0).unwrap();
        // On-demand: counted, never refused.
        let on_demand = table(BillingMode::PayPerRequest, 0, 0, None);
        m.charge_at(&on_demand, Kind::Write, &Consumed::on_table(1000.0), 0.0);
        m.admit_at(&write, 0.0).unwrap();
        assert_eq!(m.usage()[0].write.consumed, 1000.0);
        // Switched to provisioned (2 WCU, burst of 1 s): full buckets, no debt carried over
        // from what it consumed on demand.
        let prov = table(BillingMode::Provisioned, 4, 2, Some(1));
        m.sync(&prov);
        let t0 = m.now();
        m.charge_at(&prov, Kind::Write, &Consumed::on_table(2.0), t0);
        let e = m.admit_at(&write, t0).unwrap_err();
        assert!(matches!(e, Error::ProvisionedThroughputExceeded(_)), "{e}");
        m.admit_at(&read, t0).unwrap();
        // A global index short of write capacity throttles the table's writes.
        let mut c = Consumed::on_table(0.0);
        c.global.insert("g".into(), 3.0);
        m.charge_at(&prov, Kind::Write, &c, t0 + 5.0);
        let e = m.admit_at(&write, t0 + 5.0).unwrap_err();
        assert!(e.to_string().contains("Index: g"), "{e}");
        m.admit_at(&write, t0 + 7.5).unwrap();
        // Reads of the index draw on the index's read bucket.
        let mut c = Consumed::on_table(0.0);
        c.global.insert("g".into(), 1.0);
        m.charge_at(&prov, Kind::Read, &c, t0 + 8.0);
        let index_read = [Demand::Read {
            table: "t",
            index: Some("g"),
        }];
        assert!(m.admit_at(&index_read, t0 + 8.0).is_err());
        m.admit_at(&read, t0 + 8.0).unwrap();
        let usage = m.usage();
        assert_eq!(usage.len(), 2);
        assert_eq!(usage[0].write.throttled, 2);
        assert_eq!(usage[1].index.as_deref(), Some("g"));
        assert_eq!(usage[1].write.throttled, 1);
        assert_eq!(usage[1].read.throttled, 1);
        assert_eq!(usage[1].write.provisioned, 1);
        // A table created anew under the name starts afresh.
        let mut again = table(BillingMode::Provisioned, 4, 2, None);
        again.id = "id-2".into();
        m.sync(&again);
        m.admit_at(&write, m.now()).unwrap();
        assert_eq!(m.usage().len(), 1);
        assert_eq!(m.usage()[0].write.throttled, 0);
    }

    #[test]
    fn demands_of_requests() {
        use serde_json::json;
        let check = |op: &str, input: serde_json::Value, want: &[Demand<'_>]| {
            assert_eq!(demands(op, &input), want, "{op}");
        };
        check(
            "GetItem",
            json!({"TableName": "arn:aws:dynamodb:us-east-1:000000000000:table/t"}),
            &[Demand::Read {
                table: "t",
                index: None,
            }],
        );
        check(
            "Query",
            json!({"TableName": "t", "IndexName": "g"}),
            &[Demand::Read {
                table: "t",
                index: Some("g"),
            }],
        );
        check(
            "BatchWriteItem",
            json!({"RequestItems": {"a": [], "b": []}}),
            &[Demand::Write { table: "a" }, Demand::Write { table: "b" }],
        );
        check(
            "TransactWriteItems",
            json!({"TransactItems": [{"Put": {"TableName": "a"}}, {"ConditionCheck": {"TableName": "b"}}]}),
            &[Demand::Write { table: "a" }, Demand::Write { table: "b" }],
        );
        check(
            "TransactGetItems",
            json!({"TransactItems": [{"Get": {"TableName": "a"}}]}),
            &[Demand::Read {
                table: "a",
                index: None,
            }],
        );
        check("DescribeTable", json!({"TableName": "t"}), &[]);
    }
}
