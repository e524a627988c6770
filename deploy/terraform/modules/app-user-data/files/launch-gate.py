#!/usr/bin/python3
"""Complete this instance's launch lifecycle action once /readyz answers 200.

The app Auto Scaling group uses EC2 health checks (replacement follows the
instance's liveness, not the database), so readiness gates the launch
instead: the group holds a new instance in Pending:Wait until this script
completes the launch hook with CONTINUE, which it does only after the local
/readyz has answered 200. If /readyz never does within --timeout it completes
the hook with ABANDON (the group terminates the instance; an instance refresh
fails and rolls back). Like fetch-s3-object, it signs the one AWS API call it
needs (AutoScaling CompleteLifecycleAction, SigV4) with the standard library
and the instance profile's credentials from IMDSv2.

Exit status: 0 when the hook was completed with CONTINUE (or no launch action
is pending: the hook already completed, or the instance predates the hook),
1 otherwise.
"""

import argparse
import datetime
import hashlib
import hmac
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

IMDS_DEFAULT = "http://169.254.169.254"


def imds(base):
    """(instance id, access key, secret key, session token) through IMDSv2."""
    token_req = urllib.request.Request(
        base + "/latest/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "300"}
    )
    with urllib.request.urlopen(token_req, timeout=5) as resp:
        token = resp.read().decode()

    def get(path):
        req = urllib.request.Request(base + path, headers={"X-aws-ec2-metadata-token": token})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.read().decode()

    instance_id = get("/latest/meta-data/instance-id").strip()
    roles = "/latest/meta-data/iam/security-credentials/"
    creds = json.loads(get(roles + get(roles).split()[0]))
    return instance_id, creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("Token")


def _hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signed_post(host, region, service, body, access_key, secret_key, session_token, now):
    """Headers of a SigV4-signed POST of a form body to https://host/."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    datestamp = now.strftime("%Y%m%d")
    payload_hash = hashlib.sha256(body.encode("utf-8")).hexdigest()
    headers = {
        "content-type": "application/x-www-form-urlencoded; charset=utf-8",
        "host": host,
        "x-amz-date": amz_date,
    }
    if session_token:
        headers["x-amz-security-token"] = session_token
    names = sorted(headers)
    signed_headers = ";".join(names)
    canonical_headers = "".join("%s:%s\n" % (n, headers[n].strip()) for n in names)
    canonical_request = "\n".join(["POST", "/", "", canonical_headers, signed_headers, payload_hash])
    scope = "%s/%s/%s/aws4_request" % (datestamp, region, service)
    string_to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = _hmac(("AWS4" + secret_key).encode("utf-8"), datestamp)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    headers["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        access_key,
        scope,
        signed_headers,
        signature,
    )
    return headers


def lifecycle_body(group, hook, instance_id, result):
    return urllib.parse.urlencode(
        [
            ("Action", "CompleteLifecycleAction"),
            ("AutoScalingGroupName", group),
            ("InstanceId", instance_id),
            ("LifecycleActionResult", result),
            ("LifecycleHookName", hook),
            ("Version", "2011-01-01"),
        ]
    )


def complete(args, result, now=None):
    instance_id, access_key, secret_key, token = imds(args.imds)
    host = args.endpoint or "autoscaling.%s.amazonaws.com" % args.region
    body = lifecycle_body(args.group, args.hook, instance_id, result)
    headers = signed_post(
        host, args.region, "autoscaling", body, access_key, secret_key, token,
        now or datetime.datetime.now(datetime.timezone.utc),
    )
    req = urllib.request.Request("%s://%s/" % (args.scheme, host), data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15):
            return True
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", "replace")
        # No pending action: already completed, or launched before the hook.
        if exc.code == 400 and "No active Lifecycle Action found" in text:
            print("launch-gate: no pending launch action for %s" % instance_id)
            return True
        raise RuntimeError("CompleteLifecycleAction %s: HTTP %d %s" % (result, exc.code, text[:300]))


def ready(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status == 200
    except (OSError, urllib.error.URLError):
        return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True)
    parser.add_argument("--group", required=True, help="Auto Scaling group name")
    parser.add_argument("--hook", required=True, help="launch lifecycle hook name")
    parser.add_argument("--url", required=True, help="readiness URL, e.g. http://127.0.0.1:5000/readyz")
    parser.add_argument("--timeout", type=float, required=True, help="seconds to wait for readiness")
    parser.add_argument("--interval", type=float, default=5.0, help=argparse.SUPPRESS)
    parser.add_argument("--imds", default=IMDS_DEFAULT, help=argparse.SUPPRESS)
    parser.add_argument("--endpoint", default="", help=argparse.SUPPRESS)
    parser.add_argument("--scheme", default="https", choices=["https", "http"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    deadline = time.monotonic() + args.timeout
    while not ready(args.url):
        if time.monotonic() >= deadline:
            print("launch-gate: %s not ready after %ds: abandoning the launch" % (args.url, args.timeout), file=sys.stderr)
            try:
                complete(args, "ABANDON")
            except (OSError, ValueError, KeyError, IndexError, RuntimeError) as exc:
                print("launch-gate: %s" % exc, file=sys.stderr)
            return 1
        time.sleep(args.interval)
    print("launch-gate: %s answers 200: completing the launch" % args.url)
    for attempt in range(1, 11):
        try:
            complete(args, "CONTINUE")
            return 0
        except (OSError, ValueError, KeyError, IndexError, RuntimeError) as exc:
            print("launch-gate: attempt %d: %s" % (attempt, exc), file=sys.stderr)
            time.sleep(min(args.interval * attempt, 30))
    return 1


if __name__ == "__main__":
    sys.exit(main())
