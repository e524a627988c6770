#!/usr/bin/env bash
# Offline checks of deploy/terraform, as CI runs them. No AWS account and no
# provider download are needed (this machine cannot reach the Terraform
# registry, so `terraform init/validate/plan` against the AWS provider cannot
# run here).
#
#   1. terraform fmt -check -recursive deploy/terraform
#   2. checkov (pinned, from PyPI, in .venv/checkov): zero failed checks; every
#      skip is inline in the .tf with its reason
#   3. cloud-init user data: rendered by `terraform apply` of the provider-less
#      module modules/app-user-data with sample values; YAML, file contents,
#      no secret values (only ARNs), nothing built at boot; bash -n and
#      ShellCheck on the boot script; a secret in the environment is refused
#   4. systemd: the rendered newsread.service through `systemd-analyze verify`
#      (no warning allowed) and `systemd-analyze security` (exposure <= 2.0)
#   5. fetch-s3-object: SigV4 signature equal to botocore's, and a download
#      through a local fake of IMDSv2 + S3
#
# The Rust policy tests are separate: cargo test -p newsread-infra-policy
#
# Works on a fresh Debian 12 with python3 (3.11+) and terraform: Debian
# packages it needs (python3-venv, systemd, shellcheck) are installed with
# apt-get only when missing. Exits non-zero if any check fails.

set -uo pipefail

CHECKOV_VERSION="3.3.30"
MAX_EXPOSURE="2.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TF_DIR="$ROOT/deploy/terraform"
VENV="$ROOT/.venv/checkov"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Terraform: no update check over the network, no CLI-config warning.
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
: >"$WORK/terraformrc"
export TF_CLI_CONFIG_FILE="$WORK/terraformrc"

declare -a RESULTS=()
FAILED=0

step() { printf '\n=== %s\n' "$*"; }
record() { # record NAME STATUS DETAIL
  RESULTS+=("$(printf '%-34s %-5s %s' "$1" "$2" "$3")")
  [ "$2" = "PASS" ] || FAILED=1
}

APT_UPDATED=0
apt_install() { # apt_install PACKAGE... (root, Debian), only called when missing
  if ! command -v apt-get >/dev/null; then
    echo "missing $*, and no apt-get to install it" >&2
    return 1
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if [ "$APT_UPDATED" -eq 0 ]; then
    $sudo apt-get update -q >/dev/null || return 1
    APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# ------------------------------------------------------------ prerequisites ---
step "prerequisites"
if ! command -v terraform >/dev/null; then
  echo "terraform is not installed" >&2
  exit 2
fi
terraform version | head -1
python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "python3 >= 3.11 required" >&2
  exit 2
}
if ! command -v systemd-analyze >/dev/null; then
  echo "installing systemd (for systemd-analyze)"
  apt_install systemd || { echo "cannot install systemd" >&2; exit 2; }
fi
if ! command -v shellcheck >/dev/null; then
  echo "installing shellcheck"
  apt_install shellcheck || { echo "cannot install shellcheck" >&2; exit 2; }
fi

# ------------------------------------------------------------------ 1. fmt ---
step "1. terraform fmt -check -recursive deploy/terraform"
if out=$(terraform fmt -check -recursive -list=true "$TF_DIR" 2>&1); then
  record "terraform fmt" PASS "all files formatted"
else
  echo "$out"
  record "terraform fmt" FAIL "run: terraform fmt -recursive deploy/terraform"
fi

# -------------------------------------------------------------- 2. checkov ---
step "2. checkov $CHECKOV_VERSION over deploy/terraform"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV" 2>/dev/null || {
    rm -rf "$VENV"
    echo "installing python3-venv"
    apt_install python3-venv && python3 -m venv "$VENV"
  }
