#!/usr/bin/env python3
"""Tests of modules/app-user-data/files/fetch-s3-object.py (run by scripts/check-terraform.sh).

1. Its SigV4 signature equals botocore's (an independent implementation) for
   the same request, credentials and time.
2. End to end against a local fake of IMDSv2 and S3 on 127.0.0.1 whose S3 side
   checks the signature with botocore: a good download lands with mode 0644,
   a wrong checksum or a bad signature exits 1 and leaves no file, IMDSv1-style
   requests without a token are refused.
Needs botocore (installed with checkov in .venv/checkov).
"""

import datetime
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest import mock

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "modules", "app-user-data", "files", "fetch-s3-object.py")
FAILURES = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        FAILURES.append(what)


spec = importlib.util.spec_from_file_location("fetch_s3_object", SCRIPT)
fetch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch)

ACCESS, SECRET, TOKEN = "ASIAEXAMPLEEXAMPLE01", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "IQoJb3JpZ2luX2VjEXAMPLE//token=="


def botocore_authorization(url, host, region, creds, when, extra_headers=None):
    """Authorization header botocore computes for a GET of url at time when."""
    req = AWSRequest(method="GET", url=url, headers=dict(extra_headers or {}, Host=host))
    # S3 accepts an unhashed payload ("UNSIGNED-PAYLOAD"); tell botocore so.
    req.context["client_config"] = types.SimpleNamespace(s3={"payload_signing_enabled": False})
    with mock.patch.object(botocore.auth, "datetime") as dt:
        dt.datetime.utcnow.return_value = when.replace(tzinfo=None)
        dt.datetime.strptime = datetime.datetime.strptime
        botocore.auth.S3SigV4Auth(creds, "s3", region).add_auth(req)
    return req.headers["Authorization"]


def test_signature():
    print("SigV4 signature matches botocore")
    when = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.timezone.utc)
    host = "newsread-prod-artifacts-123456789012-eu-west-1.s3.eu-west-1.amazonaws.com"
    for key in ("releases/newsread-" + "ab" * 32, "releases/amazon-efs-utils-2.1.0_amd64.deb"):
        for token in (TOKEN, None):
            uri, headers = fetch.sigv4_headers(host, key, "eu-west-1", ACCESS, SECRET, token, when)
            expected = botocore_authorization(
                "https://%s%s" % (host, uri), host, "eu-west-1", Credentials(ACCESS, SECRET, token), when
            )
            check(headers["authorization"] == expected,
                  "%s (%s session token)" % (key, "with" if token else "without"))


class Fake(BaseHTTPRequestHandler):
    objects = {}
    secret = SECRET

    def log_message(self, *args):
        pass

    def reply(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(200, b"imds-token")
        return self.reply(404)

    def do_GET(self):
        if self.path.startswith("/latest/"):
            if self.headers.get("X-aws-ec2-metadata-token") != "imds-token":
                return self.reply(401)  # IMDSv2 only
            if self.path == "/latest/meta-data/iam/security-credentials/":
                return self.reply(200, b"newsread-prod-app")
            if self.path == "/latest/meta-data/iam/security-credentials/newsread-prod-app":
                return self.reply(200, json.dumps({"AccessKeyId": ACCESS, "SecretAccessKey": SECRET, "Token": TOKEN}).encode())
            return self.reply(404)
        when = datetime.datetime.strptime(self.headers.get("x-amz-date", ""), "%Y%m%dT%H%M%SZ")
        host = self.headers["Host"]
        expected = botocore_authorization(
            "https://%s%s" % (host, self.path), host, "eu-west-1", Credentials(ACCESS, Fake.secret, TOKEN), when,
        )
        if self.headers.get("Authorization") != expected:
            return self.reply(403, b"SignatureDoesNotMatch")
        body = Fake.objects.get(self.path)
        return self.reply(200, body) if body is not None else self.reply(404)


def run(port, key, sha, out):
    return subprocess.run(
        [sys.executable, SCRIPT, "--endpoint", "127.0.0.1:%d" % port, "--region", "eu-west-1", "--key", key,
         "--sha256", sha, "--output", out, "--imds", "http://127.0.0.1:%d" % port, "--scheme", "http"],
        capture_output=True, text=True, timeout=60,
    )


def test_end_to_end():
    print("download through fake IMDSv2 + S3 (signature checked by botocore)")
    payload = os.urandom(3 * (1 << 20) + 7)
    sha = hashlib.sha256(payload).hexdigest()
    key = "releases/newsread-" + sha
    Fake.objects["/" + key] = payload
    server = ThreadingHTTPServer(("127.0.0.1", 0), Fake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "newsread")
            r = run(port, key, sha, out)
            check(r.returncode == 0, "good object and checksum: exit 0 %s" % r.stderr.strip())
            check(os.path.exists(out) and open(out, "rb").read() == payload, "the file is the object, byte for byte")
            check(os.path.exists(out) and oct(os.stat(out).st_mode & 0o777) == "0o644", "mode 0644 before bootstrap sets 0755")
            if os.path.exists(out):
                os.unlink(out)

            r = run(port, key, "0" * 64, out)
            check(r.returncode == 1 and "sha256 mismatch" in r.stderr, "wrong checksum: exit 1 with 'sha256 mismatch'")
            check(not os.path.exists(out) and os.listdir(tmp) == [], "wrong checksum: no file and no temporary left")

            Fake.secret = "not-the-right-secret"
            r = run(port, key, sha, out)
            Fake.secret = SECRET
            check(r.returncode == 1 and "403" in r.stderr, "signature rejected by S3: exit 1 (HTTP 403)")
            check(not os.path.exists(out), "signature rejected: no file")

            r = run(port, "releases/missing", sha, out)
            check(r.returncode == 1 and "404" in r.stderr, "missing object: exit 1 (HTTP 404)")
    finally:
        server.shutdown()


def main():
    test_signature()
    test_end_to_end()
    print("%d failed" % len(FAILURES) if FAILURES else "all fetch-s3-object checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
