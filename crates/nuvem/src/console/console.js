// The nuvem console. Every action is an AWS API call sent to /_nuvem/console/api/{service}/…,
// which nuvem signs with this session's key and dispatches like any client's request. The DOM
// is built from text nodes only (never innerHTML): names, keys and items are data, not markup.
"use strict";

const SESSION = "nuvem-console-session";
const view = document.getElementById("view");
let timers = [];

// A page token in the fragment comes from the one-time link: keep it in this tab only.
if (location.hash.startsWith("#session=")) {
  sessionStorage.setItem(SESSION, location.hash.slice("#session=".length));
  sessionStorage.setItem("nuvem-console-key", "(one-time link)");
  history.replaceState(null, "", "/_nuvem/console/#/overview");
}
if (!sessionStorage.getItem(SESSION)) location.replace("/_nuvem/console/signin");

// ---- helpers -------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function status(text, bad) {
  const s = document.getElementById("status");
  s.textContent = text || "";
  s.className = bad ? "error" : "";
}

class ApiError extends Error {
  constructor(code, message, httpStatus) {
    super((code ? code + ": " : "") + message);
    this.code = code;
    this.httpStatus = httpStatus;
  }
}

// One AWS call through the console's door. Returns the Response (any status).
async function call(service, method, path, opts) {
  opts = opts || {};
  const headers = Object.assign({ "X-Nuvem-Console": sessionStorage.getItem(SESSION) || "" }, opts.headers || {});
  const r = await fetch("/_nuvem/console/api/" + service + path, {
    method,
    headers,
    body: opts.body,
    credentials: "same-origin",
    cache: "no-store",
  });
  if (r.status === 401 && (r.headers.get("content-type") || "").startsWith("application/json")) {
    const j = await r.clone().json().catch(() => ({}));
    if (j.code === "NotSignedIn") {
      sessionStorage.removeItem(SESSION);
      location.replace("/_nuvem/console/signin");
      throw new ApiError("NotSignedIn", "signed out", 401);
    }
  }
  return r;
}

async function errorOf(r) {
  const text = await r.text();
  try {
    const j = JSON.parse(text);
    const code = (j.__type || j.code || j.Type || "").split("#").pop();
    return new ApiError(code, j.message || j.Message || text, r.status);
  } catch (_) {
    const x = new DOMParser().parseFromString(text, "application/xml");
    const code = x.querySelector("Code");
    const msg = x.querySelector("Message");
    return new ApiError(code ? code.textContent : String(r.status), msg ? msg.textContent : text, r.status);
  }
}

async function dynamo(op, payload) {
  const r = await call("dynamodb", "POST", "/", {
    headers: { "X-Amz-Target": "DynamoDB_20120810." + op, "Content-Type": "application/x-amz-json-1.0" },
    body: JSON.stringify(payload || {}),
  });
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

async function xml(service, method, path, opts) {
  const r = await call(service, method, path, opts);
  if (!r.ok) throw await errorOf(r);
  return new DOMParser().parseFromString(await r.text(), "application/xml");
}

function texts(node, tag) {
  return Array.from(node.getElementsByTagName(tag)).map((n) => n.textContent);
}

function first(node, tag) {
  const n = node.getElementsByTagName(tag)[0];
  return n ? n.textContent : "";
}

function encodeKey(key) {
  return key.split("/").map(encodeURIComponent).join("/");
}

function fmtBytes(n) {
  n = Number(n);
  if (n < 1024) return n + " B";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return n.toFixed(1) + " " + units[i];
}

function guard(fn) {
  return async (...args) => {
    try {
      status("");
      await fn(...args);
    } catch (e) {
      if (e.code !== "NotSignedIn") status(String(e.message || e), true);
    }
  };
}

// ---- metrics -------------------------------------------------------------------------

// Prometheus text: [{name, labels, value}].
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    let l;
    while ((l = re.exec(m[3] || ""))) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

async function scrape() {
  const r = await call("nuvem", "GET", "/_nuvem/metrics");
  if (!r.ok) throw await errorOf(r);
  return parseMetrics(await r.text());
}

// The console's own polls (service `_nuvem`: health and metrics) are left out of the API
// figures, or the page would mostly show itself.
function sum(samples, name, where) {
  let s = 0;
  for (const x of samples) {
    if (x.name !== name || x.labels.service === "_nuvem") continue;
    if (where && !Object.entries(where).every(([k, v]) => x.labels[k] === v)) continue;
    s += x.value;
  }
  return s;
}

function groupBy(samples, name, label) {
  const g = {};
  for (const x of samples) if (x.name === name && x.labels.service !== "_nuvem") g[x.labels[label]] = (g[x.labels[label]] || 0) + x.value;
  return g;
}

// The q-quantile of a service's latency over an interval, from two scrapes' histogram buckets.
function quantile(now, before, service, q) {
  const buckets = (samples) => {
    const b = {};
    for (const x of samples) {
      if (x.name !== "nuvem_api_request_duration_seconds_bucket") continue;
      if (service ? x.labels.service !== service : x.labels.service === "_nuvem") continue;
      b[x.labels.le] = (b[x.labels.le] || 0) + x.value;
    }
    return b;
  };
  const a = buckets(now), p = buckets(before || []);
  const les = Object.keys(a).sort((x, y) => (x === "+Inf" ? 1 : y === "+Inf" ? -1 : Number(x) - Number(y)));
  const total = (a["+Inf"] || 0) - (p["+Inf"] || 0);
  if (total <= 0) return null;
  for (const le of les) if ((a[le] || 0) - (p[le] || 0) >= q * total) return le === "+Inf" ? Infinity : Number(le);
  return null;
}

function fmtSeconds(s) {
  if (s === null) return "–";
  if (s === Infinity) return "> largest bucket";
  return s < 1 ? "≤ " + Math.round(s * 1000) + " ms" : "≤ " + s + " s";
}

// A line chart on a canvas: series = [{label, color, points: [numbers]}].
function drawChart(canvas, series) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  const all = series.flatMap((s) => s.points);
  const max = Math.max(1, ...all);
  ctx.strokeStyle = "#ccc";
  ctx.fillStyle = "#555";
  ctx.font = "11px sans-serif";
  ctx.beginPath();
  ctx.moveTo(pad, 4);
  ctx.lineTo(pad, h - pad / 2);
  ctx.lineTo(w - 4, h - pad / 2);
  ctx.stroke();
  ctx.fillText(max.toFixed(max < 10 ? 1 : 0), 2, 12);
  ctx.fillText("0", 2, h - pad / 2);
  series.forEach((s, si) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    const n = s.points.length;
    const slots = Math.max(12, n);
    s.points.forEach((v, i) => {
      const x = pad + ((w - pad - 8) * (i + (slots - n))) / (slots - 1);
      const y = h - pad / 2 - ((h - pad / 2 - 8) * v) / max;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.fillStyle = s.color;
    ctx.fillText(s.label, pad + 8 + si * 120, h - 2);
  });
}

// ---- pages ---------------------------------------------------------------------------

async function overview() {
  const services = el("tbody");
  const cards = {
    rate: el("span", { id: "req-rate" }, "–"),
    errors: el("span", { id: "err-rate" }, "–"),
    hits: el("span", { id: "cache-hit" }, "–"),
    blocks: el("span", { id: "waf-blocks" }, "–"),
  };
  const perService = el("tbody", { id: "per-service" });
  const canvas = el("canvas", { id: "chart", width: 760, height: 180 });
  const latency = el("canvas", { id: "latency-chart", width: 760, height: 140 });
  view.replaceChildren(
    el("h2", {}, "Overview"),
    el("div", { class: "cards" },
      el("div", { class: "card" }, el("small", {}, "API requests / s"), cards.rate),
      el("div", { class: "card" }, el("small", {}, "API errors / s"), cards.errors),
      el("div", { class: "card" }, el("small", {}, "Edge cache hit ratio"), cards.hits),
      el("div", { class: "card" }, el("small", {}, "WAF blocks (since start)"), cards.blocks)),
    canvas,
    el("h3", {}, "Latency of all API calls (ms, upper bounds of the histogram's buckets)"),
    latency,
    el("h3", {}, "Services"),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Service"), el("th", {}, "State"))), services),
    el("h3", {}, "Per service (last interval)"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["Service", "Requests / s", "Errors / s", "p50", "p99"].map((t) => el("th", {}, t)))), perService),
  );
  const r = await call("nuvem", "GET", "/_nuvem/health");
  const health = await r.json();
  services.replaceChildren(
    el("tr", {}, el("td", {}, "nuvem"), el("td", { id: "health-status" }, health.status + " (storage " + health.storage + ": " + health.storage_state + ")")),
    ...Object.entries(health.services || {}).map(([name, state]) =>
      el("tr", {}, el("td", {}, name), el("td", {}, typeof state === "string" ? state : JSON.stringify(state)))),
  );
  const history = { rate: [], errors: [], blocks: [], p50: [], p99: [] };
  const ms = (q) => (q === null ? 0 : q === Infinity ? 0 : q * 1000);
  let before = null, beforeAt = 0;
  const tick = guard(async () => {
    const now = await scrape();
    const at = performance.now();
    const total = sum(now, "nuvem_api_requests_total");
    const errs = sum(now, "nuvem_api_errors_total");
    const blocks = sum(now, "nuvem_waf_rule_matches_total", { action: "block" });
    const hit = sum(now, "nuvem_edge_requests_total", { cache: "hit" }) + sum(now, "nuvem_edge_requests_total", { cache: "refresh_hit" });
    const miss = sum(now, "nuvem_edge_requests_total", { cache: "miss" });
    cards.blocks.textContent = String(blocks);
    cards.hits.textContent = hit + miss > 0 ? Math.round((100 * hit) / (hit + miss)) + " % (" + hit + " of " + (hit + miss) + ")" : "no cacheable requests yet";
    if (before) {
      const dt = (at - beforeAt) / 1000;
      const rate = (total - sum(before, "nuvem_api_requests_total")) / dt;
      const errRate = (errs - sum(before, "nuvem_api_errors_total")) / dt;
      const blockRate = (blocks - sum(before, "nuvem_waf_rule_matches_total", { action: "block" })) / dt;
      cards.rate.textContent = rate.toFixed(2);
      cards.errors.textContent = errRate.toFixed(2);
      const p50 = ms(quantile(now, before, null, 0.5));
      const p99 = ms(quantile(now, before, null, 0.99));
      for (const [k, v] of [["rate", rate], ["errors", errRate], ["blocks", blockRate], ["p50", p50], ["p99", p99]]) {
        history[k].push(v);
        if (history[k].length > 60) history[k].shift();
      }
      drawChart(canvas, [
        { label: "requests/s", color: "#2a6fdb", points: history.rate },
        { label: "errors/s", color: "#d33", points: history.errors },
        { label: "WAF blocks/s", color: "#e08a00", points: history.blocks },
      ]);
      drawChart(latency, [
        { label: "p50 ms", color: "#2a9d5b", points: history.p50 },
        { label: "p99 ms", color: "#8e44ad", points: history.p99 },
      ]);
      const nowBy = groupBy(now, "nuvem_api_requests_total", "service");
      const prevBy = groupBy(before, "nuvem_api_requests_total", "service");
      const nowErr = groupBy(now, "nuvem_api_errors_total", "service");
      const prevErr = groupBy(before, "nuvem_api_errors_total", "service");
      perService.replaceChildren(...Object.keys(nowBy).sort().map((s) =>
        el("tr", {},
          el("td", {}, s),
          el("td", {}, ((nowBy[s] - (prevBy[s] || 0)) / dt).toFixed(2)),
          el("td", {}, (((nowErr[s] || 0) - (prevErr[s] || 0)) / dt).toFixed(2)),
          el("td", {}, fmtSeconds(quantile(now, before, s, 0.5))),
          el("td", {}, fmtSeconds(quantile(now, before, s, 0.99))))));
    }
    before = now;
    beforeAt = at;
  });
  await tick();
  timers.push(setInterval(tick, 3000));
}

