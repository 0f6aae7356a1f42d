#!/usr/bin/env python3
"""A small MLflow tracking server for tests: Python 3 stdlib only.

It answers the subset of MLflow's REST API that slurm-aml speaks, the way
a real `mlflow server --serve-artifacts` (2.10.2 / 2.17.2) does as recorded
below, section by section (§N, cited through this file and rest/), plus fault
injection and a dump of everything it holds, so tests can assert on what
arrived and in which order.

    mlflow_test_server.py [--port N] [--port-file PATH] [--host H]
                          [--auth basic:USER:PASS | --auth bearer:TOKEN]
                          [--state FILE] [--quiet]

--port 0 takes an ephemeral port; --port-file is written (atomically, by
rename) once the server listens, so a test waits for the file instead of
sleeping.  --state loads FILE at start and saves it after every change
(artifacts live beside it in FILE.artifacts/), so a test can stop the
server and start it again with its data.  SIGTERM and SIGINT stop it.

Quirks reproduced, and where they come from:
  §1   POST without Content-Type application/json -> 400
       INVALID_PARAMETER_VALUE "Bad Request. Content-Type must be one of
       ['application/json']."; wrong method -> Flask's HTML 405; unknown
       route -> HTML 404; /api/2.0/preview/mlflow/... -> HTML 404;
       malformed JSON (and a bare NaN token) -> HTML 500; unknown fields
       ignored; int64 fields as numbers or strings; doubles "NaN",
       "Infinity", "-Infinity" as strings (NaN kept and answered as "NaN",
       +-Infinity clamped to +-1.7976931348623157e308 like the SQL store),
       a null metric value -> 400 "Missing value for required parameter
       'metrics[0].value'"; empty repeated fields omitted from answers;
       /health -> OK, /version -> 2.17.2; /ajax-api/2.0/mlflow/ = /api/...
  §2.1 experiments/get-by-name is GET; 404 RESOURCE_DOES_NOT_EXIST.
  §2.2 experiments/create: 400 RESOURCE_ALREADY_EXISTS on a duplicate
       (not 409); artifact_location mlflow-artifacts:/<id>.  Experiment
       "0" ("Default") exists from the start, as on a real server.
  §2.3 runs/create: 32-hex run ids, RUNNING, start_time default 0,
       run_name mirrored into tag mlflow.runName (generated when absent),
       artifact_uri mlflow-artifacts:/<exp>/<run>/artifacts; unknown
       experiment -> 404; missing experiment_id -> 400 BAD_REQUEST with a
       raw SQL error text.
  §2.4 runs/update: an unknown status is silently ignored (200); a
       rename rewrites mlflow.runName; a deleted run -> 400 "must be in
       the 'active' state" (also for logging and tags).
  §2.5 runs/set-tag, runs/delete-tag; tags overwrite.
  §2.6 runs/log-batch with MLflow 2.10's limits and messages
       (mlflow/utils/validation.py): keys <= 250 and ^[/\\w.\\- ]*$ and
       normalised, tag values <= 5000, param values <= 6000 (rejected,
       not truncated), 1000 metrics / 100 params / 100 tags / 1000 in all
       per request, duplicate param keys refused; params write-once (same
       value fine, another -> 400 "Changing param values is not
       allowed"); metrics append.  runs/log-metric, runs/log-parameter.
  §2.7 runs/get: latest value per metric key; 404 for an unknown run.
  §2.8 runs/search: `and`-joined comparisons (= != < <= > >= LIKE ILIKE)
       on attributes (status, run_name, start_time, end_time, ...),
       tags.<key> / tags."<key>" / tags.`<key>`, params, metrics;
       order_by (default attributes.start_time DESC); max_results and
       page_token paging; `runs` omitted when empty.
  §2.9 artifacts/list (paths relative to the run's artifact root) and the
       artifact proxy /api/2.0/mlflow-artifacts/artifacts/<path>: PUT
       (raw body, any Content-Type, streamed to a temporary file, chunked
       or Content-Length, Expect: 100-continue), GET, DELETE, list
       ?path= (names relative to the listed directory); `..` -> 400
       INVALID_PARAMETER_VALUE "Invalid path"; mpu/* -> 501 (a local
       artifact store has no multipart upload).
  §4   error bodies {"error_code", "message"} with ERROR_CODE_TO_HTTP_STATUS.
  §5   --auth: a missing or wrong Authorization -> 401 "You are not
       authenticated..." (plain text) with WWW-Authenticate: Basic
       realm="mlflow"; /health stays open.

Test control (never faulted, not authenticated, not in the request log):
  POST /__faults__ {"faults": [FAULT, ...]} replaces the faults; {} clears
  them; GET /__faults__ shows what is left.  A FAULT is
      {"type": "fail"|"delay"|"reset"|"trickle",
       "match": "<substring of the path>",
       "method": "<only this method>", "count": N (default 1, -1 forever),
       fail:  "status" (503), "body", "content_type", "retry_after" (s);
       delay: "seconds" (sleeps, then answers normally);
       reset: "after_bytes" (an upload: reads that much of the body, then
              closes the socket with SO_LINGER 0, so the client sees a
              reset and nothing is stored; a GET: sends the headers and
              that much of the answer, then resets);
       trickle: "chunk" (bytes), "interval" (s): an artifact's GET is
              sent a chunk at a time, with a pause after each: a slow
              server that never stalls}
  The first fault that matches a request answers it and uses up one count.
  GET /__dump__ -> {"experiments", "runs" (info, tags, params, metrics in
  order), "artifacts" {path: {"size", "sha256"}}, "requests" [{"method",
  "path" (no query), "status" (null: reset), "fault" (type or null)}] in
  arrival order}.
"""

