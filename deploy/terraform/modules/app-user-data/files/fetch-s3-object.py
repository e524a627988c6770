#!/usr/bin/python3
"""Download one S3 object with the instance role and check its SHA-256.

Ubuntu 24.04 AMIs ship Python 3 (cloud-init is written in it) but not the AWS
CLI. Rather than install a CLI at boot, this script signs a single S3
GetObject request (AWS Signature Version 4) with the standard library, using
the temporary credentials of the instance profile read from IMDSv2. The object
is streamed to a temporary file, hashed, and renamed into place only if the
hash matches the one Terraform computed.

Exit status: 0 on success, 1 on any failure (the caller retries).
"""

import argparse
import datetime
import hashlib
import hmac
import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

IMDS_DEFAULT = "http://169.254.169.254"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


def imds_credentials(imds):
    """Temporary credentials of the instance profile, through IMDSv2."""
    token_req = urllib.request.Request(
        imds + "/latest/api/token",
        method="PUT",
        headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"},
    )
    with urllib.request.urlopen(token_req, timeout=5) as resp:
        token = resp.read().decode()

    def get(path):
        req = urllib.request.Request(imds + path, headers={"X-aws-ec2-metadata-token": token})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.read().decode()

    base = "/latest/meta-data/iam/security-credentials/"
    role = get(base).split()[0]
    creds = json.loads(get(base + role))
    return creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("Token")


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def sigv4_headers(host, key, region, access_key, secret_key, session_token, now, version_id=""):
    """Headers of a SigV4-signed S3 GET of https://host/key[?versionId=...] at time now (UTC)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    datestamp = now.strftime("%Y%m%d")
    # S3 canonical URI: each path segment URI-encoded once, slashes kept.
    canonical_uri = "/" + urllib.parse.quote(key, safe="/~")
    headers = {
        "host": host,
        "x-amz-content-sha256": UNSIGNED_PAYLOAD,
        "x-amz-date": amz_date,
    }
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    signed_headers = ";".join(names)
    canonical_headers = "".join("%s:%s\n" % (n, headers[n].strip()) for n in names)
    canonical_query = "versionId=" + urllib.parse.quote(version_id, safe="-_.~") if version_id else ""
    canonical_request = "\n".join(
        ["GET", canonical_uri, canonical_query, canonical_headers, signed_headers, UNSIGNED_PAYLOAD]
    )
    scope = "%s/%s/s3/aws4_request" % (datestamp, region)
    string_to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )
    signing_key = _hmac(("AWS4" + secret_key).encode("utf-8"), datestamp)
    for part in (region, "s3", "aws4_request"):
        signing_key = _hmac(signing_key, part)
    signature = hmac.new(signing_key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key,
        scope,
        signed_headers,
        signature,
    )
    return canonical_uri, headers


def fetch(endpoint, region, key, sha256, output, imds, scheme="https", now=None, version_id=""):
    access_key, secret_key, token = imds_credentials(imds)
    host = endpoint
    uri, headers = sigv4_headers(
        host, key, region, access_key, secret_key, token, now or datetime.datetime.now(datetime.timezone.utc), version_id
    )
    query = "?versionId=" + urllib.parse.quote(version_id, safe="-_.~") if version_id else ""
    req = urllib.request.Request("%s://%s%s%s" % (scheme, host, uri, query), headers=headers)
    out_dir = os.path.dirname(os.path.abspath(output))
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=out_dir, prefix=".fetch-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(req, timeout=60) as resp:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
        got = digest.hexdigest()
        if not hmac.compare_digest(got, sha256.lower()):
            raise ValueError("sha256 mismatch for %s: expected %s, got %s" % (key, sha256, got))
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except BaseException:
        os.unlink(tmp)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True, help="bucket.s3.<region>.amazonaws.com")
    parser.add_argument("--region", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--version-id", default="", help="S3 version ID (default: the current version)")
    parser.add_argument("--output", required=True)
    parser.add_argument("--imds", default=IMDS_DEFAULT, help=argparse.SUPPRESS)
    parser.add_argument("--scheme", default="https", choices=["https", "http"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        fetch(args.endpoint, args.region, args.key, args.sha256, args.output, args.imds, args.scheme, version_id=args.version_id)
    except (OSError, ValueError, KeyError, IndexError, urllib.error.URLError) as exc:
        print("fetch-s3-object: %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
