#!/usr/bin/env python3
"""The API contract, checked by schemathesis against a live server for each role.

Starts `scaleinfra serve` (SQLite in a temporary folder, the simulated pool) on a free port, creates a
tenant with an admin, a user and a finance user, and runs schemathesis with every check on as the
operator, the admin, the user and the finance user in turn. Any failure, schema error or 5xx fails.

Usage: tests/contract/run.py PATH/TO/scaleinfra [SCHEMATHESIS]
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

OPERATOR = ("operator@provider.test", "Operator-Pass-Quasar-42")
PASSWORD = "Velvet-Harbor-Lantern-93"
MAX_EXAMPLES = os.environ.get("SITEST_CONTRACT_EXAMPLES", "12")
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemathesis.toml")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse(raw):
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


def call(base, method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, parse(r.read())
    except urllib.error.HTTPError as e:
        return e.code, parse(e.read())


def login(base, email, password):
    status, body = call(base, "POST", "/api/v1/auth/login", body={"email": email, "password": password})
    assert status == 200, (status, body)
    return body["access_token"]


def main():
    binary = os.path.abspath(sys.argv[1])
    st = sys.argv[2] if len(sys.argv) > 2 else shutil.which("schemathesis") or "schemathesis"
    data = tempfile.mkdtemp(prefix="si-contract-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.update({
        "SCALEINFRA_BIND": f"127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite://{data}/contract.db",
        "SCALEINFRA_ADMIN_EMAIL": OPERATOR[0],
        "SCALEINFRA_ADMIN_PASSWORD": OPERATOR[1],
        "SCALEINFRA_SIM_BOOT_MS": "50",
        # schemathesis sends thousands of logins and password changes: limits are tested elsewhere
        "SCALEINFRA_LOGIN_PER_IP_PER_MINUTE": "1000000",
        "SCALEINFRA_LOGIN_PER_ACCOUNT_IP_PER_MINUTE": "1000000",
        "SCALEINFRA_LOGIN_PER_ACCOUNT_PER_MINUTE": "1000000",
        "SCALEINFRA_PASSWORD_CHANGES_PER_HOUR": "1000000",
        # (actix logs the malformed requests schemathesis sends on purpose)
        "SCALEINFRA_LOG_LEVEL": "error,actix_http=off",
    })
    server = subprocess.Popen([binary, "serve"], env=env, cwd=data)
    try:
        deadline = time.time() + 120
        while True:
            try:
                if call(base, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.time() < deadline, "the server did not become ready"
            assert server.poll() is None, "the server exited"
            time.sleep(0.2)
        op = login(base, *OPERATOR)
        status, t = call(base, "POST", "/api/v1/tenants", op, {
            "name": "Contract", "slug": "contract",
            "admin": {"email": "admin@contract.test", "name": "Admin", "password": PASSWORD}})
        assert status == 201, (status, t)
        admin = login(base, "admin@contract.test", PASSWORD)
        tokens = {"operator": op, "admin": admin}
        for role in ("user", "finance"):
            email = f"{role}@contract.test"
            status, u = call(base, "POST", "/api/v1/users", admin,
                             {"email": email, "name": role, "role": role, "password": PASSWORD})
            assert status == 201, (status, u)
            tokens[role] = login(base, email, PASSWORD)
        failed = []
        for role, token in tokens.items():
            print(f"==> schemathesis as {role}", flush=True)
            r = subprocess.run([
                st, "--config-file", CONFIG, "run", f"{base}/api/openapi.json",
                "--checks", "all",
                "--header", f"Authorization: Bearer {token}",
                "--max-examples", MAX_EXAMPLES,
                "--phases", "examples,coverage,fuzzing",
                "--workers", "2",
                "--request-timeout", "30",
                "--seed", "1",
                # logout ends the very session the run authenticates with
                "--exclude-path", "/api/v1/auth/logout",
                # changing the password ends every session of the role the run uses
                "--exclude-path", "/api/v1/auth/password",
                # a live stream never ends (tests/e2e/live.rs covers it)
                "--exclude-path", "/api/v1/applications/{application_id}/stream",
                "--suppress-health-check", "all",
            ], env=env)
            if r.returncode != 0:
                failed.append(role)
            # the run may have ended its own session (a reuse, a role change): log in again
            tokens[role] = token
        if failed:
            print(f"schemathesis failed as: {', '.join(failed)}", file=sys.stderr)
            return 1
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
