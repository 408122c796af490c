# nuvem's Python runtime bootstrap: speaks the Lambda Runtime API (2018-06-01) for a handler
# `module.function` in LAMBDA_TASK_ROOT, with the context object, log format and error JSON of
# AWS's Python runtime. Shipped inside nuvem (crates/functions/bootstrap/python.py) and
# written into the data dir; standard library only, so it starts as fast as python3 does.
import http.client
import importlib
import json
import logging
import os
import sys
import time
import traceback

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"
_conn = None


def _request(method, path, body=None, headers=None):
    global _conn
    for attempt in (0, 1):
        if _conn is None:
            host, _, port = API.rpartition(":")
            _conn = http.client.HTTPConnection(host, int(port))
        try:
            _conn.request(method, BASE + path, body=body, headers=headers or {})
            resp = _conn.getresponse()
            return resp, resp.read()
        except (ConnectionError, http.client.HTTPException):
            _conn = None
            if attempt:
                raise


def _error_json(exc, error_type=None):
    return {
        "errorMessage": str(exc),
        "errorType": error_type or type(exc).__name__,
        "requestId": "",
        # The user's frames only, as AWS's runtime reports them.
        "stackTrace": traceback.format_list(
            [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
        ),
    }


class LambdaContext:
    def __init__(self, request_id, deadline_ms, arn, client_context, identity):
        self.aws_request_id = request_id
        self.invoked_function_arn = arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = json.loads(client_context) if client_context else None
        self.identity = json.loads(identity) if identity else None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record):
        record.aws_request_id = _RequestIdFilter.request_id
        return True


def _setup_logging():
    # AWS's format: [LEVEL]\t<ISO time>Z\t<request id>\t<message>
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)


def _load_handler():
    spec = os.environ.get("_HANDLER", "")
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise _InitError("Runtime.MalformedHandlerName", f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    task_root = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    sys.path.insert(0, task_root)
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise _InitError("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}")
    except SyntaxError as e:
        raise _InitError("Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {e}")
    except Exception as e:
        raise _InitError(type(e).__name__, str(e), e)
    handler = getattr(module, function_name, None)
    if handler is None:
        raise _InitError("Runtime.HandlerNotFound", f"Handler '{function_name}' missing on module '{module_name}'")
    return handler


class _InitError(Exception):
    def __init__(self, error_type, message, cause=None):
        super().__init__(message)
        self.error_type = error_type
        self.cause = cause


def main():
    _setup_logging()
    try:
        handler = _load_handler()
    except _InitError as e:
        body = _error_json(e.cause or e, e.error_type)
        body["errorMessage"] = str(e)
        print(f"[ERROR] {e.error_type}: {e}", flush=True)
        _request("POST", "/init/error", json.dumps(body).encode(), {"Lambda-Runtime-Function-Error-Type": e.error_type})
        sys.exit(1)
    while True:
        resp, body = _request("GET", "/invocation/next")
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        _RequestIdFilter.request_id = request_id
        os.environ["_X_AMZN_TRACE_ID"] = resp.getheader("Lambda-Runtime-Trace-Id") or ""
        context = LambdaContext(
            request_id,
            int(resp.getheader("Lambda-Runtime-Deadline-Ms") or 0),
            resp.getheader("Lambda-Runtime-Invoked-Function-Arn"),
            resp.getheader("Lambda-Runtime-Client-Context"),
            resp.getheader("Lambda-Runtime-Cognito-Identity"),
        )
        try:
            event = json.loads(body) if body else {}
            result = handler(event, context)
            payload = json.dumps(result).encode()
        except Exception as e:
            error = _error_json(e)
            error["requestId"] = request_id
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", flush=True)
            _request(
                "POST",
                f"/invocation/{request_id}/error",
                json.dumps(error).encode(),
                {"Lambda-Runtime-Function-Error-Type": error["errorType"]},
            )
            continue
        _request("POST", f"/invocation/{request_id}/response", payload)


if __name__ == "__main__":
    main()
