#!/usr/bin/env python3
"""Checks on the rendered cloud-init user data (run by scripts/check-terraform.sh).

Input: the JSON of `terraform output -json` of modules/app-user-data applied
with tests/user-data.sample.tfvars.json. It asserts that
  - the user data is valid #cloud-config YAML whose files are exactly the
    module's rendered unit, environment file and bootstrap script;
  - the environment file holds no secret value: every secret is a Secrets
    Manager ARN, no URL embeds credentials, no key-shaped string appears;
  - nothing is compiled, cloned or pip-installed at boot;
  - the web server's environment carries only the app credential (never the
    master secret) and runs no migration; the migration unit has its own
    root-only environment file with both ARNs;
and writes every unit to --units-dir for systemd-analyze.
Prints one line per check; exits 1 if any fails.
"""

import argparse
import gzip
import json
import os
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
    parser.add_argument("--units-dir", required=True)
    parser.add_argument("--expect-secret-arns", type=int, default=2)
    args = parser.parse_args()

    with open(args.outputs) as f:
        out = {k: v["value"] for k, v in json.load(f).items()}
    cloud_config = out["cloud_config"]
    unit = out["systemd_unit"]
    units = out["units"]
    env_file = out["environment_file"]
    migrate_env_file = out["migrate_environment_file"]
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
    check(units.get("newsread.service") == unit, "newsread.service is among the units")
    for name, text in sorted(units.items()):
        check(files.get("/etc/systemd/system/" + name, {}).get("content") == text,
              "writes %s exactly as rendered" % name)
    check(sorted(units) == ["newsread-launch-gate.service", "newsread-liveness.service", "newsread-liveness.timer",
                            "newsread-migrate.service", "newsread.service"],
          "units: serve, migrate, liveness watchdog (service + timer), launch gate")
    check(files.get(out["migrate_env_file_path"], {}).get("content") == migrate_env_file,
          "writes the migration EnvironmentFile exactly as rendered")
    check(files.get(out["migrate_env_file_path"], {}).get("permissions") == "0600",
          "the migration EnvironmentFile is root-only")
    check(files.get(out["env_file_path"], {}).get("content") == env_file,
          "writes the EnvironmentFile exactly as rendered")
    check(files.get(out["env_file_path"], {}).get("permissions") == "0640",
          "EnvironmentFile is not world-readable")
    check(files.get("/usr/local/lib/newsread/bootstrap", {}).get("content") == bootstrap,
          "writes the bootstrap script exactly as rendered")
    check(doc.get("runcmd") == [["/usr/local/lib/newsread/bootstrap"]], "runcmd runs only the bootstrap script")
    check(not doc.get("packages") and doc.get("package_upgrade") is False,
          "installs no package list and does not upgrade at boot")
    packed = len(gzip.compress(cloud_config.encode(), 9))
    check(packed < 16384, "fits the 16 KiB user-data limit once gzipped as the launch template sends it (%d bytes)" % packed)
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
    migrate_env = {}
    for line in migrate_env_file.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            migrate_env[key] = value
    check("NEWSREAD_DATABASE_ADMIN_SECRET_ARN" not in env, "the web server's environment has no admin (master) secret")
    check(env.get("NEWSREAD_MIGRATE_ON_START") == "false", "the web server runs no migration (NEWSREAD_MIGRATE_ON_START=false)")
    for k in ("NEWSREAD_DATABASE_ADMIN_SECRET_ARN", "NEWSREAD_DATABASE_SECRET_ARN"):
        check(bool(SECRET_ARN.match(migrate_env.get(k, ""))), "migration unit: %s is a Secrets Manager ARN" % k)
    check(migrate_env.get("NEWSREAD_DATABASE_SECRET_ARN") == env.get("NEWSREAD_DATABASE_SECRET_ARN")
          and migrate_env.get("NEWSREAD_DATABASE_ADMIN_SECRET_ARN") != env.get("NEWSREAD_DATABASE_SECRET_ARN"),
          "the migration creates the role the web server connects as, with another (admin) credential")
    check("EnvironmentFile=" + out["migrate_env_file_path"] in units.get("newsread-migrate.service", "")
          and "InaccessiblePaths=-" + out["migrate_env_file_path"] in unit,
          "the migration's EnvironmentFile is read by its unit only (hidden from newsread.service)")
    check("Requires=newsread-migrate.service" in unit and "newsread-migrate.service" in unit.split("After=")[1].split("\n")[0],
          "newsread.service requires and follows newsread-migrate.service")
    for k in ("NEWSREAD_DATABASE_URL", "NEWSREAD_DATABASE_REPLICA_URL"):
        if k in env:
            check("@" not in env[k].split("?")[0], "%s has no user or password" % k)
    for name, pattern in SECRET_PATTERNS.items():
        hit = pattern.search(cloud_config)
        check(hit is None, "no %s in the user data%s" % (name, "" if hit is None else ": " + hit.group(0)))

    os.makedirs(args.units_dir, exist_ok=True)
    for name, text in units.items():
        with open(os.path.join(args.units_dir, name), "w") as f:
            f.write(text)

    print("%d failed" % len(FAILURES) if FAILURES else "all user-data checks passed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