import argparse
import base64
import hashlib
import json
import math
import os
import posixpath
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

VERSION = "2.17.2"
API = "/api/2.0/mlflow/"
AJAX = "/ajax-api/2.0/mlflow/"
PROXY = "/api/2.0/mlflow-artifacts/artifacts"
MPU = "/api/2.0/mlflow-artifacts/mpu/"

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 5000
MAX_ENTITY_KEY_LENGTH = 250
MAX_RESULTS_LIMIT = 50000
DOUBLE_MAX = 1.7976931348623157e308
VALID_NAME = re.compile(r"^[/\w.\- ]*$")
RUN_STATUSES = ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED")
BAD_CHARACTERS = ("Names may only contain alphanumerics, underscores (_), "
                  "dashes (-), periods (.), spaces ( ), and slashes (/).")
NOT_AUTHENTICATED = (
    "You are not authenticated. Please see "
    "https://www.mlflow.org/docs/latest/auth/index.html"
    "#authenticating-to-mlflow on how to authenticate.")
HTML = {
    404: ("Not Found", "The requested URL was not found on the server. If "
          "you entered the URL manually please check your spelling and try "
          "again."),
    405: ("Method Not Allowed",
          "The method is not allowed for the requested URL."),
    500: ("Internal Server Error",
          "The server encountered an internal error and was unable to "
          "complete your request. Either the server is overloaded or there "
          "is an error in the application."),
}
ADJECTIVES = ("bold", "calm", "eager", "gentle", "lucky", "quick", "silent",
              "sunny", "brave", "clever")
NOUNS = ("fox", "owl", "bear", "crab", "hawk", "moth", "seal", "wolf",
         "yak", "lynx")


class ApiError(Exception):
    """An MLflow JSON error (§4)."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class HtmlError(Exception):
    """One of Flask's HTML error pages (§1, §4)."""

    def __init__(self, status, allow=None):
        super().__init__(status)
        self.status, self.allow = status, allow


class ResetConnection(Exception):
    pass


def invalid(message):
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def not_found(message):
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


def missing(path):
    return invalid(f"Missing value for required parameter '{path}'. See the "
                   "API docs for more information about request parameters.")


def now_ms():
    return int(time.time() * 1000)


# ---- message fields: the proto3 JSON mapping, leniently (§1) ----

def req_string(body, field, path=None):
    value = body.get(field)
    if value is None or value == "":
        raise missing(path or field)
    return str(value)


def opt_string(body, field):
    value = body.get(field)
    return None if value is None else str(value)


def int64(value, path):
    """int64 fields come as JSON numbers or strings (§1)."""
    if isinstance(value, bool):
        raise invalid(f"Invalid value {value!r} for parameter '{path}'")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    raise invalid(f"Invalid value {value!r} for parameter '{path}': "
                  "expected a 64-bit integer")


def double(value, key, timestamp):
    """Doubles: numbers, or the strings protobuf accepts (§1)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = {"NaN": math.nan, "Infinity": math.inf,
                      "-Infinity": -math.inf}[value]
        except KeyError:
            try:
                number = float(value)
            except ValueError:
                number = None
    else:
        number = None
    if number is None:
        raise invalid(f"Got invalid value {value} for metric '{key}' "
                      f"(timestamp={timestamp}). Please specify value as a "
                      "valid double (64-bit floating point)")
    if math.isinf(number):   # the SQL store clamps (§1)
        number = math.copysign(DOUBLE_MAX, number)
    return number


def array(body, field):
    value = body.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"Invalid value {value!r} for parameter '{field}' "
                      "supplied. Hint: Value was of type '"
                      f"{type(value).__name__}'. Expected an array.")
    return value


def jsonable(value):
    """NaN as the string "NaN", as MLflow answers it (§1)."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def pruned(value):
    """Empty repeated fields are left out of proto3 JSON (§2.8)."""
    if isinstance(value, dict):
        return {k: pruned(v) for k, v in value.items()
                if not (isinstance(v, list) and not v)}
    if isinstance(value, list):
        return [pruned(v) for v in value]
    return value


# ---- names and limits (§2.6, mlflow/utils/validation.py of 2.10) ----

def path_not_unique(name):
    norm = posixpath.normpath(name)
    return (norm != name or norm == "." or norm.startswith("..")
            or norm.startswith("/"))


def check_name(kind, name):
    if not VALID_NAME.match(name):
        raise invalid(f"Invalid {kind} name: '{name}'. {BAD_CHARACTERS}")
    if path_not_unique(name):
        raise invalid(
            f"Invalid {kind} name: '{name}'. Names may be treated as files "
            "in certain cases, and must not resolve to other names when "
            "treated as such. This name would resolve to "
            f"'{posixpath.normpath(name)}'")


def check_length(entity, limit, value):
    if value is not None and len(value) > limit:
        raise invalid(f"{entity} '{value[:250]}' had length {len(value)}, "
                      f"which exceeded length limit of {limit}")


def check_batch_limit(entity, limit, length):
    if length > limit:
        raise invalid(
            f"A batch logging request can contain at most {limit} {entity}. "
            f"Got {length} {entity}. Please split up {entity} across "
            "multiple requests and try again.")


def check_tag(key, value):
    check_name("tag", key)
    check_length("Tag key", MAX_ENTITY_KEY_LENGTH, key)
    check_length("Tag value", MAX_TAG_VAL_LENGTH, value)


def check_param(key, value):
    check_name("parameter", key)
    check_length("Param key", MAX_ENTITY_KEY_LENGTH, key)
    check_length("Param value", MAX_PARAM_VAL_LENGTH, value)


