#!/usr/bin/env python3
"""Checks on the rendered cloud-init user data (run by scripts/check-terraform.sh).

Input: the JSON of `terraform output -json` of modules/app-user-data applied
with tests/user-data.sample.tfvars.json. It asserts that
  - the user data is valid #cloud-config YAML whose files are exactly the
    module's rendered unit, environment file and bootstrap script;
  - the environment file holds no secret value: every secret is a Secrets
    Manager ARN, no URL embeds credentials, no key-shaped string appears;
  - nothing is compiled, cloned or pip-installed at boot;
and writes the unit to --unit-out for systemd-analyze.
Prints one line per check; exits 1 if any fails.
"""

import argparse
import json
import re
import sys

import yaml

FAILURES = []


def check(ok, what):
    print(("  ok    " if ok else "  FAIL  ") + what)
    if not ok:
        FAILURES.append(what)


SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@!-]+$")
SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key block": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "password assignment": re.compile(r"(?i)\b(password|passwd|secret_access_key|api_key|access_key)\s*[=:]\s*['\"]?[^\s'\"$]{4,}"),
    "credentials in a URL": re.compile(r"[a-z][a-z0-9+.-]*://[^/\s@:]+:[^/\s@]+@"),
    "mediastack key in JSON": re.compile(r"\"access_key\"\s*:\s*\"[^\"]+\""),
}
BUILD_AT_BOOT = re.compile(r"\b(git\s+clone|cargo\s+build|rustup|pip3?\s+install|make\s+install|gcc\b|build-essential|build-deb\.sh)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("outputs", help="terraform output -json file")
    parser.add_argument("--unit-out", required=True)
    parser.add_argument("--expect-secret-arns", type=int, default=2)
    args = parser.parse_args()

    with open(args.outputs) as f:
        out = {k: v["value"] for k, v in json.load(f).items()}
    cloud_config = out["cloud_config"]
    unit = out["systemd_unit"]
    env_file = out["environment_file"]
    bootstrap = out["bootstrap_script"]

    print("cloud-init user data")
    check(cloud_config.startswith("#cloud-config\n"), "starts with #cloud-config")
    try:
        doc = yaml.safe_load(cloud_config)
    except yaml.YAMLError as exc:
        check(False, "parses as YAML (%s)" % exc)
        return 1
    check(isinstance(doc, dict), "is a YAML mapping")
    files = {f["path"]: f for f in doc.get("write_files", [])}
    check(files.get("/etc/systemd/system/newsread.service", {}).get("content") == unit,
          "writes newsread.service exactly as rendered")
    check(files.get(out["env_file_path"], {}).get("content") == env_file,
          "writes the EnvironmentFile exactly as rendered")
    check(files.get(out["env_file_path"], {}).get("permissions") == "0640",
          "EnvironmentFile is not world-readable")
    check(files.get("/usr/local/lib/newsread/bootstrap", {}).get("content") == bootstrap,
          "writes the bootstrap script exactly as rendered")
    check(doc.get("runcmd") == [["/usr/local/lib/newsread/bootstrap"]], "runcmd runs only the bootstrap script")
    check(not doc.get("packages") and doc.get("package_upgrade") is False,
          "installs no package list and does not upgrade at boot")
    check(len(cloud_config.encode()) < 16384, "fits the 16 KiB user-data limit even before gzip (%d bytes)" % len(cloud_config.encode()))
    check(BUILD_AT_BOOT.search(cloud_config) is None, "compiles, clones and pip-installs nothing")
    check("sha256sum --check" in bootstrap and "--sha256" in bootstrap, "verifies the artifact checksum")

    print("no secret values, only ARNs")
    env = {}
    for line in env_file.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        env[key] = value
    check("ExecStart=" in unit and "EnvironmentFile=" + out["env_file_path"] in unit, "the unit reads the EnvironmentFile")
    check("Environment=" not in unit.replace("EnvironmentFile=", ""), "the unit sets no inline Environment=")
    secret_keys = [k for k in env if re.search(r"SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY", k)]
    check(len(secret_keys) == args.expect_secret_arns and all(k.endswith("_SECRET_ARN") for k in secret_keys),
          "secret-related variables are exactly the %d *_SECRET_ARN ones: %s" % (args.expect_secret_arns, ", ".join(sorted(secret_keys))))
    for k in secret_keys:
        check(bool(SECRET_ARN.match(env[k])), "%s is a Secrets Manager ARN" % k)
    for k in ("NEWSREAD_DATABASE_URL", "NEWSREAD_DATABASE_REPLICA_URL"):
        if k in env:
            check("@" not in env[k].split("?")[0], "%s has no user or password" % k)
    for name, pattern in SECRET_PATTERNS.items():
        hit = pattern.search(cloud_config)
        check(hit is None, "no %s in the user data%s" % (name, "" if hit is None else ": " + hit.group(0)))

    with open(args.unit_out, "w") as f:
        f.write(unit)

    print("%d failed" % len(FAILURES) if FAILURES else "all user-data checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