async function tables() {
  const list = el("ul", { id: "table-list" });
  const name = el("input", { id: "new-table-name", placeholder: "table name", required: true });
  const pk = el("input", { id: "new-table-pk", placeholder: "partition key", value: "pk", required: true });
  const pkType = el("select", {}, el("option", {}, "S"), el("option", {}, "N"), el("option", {}, "B"));
  const sk = el("input", { id: "new-table-sk", placeholder: "sort key (optional)" });
  const skType = el("select", {}, el("option", {}, "S"), el("option", {}, "N"), el("option", {}, "B"));
  const form = el("form", { id: "create-table", class: "inline", onsubmit: guard(async (ev) => {
    ev.preventDefault();
    const keys = [{ AttributeName: pk.value, KeyType: "HASH" }];
    const attrs = [{ AttributeName: pk.value, AttributeType: pkType.value }];
    if (sk.value) {
      keys.push({ AttributeName: sk.value, KeyType: "RANGE" });
      attrs.push({ AttributeName: sk.value, AttributeType: skType.value });
    }
    await dynamo("CreateTable", { TableName: name.value, KeySchema: keys, AttributeDefinitions: attrs, BillingMode: "PAY_PER_REQUEST" });
    location.hash = "#/tables/" + encodeURIComponent(name.value);
  }) }, name, pk, pkType, sk, skType, el("button", { type: "submit", id: "create-table-button" }, "Create table"));
  view.replaceChildren(el("h2", {}, "Tables"), list, el("h3", {}, "New table (on-demand)"), form);
  let start;
  const names = [];
  do {
    const page = await dynamo("ListTables", start ? { ExclusiveStartTableName: start } : {});
    names.push(...page.TableNames);
    start = page.LastEvaluatedTableName;
  } while (start);
  list.replaceChildren(...(names.length ? names.map((n) => el("li", {}, el("a", { href: "#/tables/" + encodeURIComponent(n) }, n))) : [el("li", {}, "No tables yet.")]));
}

function keyOf(item, schema) {
  const key = {};
  for (const k of schema) key[k.AttributeName] = item[k.AttributeName];
  return key;
}