def parse_metric(m, i):
    key = str(m["key"])
    timestamp = int64(m["timestamp"], f"metrics[{i}].timestamp")
    check_name("metric", key)
    value = double(m["value"], key, timestamp)
    if timestamp < 0:
        raise invalid(f"Got invalid timestamp {timestamp} for metric "
                      f"'{key}' (value={value}). Timestamp must be a "
                      "nonnegative long (64-bit integer) ")
    step = int64(m.get("step", 0), f"metrics[{i}].step")
    check_length("Metric name", MAX_ENTITY_KEY_LENGTH, key)
    return {"key": key, "value": value, "timestamp": timestamp, "step": step}


def parse_pairs(items, field):
    pairs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or item.get("key") in (None, ""):
            raise missing(f"{field}[{i}].key")
        value = item.get("value")
        pairs.append((str(item["key"]), "" if value is None else str(value)))
    return pairs


# ---- filters (§2.8) ----

ENTITIES = {
    "attribute": "attributes", "attributes": "attributes",
    "attr": "attributes", "run": "attributes",
    "metric": "metrics", "metrics": "metrics",
    "param": "params", "params": "params", "parameter": "params",
    "parameters": "params", "tag": "tags", "tags": "tags",
}
COMPARATORS = re.compile(r"(<=|>=|!=|=|<|>|(?:I?LIKE)(?=\s|'))", re.I)
NUMBER = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


def parse_filter(text):
    """`and`-joined "entity.key OP value" clauses -> [(entity, key, op,
    value)]; keys bare, "double-quoted" or `backquoted`, values
    'single-quoted' strings or numbers."""
    clauses, i, n = [], 0, len(text or "")

    def fail(why):
        raise invalid(f"Invalid filter '{text}': {why}")

    def skip(j):
        while j < n and text[j].isspace():
            j += 1
        return j

    i = skip(0)
    while i < n:
        m = re.compile(r"([A-Za-z_]+)\.").match(text, i)
        if not m or m.group(1).lower() not in ENTITIES:
            fail(f"expected an identifier such as attributes.status at "
                 f"character {i}")
        entity, i = ENTITIES[m.group(1).lower()], m.end()
        if i < n and text[i] in "\"`":
            end = text.find(text[i], i + 1)
            if end < 0:
                fail("unterminated quoted key")
            key, i = text[i + 1:end], end + 1
        else:
            m = re.compile(r"[\w.\-/:]+").match(text, i)
            if not m:
                fail(f"expected a key at character {i}")
            key, i = m.group(0), m.end()
        i = skip(i)
        m = COMPARATORS.match(text, i)
        if not m:
            fail(f"expected a comparison at character {i}")
        op, i = m.group(1).upper(), skip(m.end())
        if i < n and text[i] == "'":
            end = text.find("'", i + 1)
            if end < 0:
                fail("unterminated string")
            value, i = text[i + 1:end], end + 1
        else:
            m = NUMBER.match(text, i)
            if not m:
                fail(f"expected a 'quoted string' or a number at "
                     f"character {i}")
            value, i = float(m.group(0)), m.end()
        clauses.append((entity, key, op, value))
        i = skip(i)
        if i < n:
            m = re.compile(r"and\s", re.I).match(text, i)
            if not m:
                fail(f"expected 'and' at character {i}")
            i = skip(m.end())
            if i >= n:
                fail("nothing after 'and'")
    return clauses


def like(pattern, value, fold):
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c)
                 for c in pattern)
    return re.fullmatch(rx, value, re.I if fold else 0) is not None


def compare(have, op, want):
    if have is None:
        return False
    if op in ("LIKE", "ILIKE"):
        return isinstance(want, str) and like(want, str(have), op == "ILIKE")
    if isinstance(want, float):
        try:
            have = float(have)
        except (TypeError, ValueError):
            return False
    elif not isinstance(have, str):
        have = str(have)
    return {"=": have == want, "!=": have != want, "<": have < want,
            "<=": have <= want, ">": have > want, ">=": have >= want}[op]


# ---- the data ----

class Store:
    """Everything the server holds, behind one lock, saved to --state."""

    def __init__(self, state_path, root):
        self.lock = threading.RLock()
        self.state_path = state_path
        self.artifact_root = os.path.join(root, "artifacts")
        self.tmp = os.path.join(root, "tmp")
        os.makedirs(self.artifact_root, exist_ok=True)
        os.makedirs(self.tmp, exist_ok=True)
        self.experiments = {}
        self.runs = {}
        self.artifacts = {}
        self.requests = []
        self.next_experiment = 1
        if state_path and os.path.exists(state_path):
            with open(state_path, encoding="utf-8") as f:
                self.__dict__.update(self.decode(json.load(f)))
        if "0" not in self.experiments:
            self.add_experiment("0", "Default", [])

    @staticmethod
    def decode(state):
        for run in state["runs"].values():
            for m in run["metrics"]:
                if m["value"] == "NaN":
                    m["value"] = math.nan
        return {k: state[k] for k in ("experiments", "runs", "artifacts",
                                      "requests", "next_experiment")}

    def save(self):
        if not self.state_path:
            return
        state = jsonable({"experiments": self.experiments, "runs": self.runs,
                          "artifacts": self.artifacts,
                          "requests": self.requests,
                          "next_experiment": self.next_experiment})
        tmp = f"{self.state_path}.tmp{threading.get_ident()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(state, f)
        os.replace(tmp, self.state_path)

    def add_experiment(self, eid, name, tags):
        t = now_ms()
        self.experiments[eid] = {
            "experiment_id": eid, "name": name,
            "artifact_location": f"mlflow-artifacts:/{eid}",
            "lifecycle_stage": "active", "last_update_time": t,
            "creation_time": t, "tags": tags}

    def experiment(self, eid):
        exp = self.experiments.get(str(eid))
        if exp is None:
            raise not_found(f"No Experiment with id={eid} exists")
        return exp

    def run(self, rid, active=False):
        run = self.runs.get(rid)
        if run is None:
            raise not_found(f"Run with id={rid} not found")
        stage = run["info"]["lifecycle_stage"]
        if active and stage != "active":
            raise invalid(f"The run {rid} must be in the 'active' state. "
                          f"Current state is {stage}.")
        return run

    @staticmethod
    def latest_metrics(run):
        latest = {}
        for m in run["metrics"]:
            old = latest.get(m["key"])
            rank = (m["step"], m["timestamp"],
                    -math.inf if math.isnan(m["value"]) else m["value"])
            if old is None or rank >= old[0]:
                latest[m["key"]] = (rank, m)
        return [m for _, m in latest.values()]

    def run_message(self, run):
        tags = [{"key": k, "value": v} for k, v in run["tags"].items()]
        params = [{"key": k, "value": v} for k, v in run["params"].items()]
        return {"info": dict(run["info"]),
                "data": {"metrics": self.latest_metrics(run),
                         "params": params, "tags": tags},
                "inputs": {}}


