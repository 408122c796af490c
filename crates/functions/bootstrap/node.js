// nuvem's Node.js runtime bootstrap: speaks the Lambda Runtime API (2018-06-01) for a handler
// `file.function` in LAMBDA_TASK_ROOT (CommonJS or ES module), with async handlers and
// callbacks, the context object, log format and error JSON of AWS's Node.js runtime. Shipped
// inside nuvem (crates/functions/bootstrap/node.js) and written into the data dir; core
// modules only.
"use strict";
const http = require("http");
const path = require("path");
const fs = require("fs");
const url = require("url");
const util = require("util");

const [HOST, PORT] = process.env.AWS_LAMBDA_RUNTIME_API.split(":");
const BASE = "/2018-06-01/runtime";
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function request(method, p, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: HOST, port: PORT, method, path: BASE + p, agent, headers: headers || {} },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ res, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

function errorJson(err, type) {
  if (!(err instanceof Error)) {
    return { errorType: type || "string", errorMessage: String(err), trace: [] };
  }
  return {
    errorType: type || err.name || "Error",
    errorMessage: err.message,
    trace: String(err.stack || "").split("\n"),
  };
}

// AWS's format: <ISO time>\t<request id>\t<LEVEL>\t<message>
let currentRequestId = undefined;
for (const [name, level] of [["log", "INFO"], ["info", "INFO"], ["warn", "WARN"], ["error", "ERROR"], ["debug", "DEBUG"], ["trace", "TRACE"]]) {
  console[name] = (...args) => {
    const line = `${new Date().toISOString()}\t${currentRequestId || "undefined"}\t${level}\t${util.format(...args)}\n`;
    process.stdout.write(line);
  };
}

async function loadHandler() {
  const spec = process.env._HANDLER || "";
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const dot = spec.lastIndexOf(".");
  if (dot <= 0) {
    throw Object.assign(new Error(`Bad handler ${spec}`), { lambdaType: "Runtime.MalformedHandlerName" });
  }
  const file = spec.slice(0, dot);
  const fn = spec.slice(dot + 1);
  let mod;
  const base = path.resolve(root, file);
  const candidates = [".js", ".mjs", ".cjs"].map((ext) => base + ext).filter((p) => fs.existsSync(p));
  if (candidates.length === 0) {
    throw Object.assign(new Error(`Cannot find module '${file}'`), { lambdaType: "Runtime.ImportModuleError" });
  }
  try {
    mod = candidates[0].endsWith(".mjs")
      ? await import(url.pathToFileURL(candidates[0]).href)
      : require(candidates[0]);
  } catch (e) {
    if (e instanceof SyntaxError) e.lambdaType = "Runtime.UserCodeSyntaxError";
    else e.lambdaType = e.lambdaType || "Runtime.ImportModuleError";
    throw e;
  }
  const handler = mod[fn] || (mod.default && mod.default[fn]);
  if (typeof handler !== "function") {
    throw Object.assign(new Error(`${file}.${fn} is undefined or not exported`), { lambdaType: "Runtime.HandlerNotFound" });
  }
  return handler;
}

function makeContext(headers) {
  const deadline = Number(headers["lambda-runtime-deadline-ms"] || 0);
  const cc = headers["lambda-runtime-client-context"];
  const id = headers["lambda-runtime-cognito-identity"];
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: headers["lambda-runtime-invoked-function-arn"],
    memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: headers["lambda-runtime-aws-request-id"],
    logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
    clientContext: cc ? JSON.parse(cc) : undefined,
    identity: id ? JSON.parse(id) : undefined,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

// Runs the handler as AWS's runtime does: a promise-returning (async) handler settles with
// its promise; a handler taking a callback settles with the first callback/done/succeed/fail.
function runHandler(handler, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (r) => callback(null, r);
    context.fail = (e) => callback(e || new Error("handled"));
    try {
      const out = handler(event, context, callback);
      if (out && typeof out.then === "function") out.then((r) => callback(null, r), (e) => callback(e));
      else if (handler.length < 3) callback(null, out);
    } catch (e) {
      callback(e);
    }
  });
}

async function main() {
  let handler;
  try {
    handler = await loadHandler();
  } catch (e) {
    const body = errorJson(e, e.lambdaType);
    console.error(`${body.errorType}: ${body.errorMessage}`);
    await request("POST", "/init/error", JSON.stringify(body), { "Lambda-Runtime-Function-Error-Type": body.errorType });
    process.exit(1);
  }
  for (;;) {
    const { res, body } = await request("GET", "/invocation/next");
    const h = res.headers;
    const id = h["lambda-runtime-aws-request-id"];
    currentRequestId = id;
    process.env._X_AMZN_TRACE_ID = h["lambda-runtime-trace-id"] || "";
    try {
      const event = body.length ? JSON.parse(body.toString("utf8")) : {};
      const result = await runHandler(handler, event, makeContext(h));
      const payload = JSON.stringify(result === undefined ? null : result);
      await request("POST", `/invocation/${id}/response`, payload);
    } catch (e) {
      const err = errorJson(e);
      console.error(`Invoke Error \t${JSON.stringify(err)}`);
      await request("POST", `/invocation/${id}/error`, JSON.stringify(err), {
        "Content-Type": "application/vnd.aws.lambda.error+json",
        "Lambda-Runtime-Function-Error-Type": err.errorType,
      });
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