async function table(name) {
  const d = (await dynamo("DescribeTable", { TableName: name })).Table;
  const schema = d.KeySchema;
  const types = Object.fromEntries(d.AttributeDefinitions.map((a) => [a.AttributeName, a.AttributeType]));
  const indexes = [...(d.GlobalSecondaryIndexes || []).map((i) => ["global", i]), ...(d.LocalSecondaryIndexes || []).map((i) => ["local", i])];
  const rows = el("tbody", { id: "items" });
  const more = el("button", { id: "next-page", type: "button", hidden: true }, "Next page");
  const editor = el("textarea", { id: "item-editor", rows: 8, cols: 80, spellcheck: "false" });
  const pkName = schema.find((k) => k.KeyType === "HASH").AttributeName;
  const skKey = schema.find((k) => k.KeyType === "RANGE");
  editor.value = JSON.stringify({ [pkName]: { [types[pkName]]: "" }, ...(skKey ? { [skKey.AttributeName]: { [types[skKey.AttributeName]]: "" } } : {}) }, null, 2);
  const queryValue = el("input", { id: "query-value", placeholder: pkName + " (" + types[pkName] + ")" });
  let last = null;
  let request = null;

  const show = (items, append) => {
    const trs = items.map((item) => el("tr", {},
      el("td", { class: "key" }, JSON.stringify(keyOf(item, schema))),
      el("td", { class: "json" }, JSON.stringify(item)),
      el("td", {},
        el("button", { type: "button", onclick: () => { editor.value = JSON.stringify(item, null, 2); editor.focus(); } }, "Edit"),
        el("button", { type: "button", class: "danger delete-item", onclick: guard(async () => {
          if (!confirm("Delete this item?")) return;
          await dynamo("DeleteItem", { TableName: name, Key: keyOf(item, schema) });
          status("Deleted.");
          await run(request);
        }) }, "Delete"))));
    if (append) rows.append(...trs);
    else rows.replaceChildren(...trs);
  };
  const run = async (req, append) => {
    request = req;
    const page = await dynamo(req.op, Object.assign({ TableName: name, Limit: 25 }, req.payload, append && last ? { ExclusiveStartKey: last } : {}));
    last = page.LastEvaluatedKey || null;
    more.hidden = !last;
    show(page.Items || [], append);
    if (!append && !(page.Items || []).length) rows.replaceChildren(el("tr", {}, el("td", { colspan: 3 }, "No items.")));
  };
  more.addEventListener("click", guard(() => run(request, true)));

  view.replaceChildren(
    el("h2", {}, "Table ", el("span", { id: "table-name" }, name), " ",
      el("button", { type: "button", class: "danger", id: "delete-table", onclick: guard(async () => {
        if (!confirm("Delete the table " + name + " and all its items?")) return;
        await dynamo("DeleteTable", { TableName: name });
        location.hash = "#/tables";
      }) }, "Delete table")),
    el("dl", { class: "facts" },
      el("dt", {}, "Status"), el("dd", {}, d.TableStatus),
      el("dt", {}, "Keys"), el("dd", {}, schema.map((k) => k.AttributeName + " (" + k.KeyType + ", " + types[k.AttributeName] + ")").join(", ")),
      el("dt", {}, "Capacity"), el("dd", {}, d.BillingModeSummary && d.BillingModeSummary.BillingMode === "PAY_PER_REQUEST" ? "on demand" : "provisioned: " + d.ProvisionedThroughput.ReadCapacityUnits + " RCU, " + d.ProvisionedThroughput.WriteCapacityUnits + " WCU"),
      el("dt", {}, "Items"), el("dd", {}, String(d.ItemCount)),
      el("dt", {}, "Indexes"), el("dd", {}, indexes.length ? indexes.map(([kind, i]) => i.IndexName + " (" + kind + ": " + i.KeySchema.map((k) => k.AttributeName).join(", ") + ")").join("; ") : "none")),
    el("div", { class: "inline" },
      el("button", { type: "button", id: "scan", onclick: guard(() => run({ op: "Scan", payload: {} })) }, "Scan"),
      queryValue,
      el("button", { type: "button", id: "query", onclick: guard(() => {
        const v = types[pkName] === "N" ? { N: queryValue.value } : { [types[pkName]]: queryValue.value };
        return run({ op: "Query", payload: { KeyConditionExpression: "#k = :v", ExpressionAttributeNames: { "#k": pkName }, ExpressionAttributeValues: { ":v": v } } });
      }) }, "Query by " + pkName)),
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Key"), el("th", {}, "Item (DynamoDB JSON)"), el("th", {}, ""))), rows),
    more,
    el("h3", {}, "Put an item (DynamoDB JSON)"),
    editor,
    el("div", {}, el("button", { type: "button", id: "put-item", onclick: guard(async () => {
      let item;
      try { item = JSON.parse(editor.value); } catch (e) { throw new Error("The item is not JSON: " + e.message); }
      await dynamo("PutItem", { TableName: name, Item: item });
      status("Saved.");
      await run(request || { op: "Scan", payload: {} });
    }) }, "Put item")),
    ...(await tableSettings(name, d, indexes)),
  );
  await run({ op: "Scan", payload: {} });
}