# ---- the handlers of /api/2.0/mlflow/ (§2) ----

def experiments_get_by_name(store, q, body):
    name = q.get("experiment_name")
    if not name:
        raise missing("experiment_name")
    found = [e for e in store.experiments.values() if e["name"] == name]
    found.sort(key=lambda e: e["lifecycle_stage"] != "active")
    if not found:
        raise not_found(f"Could not find experiment with name '{name}'")
    return {"experiment": found[0]}


def experiments_create(store, q, body):
    name = req_string(body, "name")
    if any(e["name"] == name for e in store.experiments.values()):
        raise ApiError(400, "RESOURCE_ALREADY_EXISTS",
                       f"Experiment(name={name}) already exists.")
    tags = parse_pairs(array(body, "tags"), "tags")
    for k, v in tags:
        check_tag(k, v)
    eid = str(store.next_experiment)
    store.next_experiment += 1
    store.add_experiment(eid, name, [{"key": k, "value": v} for k, v in tags])
    loc = opt_string(body, "artifact_location")
    if loc:
        store.experiments[eid]["artifact_location"] = loc
    return {"experiment_id": eid}


def experiments_get(store, q, body):
    eid = q.get("experiment_id")
    if not eid:
        raise missing("experiment_id")
    return {"experiment": store.experiment(eid)}


def set_experiment_stage(stage):
    def handler(store, q, body):
        exp = store.experiment(req_string(body, "experiment_id"))
        exp["lifecycle_stage"] = stage
        exp["last_update_time"] = now_ms()
        return {}
    return handler


def view_matches(view, stage):
    view = view or "ACTIVE_ONLY"
    return view == "ALL" or (view == "ACTIVE_ONLY") == (stage == "active")


def page(items, body):
    limit = body.get("max_results")
    limit = 1000 if limit is None else int64(limit, "max_results")
    if limit > MAX_RESULTS_LIMIT or limit < 1:
        raise invalid("Invalid value for request parameter max_results. It "
                      f"must be at most {MAX_RESULTS_LIMIT}, but got value "
                      f"{limit}")
    offset = 0
    token = body.get("page_token")
    if token:
        try:
            offset = int(json.loads(base64.b64decode(token))["offset"])
        except (ValueError, KeyError, TypeError) as e:
            raise invalid(f"Invalid page token, could not base64-decode "
                          f"or parse: {e}") from None
    chosen = items[offset:offset + limit]
    more = offset + limit < len(items)
    token = (base64.b64encode(json.dumps({"offset": offset + limit})
                              .encode()).decode() if more else None)
    return chosen, token


def experiments_search(store, q, body):
    clauses = parse_filter(body.get("filter"))
    found = []
    for exp in store.experiments.values():
        if not view_matches(body.get("view_type"), exp["lifecycle_stage"]):
            continue
        tags = {t["key"]: t["value"] for t in exp["tags"]}
        if all(compare(tags.get(key) if ent == "tags" else exp.get(key),
                       op, want) for ent, key, op, want in clauses):
            found.append(exp)
    found.sort(key=lambda e: (-e["creation_time"], -int(e["experiment_id"])
                              if e["experiment_id"].isdigit() else 0))
    chosen, token = page(found, body)
    answer = {"experiments": chosen}
    if token:
        answer["next_page_token"] = token
    return answer


def random_run_name():
    return "-".join((ADJECTIVES[os.urandom(1)[0] % len(ADJECTIVES)],
                     NOUNS[os.urandom(1)[0] % len(NOUNS)],
                     str(os.urandom(1)[0] % 1000)))


def runs_create(store, q, body):
    eid = body.get("experiment_id")
    if eid in (None, ""):
        raise ApiError(400, "BAD_REQUEST",
                       "(sqlite3.IntegrityError) NOT NULL constraint failed: "
                       "runs.experiment_id")
    exp = store.experiment(eid)
    if exp["lifecycle_stage"] != "active":
        raise invalid(f"The experiment {exp['experiment_id']} must be in the "
                      "'active' state. Current state is "
                      f"{exp['lifecycle_stage']}.")
    tags = parse_pairs(array(body, "tags"), "tags")
    for k, v in tags:
        check_tag(k, v)
    tags = dict(tags)
    name = opt_string(body, "run_name") or tags.get("mlflow.runName") \
        or random_run_name()
    tags["mlflow.runName"] = name
    rid = uuid.uuid4().hex
    eid = exp["experiment_id"]
    start = int64(body.get("start_time", 0), "start_time")
    info = {"run_id": rid, "run_uuid": rid, "experiment_id": eid,
            "run_name": name, "user_id": opt_string(body, "user_id") or "",
            "status": "RUNNING", "start_time": start,
            "artifact_uri": f"{exp['artifact_location']}/{rid}/artifacts",
            "lifecycle_stage": "active"}
    store.runs[rid] = {"info": info, "tags": tags, "params": {},
                       "metrics": []}
    return {"run": store.run_message(store.runs[rid])}