fi
if [ "$("$VENV/bin/checkov" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  echo "installing checkov==$CHECKOV_VERSION into .venv/checkov"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "checkov==$CHECKOV_VERSION" || true
fi
if [ "$("$VENV/bin/checkov" --version 2>/dev/null)" != "$CHECKOV_VERSION" ]; then
  record "checkov" FAIL "could not install checkov==$CHECKOV_VERSION"
else
  # --skip-download: no call to the Prisma Cloud API (offline, and the
  # bundled checks are the pinned version's).
  (cd "$ROOT" && "$VENV/bin/checkov" -d deploy/terraform --framework terraform \
    --skip-download --quiet --compact -o json >"$WORK/checkov.json" 2>"$WORK/checkov.err")
  if summary=$("$VENV/bin/python" - "$WORK/checkov.json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
passed = failed = skipped = errors = 0
bad_skips = []
for r in reports:
    s = r.get("summary", {})
    passed += s.get("passed", 0); failed += s.get("failed", 0)
    skipped += s.get("skipped", 0); errors += s.get("parsing_errors", 0)
    for c in r.get("results", {}).get("failed_checks", []):
        print("  FAILED %s %s (%s:%s)" % (c["check_id"], c["resource"], c["file_path"], c["file_line_range"][0]))
    for c in r.get("results", {}).get("skipped_checks", []):
        reason = (c.get("check_result", {}).get("suppress_comment") or "").strip()
        if len(reason) < 15:
            bad_skips.append("%s %s" % (c["check_id"], c["resource"]))
for b in bad_skips:
    print("  SKIP WITHOUT A REASON %s" % b)
print("passed=%d failed=%d skipped=%d parsing_errors=%d" % (passed, failed, skipped, errors))
sys.exit(0 if failed == 0 and errors == 0 and passed > 0 and not bad_skips else 1)
PY
  ); then
    echo "$summary"
    record "checkov" PASS "$(echo "$summary" | tail -1) (skips inline, each with a reason)"
  else
    echo "$summary"
    cat "$WORK/checkov.err" >&2
    record "checkov" FAIL "$(echo "$summary" | tail -1)"
  fi
fi

# ------------------------------------------------------ 3. user data render ---
step "3. render the cloud-init user data (modules/app-user-data, sample values)"
PY="$VENV/bin/python" # has PyYAML and botocore (checkov dependencies)
[ -x "$PY" ] || PY=python3
render() { # render DIR EXTRA_TF_ARGS... -> DIR/outputs.json
  local dir=$1
  shift
  mkdir -p "$dir"
  cp -r "$TF_DIR/modules/app-user-data/." "$dir/"
  (cd "$dir" && terraform init -input=false -no-color >/dev/null &&
    terraform apply -auto-approve -input=false -no-color \
      -var-file="$TF_DIR/tests/user-data.sample.tfvars.json" "$@" >"$dir/apply.log" 2>&1 &&
    terraform output -json -no-color >"$dir/outputs.json")
}

# The unit's ExecStart must exist for systemd-analyze verify: point the
# install directory at a stand-in executable.
INSTALL_DIR="$WORK/opt/newsread"
mkdir -p "$INSTALL_DIR/bin"
printf '#!/bin/sh\nexit 0\n' >"$INSTALL_DIR/bin/newsread"
chmod 0755 "$INSTALL_DIR/bin/newsread"

if render "$WORK/nfs" -var "install_dir=$INSTALL_DIR"; then
  if "$PY" "$TF_DIR/tests/check_user_data.py" "$WORK/nfs/outputs.json" --unit-out "$WORK/newsread.service"; then
    record "user data (kernel NFS mode)" PASS "valid #cloud-config, exact files, only ARNs, nothing built"
  else
    record "user data (kernel NFS mode)" FAIL "see the check list above"
  fi
else
  cat "$WORK/nfs/apply.log"
  record "user data (kernel NFS mode)" FAIL "terraform could not render the module"
fi

if render "$WORK/tls" -var "install_dir=$INSTALL_DIR" \
  -var 'efs_utils_deb_key=releases/amazon-efs-utils-0000000000000000000000000000000000000000000000000000000000000000.deb' \
  -var 'efs_utils_deb_sha256=0000000000000000000000000000000000000000000000000000000000000000' &&
  "$PY" "$TF_DIR/tests/check_user_data.py" "$WORK/tls/outputs.json" --unit-out "$WORK/newsread-tls.service" >"$WORK/tls/check.log" &&
  grep -q 'tls,iam,accesspoint=fsap-' "$WORK/tls/outputs.json"; then
  record "user data (EFS TLS mode)" PASS "renders; mounts with tls,iam,accesspoint"
else
  cat "$WORK/tls/apply.log" "$WORK/tls/check.log" 2>/dev/null
  record "user data (EFS TLS mode)" FAIL "render or checks failed"
fi

# Boot script: syntax and lint, in both modes.
bootstrap_ok=1
for mode in nfs tls; do
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["bootstrap_script"]["value"], end="")' \
    "$WORK/$mode/outputs.json" >"$WORK/bootstrap-$mode.sh" 2>/dev/null || bootstrap_ok=0
  bash -n "$WORK/bootstrap-$mode.sh" || bootstrap_ok=0
  shellcheck -s bash "$WORK/bootstrap-$mode.sh" || bootstrap_ok=0
