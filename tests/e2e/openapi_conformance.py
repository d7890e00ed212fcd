#!/usr/bin/python3
"""Conformance of docs/openapi.yaml with the running uplink, both ways (issue #8).

Starts the real stack with scripts/run-stack (--no-build, free ports, a data dir of its own),
registers users and walks the API:

  1. Every documented (path, method, status) is provoked by a request that should produce it,
     and for an error status every documented `code`: the test checks the status, that the
     body validates against the documented schema (JSON Schema 2020-12, as OpenAPI 3.1 uses),
     the content type, and the documented headers (Retry-After on 429 and 503,
     WWW-Authenticate on 401). The request bodies of the 2xx cases must validate against the
     documented request schemas, and every example in the file against its schema.
     401 is provoked for every bearer operation without a token; 503 for every operation
     documenting it while Redis is frozen (SIGSTOP on the stack's redis-server, then SIGCONT).
     A documented status or code that no request produced fails the test, and so does a
     response that is not documented.
  2. The other direction, in two ways that cover each other's blind spots:
     - the route tables uplink/routes.cpp and uplink/routes_social.cpp are data, one
       `{"METHOD", "/path", ...}` row per route: the set of rows parsed from them must equal
       the set of documented operations (a reformatted table parses to a different set and
       fails, rather than passing empty);
     - the running uplink must answer 405 `method_not_allowed` to every method a documented
       path does not document (GET, POST, PUT, PATCH, DELETE, OPTIONS and HEAD: none is routed
       implicitly), which catches a method the binary serves that the table parse missed, and
       404 `not_found` to an unknown path.
  3. docs/asyncapi.yaml: a device connects with its login answer's `mqtt` block; a message, a
     notification, a signal, a room message and a session.kicked must each arrive on the
     documented channel, at the documented QoS, with a payload valid against the documented
     schema.

The stack runs with settings that make every status reachable quickly:
--messaging-policy friends (403 forbidden on messages and signals), --group-max-members 3
(409 on adding members), a send budget of 30 at 0.5/s (429 on sends and signals), and 30
registrations per address (429 on registration).

Usage: tests/e2e/openapi_conformance.py [--build-dir DIR] [--spec FILE]
  COURIER_BUILD_DIR: the binaries (default build/); COURIER_KEEP_TEST_DIRS=1 keeps the data dir.
Needs Debian's python3-yaml and python3-jsonschema (scripts/setup installs them).
"""

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROUTE_TABLES = [ROOT / "uplink" / "routes.cpp", ROOT / "uplink" / "routes_social.cpp"]
PROBE_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
T0 = time.monotonic()


def say(msg):
    print(f"[openapi {time.monotonic() - T0:5.1f}s] {msg}", flush=True)