def run_id_of(body):
    rid = body.get("run_id") or body.get("run_uuid")
    if not rid:
        raise missing("run_id")
    return str(rid)


def runs_update(store, q, body):
    run = store.run(run_id_of(body), active=True)
    info = run["info"]
    status = body.get("status")
    if status in RUN_STATUSES:   # others silently ignored (§1, §2.4)
        info["status"] = status
    if body.get("end_time") is not None:
        info["end_time"] = int64(body["end_time"], "end_time")
    name = opt_string(body, "run_name")
    if name:
        info["run_name"] = name
        run["tags"]["mlflow.runName"] = name
    return {"run_info": dict(info)}


def runs_get(store, q, body):
    rid = q.get("run_id") or q.get("run_uuid")
    if not rid:
        raise missing("run_id")
    return {"run": store.run_message(store.run(rid))}


def set_run_stage(stage):
    def handler(store, q, body):
        run = store.run(req_string(body, "run_id"))
        run["info"]["lifecycle_stage"] = stage
        return {}
    return handler


def runs_set_tag(store, q, body):
    run = store.run(run_id_of(body), active=True)
    key = req_string(body, "key")
    value = opt_string(body, "value") or ""
    check_tag(key, value)
    run["tags"][key] = value
    if key == "mlflow.runName":
        run["info"]["run_name"] = value
    return {}


def runs_delete_tag(store, q, body):
    run = store.run(req_string(body, "run_id"), active=True)
    key = req_string(body, "key")
    if key not in run["tags"]:
        raise not_found(f"No tag with name: {key} in run with id "
                        f"{run['info']['run_id']}")
    del run["tags"][key]
    return {}


def log_batch(store, run, metrics, params, tags):
    """MLflow's order: required fields, limits, each entity, write-once
    params, then the writes (§2.6)."""
    for i, m in enumerate(metrics):
        for field in ("key", "value", "timestamp"):
            if not isinstance(m, dict) or m.get(field) in (None, ""):
                raise missing(f"metrics[{i}].{field}")
    params = parse_pairs(params, "params")
    tags = parse_pairs(tags, "tags")
    check_batch_limit("metrics", MAX_METRICS_PER_BATCH, len(metrics))
    check_batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, len(params))
    check_batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, len(tags))
    check_batch_limit("metrics, params, and tags", MAX_ENTITIES_PER_BATCH,
                      len(metrics) + len(params) + len(tags))
    metrics = [parse_metric(m, i) for i, m in enumerate(metrics)]
    for k, v in params:
        check_param(k, v)
    for k, v in tags:
        check_tag(k, v)
    keys = [k for k, _ in params]
    dupes = [k for i, k in enumerate(keys) if k in keys[:i]]
    if dupes:
        raise invalid(f"Duplicate parameter keys have been submitted: "
                      f"{dupes}. Please ensure the request contains only one "
                      "param value per param key.")
    changed = [{"key": k, "old_value": run["params"][k], "new_value": v}
               for k, v in params if k in run["params"]
               and run["params"][k] != v]
    if changed:
        raise invalid("Changing param values is not allowed. Params were "
                      f"already logged='{changed}' for run "
                      f"ID='{run['info']['run_id']}'.")
    run["params"].update(params)
    run["metrics"].extend(metrics)
    for k, v in tags:
        run["tags"][k] = v
        if k == "mlflow.runName":
            run["info"]["run_name"] = v
    return {}


def runs_log_batch(store, q, body):
    run = store.run(run_id_of(body), active=True)
    return log_batch(store, run, array(body, "metrics"),
                     array(body, "params"), array(body, "tags"))


def runs_log_metric(store, q, body):
    run = store.run(run_id_of(body), active=True)
    metric = {k: body.get(k) for k in ("key", "value", "timestamp", "step")
              if k in body}
    try:
        return log_batch(store, run, [metric], [], [])
    except ApiError as e:
        e.message = e.message.replace("metrics[0].", "")
        raise


def runs_log_parameter(store, q, body):
    run = store.run(run_id_of(body), active=True)
    key = req_string(body, "key")
    return log_batch(store, run, [], [{"key": key,
                                       "value": body.get("value")}], [])


def run_field(store, run, entity, key):
    if entity == "attributes":
        if key not in ("status", "run_name", "start_time", "end_time",
                       "run_id", "artifact_uri", "user_id",
                       "lifecycle_stage"):
            raise invalid(f"Invalid attribute key '{key}' specified.")
        return run["info"].get(key)
    if entity == "metrics":
        for m in store.latest_metrics(run):
            if m["key"] == key:
                return m["value"]
        return None
    return run[entity].get(key)


def order_key(clause):
    m = re.fullmatch(r"\s*(?:(?:attributes|attribute|attr|run)\.)?"
                     r"(\w+)(?:\s+(ASC|DESC))?\s*", clause, re.I)
    if not m or m.group(1) not in ("start_time", "end_time", "run_name",
                                   "status", "run_id"):
        raise invalid(f"Invalid order_by clause '{clause}'. Could not be "
                      "parsed.")
    return m.group(1), (m.group(2) or "ASC").upper() == "DESC"