done
if [ "$bootstrap_ok" -eq 1 ]; then
  record "boot script" PASS "bash -n and shellcheck clean (both modes)"
else
  record "boot script" FAIL "bash -n or shellcheck reported problems"
fi

# A secret value in the environment must be refused at plan time.
if render "$WORK/secret" -var "install_dir=$INSTALL_DIR" \
  -var 'environment={"NEWSREAD_DATABASE_PASSWORD":"hunter2hunter2"}' >/dev/null 2>&1; then
  record "secret values refused" FAIL "a NEWSREAD_DATABASE_PASSWORD value was accepted"
elif grep -q "must not carry secret values" "$WORK/secret/apply.log"; then
  record "secret values refused" PASS "validation rejects *_PASSWORD values"
else
  cat "$WORK/secret/apply.log"
  record "secret values refused" FAIL "failed, but not through the secret validation"
fi
if render "$WORK/cred-url" -var "install_dir=$INSTALL_DIR" \
  -var 'environment={"NEWSREAD_DATABASE_URL":"postgres://admin:pw@db:5432/newsread"}' >/dev/null 2>&1; then
  record "credentials in URLs refused" FAIL "a URL with user:password@ was accepted"
else
  record "credentials in URLs refused" PASS "validation rejects user:password@host"
fi

# --------------------------------------------------------------- 4. systemd ---
step "4. systemd-analyze verify / security on the rendered newsread.service"
if [ -s "$WORK/newsread.service" ]; then
  mkdir -p "$WORK/units"
  cp "$WORK/newsread.service" "$WORK/units/newsread.service"
  verify_out=$(systemd-analyze verify --man=no "$WORK/units/newsread.service" 2>&1)
  verify_rc=$?
  if [ "$verify_rc" -eq 0 ] && [ -z "$verify_out" ]; then
    record "systemd-analyze verify" PASS "no error, no warning"
  else
    echo "$verify_out"
    record "systemd-analyze verify" FAIL "rc=$verify_rc, output above"
  fi
  sec_out=$(systemd-analyze security --offline=true --no-pager "$WORK/units/newsread.service" 2>&1)
  exposure=$(echo "$sec_out" | sed -n 's/.*Overall exposure level for newsread.service: \([0-9.]*\).*/\1/p')
  if [ -n "$exposure" ] && awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; then
    record "systemd-analyze security" PASS "exposure $exposure <= $MAX_EXPOSURE"
  else
    echo "$sec_out" | tail -30
    record "systemd-analyze security" FAIL "exposure '${exposure:-?}' > $MAX_EXPOSURE"
  fi
else
  record "systemd-analyze verify" FAIL "no unit rendered"
fi

# ------------------------------------------------------ 5. fetch-s3-object ---
step "5. fetch-s3-object: SigV4 vs botocore, download through fake IMDSv2 + S3"
if "$PY" "$TF_DIR/tests/check_fetch_s3_object.py"; then
  record "fetch-s3-object" PASS "signature = botocore's; checksum and errors handled"
else
  record "fetch-s3-object" FAIL "see above"
fi

# ---------------------------------------------------------------- summary ---
printf '\n=== summary (scripts/check-terraform.sh)\n'
for r in "${RESULTS[@]}"; do
  echo "$r"
done
pass=$(printf '%s\n' "${RESULTS[@]}" | awk '$0 ~ / PASS / {n++} END {print n+0}')
fail=$(printf '%s\n' "${RESULTS[@]}" | awk '$0 ~ / FAIL / {n++} END {print n+0}')
echo "terraform: $pass passed, $fail failed"
exit "$FAILED"