class Failure(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The description: operations, responses, schemas.


class Spec:
    def __init__(self, path):
        with open(path, encoding="utf-8") as f:
            self.doc = yaml.safe_load(f)
        # "#/components/..." references resolve against the whole document.
        self.resolver = jsonschema.RefResolver(base_uri="", referrer=self.doc)
        self.ops = {}  # "POST /v1/users" -> operation object
        for path_, item in self.doc["paths"].items():
            for method, op in item.items():
                if method in ("get", "post", "put", "patch", "delete", "options", "head"):
                    self.ops[f"{method.upper()} {path_}"] = op

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def validate(self, instance, schema, what):
        validator = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            e = errors[0]
            raise Failure(
                f"{what}: does not validate: {e.message} at {list(e.absolute_path)}\n"
                f"  instance: {json.dumps(instance)[:600]}")

    def is_bearer(self, op_key):
        op = self.ops[op_key]
        security = op.get("security", self.doc.get("security", []))
        return any("bearerAuth" in s for s in security)

    def response(self, op_key, status):
        responses = self.ops[op_key]["responses"]
        if str(status) not in responses:
            return None
        return self.deref(responses[str(status)])

    def error_codes(self, schema):
        """The error codes a response schema admits: the `const` of error.code, through $ref,
        allOf and oneOf."""
        codes = set()

        def walk(s):
            s = self.deref(s)
            if not isinstance(s, dict):
                return
            for key in ("allOf", "oneOf", "anyOf"):
                for sub in s.get(key, []):
                    walk(sub)
            code = s.get("properties", {}).get("error", {}).get("properties", {}).get("code", {})
            if "const" in code:
                codes.add(code["const"])

        walk(schema)
        return codes

    def documented(self):
        """Every (operation, status, code) triple: code None for a success."""
        out = set()
        for key, op in self.ops.items():
            for status in op["responses"]:
                r = self.response(key, status)
                codes = set()
                for media in r.get("content", {}).values():
                    codes |= self.error_codes(media.get("schema", {}))
                if int(status) >= 400:
                    if not codes:
                        raise Failure(f"{key} {status}: an error response without error codes")
                    out |= {(key, int(status), c) for c in codes}
                else:
                    out.add((key, int(status), None))
        return out

    def check_examples(self):
        """Every example in the file validates against its schema."""
        count = 0
        for key, op in self.ops.items():
            media_sets = []
            body = self.deref(op.get("requestBody", {}))
            media_sets.append((f"{key} request", body.get("content", {})))
            for status, r in op["responses"].items():
                media_sets.append((f"{key} {status}", self.deref(r).get("content", {})))
            for what, content in media_sets:
                for media in content.values():
                    if "example" in media:
                        self.validate(media["example"], media.get("schema", {}),
                                      f"example of {what}")
                        count += 1
            for p in op.get("parameters", []):
                p = self.deref(p)
                if "example" in p:
                    self.validate(p["example"], p["schema"], f"example of {key} {p['name']}")
                    count += 1
        for name, r in self.doc["components"]["responses"].items():
            for media in r.get("content", {}).values():
                if "example" in media:
                    self.validate(media["example"], media["schema"], f"example of response {name}")
                    count += 1
        return count


# ---------------------------------------------------------------------------------------------
# The stack and HTTP.


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-case names
        self.body = body

    def json(self):
        return json.loads(self.body)

    def describe(self):
        return f"{self.status} {self.body[:400].decode('utf-8', 'replace')}"


class Stack:
    def __init__(self, build_dir, work):
        self.work = work
        self.data_dir = work / "stack"
        self.out = open(work / "run-stack.out", "w", encoding="utf-8")
        env = dict(os.environ)
        env.update({
            "COURIER_MESSAGING_POLICY": "friends",
            "COURIER_GROUP_MAX_MEMBERS": "3",
            "COURIER_SEND_BURST": "30",
            "COURIER_SEND_RATE": "0.5",
            "COURIER_REGISTER_BURST_PER_ADDRESS": "30",
            "COURIER_REGISTER_RATE_PER_ADDRESS": "0.02",
        })
        say(f"starting scripts/run-stack --no-build --free-ports --build-dir {build_dir}")
        self.proc = subprocess.Popen(
            [str(ROOT / "scripts" / "run-stack"), "--no-build", "--free-ports", "--no-metrics",
             "--build-dir", str(build_dir), "--data-dir", str(self.data_dir)],
            stdout=self.out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)

    def wait_ready(self):
        env_file = self.data_dir / "stack.env"
        deadline = time.monotonic() + 90
        while not env_file.exists():
            if self.proc.poll() is not None:
                raise Failure(f"run-stack exited with {self.proc.returncode} before it was ready")
            if time.monotonic() > deadline:
                raise Failure("run-stack not ready within 90 s")
            time.sleep(0.2)
        time.sleep(0.2)  # stack.env is written whole, but give the writer a moment
        self.env = {}
        for line in env_file.read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                parts = shlex.split(v)
                self.env[k] = parts[0] if parts else ""
        self.host = self.env["COURIER_HTTP_HOST"]
        self.port = int(self.env["COURIER_HTTP_PORT"])
        self.redis_pid = int(self.env["COURIER_REDIS_PID"])
        say(f"stack ready: {self.env['COURIER_HTTP_URL']}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=45)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()

    def tail(self):
        lines = []
        out = self.work / "run-stack.out"
        if out.exists():
            lines += out.read_text(errors="replace").splitlines()[-40:]
        for log in sorted((self.data_dir / "logs").glob("*.log")):
            lines.append(f"----- {log}")
            lines += log.read_text(errors="replace").splitlines()[-20:]
        return "\n".join(lines)

    def http(self, method, path, body=None, raw=None, token=None):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        headers = {}
        data = None
        if raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()


# ---------------------------------------------------------------------------------------------
# Checking one exchange against the description.


class Checker:
    def __init__(self, spec, stack):
        self.spec = spec
        self.stack = stack
        self.covered = set()
        self.requests = 0

    def coerce(self, value, schema):
        schema = self.spec.deref(schema)
        if schema.get("type") == "integer":
            try:
                return int(value)
            except ValueError:
                return value
        return value

    def call(self, op_key, want, code=None, params=None, query=None, body=None, raw=None,
             token=None):
        """Sends the request of `op_key` and checks it answers `want` (and the error `code`) as
        the description says. Returns the Response."""
        if op_key not in self.spec.ops:
            raise Failure(f"test bug: {op_key} is not in the description")
        method, template = op_key.split(" ", 1)
        path = template
        for k, v in (params or {}).items():
            path = path.replace("{" + k + "}", v)
        if query:
            path += "?" + "&".join(f"{k}={v}" for k, v in query.items())
        r = self.stack.http(method, path, body=body, raw=raw, token=token)
        self.requests += 1
        self.check(op_key, f"{method} {path}", r, want, code, params, query, body, raw)
        return r

    def check(self, op_key, what, r, want, code, params, query, body, raw):
        if r.status != want:
            raise Failure(f"{what}: want {want}{' ' + code if code else ''}, got {r.describe()}")
        doc = self.spec.response(op_key, r.status)
        if doc is None:
            raise Failure(f"{what}: status {r.status} is not documented for {op_key}")
        content = doc.get("content", {})
        ctype = r.headers.get("content-type", "").split(";")[0].strip()
        if not content:
            if r.body:
                raise Failure(f"{what}: {r.status} documents no body, got {r.describe()}")
        else:
            if ctype not in content:
                raise Failure(f"{what}: Content-Type {ctype!r}, documented {list(content)}")
            schema = content[ctype].get("schema", {})
            instance = r.body.decode("utf-8") if ctype == "text/plain" else json.loads(r.body)
            self.spec.validate(instance, schema, f"{what} -> {r.status} body")
            if r.status >= 400:
                got = instance["error"]["code"]
                documented = self.spec.error_codes(schema)
                if code is not None and got != code:
                    raise Failure(f"{what}: want code {code}, got {r.describe()}")
                if got not in documented:
                    raise Failure(f"{what}: code {got} is not documented for {op_key} {r.status}")
                code = got
        # Every answer of a routed request names its request id (info.description, "Request ids").
        rid = r.headers.get("x-request-id")
        if rid is None or not re.fullmatch(r"[A-Za-z0-9._:-]{1,64}", rid):
            raise Failure(f"{what}: {r.status} without a sane X-Request-Id header (got {rid!r})")
        for name, h in doc.get("headers", {}).items():
            h = self.spec.deref(h)
            value = r.headers.get(name.lower())
            if value is None:
                if h.get("required"):
                    raise Failure(f"{what}: {r.status} without its documented header {name}")
                continue
            self.spec.validate(self.coerce(value, h["schema"]), h["schema"],
                               f"{what}: header {name}")
        if 200 <= r.status < 300:
            op = self.spec.ops[op_key]
            # What the client sent for a success must be what the description allows.
            if body is not None and raw is None:
                rb = self.spec.deref(op.get("requestBody", {}))
                schema = rb.get("content", {}).get("application/json", {}).get("schema")
                if schema is None:
                    raise Failure(f"{what}: sent a body, but {op_key} documents none")
                self.spec.validate(body, schema, f"{what}: request body")
            sent = dict(params or {})
            sent.update(query or {})
            declared = {p["name"]: p for p in map(self.spec.deref, op.get("parameters", []))}
            for k, v in sent.items():
                if k not in declared:
                    raise Failure(f"{what}: parameter {k} is not documented for {op_key}")
                schema = declared[k]["schema"]
                self.spec.validate(self.coerce(v, schema), schema, f"{what}: parameter {k}")
        self.covered.add((op_key, r.status, code if r.status >= 400 else None))


# ---------------------------------------------------------------------------------------------
# The walk.

BAD = "bad!id"  # not an identifier: 400 invalid_field in any id path parameter
UNKNOWN_ULID = "01AAAAAAAAAAAAAAAAAAAAAAAA"


def walk(c, spec):
    users = ["alice", "bob", "carol", "dave", "eve"]
    tok = {}

    # ---- Registration and sessions.
    for u in users:
        c.call("POST /v1/users", 201, body={"user_id": u, "password": f"{u}-password",
                                              "display_name": u.title()})
    c.call("POST /v1/users", 400, "invalid_json", raw="not json")
    c.call("POST /v1/users", 400, "invalid_field", body={"user_id": BAD, "password": "x"})
    c.call("POST /v1/users", 409, "conflict", body={"user_id": "alice", "password": "x"})
    for u in users:
        r = c.call("POST /v1/sessions", 200,
                   body={"user_id": u, "password": f"{u}-password", "device_id": "phone"})
        tok[u] = r.json()["token"]
        tok["login:" + u] = r.json()
    a, b, cr, d, e = (tok[u] for u in users)
    c.call("POST /v1/sessions", 400, "invalid_json", raw="[1]")
    c.call("POST /v1/sessions", 400, "invalid_field",
           body={"user_id": "alice", "password": "x", "device_id": "phone", "platform": "fax"})
    c.call("POST /v1/sessions", 401, "unauthorized",
           body={"user_id": "alice", "password": "wrong", "device_id": "phone"})
    c.call("GET /v1/mqtt", 200, token=a)
    web = c.call("POST /v1/sessions", 200, body={"user_id": "alice", "password": "alice-password",
                                                   "device_id": "tab", "platform": "web"}).json()
    c.call("DELETE /v1/sessions/current", 204, token=web["token"])
    c.call("GET /v1/mqtt", 401, "unauthorized", token=web["token"])  # the session has ended
    say("registration and sessions checked")

    # ---- Friends (the stack runs with --messaging-policy friends) and blocks.
    c.call("POST /v1/friends/requests", 201, body={"to": "bob", "note": "hi"}, token=a)
    reqs = c.call("GET /v1/friends/requests", 200, token=b).json()["items"]
    rid = reqs[0]["request_id"]
    c.call("POST /v1/friends/requests/{id}/accept", 204, params={"id": rid}, token=b)
    c.call("POST /v1/friends/requests/{id}/accept", 404, "not_found", params={"id": rid}, token=b)
    c.call("POST /v1/friends/requests/{id}/reject", 404, "not_found", params={"id": rid}, token=b)
    for answer in ("accept", "reject"):
        c.call(f"POST /v1/friends/requests/{{id}}/{answer}", 400, "invalid_field",
               params={"id": BAD}, token=b)
    rid2 = c.call("POST /v1/friends/requests", 201, body={"to": "dave"},
                  token=cr).json()["request_id"]
    c.call("POST /v1/friends/requests/{id}/reject", 204, params={"id": rid2}, token=d)
    c.call("POST /v1/friends/requests", 400, "invalid_json", raw="nope", token=a)
    c.call("POST /v1/friends/requests", 400, "invalid_field", body={"to": "alice"}, token=a)
    c.call("POST /v1/friends/requests", 404, "not_found", body={"to": "nobody"}, token=a)
    c.call("POST /v1/friends/requests", 409, "conflict", body={"to": "bob"}, token=a)
    c.call("GET /v1/friends", 200, token=a)

    c.call("POST /v1/blocks", 204, body={"user_id": "alice"}, token=d)
    c.call("POST /v1/blocks", 400, "invalid_json", raw="{", token=d)
    c.call("POST /v1/blocks", 400, "invalid_field", body={"user_id": "dave"}, token=d)
    c.call("POST /v1/blocks", 404, "not_found", body={"user_id": "nobody"}, token=d)
    c.call("GET /v1/blocks", 200, token=d)
    c.call("DELETE /v1/blocks/{uid}", 204, params={"uid": "carol"}, token=d)
    c.call("DELETE /v1/blocks/{uid}", 400, "invalid_field", params={"uid": BAD}, token=d)
    c.call("POST /v1/friends/requests", 403, "blocked", body={"to": "dave"}, token=a)
    say("friends and blocks checked")

    # ---- Groups (--group-max-members 3).
    c.call("POST /v1/groups", 201, body={"group_id": "ga", "name": "A", "members": ["bob"]},
           token=a)
    c.call("POST /v1/groups", 201, body={"group_id": "gb", "name": "B", "members": ["carol"]},
           token=b)
    c.call("POST /v1/groups", 400, "invalid_json", raw="[]", token=a)
    c.call("POST /v1/groups", 400, "invalid_field", body={"name": ""}, token=a)
    c.call("POST /v1/groups", 404, "not_found",
           body={"group_id": "gc", "name": "C", "members": ["nobody"]}, token=a)
    c.call("POST /v1/groups", 409, "conflict", body={"group_id": "ga", "name": "A"}, token=a)
    c.call("GET /v1/groups/{gid}", 200, params={"gid": "ga"}, token=b)
    c.call("GET /v1/groups/{gid}", 400, "invalid_field", params={"gid": BAD}, token=b)
    c.call("GET /v1/groups/{gid}", 403, "not_member", params={"gid": "ga"}, token=cr)
    c.call("GET /v1/groups/{gid}", 404, "not_found", params={"gid": "nosuch"}, token=a)

    m = "POST /v1/groups/{gid}/members"
    c.call(m, 200, params={"gid": "ga"}, body={"user_ids": ["carol"]}, token=a)
    c.call(m, 400, "invalid_json", params={"gid": "ga"}, raw="x", token=a)
    c.call(m, 400, "invalid_field", params={"gid": "ga"}, body={"user_ids": []}, token=a)
    c.call(m, 403, "not_member", params={"gid": "ga"}, body={"user_ids": ["eve"]}, token=d)
    c.call(m, 403, "forbidden", params={"gid": "ga"}, body={"user_ids": ["eve"]}, token=b)
    c.call(m, 404, "not_found", params={"gid": "nosuch"}, body={"user_ids": ["eve"]}, token=a)
    c.call(m, 409, "conflict", params={"gid": "ga"}, body={"user_ids": ["eve"]}, token=a)

    p = "PATCH /v1/groups/{gid}/members/{uid}"
    c.call(p, 200, params={"gid": "ga", "uid": "bob"}, body={"role": "admin"}, token=a)
    c.call(p, 400, "invalid_json", params={"gid": "ga", "uid": "bob"}, raw="1", token=a)
    c.call(p, 400, "invalid_field", params={"gid": "ga", "uid": "bob"}, body={"role": "owner"},
           token=a)
    c.call(p, 403, "not_member", params={"gid": "ga", "uid": "bob"}, body={"role": "member"},
           token=d)
    c.call(p, 403, "forbidden", params={"gid": "ga", "uid": "carol"}, body={"role": "admin"},
           token=b)
    c.call(p, 404, "not_found", params={"gid": "ga", "uid": "dave"}, body={"role": "admin"},
           token=a)

    dm = "DELETE /v1/groups/{gid}/members/{uid}"
    c.call(dm, 400, "invalid_field", params={"gid": "ga", "uid": BAD}, token=a)
    c.call(dm, 403, "not_member", params={"gid": "ga", "uid": "bob"}, token=d)
    c.call(dm, 403, "forbidden", params={"gid": "ga", "uid": "alice"}, token=b)
    c.call(dm, 404, "not_found", params={"gid": "ga", "uid": "dave"}, token=a)
    c.call(dm, 204, params={"gid": "ga", "uid": "carol"}, token=a)
    say("groups checked")

    # ---- Rooms.
    c.call("POST /v1/rooms/{rid}/join", 200, params={"rid": "lobby"}, token=a)
    c.call("POST /v1/rooms/{rid}/join", 400, "invalid_field", params={"rid": BAD}, token=a)
    c.call("POST /v1/rooms/{rid}/leave", 400, "invalid_field", params={"rid": BAD}, token=a)

    # ---- Messages.
    s = "POST /v1/messages"
    sent = c.call(s, 201, body={"to": "user:bob", "cmid": "m-1", "body": {"text": "hi"}},
                  token=a).json()
    dup = c.call(s, 200, body={"to": "user:bob", "cmid": "m-1", "body": {"text": "hi"}},
                 token=a).json()
    if dup != sent:
        raise Failure(f"a duplicate cmid answered {dup}, the original {sent}")
    second = c.call(s, 201, body={"to": "user:bob", "cmid": "m-2", "kind": "note", "body": None},
                    token=a).json()
    group_msg = c.call(s, 201, body={"to": "group:ga", "cmid": "g-1", "body": "to the group"},
                       token=a).json()
    c.call(s, 201, body={"to": "room:lobby", "cmid": "r-1", "body": [1, 2]}, token=a)
    c.call(s, 400, "invalid_json", raw="{", token=a)
    c.call(s, 400, "invalid_field", body={"to": "fax:bob", "cmid": "x", "body": 1}, token=a)
    c.call(s, 403, "not_member", body={"to": "group:gb", "cmid": "x-1", "body": 1}, token=a)
    c.call(s, 403, "blocked", body={"to": "user:dave", "cmid": "x-2", "body": 1}, token=a)
    c.call(s, 403, "forbidden", body={"to": "user:carol", "cmid": "x-3", "body": 1}, token=a)
    c.call(s, 404, "not_found", body={"to": "group:nosuch", "cmid": "x-4", "body": 1}, token=a)
    c.call(s, 413, "too_large", body={"to": "user:bob", "cmid": "x-5", "body": "x" * 17000},
           token=a)

    g = "POST /v1/signals"
    c.call(g, 202, body={"to": "user:bob", "kind": "typing"}, token=a)
    c.call(g, 400, "invalid_json", raw="nope", token=a)
    c.call(g, 400, "invalid_field", body={"to": "room:lobby", "kind": "typing"}, token=a)
    c.call(g, 403, "blocked", body={"to": "user:dave", "kind": "typing"}, token=a)
    c.call(g, 403, "forbidden", body={"to": "user:carol", "kind": "typing"}, token=a)
    c.call(g, 403, "not_member", body={"to": "group:gb", "kind": "typing"}, token=a)
    c.call(g, 404, "not_found", body={"to": "group:nosuch", "kind": "typing"}, token=a)

    # Sync and acks; the downlink copies group entries into inboxes just after the send.
    deadline = time.monotonic() + 10
    while True:
        page = c.call("GET /v1/sync", 200, query={"after": "0", "limit": "50"}, token=b).json()
        if any(i.get("id") == group_msg["id"] for i in page["items"]):
            break
        if time.monotonic() > deadline:
            raise Failure(f"the group message never reached bob's inbox: {page}")
        time.sleep(0.1)
    kinds = {(i["type"], i.get("event")) for i in page["items"]}
    for want in [("message", None), ("notification", "friend.request"),
                 ("notification", "group.created")]:
        if want not in kinds:
            raise Failure(f"bob's inbox lacks {want}: {kinds}")
    c.call("GET /v1/sync", 400, "invalid_field", query={"after": "-1"}, token=b)
    c.call("POST /v1/acks", 200, body={"seq": page["next_after"]}, token=b)
    c.call("POST /v1/acks", 400, "invalid_json", raw="x", token=b)
    c.call("POST /v1/acks", 400, "invalid_field", body={"seq": "5"}, token=b)

    # History, the conversation list, read marks.
    h = "GET /v1/conversations/{conv}/messages"
    c.call(h, 200, params={"conv": "u:alice:bob"}, query={"limit": "10"}, token=b)
    room = c.call(h, 200, params={"conv": "r:lobby"}, token=a).json()
    if not room["items"] or "room_seq" not in room["items"][0]:
        raise Failure(f"the room history has no room_seq: {room}")
    c.call(h, 400, "invalid_field", params={"conv": "u:bob:alice"}, token=b)
    c.call(h, 403, "not_member", params={"conv": "u:alice:bob"}, token=cr)
    c.call(h, 404, "not_found", params={"conv": "g:nosuch"}, token=a)
    c.call("GET /v1/conversations", 200, token=b)
    c.call("GET /v1/conversations", 400, "invalid_field", query={"limit": "0"}, token=b)
    rd = "POST /v1/conversations/{conv}/read"
    c.call(rd, 204, params={"conv": "u:alice:bob"}, body={"conv_seq": 1}, token=b)
    c.call(rd, 400, "invalid_json", params={"conv": "u:alice:bob"}, raw="x", token=b)
    c.call(rd, 400, "invalid_field", params={"conv": "u:alice:bob"}, body={"conv_seq": -1}, token=b)
    c.call(rd, 403, "not_member", params={"conv": "u:alice:bob"}, body={"conv_seq": 1}, token=cr)
    c.call(rd, 404, "not_found", params={"conv": "g:nosuch"}, body={"conv_seq": 1}, token=a)

    # Recall; then the history and the conversation list show the message recalled.
    rc = "DELETE /v1/messages/{id}"
    c.call(rc, 204, params={"id": second["id"]}, token=a)
    c.call(rc, 400, "invalid_field", params={"id": BAD}, token=a)
    c.call(rc, 403, "forbidden", params={"id": sent["id"]}, token=b)
    c.call(rc, 404, "not_found", params={"id": UNKNOWN_ULID}, token=a)
    hist = c.call(h, 200, params={"conv": "u:alice:bob"}, token=a).json()
    if not hist["items"][0].get("recalled"):
        raise Failure(f"the recalled message is not shown recalled: {hist['items'][0]}")
    conv = c.call("GET /v1/conversations", 200, token=a).json()
    if not any(i["last"].get("recalled") for i in conv["items"]):
        raise Failure(f"no recalled last in alice's conversations: {conv}")
    c.call(dm, 204, params={"gid": "ga", "uid": "alice"}, token=a)  # alice leaves ga...
    c.call(rc, 403, "not_member", params={"id": group_msg["id"]}, token=a)  # ...then recalls
    c.call("POST /v1/rooms/{rid}/leave", 204, params={"rid": "lobby"}, token=a)
    say("messages, signals, sync, history, receipts and recall checked")

    # Every inbox now holds notifications of most events: each entry must match InboxEntry.
    # (The group's own entries reach inboxes through the downlink: wait for bob's handover.)
    deadline = time.monotonic() + 10
    while True:
        page = c.call("GET /v1/sync", 200, query={"limit": "1000"}, token=b).json()
        if any(i.get("event") == "group.role_changed" and i["data"].get("role") == "owner"
               for i in page["items"]):
            break
        if time.monotonic() > deadline:
            raise Failure(f"bob never got the group's handover: {page}")
        time.sleep(0.1)
    events = {i.get("event") for u in users
              for i in c.call("GET /v1/sync", 200, token=tok[u]).json()["items"]}
    say(f"inbox entries of every user validate; events seen: {sorted(e for e in events if e)}")

    pushes(c, spec, tok)

    # ---- Friends removed, presence, operations.
    c.call("DELETE /v1/friends/{uid}", 204, params={"uid": "bob"}, token=a)
    c.call("DELETE /v1/friends/{uid}", 400, "invalid_field", params={"uid": BAD}, token=a)
    c.call("DELETE /v1/friends/{uid}", 404, "not_found", params={"uid": "bob"}, token=a)
    c.call("GET /v1/presence", 200, query={"users": "alice,bob,nobody"}, token=a)
    c.call("GET /v1/presence", 400, "invalid_field", token=a)
    c.call("GET /healthz", 200)
    c.call("GET /readyz", 200)
    c.call("GET /metrics", 200)

    # ---- Rate limits: eve's send budget (30), then signals from the same bucket; failed
    # logins for one user id (10); registrations from this address (30).
    for i in range(200):
        r = c.stack.http("POST", "/v1/messages", token=e,
                         body={"to": "user:eve", "cmid": f"flood-{i}", "body": i})
        if r.status != 201:
            break
    c.check(s, "POST /v1/messages (flood)", r, 429, "rate_limited", None, None, None, None)
    c.call(g, 429, "rate_limited", body={"to": "user:eve", "kind": "typing"}, token=e)
    for i in range(30):
        r = c.stack.http("POST", "/v1/sessions",
                         body={"user_id": "locked", "password": "guess", "device_id": "d"})
        if r.status != 401:
            break
    c.check("POST /v1/sessions", "POST /v1/sessions (guessing)", r, 429, "rate_limited",
            None, None, None, None)
    for i in range(60):
        r = c.stack.http("POST", "/v1/users", body={"user_id": f"spam{i}", "password": "x"})
        if r.status != 201:
            break
    c.check("POST /v1/users", "POST /v1/users (flood)", r, 429, "rate_limited",
            None, None, None, None)
    say("rate limits checked")
    return tok


class Device:
    """One MQTT device, connected with the `mqtt` block of a login answer (paho-mqtt)."""

    def __init__(self, mqtt_block):
        import paho.mqtt.client as mqtt  # Debian's python3-paho-mqtt (1.6)
        self.got = []
        self.cv = threading.Condition()
        self.connected = None
        self.granted = {}
        self.client = mqtt.Client(client_id=mqtt_block["client_id"], clean_session=True,
                                  protocol=mqtt.MQTTv311)
        self.client.username_pw_set(mqtt_block["username"], mqtt_block["password"])
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.connect(mqtt_block["host"], mqtt_block["port"], keepalive=30)
        self.client.loop_start()
        self.wait(lambda: self.connected is not None, "a CONNACK")
        if self.connected != 0:
            raise Failure(f"the broker refused {mqtt_block['client_id']}: CONNACK {self.connected}")

    def _on_connect(self, client, userdata, flags, rc):
        with self.cv:
            self.connected = rc
            self.cv.notify_all()

    def _on_subscribe(self, client, userdata, mid, granted_qos):
        with self.cv:
            self.granted[mid] = granted_qos
            self.cv.notify_all()

    def _on_message(self, client, userdata, msg):
        with self.cv:
            self.got.append((msg.topic, msg.qos, msg.payload))
            self.cv.notify_all()

    def wait(self, cond, what, timeout=10):
        with self.cv:
            if not self.cv.wait_for(cond, timeout=timeout):
                raise Failure(f"MQTT: no {what} within {timeout} s")

    def subscribe(self, topic):
        _, mid = self.client.subscribe(topic, qos=1)
        self.wait(lambda: mid in self.granted, f"SUBACK for {topic}")
        if self.granted[mid][0] not in (0, 1, 2):
            raise Failure(f"MQTT: the broker refused the subscription to {topic}")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def pushes(c, spec, tok):
    """docs/asyncapi.yaml against real pushes: bob's device subscribes to its inbox, device and
    a room topic; a message, a notification, a signal, a room message and a session.kicked must
    each arrive on the documented channel, at the documented QoS, and validate against the
    documented payload; every documented message is seen at least once."""
    with open(ROOT / "docs" / "asyncapi.yaml", encoding="utf-8") as f:
        api = yaml.safe_load(f)
    root = c.stack.env["COURIER_TOPIC_ROOT"]
    channels = []  # (regex over topics, qos, {message name: payload schema})
    for name, ch in api["channels"].items():
        # "courier/u/{user_id}": the first level is the topic root, a {parameter} one level.
        levels = name.split("/")
        pattern = "/".join([re.escape(root)] + [
            "[^/]+" if lv.startswith("{") else re.escape(lv) for lv in levels[1:]])
        op = ch["subscribe"]
        msgs = op["message"].get("oneOf", [op["message"]])
        payloads = {}
        for m in msgs:
            key = m["$ref"].rsplit("/", 1)[1]
            ref = api["components"]["messages"][key]["payload"]["$ref"]
            if not ref.startswith("openapi.yaml#"):
                raise Failure(f"asyncapi.yaml: payload {ref} is not a schema of openapi.yaml")
            payloads[key] = {"$ref": ref[len("openapi.yaml"):]}
        channels.append((re.compile(pattern + "$"), op["bindings"]["mqtt"]["qos"], payloads))
    for name, m in api["components"]["messages"].items():
        for ex in m.get("examples", []):
            spec.validate(ex["payload"], {"$ref": m["payload"]["$ref"][len("openapi.yaml"):]},
                          f"asyncapi.yaml example of {name}")

    login = tok["login:bob"]
    dev = Device(login["mqtt"])
    seen = set()
    try:
        dev.subscribe(login["mqtt"]["topics"]["inbox"])
        dev.subscribe(login["mqtt"]["topics"]["device"])
        topic = c.call("POST /v1/rooms/{rid}/join", 200, params={"rid": "hall"},
                       token=tok["bob"]).json()["topic"]
        dev.subscribe(topic)
        c.call("POST /v1/rooms/{rid}/join", 200, params={"rid": "hall"}, token=tok["alice"])
        # alice and bob are friends (the messaging policy is friends); eve asks bob.
        c.call("POST /v1/friends/requests", 201, body={"to": "bob"}, token=tok["eve"])
        c.call("POST /v1/messages", 201, token=tok["alice"],
               body={"to": "user:bob", "cmid": "push-1", "body": {"text": "over MQTT"}})
        c.call("POST /v1/signals", 202, body={"to": "user:bob", "kind": "typing"},
               token=tok["alice"])
        c.call("POST /v1/messages", 201, token=tok["alice"],
               body={"to": "room:hall", "cmid": "push-2", "body": "room"})
        # A login on the same platform from another device ends bob's phone session.
        c.call("POST /v1/sessions", 200,
               body={"user_id": "bob", "password": "bob-password", "device_id": "tablet"})
        want = {"InboxMessage", "InboxNotification", "Signal", "RoomMessage", "Control"}

        def check_all():
            for t, qos, payload in dev.got[len(checked):]:
                checked.append(t)
                match = [ch for ch in channels if ch[0].match(t)]
                if len(match) != 1:
                    raise Failure(f"MQTT: a push on {t}, which no channel of asyncapi.yaml names")
                _, doc_qos, payloads = match[0]
                if qos != doc_qos:
                    raise Failure(f"MQTT: {t} delivered at QoS {qos}, documented {doc_qos}")
                body = json.loads(payload)
                fits = [k for k, sch in payloads.items() if not list(
                    jsonschema.Draft202012Validator(sch, resolver=spec.resolver).iter_errors(body))]
                if not fits:
                    spec.validate(body, {"oneOf": list(payloads.values())}, f"MQTT push on {t}")
                seen.update(fits)
            return want <= seen

        checked = []
        deadline = time.monotonic() + 10
        while not check_all():
            if time.monotonic() > deadline:
                raise Failure(f"MQTT: never saw {sorted(want - seen)}; got {dev.got}")
            time.sleep(0.1)
    finally:
        dev.close()
    say(f"asyncapi.yaml: {len(checked)} pushes on its channels validate"
        f" ({', '.join(sorted(seen))})")


def samples(tok):
    """A well-formed request per operation: sent without a token (401) and while Redis is
    frozen (503)."""
    a = tok["alice"]
    return {
        "POST /v1/users": dict(body={"user_id": "late", "password": "x"}),
        "POST /v1/sessions": dict(body={"user_id": "bob", "password": "bob-password",
                                        "device_id": "phone2"}),
        "GET /v1/mqtt": dict(),
        "DELETE /v1/sessions/current": dict(),
        "POST /v1/messages": dict(body={"to": "user:bob", "cmid": "late-1", "body": 1}),
        "GET /v1/sync": dict(),
        "POST /v1/acks": dict(body={"seq": 0}),
        "GET /v1/conversations": dict(),
        "GET /v1/conversations/{conv}/messages": dict(params={"conv": "u:alice:bob"}),
        "POST /v1/conversations/{conv}/read": dict(params={"conv": "u:alice:bob"},
                                                   body={"conv_seq": 1}),
        "DELETE /v1/messages/{id}": dict(params={"id": UNKNOWN_ULID}),
        "POST /v1/signals": dict(body={"to": "user:bob", "kind": "typing"}),
        "POST /v1/groups": dict(body={"name": "late"}),
        "GET /v1/groups/{gid}": dict(params={"gid": "ga"}),
        "POST /v1/groups/{gid}/members": dict(params={"gid": "ga"}, body={"user_ids": ["eve"]}),
        "PATCH /v1/groups/{gid}/members/{uid}": dict(params={"gid": "ga", "uid": "bob"},
                                                     body={"role": "member"}),
        "DELETE /v1/groups/{gid}/members/{uid}": dict(params={"gid": "ga", "uid": "bob"}),
        "POST /v1/rooms/{rid}/join": dict(params={"rid": "lobby"}),
        "POST /v1/rooms/{rid}/leave": dict(params={"rid": "lobby"}),
        "POST /v1/friends/requests": dict(body={"to": "carol"}),
        "GET /v1/friends/requests": dict(),
        "POST /v1/friends/requests/{id}/accept": dict(params={"id": UNKNOWN_ULID}),
        "POST /v1/friends/requests/{id}/reject": dict(params={"id": UNKNOWN_ULID}),
        "GET /v1/friends": dict(),
        "DELETE /v1/friends/{uid}": dict(params={"uid": "bob"}),
        "POST /v1/blocks": dict(body={"user_id": "carol"}),
        "GET /v1/blocks": dict(),
        "DELETE /v1/blocks/{uid}": dict(params={"uid": "carol"}),
        "GET /v1/presence": dict(query={"users": "bob"}),
        "GET /healthz": dict(),
        "GET /readyz": dict(),
        "GET /metrics": dict(),
    }, a


def unauthenticated(c, spec, tok):
    table, _ = samples(tok)
    for key in spec.ops:
        if spec.is_bearer(key) and spec.response(key, 401) is not None:
            c.call(key, 401, "unauthorized", **table[key])
    say("401 without a token checked on every bearer operation")


def redis_frozen(c, spec, tok):
    table, a = samples(tok)
    keys = [k for k in spec.ops if spec.response(k, 503) is not None]
    say(f"freezing Redis (SIGSTOP pid {c.stack.redis_pid}) for {len(keys)} operations")
    os.kill(c.stack.redis_pid, signal.SIGSTOP)
    try:
        for key in keys:
            token = a if spec.is_bearer(key) else None
            c.call(key, 503, "unavailable", token=token, **table[key])
    finally:
        os.kill(c.stack.redis_pid, signal.SIGCONT)
    deadline = time.monotonic() + 30
    while c.stack.http("GET", "/readyz").status != 200:
        if time.monotonic() > deadline:
            raise Failure("the uplink is not ready again 30 s after Redis was resumed")
        time.sleep(0.2)
    say("503 with Redis frozen checked; Redis resumed, /readyz is 200 again")


def route_table():
    row = re.compile(r'\{\s*"(GET|POST|PUT|PATCH|DELETE|OPTIONS|HEAD)"\s*,\s*"(/[^"]*)"')
    found = set()
    for f in ROUTE_TABLES:
        found |= {f"{m} {p}" for m, p in row.findall(f.read_text())}
    return found


def template_matches(template, path):
    """The router's rule (uplink/routes.cpp Router::Match): a {param} is one non-empty segment."""
    t, q = template.split("/"), path.split("/")
    return len(t) == len(q) and all(
        (a.startswith("{") and b) or a == b for a, b in zip(t, q))


def compare_route_table(spec):
    table_ops = route_table()
    documented = set(spec.ops)
    missing = sorted(table_ops - documented)
    extra = sorted(documented - table_ops)
    if missing or extra:
        raise Failure(f"route table vs description: in the code but not documented: {missing}; "
                      f"documented but not in the code: {extra}")
    return len(table_ops)


def other_direction(c, spec, tok):
    table, a = samples(tok)
    not_allowed = spec.doc["components"]["schemas"]["ErrorMethodNotAllowed"]
    probes = 0
    for path, item in spec.doc["paths"].items():
        methods = {m.upper() for m in item}
        key = next(f"{m.upper()} {path}" for m in item)
        concrete = path
        for k, v in table[key].get("params", {}).items():
            concrete = concrete.replace("{" + k + "}", v)
        for method in PROBE_METHODS:
            if method in methods:
                continue
            # Templates overlap: DELETE /v1/friends/requests is DELETE /v1/friends/{uid} with
            # uid "requests", a documented operation, not an undocumented method.
            if any(k.startswith(method + " ") and template_matches(k.split(" ", 1)[1], concrete)
                   for k in spec.ops):
                continue
            with_body = method in ("POST", "PUT", "PATCH", "DELETE")
            r = c.stack.http(method, concrete, body={} if with_body else None, token=a)
            probes += 1
            if r.status != 405:
                raise Failure(f"{method} {concrete}: undocumented, so want 405, got {r.describe()}"
                              " (a route the description lacks?)")
            if method != "HEAD":  # a HEAD answer has no body
                spec.validate(r.json(), not_allowed, f"{method} {concrete} -> 405 body")
    r = c.stack.http("GET", "/v1/no-such-endpoint", token=a)
    if r.status != 404 or r.json()["error"]["code"] != "not_found":
        raise Failure(f"an unknown path: want 404 not_found, got {r.describe()}")
    spec.validate(r.json(), {"$ref": "#/components/schemas/ErrorNotFound"}, "unknown path body")
    say(f"{probes} undocumented methods on documented paths answer 405; an unknown path 404")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build-dir", default=os.environ.get("COURIER_BUILD_DIR", str(ROOT / "build")))
    ap.add_argument("--spec", default=str(ROOT / "docs" / "openapi.yaml"))
    args = ap.parse_args()

    try:
        spec = Spec(args.spec)
        documented = spec.documented()
        examples = spec.check_examples()
        routes = compare_route_table(spec)
    except Failure as e:
        print(f"FAILED: {args.spec}: {e}", file=sys.stderr)
        return 1
    say(f"{args.spec}: {len(spec.ops)} operations, {len(documented)} (operation, status, code)"
        f" to provoke; {examples} examples validate")
    say(f"the route tables ({', '.join(f.name for f in ROUTE_TABLES)}) have exactly the {routes}"
        " documented operations")

    work = Path(tempfile.mkdtemp(prefix="courier-openapi-"))
    stack = None
    passed = False
    try:
        stack = Stack(Path(args.build_dir), work)
        stack.wait_ready()
        c = Checker(spec, stack)
        tok = walk(c, spec)
        unauthenticated(c, spec, tok)
        other_direction(c, spec, tok)
        redis_frozen(c, spec, tok)
        not_provoked = sorted(documented - c.covered, key=str)
        if not_provoked:
            raise Failure("documented but never provoked:\n  " +
                          "\n  ".join(f"{k} {s} {code or ''}" for k, s, code in not_provoked))
        say(f"{c.requests} checked requests; all {len(documented)} documented (operation, status,"
            " code) provoked and matching")
        passed = True
    except Exception as e:  # a Failure, or anything unexpected (refused connection, bad JSON)
        if isinstance(e, Failure):
            print(f"\nFAILED: {e}", file=sys.stderr)
        else:
            traceback.print_exc()
        if stack is not None:
            print(f"\n----- the stack's output and logs -----\n{stack.tail()}", file=sys.stderr)
    finally:
        if stack is not None:
            stack.stop()
    # A sanitizer build's components print their reports into their logs and may leave no
    # other trace (as tests/e2e/walkthrough.sh checks too).
    if stack is not None:
        marks = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")
        for log in sorted((stack.data_dir / "logs").glob("*.log")):
            hits = [l for l in log.read_text(errors="replace").splitlines()
                    if any(m in l for m in marks)]
            if hits:
                print(f"\nFAILED: sanitizer report in {log}:\n  " + "\n  ".join(hits[:20]),
                      file=sys.stderr)
                passed = False
    if stack is not None:
        if passed and not os.environ.get("COURIER_KEEP_TEST_DIRS"):
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"openapi: data dir and logs kept in {work}")
    say("PASSED" if passed else "FAILED")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