def runs_search(store, q, body):
    ids = [str(e) for e in array(body, "experiment_ids")]
    clauses = parse_filter(body.get("filter"))
    order = [order_key(c) for c in array(body, "order_by")] or \
        [("start_time", True)]
    found = [run for run in store.runs.values()
             if run["info"]["experiment_id"] in ids
             and view_matches(body.get("run_view_type"),
                              run["info"]["lifecycle_stage"])
             and all(compare(run_field(store, run, ent, key), op, want)
                     for ent, key, op, want in clauses)]
    found.sort(key=lambda r: r["info"]["run_id"])
    for field, desc in reversed(order):
        found.sort(key=lambda r: (r["info"].get(field) is None,
                                  r["info"].get(field) or 0
                                  if field.endswith("_time")
                                  else r["info"].get(field) or ""),
                   reverse=desc)
    chosen, token = page(found, body)
    answer = {"runs": [store.run_message(r) for r in chosen]}
    if token:
        answer["next_page_token"] = token
    return answer


def metrics_get_history(store, q, body):
    rid = q.get("run_id") or q.get("run_uuid")
    key = q.get("metric_key")
    if not rid:
        raise missing("run_id")
    if not key:
        raise missing("metric_key")
    run = store.run(rid)
    chosen, token = page([m for m in run["metrics"] if m["key"] == key],
                         {"max_results": q.get("max_results", 25000),
                          "page_token": q.get("page_token")})
    answer = {"metrics": chosen}
    if token:
        answer["next_page_token"] = token
    return answer


def artifacts_list(store, q, body):
    rid = q.get("run_id") or q.get("run_uuid")
    if not rid:
        raise missing("run_id")
    run = store.run(rid)
    uri = run["info"]["artifact_uri"]
    sub = q.get("path") or ""
    base = uri[len("mlflow-artifacts:"):].lstrip("/") \
        if uri.startswith("mlflow-artifacts:") else None
    files = []
    if base is not None:
        rel = safe_path(f"{base}/{sub}" if sub else base)
        for entry in list_dir(store, rel):
            entry["path"] = f"{sub.rstrip('/')}/{entry['path']}" if sub \
                else entry["path"]
            files.append(entry)
    return {"root_uri": uri, "files": files}


TRACKING = {
    "experiments/get-by-name": ("GET", experiments_get_by_name),
    "experiments/create": ("POST", experiments_create),
    "experiments/get": ("GET", experiments_get),
    "experiments/search": ("POST", experiments_search),
    "experiments/delete": ("POST", set_experiment_stage("deleted")),
    "experiments/restore": ("POST", set_experiment_stage("active")),
    "runs/create": ("POST", runs_create),
    "runs/update": ("POST", runs_update),
    "runs/get": ("GET", runs_get),
    "runs/delete": ("POST", set_run_stage("deleted")),
    "runs/restore": ("POST", set_run_stage("active")),
    "runs/set-tag": ("POST", runs_set_tag),
    "runs/delete-tag": ("POST", runs_delete_tag),
    "runs/log-batch": ("POST", runs_log_batch),
    "runs/log-metric": ("POST", runs_log_metric),
    "runs/log-parameter": ("POST", runs_log_parameter),
    "runs/search": ("POST", runs_search),
    "metrics/get-history": ("GET", metrics_get_history),
    "artifacts/list": ("GET", artifacts_list),
}


# ---- artifacts (§2.9) ----