// A table's settings, each changed with the API call a client would make: capacity
// (UpdateTable BillingMode / ProvisionedThroughput), Time to Live (UpdateTimeToLive), streams
// (UpdateTable StreamSpecification); and its indexes. Each change reloads the table's page.
async function tableSettings(name, d, indexes) {
  const reload = async (what) => {
    await table(name);
    status(what);
  };
  const onDemand = d.BillingModeSummary && d.BillingModeSummary.BillingMode === "PAY_PER_REQUEST";
  const pt = d.ProvisionedThroughput || {};
  const mode = el("select", { id: "billing-mode" },
    el("option", { value: "PAY_PER_REQUEST", selected: onDemand }, "on demand (PAY_PER_REQUEST)"),
    el("option", { value: "PROVISIONED", selected: !onDemand }, "provisioned"));
  const rcu = el("input", { id: "read-capacity", type: "number", min: 1, size: 6, value: pt.ReadCapacityUnits || 5 });
  const wcu = el("input", { id: "write-capacity", type: "number", min: 1, size: 6, value: pt.WriteCapacityUnits || 5 });
  const capacity = el("form", { id: "capacity-form", class: "inline", onsubmit: guard(async (ev) => {
    ev.preventDefault();
    const req = { TableName: name };
    if (mode.value === "PROVISIONED") {
      if (onDemand) req.BillingMode = "PROVISIONED";
      req.ProvisionedThroughput = { ReadCapacityUnits: Number(rcu.value), WriteCapacityUnits: Number(wcu.value) };
      // A provisioned table's indexes need their own units when the table switches.
      if (onDemand && (d.GlobalSecondaryIndexes || []).length) {
        req.GlobalSecondaryIndexUpdates = d.GlobalSecondaryIndexes.map((i) => ({ Update: { IndexName: i.IndexName, ProvisionedThroughput: req.ProvisionedThroughput } }));
      }
    } else {
      req.BillingMode = "PAY_PER_REQUEST";
    }
    await dynamo("UpdateTable", req);
    await reload("Capacity saved.");
  }) }, el("label", {}, "Billing ", mode), el("label", {}, "RCU ", rcu), el("label", {}, "WCU ", wcu), el("button", { type: "submit", id: "save-capacity" }, "Save capacity"));

  const ttl = (await dynamo("DescribeTimeToLive", { TableName: name })).TimeToLiveDescription || {};
  const ttlOn = ttl.TimeToLiveStatus === "ENABLED" || ttl.TimeToLiveStatus === "ENABLING";
  const ttlAttr = el("input", { id: "ttl-attribute", placeholder: "attribute (epoch seconds)", value: ttl.AttributeName || "", disabled: ttlOn });
  const ttlForm = el("form", { id: "ttl-form", class: "inline", onsubmit: guard(async (ev) => {
    ev.preventDefault();
    if (!ttlAttr.value) throw new Error("Name the attribute that holds the expiry time");
    await dynamo("UpdateTimeToLive", { TableName: name, TimeToLiveSpecification: { Enabled: !ttlOn, AttributeName: ttlAttr.value } });
    await reload(ttlOn ? "Time to Live disabled." : "Time to Live enabled.");
  }) },
  el("span", { id: "ttl-status" }, (ttl.TimeToLiveStatus || "DISABLED") + (ttl.AttributeName ? " (" + ttl.AttributeName + ")" : "")),
  ttlAttr,
  el("button", { type: "submit", id: "toggle-ttl" }, ttlOn ? "Disable TTL" : "Enable TTL"));

  const stream = d.StreamSpecification || {};
  const streamOn = !!stream.StreamEnabled;
  const viewType = el("select", { id: "stream-view", disabled: streamOn },
    ...["NEW_AND_OLD_IMAGES", "NEW_IMAGE", "OLD_IMAGE", "KEYS_ONLY"].map((v) => el("option", { selected: stream.StreamViewType === v }, v)));
  const streamForm = el("form", { id: "stream-form", class: "inline", onsubmit: guard(async (ev) => {
    ev.preventDefault();
    await dynamo("UpdateTable", { TableName: name, StreamSpecification: streamOn ? { StreamEnabled: false } : { StreamEnabled: true, StreamViewType: viewType.value } });
    await reload(streamOn ? "Stream disabled." : "Stream enabled.");
  }) },
  el("span", { id: "stream-status" }, streamOn ? "enabled (" + stream.StreamViewType + ")" + (d.LatestStreamArn ? " " + d.LatestStreamArn : "") : "disabled"),
  viewType,
  el("button", { type: "submit", id: "toggle-stream" }, streamOn ? "Disable stream" : "Enable stream"));

  const units = (p) => (p && p.ReadCapacityUnits ? p.ReadCapacityUnits + " RCU, " + p.WriteCapacityUnits + " WCU" : "on demand");
  const indexRows = indexes.map(([kind, i]) => el("tr", {},
    el("td", { class: "key" }, i.IndexName),
    el("td", {}, kind),
    el("td", {}, i.KeySchema.map((k) => k.AttributeName + " (" + k.KeyType + ")").join(", ")),
    el("td", {}, (i.Projection || {}).ProjectionType + ((i.Projection || {}).NonKeyAttributes ? ": " + i.Projection.NonKeyAttributes.join(", ") : "")),
    el("td", {}, i.IndexStatus || "ACTIVE"),
    el("td", {}, kind === "global" ? units(i.ProvisionedThroughput) : "the table's"),
    el("td", {}, String(i.ItemCount === undefined ? "" : i.ItemCount))));
  return [
    el("h3", {}, "Capacity"), capacity,
    el("h3", {}, "Time to Live"), ttlForm,
    el("h3", {}, "Stream"), streamForm,
    el("h3", {}, "Indexes"),
    el("table", { id: "indexes" }, el("thead", {}, el("tr", {}, ...["Index", "Kind", "Keys", "Projection", "Status", "Capacity", "Items"].map((t) => el("th", {}, t)))),
      el("tbody", {}, ...(indexRows.length ? indexRows : [el("tr", {}, el("td", { colspan: 7 }, "No indexes."))]))),
  ];
}

async function buckets() {
  const doc = await xml("s3", "GET", "/");
  const names = texts(doc, "Name");
  const name = el("input", { id: "new-bucket-name", placeholder: "bucket name", required: true });
  view.replaceChildren(
    el("h2", {}, "Buckets"),
    el("ul", { id: "bucket-list" }, ...(names.length ? names.map((n) => el("li", {}, el("a", { href: "#/buckets/" + encodeURIComponent(n) + "/" }, n))) : [el("li", {}, "No buckets yet.")])),
    el("h3", {}, "New bucket"),
    el("form", { class: "inline", onsubmit: guard(async (ev) => {
      ev.preventDefault();
      const r = await call("s3", "PUT", "/" + encodeURIComponent(name.value));
      if (!r.ok) throw await errorOf(r);
      location.hash = "#/buckets/" + encodeURIComponent(name.value) + "/";
    }) }, name, el("button", { type: "submit", id: "create-bucket-button" }, "Create bucket")),
  );
}

async function bucket(name, prefix) {
  const rows = el("tbody", { id: "objects" });
  const more = el("button", { type: "button", id: "next-objects", hidden: true }, "More");
  const info = el("pre", { id: "object-info" });
  const file = el("input", { type: "file", id: "upload-file", multiple: true });
  const drop = el("div", { class: "drop", id: "drop" }, "Drop files here to upload them under ", el("code", {}, "/" + prefix));
  let token = null;

  const upload = guard(async (files) => {
    for (const f of files) {
      status("Uploading " + f.name + "…");
      const r = await call("s3", "PUT", "/" + encodeURIComponent(name) + "/" + encodeKey(prefix + f.name), {
        headers: { "Content-Type": f.type || "application/octet-stream" },
        body: f,
      });
      if (!r.ok) throw await errorOf(r);
    }
    status("Uploaded " + files.length + " file(s).");
    await list(false);
  });
  file.addEventListener("change", () => upload(Array.from(file.files)));
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => { ev.preventDefault(); drop.classList.remove("over"); upload(Array.from(ev.dataTransfer.files)); });

  const objectPath = (key) => "/" + encodeURIComponent(name) + "/" + encodeKey(key);
  const list = async (append) => {
    const q = new URLSearchParams({ "list-type": "2", delimiter: "/", prefix, "max-keys": "100" });
    if (append && token) q.set("continuation-token", token);
    const doc = await xml("s3", "GET", "/" + encodeURIComponent(name) + "?" + q.toString());
    token = first(doc, "IsTruncated") === "true" ? first(doc, "NextContinuationToken") : null;
    more.hidden = !token;
    const trs = [];
    for (const p of Array.from(doc.getElementsByTagName("CommonPrefixes"))) {
      const pre = first(p, "Prefix");
      trs.push(el("tr", {}, el("td", {}, el("a", { href: "#/buckets/" + encodeURIComponent(name) + "/" + encodeKey(pre) }, pre.slice(prefix.length))), el("td", {}, "folder"), el("td", {}), el("td", {})));
    }
    for (const c of Array.from(doc.getElementsByTagName("Contents"))) {
      const key = first(c, "Key");
      trs.push(el("tr", { class: "object" },
        el("td", { class: "key" }, key.slice(prefix.length)),
        el("td", {}, fmtBytes(first(c, "Size"))),
        el("td", {}, first(c, "LastModified")),
        el("td", {},
          el("button", { type: "button", onclick: guard(async () => {
            const r = await call("s3", "GET", objectPath(key));
            if (!r.ok) throw await errorOf(r);
            const url = URL.createObjectURL(await r.blob());
            const a = el("a", { href: url, download: key.split("/").pop() });
            document.body.append(a);
            a.click();
            a.remove();
            setTimeout(() => URL.revokeObjectURL(url), 10000);
          }) }, "Download"),
          el("button", { type: "button", class: "presign", onclick: guard(async () => {
            const r = await fetch("/_nuvem/console/presign", {
              method: "POST",
              headers: { "X-Nuvem-Console": sessionStorage.getItem(SESSION) || "", "Content-Type": "application/json" },
              body: JSON.stringify({ bucket: name, key, expiresSeconds: 3600 }),
              credentials: "same-origin",
            });
            if (!r.ok) throw await errorOf(r);
            const url = location.origin + (await r.json()).path;
            info.textContent = "Presigned GET, valid for an hour:\n" + url;
            // The clipboard needs a secure context (127.0.0.1, localhost or HTTPS).
            if (navigator.clipboard) await navigator.clipboard.writeText(url).then(() => status("Link copied."), () => {});
          }) }, "Presigned link"),
          el("button", { type: "button", onclick: guard(async () => {
            const r = await call("s3", "HEAD", objectPath(key));
            if (!r.ok) throw new ApiError(String(r.status), "HeadObject failed", r.status);
            const lines = [key];
            for (const [k, v] of r.headers) {
              if (/^(content-|etag|last-modified|cache-control|expires|x-amz-(meta-|version-id|server-side|storage-class|tagging-count))/.test(k)) lines.push(k + ": " + v);
            }
            info.textContent = lines.join("\n");
          }) }, "Metadata"),
          el("button", { type: "button", class: "danger", onclick: guard(async () => {
            if (!confirm("Delete " + key + "?")) return;
            const r = await call("s3", "DELETE", objectPath(key));
            if (!r.ok) throw await errorOf(r);
            await list(false);
          }) }, "Delete"))));
    }
    if (append) rows.append(...trs);
    else rows.replaceChildren(...(trs.length ? trs : [el("tr", {}, el("td", { colspan: 4 }, "Nothing under this prefix."))]));
  };
  more.addEventListener("click", guard(() => list(true)));

  const crumbs = [el("a", { href: "#/buckets/" + encodeURIComponent(name) + "/" }, name)];
  let acc = "";
  for (const part of prefix.split("/").filter(Boolean)) {
    acc += part + "/";
    crumbs.push(" / ", el("a", { href: "#/buckets/" + encodeURIComponent(name) + "/" + encodeKey(acc) }, part));
  }
  view.replaceChildren(
    el("h2", {}, "Bucket ", ...crumbs, " ",
      el("button", { type: "button", class: "danger", id: "delete-bucket", onclick: guard(async () => {
        if (!confirm("Delete the bucket " + name + "? (S3 deletes only empty buckets)")) return;
        const r = await call("s3", "DELETE", "/" + encodeURIComponent(name));
        if (!r.ok) throw await errorOf(r);
        location.hash = "#/buckets";
      }) }, "Delete bucket")),
    el("div", { class: "inline" }, el("label", {}, "Upload: ", file)),
    drop,
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Size"), el("th", {}, "Last modified"), el("th", {}, ""))), rows),
    more,
    info,
  );
  await list(false);
}