def safe_path(path):
    """Relative, normalised, no `..`: the proxy's "Invalid path" check."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if path.startswith("/") or "\\" in path or "\0" in path or \
            any(p == ".." for p in parts):
        raise invalid("Invalid path")
    return "/".join(parts)


def list_dir(store, rel):
    """Entries of one directory, named relative to it, sorted."""
    where = os.path.join(store.artifact_root, rel)
    if not os.path.isdir(where):
        return []
    files = []
    for name in sorted(os.listdir(where)):
        full = os.path.join(where, name)
        if os.path.isdir(full):
            files.append({"path": name, "is_dir": True})
        else:
            files.append({"path": name, "is_dir": False,
                          "file_size": os.path.getsize(full)})
    return files


# ---- the HTTP side ----

class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def set(self, items):
        with self.lock:
            self.items = [dict(f) for f in items]

    def show(self):
        with self.lock:
            return [dict(f) for f in self.items]

    def take(self, method, path):
        with self.lock:
            for f in self.items:
                if f.get("match", "") in path and \
                        f.get("method", method) == method:
                    f["count"] = f.get("count", 1)
                    if f["count"] > 0:
                        f["count"] -= 1
                    if f["count"] == 0:
                        self.items.remove(f)
                    return dict(f)
        return None


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, store, auth, quiet):
        super().__init__(addr, Handler)
        self.store, self.auth, self.quiet = store, auth, quiet
        self.faults = Faults()
        self.to_reset = set()
        self.reset_lock = threading.Lock()

    def handle_error(self, request, client_address):
        # Clients that give up (timeouts, resets) are what tests do.
        if self.quiet or isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request):
        # A reset must not start with shutdown(SHUT_WR)'s FIN.
        with self.reset_lock:
            reset = request in self.to_reset
            self.to_reset.discard(request)
        if reset:
            self.close_request(request)
        else:
            super().shutdown_request(request)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mlflow-test-server/" + VERSION

    def log_message(self, fmt, *args):
        if not self.server.quiet:
            super().log_message(fmt, *args)

    # Every method goes through dispatch(); Flask answers 405 or 404.
    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    # -- bodies: Content-Length or chunked, read once, drained if unread --

    def body_chunks(self, size=1 << 20):
        self.body_started = True
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("the body ended early")
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                             b""):
                        pass
                    break
                yield from self.read_exactly(n, size)
                self.rfile.readline(65537)
        else:
            yield from self.read_exactly(
                int(self.headers.get("Content-Length") or 0), size)
        self.body_done = True

    def read_exactly(self, n, size):
        while n > 0:
            data = self.rfile.read(min(n, size))
            if not data:
                raise ConnectionError("the body ended early")
            n -= len(data)
            yield data

    def body_bytes(self):
        return b"".join(self.body_chunks())

    def drain(self):
        if not self.body_started:
            for _ in self.body_chunks():
                pass
        elif not self.body_done:
            self.close_connection = True

    # -- answers --

    def answer(self, status, body=b"", content_type="application/json",
               headers=()):
        if isinstance(body, str):
            body = body.encode()
        if self.reset_after_send is not None:
            self.reset(0)
        self.drain()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        if self.entry is not None:
            self.entry["status"] = status

    def answer_json(self, status, obj):
        self.answer(status, json.dumps(pruned(jsonable(obj)),
                                       allow_nan=False))

    def answer_html(self, status, allow=None):
        title, text = HTML[status]
        page = (f"<!doctype html>\n<html lang=en>\n<title>{status} {title}"
                f"</title>\n<h1>{title}</h1>\n<p>{text}</p>\n")
        self.answer(status, page, "text/html; charset=utf-8",
                    [("Allow", allow)] if allow else [])

    def answer_stream(self, path):
        size = os.path.getsize(path)
        cut = self.reset_after_send
        self.drain()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        if self.command != "HEAD":
            with open(path, "rb") as f:
                if cut is not None:
                    self.wfile.write(f.read(cut))
                    self.reset(0)
                if self.trickle:
                    chunk, interval = self.trickle
                    while True:
                        data = f.read(chunk)
                        if not data:
                            break
                        self.wfile.write(data)
                        self.wfile.flush()
                        time.sleep(interval)
                shutil.copyfileobj(f, self.wfile, 1 << 20)
        self.entry["status"] = 200

    def reset(self, after_bytes):
        """Read some of the body, then make the client see a reset."""
        got = 0
        try:
            if after_bytes > 0:
                for chunk in self.body_chunks(min(after_bytes, 1 << 20)):
                    got += len(chunk)
                    if got >= after_bytes:
                        break
        except ConnectionError:
            pass
        sock = self.connection
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                        struct.pack("ii", 1, 0))
        with self.server.reset_lock:
            self.server.to_reset.add(sock)
        self.close_connection = True
        raise ResetConnection()

    # -- the request --

    def dispatch(self):
        self.body_started = self.body_done = False
        self.reset_after_send = None
        self.trickle = None
        self.entry = None
        store = self.server.store
        try:
            self.serve()
        except ResetConnection:
            pass
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception:   # Flask's answer to a handler's bug
            if not self.server.quiet:
                import traceback
                traceback.print_exc()
            try:
                self.answer_html(500)
            except (OSError, ResetConnection):
                self.close_connection = True
        finally:
            if self.entry is not None:
                with store.lock:
                    store.save()

    def serve(self):
        url = urlsplit(self.path)
        path = url.path
        if path in ("/__faults__", "/__dump__"):
            return self.control(path)
        self.entry = {"method": self.command, "path": path,
                      "status": None, "fault": None}
        store = self.server.store
        with store.lock:
            store.requests.append(self.entry)
        try:
            fault = self.server.faults.take(self.command, path)
            if fault:
                self.entry["fault"] = fault["type"]
                if self.inject(fault):
                    return None
            if path != "/health" and not self.authenticated():
                return self.answer(
                    401, NOT_AUTHENTICATED, "text/plain; charset=utf-8",
                    [("WWW-Authenticate", 'Basic realm="mlflow"')])
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            return self.route(path, query)
        except ApiError as e:
            return self.answer_json(e.status, {"error_code": e.code,
                                               "message": e.message})
        except HtmlError as e:
            return self.answer_html(e.status, e.allow)

    def inject(self, fault):
        """Apply [fault]; True when it answered the request."""
        kind = fault["type"]
        if kind == "delay":
            time.sleep(float(fault.get("seconds", 1)))
            return False
        if kind == "trickle":
            self.trickle = (int(fault.get("chunk", 65536)),
                            float(fault.get("interval", 0.5)))
            return False
        if kind == "reset" and self.command in ("GET", "HEAD"):
            self.reset_after_send = int(fault.get("after_bytes", 0))
            return False
        if kind == "reset":
            self.reset(int(fault.get("after_bytes", 0)))
        status = int(fault.get("status", 503))
        body = fault.get("body")
        if body is None:
            body = json.dumps({"error_code": "TEMPORARILY_UNAVAILABLE",
                               "message": "injected fault"})
        headers = []
        if fault.get("retry_after") is not None:
            headers.append(("Retry-After", str(fault["retry_after"])))
        self.answer(status, body, fault.get("content_type",
                                            "application/json"), headers)
        return True

    def authenticated(self):
        auth = self.server.auth
        if auth is None:
            return True
        given = self.headers.get("Authorization", "")
        if auth[0] == "bearer":
            return given == f"Bearer {auth[1]}"
        scheme, _, blob = given.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            return base64.b64decode(blob, validate=True).decode() == \
                f"{auth[1]}:{auth[2]}"
        except (ValueError, UnicodeDecodeError):
            return False

    def route(self, path, query):
        if path == "/health":
            return self.only("GET", lambda: self.answer(
                200, "OK", "text/html; charset=utf-8"))
        if path == "/version":
            return self.only("GET", lambda: self.answer(
                200, VERSION, "text/html; charset=utf-8"))
        for prefix in (API, AJAX):
            if path.startswith(prefix) and path[len(prefix):] in TRACKING:
                return self.tracking(TRACKING[path[len(prefix):]], query)
        if path == PROXY:
            return self.only("GET", lambda: self.proxy_list(query))
        if path.startswith(PROXY + "/"):
            return self.proxy(unquote(path[len(PROXY) + 1:]))
        if path.startswith(MPU):
            return self.only("POST", lambda: self.answer_json(
                501, {"error_code": "NOT_IMPLEMENTED",
                      "message": "Multipart upload is not supported for the "
                                 "local artifact repository"}))
        raise HtmlError(404)

    def only(self, method, then):
        if self.command != method and not (method == "GET" and
                                           self.command == "HEAD"):
            raise HtmlError(405, f"{method}, HEAD, OPTIONS"
                            if method == "GET" else f"{method}, OPTIONS")
        return then()

    def tracking(self, route, query):
        method, handler = route
        if self.command != method and not (method == "GET" and
                                           self.command == "HEAD"):
            raise HtmlError(405, f"{method}, OPTIONS")
        body = {}
        if method == "POST":
            ctype = self.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip().lower() != "application/json":
                raise invalid("Bad Request. Content-Type must be one of "
                              "['application/json'].")
            body = self.json_body()
        store = self.server.store
        with store.lock:
            answer = handler(store, query, body)
        self.answer_json(200, answer)

    def json_body(self):
        raw = self.body_bytes()
        if not raw.strip():
            return {}

        def no_constant(name):
            raise ValueError(f"bare {name}")
        try:
            body = json.loads(raw, parse_constant=no_constant)
        except ValueError:
            raise HtmlError(500) from None
        if not isinstance(body, dict):
            raise HtmlError(500)
        return body

    # -- the artifact proxy --

    def proxy_list(self, query):
        rel = safe_path(query.get("path", ""))
        store = self.server.store
        with store.lock:
            files = list_dir(store, rel)
        self.answer_json(200, {"files": files})

    def proxy(self, raw):
        rel = safe_path(raw)
        store = self.server.store
        full = os.path.join(store.artifact_root, rel)
        if self.command == "PUT":
            return self.proxy_put(store, rel, full)
        if self.command in ("GET", "HEAD"):
            if not rel or not os.path.isfile(full):
                raise not_found(f"File {rel} does not exist")
            return self.answer_stream(full)
        if self.command == "DELETE":
            with store.lock:
                if os.path.isdir(full):
                    shutil.rmtree(full)
                elif os.path.exists(full):
                    os.unlink(full)
                for key in [k for k in store.artifacts
                            if k == rel or k.startswith(rel + "/")]:
                    del store.artifacts[key]
            return self.answer_json(200, {})
        raise HtmlError(405, "GET, PUT, DELETE, HEAD, OPTIONS")

    def proxy_put(self, store, rel, full):
        if not rel:
            raise invalid("Invalid path")
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=store.tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                for chunk in self.body_chunks():
                    digest.update(chunk)
                    size += len(chunk)
                    f.write(chunk)
            with store.lock:
                os.makedirs(os.path.dirname(full), exist_ok=True)
                os.replace(tmp, full)
                store.artifacts[rel] = {"size": size,
                                        "sha256": digest.hexdigest()}
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.answer_json(200, {})

    # -- test control --

    def control(self, path):
        if path == "/__dump__":
            store = self.server.store
            with store.lock:
                dump = {"experiments": list(store.experiments.values()),
                        "runs": [{"info": r["info"],
                                  "tags": [{"key": k, "value": v}
                                           for k, v in r["tags"].items()],
                                  "params": [{"key": k, "value": v}
                                             for k, v in r["params"].items()],
                                  "metrics": r["metrics"]}
                                 for r in store.runs.values()],
                        "artifacts": store.artifacts,
                        "requests": store.requests}
                text = json.dumps(jsonable(dump), allow_nan=False)
            return self.answer(200, text)
        if self.command == "POST":
            try:
                faults = json.loads(self.body_bytes() or b"{}") \
                    .get("faults", [])
                for f in faults:
                    if f.get("type") not in ("fail", "delay", "reset",
                                             "trickle"):
                        raise ValueError(f"unknown fault type {f.get('type')}")
            except (ValueError, AttributeError) as e:
                return self.answer(400, json.dumps({"error": str(e)}))
            self.server.faults.set(faults)
        self.answer(200, json.dumps({"faults": self.server.faults.show()}))


def parse_auth(text):
    if text is None:
        return None
    kind, _, rest = text.partition(":")
    if kind == "bearer" and rest:
        return ("bearer", rest)
    user, _, password = rest.partition(":")
    if kind == "basic" and user:
        return ("basic", user, password)
    raise SystemExit("--auth must be basic:USER:PASS or bearer:TOKEN")


def write_port_file(path, port):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="ascii") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--port-file")
    ap.add_argument("--auth")
    ap.add_argument("--state")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    auth = parse_auth(args.auth)
    if args.state:
        root = os.path.abspath(args.state) + ".artifacts"
        cleanup = None
    else:
        root = cleanup = tempfile.mkdtemp(prefix="mlflow-test-server-")
    store = Store(args.state and os.path.abspath(args.state), root)
    server = Server((args.host, args.port), store, auth, args.quiet)

    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:
        write_port_file(args.port_file, server.server_address[1])
    if not args.quiet:
        print(f"listening on {args.host}:{server.server_address[1]}",
              file=sys.stderr)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        server.server_close()
        with store.lock:
            store.save()
        if cleanup:
            shutil.rmtree(cleanup, ignore_errors=True)


if __name__ == "__main__":
    main()