async function functions() {
  const r = await call("lambda", "GET", "/2015-03-31/functions/");
  if (!r.ok) throw await errorOf(r);
  const fns = (await r.json()).Functions || [];
  view.replaceChildren(
    el("h2", {}, "Functions"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["Name", "Runtime", "Memory", "Timeout", "Last modified"].map((t) => el("th", {}, t)))),
      el("tbody", { id: "function-list" }, ...fns.map((f) => el("tr", {},
        el("td", {}, el("a", { href: "#/functions/" + encodeURIComponent(f.FunctionName) }, f.FunctionName)),
        el("td", {}, f.Runtime || f.PackageType || ""),
        el("td", {}, f.MemorySize + " MB"),
        el("td", {}, f.Timeout + " s"),
        el("td", {}, f.LastModified || ""))))),
    fns.length ? null : el("p", {}, "No functions."),
  );
}

function decodeBase64Utf8(b64) {
  const bin = atob(b64);
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

async function fn(name) {
  const path = "/2015-03-31/functions/" + encodeURIComponent(name);
  const r = await call("lambda", "GET", path + "/configuration");
  if (!r.ok) throw await errorOf(r);
  const c = await r.json();
  const payload = el("textarea", { id: "invoke-payload", rows: 6, cols: 80, spellcheck: "false" });
  payload.value = "{}";
  const result = el("pre", { id: "invoke-result" });
  const log = el("pre", { id: "invoke-log" });
  const live = el("pre", { id: "live-log" });
  const recent = el("tbody", { id: "recent-invocations" });
  const facts = [
    ["ARN", c.FunctionArn], ["Runtime", c.Runtime || c.PackageType], ["Handler", c.Handler], ["Memory", c.MemorySize + " MB"],
    ["Timeout", c.Timeout + " s"], ["State", (c.State || "") + (c.StateReason ? " (" + c.StateReason + ")" : "")], ["Role", c.Role],
    ["Last modified", c.LastModified], ["Code size", fmtBytes(c.CodeSize || 0)],
    ["Environment variables", Object.keys((c.Environment && c.Environment.Variables) || {}).join(", ") || "none"],
  ];
  view.replaceChildren(
    el("h2", {}, "Function ", el("span", { id: "function-name" }, name)),
    el("dl", { class: "facts" }, ...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v === undefined ? "" : String(v))])),
    el("h3", {}, "Invoke (RequestResponse, log tail)"),
    payload,
    el("div", {}, el("button", { type: "button", id: "invoke", onclick: guard(async () => {
      try { JSON.parse(payload.value); } catch (e) { throw new Error("The payload is not JSON: " + e.message); }
      result.textContent = "…";
      log.textContent = "";
      const started = performance.now();
      const r = await call("lambda", "POST", path + "/invocations", {
        headers: { "X-Amz-Log-Type": "Tail", "Content-Type": "application/json" },
        body: payload.value,
      });
      if (!r.ok) throw await errorOf(r);
      const took = Math.round(performance.now() - started);
      const body = await r.text();
      let shown = body;
      try { shown = JSON.stringify(JSON.parse(body), null, 2); } catch (_) { /* not JSON: as is */ }
      const error = r.headers.get("x-amz-function-error");
      result.textContent = (error ? "Function error (" + error + ")\n" : "") + shown;
      result.className = error ? "error" : "";
      const tail = r.headers.get("x-amz-log-result");
      log.textContent = tail ? decodeBase64Utf8(tail) : "(no log tail)";
      status("Invoked in " + took + " ms.");
    }) }, "Invoke")),
    el("h3", {}, "Result"), result,
    el("h3", {}, "Log tail (last 4 KB)"), log,
    el("h3", {}, "Recent invocations"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["Time", "Request id", "Duration", "Start"].map((t) => el("th", {}, t)))), recent),
    el("h3", {}, "Live log (/aws/lambda/" + name + ", polled every 3 s)"), live,
  );
  // The function's CloudWatch Logs group through the Logs API: new events appended as they
  // arrive, REPORT lines read as invocations.
  const seen = new Set();
  const invocations = [];
  let since = Date.now() - 3600 * 1000;
  const tick = guard(async () => {
    let token;
    const fresh = [];
    do {
      const r = await call("logs", "POST", "/", {
        headers: { "X-Amz-Target": "Logs_20140328.FilterLogEvents", "Content-Type": "application/x-amz-json-1.1" },
        body: JSON.stringify(Object.assign({ logGroupName: "/aws/lambda/" + name, startTime: since }, token ? { nextToken: token } : {})),
      });
      if (!r.ok) {
        const e = await errorOf(r);
        if (e.code === "ResourceNotFoundException") {
          live.textContent = "(no logs yet)";
          return;
        }
        throw e;
      }
      const page = await r.json();
      for (const ev of page.events || []) {
        if (seen.has(ev.eventId)) continue;
        seen.add(ev.eventId);
        fresh.push(ev);
      }
      token = page.nextToken;
    } while (token);
    if (!fresh.length) return;
    fresh.sort((a, b) => a.timestamp - b.timestamp);
    since = Math.max(since, fresh[fresh.length - 1].timestamp);
    const lines = live.textContent && live.textContent !== "(no logs yet)" ? live.textContent.split("\n") : [];
    for (const ev of fresh) {
      lines.push(new Date(ev.timestamp).toISOString().slice(11, 23) + "  " + ev.message.replace(/\n$/, ""));
      const m = ev.message.match(/^REPORT RequestId: (\S+)\s+Duration: ([0-9.]+) ms/);
      if (m) invocations.unshift({ at: ev.timestamp, id: m[1], ms: m[2], cold: /Init Duration/.test(ev.message) });
    }
    live.textContent = lines.slice(-200).join("\n");
    live.scrollTop = live.scrollHeight;
    recent.replaceChildren(...invocations.slice(0, 20).map((i) => el("tr", {},
      el("td", {}, new Date(i.at).toISOString().replace("T", " ").slice(0, 19)),
      el("td", { class: "key" }, i.id),
      el("td", {}, i.ms + " ms"),
      el("td", {}, i.cold ? "cold" : "warm"))));
  });
  await tick();
  timers.push(setInterval(tick, 3000));
}

// A field of an API Gateway v2 answer (lowerCamel on the wire; PascalCase accepted too).
function f(o, name) {
  return o[name] !== undefined ? o[name] : o[name[0].toUpperCase() + name.slice(1)];
}

async function gwList(path) {
  const r = await call("apigateway", "GET", path);
  if (!r.ok) throw await errorOf(r);
  const j = await r.json();
  return f(j, "items") || [];
}

async function apis() {
  const list = await gwList("/v2/apis");
  const counts = {};
  for (const x of await scrape()) {
    if (x.name !== "nuvem_apigateway_route_requests_total") continue;
    const k = x.labels.api + "\u0000" + x.labels.route;
    counts[k] = counts[k] || {};
    counts[k][x.labels.class] = x.value;
  }
  const sections = [];
  for (const api of list) {
    const id = f(api, "apiId");
    const [routes, integrations, stages] = await Promise.all(["routes", "integrations", "stages"].map((k) => gwList("/v2/apis/" + encodeURIComponent(id) + "/" + k)));
    const byId = Object.fromEntries(integrations.map((i) => [f(i, "integrationId"), i]));
    sections.push(
      el("h3", {}, f(api, "name") + " ", el("small", {}, "(" + id + ", " + f(api, "protocolType") + ")")),
      el("p", {}, "Endpoint: ", el("code", {}, f(api, "apiEndpoint") || ""), " · stages: ", stages.map((st) => f(st, "stageName")).join(", ") || "none"),
      el("table", { class: "routes" }, el("thead", {}, el("tr", {}, ...["Route", "Integration", "Authorization", "Requests", "4xx", "5xx"].map((t) => el("th", {}, t)))),
        el("tbody", {}, ...routes.map((rt) => {
          const key = f(rt, "routeKey");
          const target = (f(rt, "target") || "").replace(/^integrations\//, "");
          const integ = byId[target];
          const c = counts[id + "\u0000" + key] || counts[f(api, "name") + "\u0000" + key] || {};
          return el("tr", {},
            el("td", { class: "key" }, key),
            el("td", {}, integ ? f(integ, "integrationType") + " " + (f(integ, "integrationUri") || "") : target || "none"),
            el("td", {}, f(rt, "authorizationType") || "NONE"),
            el("td", {}, String(c.all || 0)),
            el("td", {}, String(c["4xx"] || 0)),
            el("td", {}, String(c["5xx"] || 0)));
        }))));
  }
  view.replaceChildren(el("h2", {}, "APIs"), ...(sections.length ? sections : [el("p", {}, "No HTTP APIs.")]));
}

async function wafCall(op, payload) {
  const r = await call("wafv2", "POST", "/", {
    headers: { "X-Amz-Target": "AWSWAF_20190729." + op, "Content-Type": "application/x-amz-json-1.1" },
    body: JSON.stringify(payload),
  });
  if (!r.ok) throw await errorOf(r);
  return r.json();
}

// Sampled requests of every WebACL of a scope (the WebACL's own metric name: all its rules),
// over the last three hours, newest first.
async function sampled(scope, into) {
  const acls = (await wafCall("ListWebACLs", { Scope: scope, Limit: 100 })).WebACLs || [];
  const now = Date.now() / 1000;
  const rows = [];
  for (const a of acls) {
    const acl = (await wafCall("GetWebACL", { Name: a.Name, Scope: scope, Id: a.Id })).WebACL;
    const got = await wafCall("GetSampledRequests", {
      WebAclArn: a.ARN, RuleMetricName: acl.VisibilityConfig.MetricName, Scope: scope,
      TimeWindow: { StartTime: now - 3 * 3600, EndTime: now + 60 }, MaxItems: 100,
    });
    for (const s of got.SampledRequests || []) rows.push([a.Name, s]);
  }
  rows.sort((x, y) => y[1].Timestamp - x[1].Timestamp);
  into.replaceChildren(...(rows.length ? rows.map(([acl, s]) => el("tr", {},
    el("td", {}, new Date(s.Timestamp * 1000).toISOString().replace("T", " ").slice(0, 19)),
    el("td", {}, acl),
    el("td", { class: "action" }, s.Action),
    el("td", {}, [s.RuleNameWithinRuleGroup, ...(s.Labels || []).map((l) => l.Name)].filter(Boolean).join(", ")),
    el("td", {}, s.Request.ClientIP),
    el("td", { class: "key" }, s.Request.Method + " " + s.Request.URI))) : [el("tr", {}, el("td", { colspan: 6 }, "No sampled requests in the last 3 hours."))]));
}

async function ipSets(scope, into) {
  const sets = (await wafCall("ListIPSets", { Scope: scope, Limit: 100 })).IPSets || [];
  const items = [];
  for (const x of sets) {
    const got = await wafCall("GetIPSet", { Name: x.Name, Scope: scope, Id: x.Id });
    const text = el("textarea", { rows: 4, cols: 40, class: "ip-addresses", spellcheck: "false" });
    text.value = got.IPSet.Addresses.join("\n");
    items.push(el("div", { class: "ip-set" },
      el("h4", {}, x.Name + " (" + got.IPSet.IPAddressVersion + ")"),
      text,
      el("div", {}, el("button", { type: "button", onclick: guard(async () => {
        const fresh = await wafCall("GetIPSet", { Name: x.Name, Scope: scope, Id: x.Id });
        await wafCall("UpdateIPSet", {
          Name: x.Name, Scope: scope, Id: x.Id, LockToken: fresh.LockToken,
          Addresses: text.value.split(/\s+/).filter(Boolean),
        });
        status("Saved " + x.Name + ".");
      }) }, "Save addresses"))));
  }
  const name = el("input", { id: "new-ip-set-name", placeholder: "name", required: true });
  const addrs = el("input", { id: "new-ip-set-addresses", placeholder: "203.0.113.0/24 198.51.100.7/32" });
  into.replaceChildren(
    ...(items.length ? items : [el("p", {}, "No IP sets in " + scope + ".")]),
    el("form", { class: "inline", onsubmit: guard(async (ev) => {
      ev.preventDefault();
      await wafCall("CreateIPSet", { Name: name.value, Scope: scope, IPAddressVersion: "IPV4", Addresses: addrs.value.split(/\s+/).filter(Boolean) });
      await ipSets(scope, into);
    }) }, name, addrs, el("button", { type: "submit", id: "create-ip-set" }, "Create IPv4 set")),
  );
}

// The kind of a rule's action: one of its Action's (or OverrideAction's) members.
function actionKind(a) {
  return Object.keys(a || {})[0] || "";
}

// Each WebACL of a scope with its rules, editable: a rule's action (Allow, Block, Count,
// CAPTCHA, Challenge), a rule group reference's override action (None, Count), removing a
// rule. Saving sends UpdateWebACL with the whole WebACL and the LockToken GetWebACL gave when
// the editor was loaded: if someone changed the WebACL since, WAF refuses with
// WAFOptimisticLockException, shown as is (reload to see their change).
async function webAclEditors(scope, into) {
  const acls = (await wafCall("ListWebACLs", { Scope: scope, Limit: 100 })).WebACLs || [];
  const editors = [];
  for (const a of acls) {
    const got = await wafCall("GetWebACL", { Name: a.Name, Scope: scope, Id: a.Id });
    const acl = got.WebACL;
    const lockToken = got.LockToken;
    const rules = (acl.Rules || []).map((r) => ({ rule: r, removed: false }));
    const body = el("tbody", { class: "web-acl-rules" });
    const draw = () => body.replaceChildren(...rules.map((x) => {
      const r = x.rule;
      const group = !!r.OverrideAction;
      const current = group ? actionKind(r.OverrideAction) : actionKind(r.Action);
      const choices = group ? ["None", "Count"] : ["Allow", "Block", "Count", "Captcha", "Challenge"];
      const select = el("select", { class: "rule-action", "data-rule": r.Name, disabled: x.removed },
        ...choices.map((c) => el("option", { value: c, selected: c === current }, c)));
      select.addEventListener("change", () => {
        if (group) r.OverrideAction = { [select.value]: {} };
        // The same kind keeps its settings (a custom response, custom headers).
        else if (select.value !== actionKind(r.Action)) r.Action = { [select.value]: {} };
      });
      return el("tr", { class: x.removed ? "removed" : "", "data-rule": r.Name },
        el("td", {}, String(r.Priority)),
        el("td", { class: "key" }, r.Name),
        el("td", {}, group ? "rule group (override action)" : "rule (action)"),
        el("td", {}, select),
        el("td", {}, el("button", { type: "button", class: "remove-rule", onclick: () => { x.removed = !x.removed; draw(); } }, x.removed ? "Keep" : "Remove")));
    }));
    draw();
    const save = guard(async () => {
      const update = {
        Name: acl.Name, Scope: scope, Id: acl.Id, LockToken: lockToken,
        DefaultAction: acl.DefaultAction, VisibilityConfig: acl.VisibilityConfig,
        Rules: rules.filter((x) => !x.removed).map((x) => x.rule),
      };
      for (const k of ["Description", "CustomResponseBodies", "CaptchaConfig", "ChallengeConfig", "TokenDomains", "AssociationConfig"]) {
        if (acl[k] !== undefined) update[k] = acl[k];
      }
      await wafCall("UpdateWebACL", update);
      await webAclEditors(scope, into);
      status("Saved the rules of " + acl.Name + ".");
    });
    editors.push(el("div", { class: "web-acl", "data-web-acl": acl.Name, "data-web-acl-id": acl.Id },
      el("h4", {}, acl.Name + " (default action " + actionKind(acl.DefaultAction) + ")"),
      el("table", {}, el("thead", {}, el("tr", {}, ...["Priority", "Rule", "Kind", "Action", ""].map((t) => el("th", {}, t)))), body),
      el("div", {}, el("button", { type: "button", class: "save-rules", onclick: save }, "Save rules"))));
  }
  into.replaceChildren(...(editors.length ? editors : [el("p", {}, "No WebACLs in " + scope + ".")]));
}

async function waf() {
  const body = el("tbody", { id: "waf-rules" });
  const samples = el("tbody", { id: "waf-samples" });
  const sets = el("div", { id: "ip-sets" });
  const acls = el("div", { id: "web-acls" });
  const scope = el("select", { id: "waf-scope" }, el("option", {}, "CLOUDFRONT"), el("option", {}, "REGIONAL"));
  const reload = guard(async () => { await sampled(scope.value, samples); await webAclEditors(scope.value, acls); await ipSets(scope.value, sets); });
  scope.addEventListener("change", reload);
  view.replaceChildren(
    el("h2", {}, "WAF"),
    el("p", {}, "Requests each rule decided or counted since nuvem started (refreshed every 3 s)."),
    el("table", {}, el("thead", {}, el("tr", {}, ...["Web ACL", "Rule", "Allowed", "Blocked", "Counted"].map((t) => el("th", {}, t)))), body),
    el("div", { class: "inline" }, el("label", {}, "Scope ", scope), el("button", { type: "button", id: "reload-samples", onclick: reload }, "Refresh samples")),
    el("h3", {}, "Sampled requests (GetSampledRequests, last 3 hours)"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["Time", "Web ACL", "Action", "Rule / labels", "Client", "Request"].map((t) => el("th", {}, t)))), samples),
    el("h3", {}, "Web ACL rules"),
    acls,
    el("h3", {}, "IP sets"),
    sets,
  );
  await reload();
  const tick = guard(async () => {
    const rules = {};
    for (const x of await scrape()) {
      if (x.name !== "nuvem_waf_rule_matches_total") continue;
      const k = x.labels.web_acl + "\u0000" + x.labels.rule;
      rules[k] = rules[k] || { acl: x.labels.web_acl, rule: x.labels.rule };
      rules[k][x.labels.action] = x.value;
    }
    const list = Object.values(rules);
    body.replaceChildren(...(list.length ? list.map((r) => el("tr", {}, el("td", {}, r.acl), el("td", {}, r.rule), el("td", {}, String(r.allow || 0)), el("td", { class: "blocked" }, String(r.block || 0)), el("td", {}, String(r.count || 0)))) : [el("tr", {}, el("td", { colspan: 5 }, "No WebACL in front of the edge."))]));
  });
  await tick();
  timers.push(setInterval(tick, 3000));
}

async function edge() {
  const doc = await xml("cloudfront", "GET", "/2020-05-31/distribution");
  // Each summary's own Id (its origins have Ids too).
  const ids = Array.from(doc.getElementsByTagName("DistributionSummary"))
    .map((d) => Array.from(d.children).find((c) => c.localName === "Id"))
    .filter(Boolean)
    .map((n) => n.textContent);
  const select = el("select", { id: "distribution" }, ...ids.map((id) => el("option", { value: id }, id)));
  const paths = el("textarea", { id: "invalidation-paths", rows: 4, cols: 60, placeholder: "/index.html\n/images/*" });
  const result = el("p", { id: "invalidation-result" });
  const cache = el("tbody", { id: "cache-stats" });
  view.replaceChildren(
    el("h2", {}, "Edge"),
    el("h3", {}, "Cache by location"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["Location", "Hits", "Misses", "Other", "Hit ratio"].map((t) => el("th", {}, t)))), cache),
    el("h3", {}, "Invalidate paths"),
    ids.length ? el("form", { onsubmit: guard(async (ev) => {
      ev.preventDefault();
      const items = paths.value.split("\n").map((p) => p.trim()).filter(Boolean);
      if (!items.length) throw new Error("Give at least one path");
      const x = document.implementation.createDocument("http://cloudfront.amazonaws.com/doc/2020-05-31/", "InvalidationBatch", null);
      const root = x.documentElement;
      const add = (parent, tag, text) => { const n = x.createElementNS(root.namespaceURI, tag); if (text !== undefined) n.textContent = text; parent.append(n); return n; };
      const p = add(root, "Paths");
      add(p, "Quantity", String(items.length));
      const list = add(p, "Items");
      for (const i of items) add(list, "Path", i);
      add(root, "CallerReference", "console-" + Date.now());
      const answer = await xml("cloudfront", "POST", "/2020-05-31/distribution/" + encodeURIComponent(select.value) + "/invalidation", {
        headers: { "Content-Type": "text/xml" },
        body: new XMLSerializer().serializeToString(x),
      });
      result.textContent = "Invalidation " + first(answer, "Id") + ": " + first(answer, "Status");
    }) }, el("label", {}, "Distribution ", select), paths, el("button", { type: "submit", id: "invalidate" }, "Invalidate"), result) : el("p", {}, "No distribution in the manifest."),
  );
  const behaviors = el("tbody", { id: "behaviors" });
  view.append(
    el("h3", {}, "Behaviors"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["Distribution", "Path pattern", "Origin", "Viewer protocol", "Cache policy"].map((t) => el("th", {}, t)))), behaviors),
  );
  const rows = [];
  for (const id of ids) {
    const cfg = await xml("cloudfront", "GET", "/2020-05-31/distribution/" + encodeURIComponent(id) + "/config");
    const origins = {};
    for (const o of Array.from(cfg.getElementsByTagName("Origin"))) origins[first(o, "Id")] = first(o, "DomainName") + first(o, "OriginPath");
    const row = (pattern, b) => el("tr", {},
      el("td", {}, id), el("td", { class: "key" }, pattern),
      el("td", {}, first(b, "TargetOriginId") + (origins[first(b, "TargetOriginId")] ? " (" + origins[first(b, "TargetOriginId")] + ")" : "")),
      el("td", {}, first(b, "ViewerProtocolPolicy")), el("td", {}, first(b, "CachePolicyId") || "legacy settings"));
    for (const b of Array.from(cfg.getElementsByTagName("CacheBehavior"))) rows.push(row(first(b, "PathPattern"), b));
    const d = cfg.getElementsByTagName("DefaultCacheBehavior")[0];
    if (d) rows.push(row("default (*)", d));
  }
  behaviors.replaceChildren(...rows);
  const perBehavior = el("tbody", { id: "behavior-stats" });
  view.append(
    el("h3", {}, "By location and behavior (since start)"),
    el("table", {}, el("thead", {}, el("tr", {}, ...["Location", "Behavior", "Requests", "Hits", "Misses", "Other", "Hit ratio", "Bytes", "Mean time to head"].map((t) => el("th", {}, t)))), perBehavior),
  );
  const ratio = (s) => (s.hit + s.miss ? Math.round((100 * s.hit) / (s.hit + s.miss)) + " %" : "–");
  const tick = guard(async () => {
    const by = {}, byBehavior = {};
    const blank = () => ({ hit: 0, miss: 0, other: 0, bytes: 0, seconds: 0, count: 0 });
    for (const x of await scrape()) {
      if (!x.name.startsWith("nuvem_edge_") || x.labels.behavior === undefined) continue;
      const k = x.labels.location + "\u0000" + x.labels.behavior;
      const b = (byBehavior[k] = byBehavior[k] || Object.assign(blank(), { location: x.labels.location, behavior: x.labels.behavior }));
      if (x.name === "nuvem_edge_response_bytes_total") b.bytes += x.value;
      else if (x.name === "nuvem_edge_response_duration_seconds_sum") b.seconds += x.value;
      else if (x.name === "nuvem_edge_response_duration_seconds_count") b.count += x.value;
      if (x.name !== "nuvem_edge_requests_total") continue;
      const l = (by[x.labels.location] = by[x.labels.location] || blank());
      const kind = x.labels.cache === "hit" || x.labels.cache === "refresh_hit" ? "hit" : x.labels.cache === "miss" ? "miss" : "other";
      l[kind] += x.value;
      b[kind] += x.value;
    }
    cache.replaceChildren(...Object.entries(by).map(([loc, s]) => el("tr", {}, el("td", {}, loc), el("td", {}, String(s.hit)), el("td", {}, String(s.miss)), el("td", {}, String(s.other)), el("td", {}, ratio(s)))));
    const rows = Object.values(byBehavior).filter((b) => b.count || b.hit + b.miss + b.other).sort((x, y) => (x.location + x.behavior).localeCompare(y.location + y.behavior));
    perBehavior.replaceChildren(...(rows.length ? rows.map((b) => el("tr", { "data-behavior": b.behavior },
      el("td", {}, b.location), el("td", { class: "key" }, b.behavior === "*" ? "default (*)" : b.behavior),
      el("td", { class: "requests" }, String(b.hit + b.miss + b.other)), el("td", { class: "hits" }, String(b.hit)), el("td", {}, String(b.miss)), el("td", {}, String(b.other)),
      el("td", {}, ratio(b)), el("td", {}, fmtBytes(b.bytes)),
      el("td", {}, b.count ? (1000 * b.seconds / b.count).toFixed(2) + " ms" : "–"))) : [el("tr", {}, el("td", { colspan: 9 }, "No edge requests yet."))]));
  });
  await tick();
  timers.push(setInterval(tick, 5000));
}

// ---- routing -------------------------------------------------------------------------

async function route() {
  for (const t of timers) clearInterval(t);
  timers = [];
  status("");
  const parts = location.hash.replace(/^#\/?/, "").split("/");
  const page = parts[0] || "overview";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.id === "nav-" + page);
  const arg = parts.length > 1 ? decodeURIComponent(parts[1]) : "";
  view.replaceChildren(el("p", {}, "Loading…"));
  const run = guard(async () => {
    if (page === "tables") await (arg ? table(arg) : tables());
    else if (page === "buckets") await (arg ? bucket(arg, parts.slice(2).map(decodeURIComponent).join("/")) : buckets());
    else if (page === "functions") await (arg ? fn(arg) : functions());
    else if (page === "apis") await apis();
    else if (page === "waf") await waf();
    else if (page === "edge") await edge();
    else await overview();
  });
  await run();
}

document.getElementById("who").textContent = sessionStorage.getItem("nuvem-console-key") || "";
document.getElementById("signout").addEventListener("click", async () => {
  await fetch("/_nuvem/console/signout", { method: "POST", headers: { "X-Nuvem-Console": sessionStorage.getItem(SESSION) || "" }, credentials: "same-origin" }).catch(() => {});
  sessionStorage.removeItem(SESSION);
  location.replace("/_nuvem/console/signin");
});
window.addEventListener("hashchange", route);
if (sessionStorage.getItem(SESSION)) route();
