#!/usr/bin/env bash
# Offline checks of deploy/terraform, as CI runs them. No AWS account and no
# network: the real provider (hashicorp/aws 5.100.0) comes from the filesystem
# mirror /opt/tf-plugins (TF_PLUGIN_MIRROR), and AWS is moto's emulator on
# 127.0.0.1 (scripts/install-moto.sh, deploy/terraform/tests/moto_server.py).
#
#   6. terraform init from the mirror alone, terraform validate, terraform
#      plan against moto: trial mode (no domain) and full mode (domain,
#      certificates, CloudFront, WAF, bastion), PostgreSQL and MySQL
#   8. the delivery pipeline (enable_pipeline, S3 source) applied against
#      moto after step 7, deploy/aws/release-to-fleet run against it (a
#      rollback and a release), and a plan proving the next apply keeps the
#      pipeline's release; the CodeStar variant is planned only (step 6)
#   7. terraform apply against moto of everything moto can create (trial,
#      PostgreSQL), a second apply with another release binary (only the
#      artifact, the launch template and the group may change; the first
#      binary must still be fetchable by its version), terraform destroy
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

MIRROR="${TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
MOTO_PID=""
cleanup() {
  if [ -n "$MOTO_PID" ]; then
    kill "$MOTO_PID" 2>/dev/null
    wait "$MOTO_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Terraform: no update check over the network; providers from the mirror only
# (direct installation excluded for every provider, so nothing is downloaded).
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1 TF_INPUT=0
cat >"$WORK/terraformrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$MIRROR"
    include = ["registry.terraform.io/hashicorp/aws"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
RC
export TF_CLI_CONFIG_FILE="$WORK/terraformrc"
PHASE_START=$SECONDS
phase_time() {
  printf '    (phase: %ds)\n' "$((SECONDS - PHASE_START))"
  PHASE_START=$SECONDS
}

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
  if "$PY" "$TF_DIR/tests/check_user_data.py" "$WORK/nfs/outputs.json" --units-dir "$WORK/units"; then
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
  "$PY" "$TF_DIR/tests/check_user_data.py" "$WORK/tls/outputs.json" --units-dir "$WORK/units-tls" >"$WORK/tls/check.log" &&
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
step "4. systemd-analyze verify / security on the rendered units"
if [ -s "$WORK/units/newsread.service" ]; then
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["liveness_script"]["value"], end="")' \
    "$WORK/nfs/outputs.json" >"$WORK/liveness.sh"
  if bash -n "$WORK/liveness.sh" && shellcheck -s bash "$WORK/liveness.sh"; then
    record "liveness watchdog script" PASS "bash -n and shellcheck clean"
  else
    record "liveness watchdog script" FAIL "bash -n or shellcheck reported problems"
  fi
  # The helpers under /usr/local/lib/newsread exist only on an instance.
  verify_out=$(cd "$WORK/units" && systemd-analyze verify --man=no ./*.service ./*.timer 2>&1 |
    grep -v -e '/usr/local/lib/newsread/')
  verify_rc=0
  if [ "$verify_rc" -eq 0 ] && [ -z "$verify_out" ]; then
    record "systemd-analyze verify" PASS "no error, no warning"
  else
    echo "$verify_out"
    record "systemd-analyze verify" FAIL "rc=$verify_rc, output above"
  fi
  for unit in newsread.service newsread-migrate.service; do
    sec_out=$(systemd-analyze security --offline=true --no-pager "$WORK/units/$unit" 2>&1)
    exposure=$(echo "$sec_out" | sed -n "s/.*Overall exposure level for $unit: \([0-9.]*\).*/\1/p")
    if [ -n "$exposure" ] && awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }'; then
      record "systemd-analyze security $unit" PASS "exposure $exposure <= $MAX_EXPOSURE"
    else
      echo "$sec_out" | tail -30
      record "systemd-analyze security $unit" FAIL "exposure '${exposure:-?}' > $MAX_EXPOSURE"
    fi
  done
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

# ------------------------------------------------ 8. the delivery pipeline ---
# Called after the second release with the trial stack applied. moto's drift
# would send the RDS instances through modify waiters (see step 7), so the
# pipeline is applied without a refresh: what changes is exactly what
# enable_pipeline adds (pipeline resources, release parameter, the launch
# template's new version and the group). Then deploy/aws/release-to-fleet runs
# against moto (its instance refresh is the recording fake in moto_server.py)
# and a refreshing plan must leave the launch template and the group alone:
# Terraform renders the pipeline's release byte for byte.
pipeline_checks() {
  local pvars=(-var-file="$WORK/trial.tfvars" -var artifact_path="$WORK/newsread-2" -var enable_pipeline=true)
  # Test copy only: the launch template depends on the database endpoints, so
  # -target pulls the RDS instances in, and moto's RDS drift (already in the
  # state read back after create) would cost two modify waiters (~160 s).
  # Their changes are ignored here (the replica's replicate_source_db must
  # stay in the plan: the provider validates it); nothing in the pipeline
  # depends on them. Removed again before the destroy.
  cat >"$TFW/rds_drift_override.tf" <<'TF'
resource "aws_db_instance" "primary" {
  lifecycle {
    ignore_changes = all
  }
}

resource "aws_db_instance" "replica" {
  lifecycle {
    ignore_changes = [multi_az, performance_insights_enabled, performance_insights_kms_key_id, performance_insights_retention_period]
  }
}
TF
  if ! (cd "$TFW" && terraform plan -input=false -no-color -refresh=false "${pvars[@]}" -out="$WORK/pipeline.plan" \
    >"$WORK/plan-pipeline.log" 2>&1); then
    tail -30 "$WORK/plan-pipeline.log"
    record "pipeline (S3): apply" FAIL "plan failed"
    return
  fi
  local ptargets=()
  local addr c skip
  while read -r addr; do
    skip=0
    for c in "${MOTO_CANNOT[@]}"; do
      [ "$addr" = "$c" ] && skip=1
    done
    [ "$skip" -eq 0 ] && ptargets+=("-target=$addr")
  done < <(changes "$WORK/pipeline.plan" | cut -d' ' -f1)
  if (cd "$TFW" && timeout 600 terraform apply -auto-approve -input=false -no-color -refresh=false -parallelism=30 \
    "${pvars[@]}" "${ptargets[@]}" >"$WORK/apply-pipeline.log" 2>&1); then
    record "pipeline (S3): apply" PASS "${#ptargets[@]} resources created or updated (pipeline, projects, roles, bucket, parameter, launch template)"
  else
    grep -A8 'Error:' "$WORK/apply-pipeline.log" | head -60
    record "pipeline (S3): apply" FAIL "see above"
    return
  fi
  # The deploy stage: the AWS CLI (PATH, else .venv/awscli from PyPI) against moto,
  # through a shim that skips TLS verification (moto's certificate is
  # self-signed). The script runs on the venv's python, not a pyenv shim,
  # which would put its own bin directory (and its aws) first on PATH.
  local awsbin
  awsbin=$(command -v aws || true)
  if [ -z "$awsbin" ]; then
    [ -x "$ROOT/.venv/awscli/bin/aws" ] || { python3 -m venv "$ROOT/.venv/awscli" &&
      "$ROOT/.venv/awscli/bin/pip" install -q --disable-pip-version-check awscli; }
    awsbin="$ROOT/.venv/awscli/bin/aws"
  fi
  mkdir -p "$WORK/shim"
  printf '#!/bin/sh\nexec "%s" --no-verify-ssl "$@" 2>/dev/null\n' "$awsbin" >"$WORK/shim/aws"
  chmod 0755 "$WORK/shim/aws"
  head -c 65536 /dev/urandom >"$WORK/newsread-3"
  (cd "$WORK" && sha256sum newsread-3 >newsread-3.sha256)
  local lt prefs
  lt=$(cd "$TFW" && terraform state show -no-color aws_launch_template.app | sed -n 's/^ *id *= *"\(.*\)"/\1/p' | head -1)
  prefs=$(cd "$TFW" && echo 'jsonencode(local.refresh_preferences)' | terraform console -var-file="$WORK/trial.tfvars" \
    -var artifact_path="$WORK/newsread-2" -var enable_pipeline=true 2>/dev/null | "$MOTO_PY" -c 'import json,sys; print(json.loads(sys.stdin.read()))')
  release() {
    env PATH="$WORK/shim:$PATH" AWS_ENDPOINT_URL="$MOTO_EP" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
      AWS_DEFAULT_REGION=eu-west-1 NEWSREAD_RELEASE_BUCKET="$bucket" NEWSREAD_RELEASE_KEY=releases/pipeline/newsread-x86_64 \
      NEWSREAD_KMS_KEY_ARN="$(cd "$TFW" && terraform state show -no-color aws_kms_key.main | sed -n 's/^ *arn *= *"\(.*\)"/\1/p')" \
      NEWSREAD_RELEASE_PARAMETER=/newsread/trial/release NEWSREAD_LAUNCH_TEMPLATE_ID="$lt" NEWSREAD_ASG_NAME=newsread-trial-app \
      NEWSREAD_REFRESH_PREFERENCES="$prefs" NEWSREAD_POLL_SECONDS=0.2 NEWSREAD_REFRESH_TIMEOUT_SECONDS=60 \
      "$MOTO_PY" "$ROOT/deploy/aws/release-to-fleet" "$@"
  }
  # A refresh that rolls back: the stage fails, the new version is gone, the parameter unchanged.
  curl -sk -X POST --data RollbackSuccessful "$MOTO_EP/_newsread/refresh-outcome" >/dev/null
  if release "$WORK/newsread-3" >"$WORK/release-rollback.log" 2>&1; then
    record "release-to-fleet: rollback fails the stage" FAIL "exit 0 after a rolled-back refresh"
  elif grep -q 'ended RollbackSuccessful' "$WORK/release-rollback.log" && grep -q 'deleted launch template version' "$WORK/release-rollback.log"; then
    record "release-to-fleet: rollback fails the stage" PASS "exit 1, the failed launch template version deleted (the next release still finds the group on the latest version)"
  else
    cat "$WORK/release-rollback.log"
    record "release-to-fleet: rollback fails the stage" FAIL "see above"
  fi
  curl -sk -X POST --data Successful "$MOTO_EP/_newsread/refresh-outcome" >/dev/null
  if release "$WORK/newsread-3" >"$WORK/release.log" 2>&1 &&
    curl -sk "$MOTO_EP/_newsread/refreshes" | "$MOTO_PY" -c '
import json, sys
last = json.load(sys.stdin)[-1]["Params"]
want = {"Preferences.AutoRollback": "true", "Preferences.CheckpointPercentages.member.1": "25",
        "Preferences.CheckpointPercentages.member.3": "100", "Preferences.AlarmSpecification.Alarms.member.1": "newsread-trial-app-5xx",
        "Preferences.AlarmSpecification.Alarms.member.2": "newsread-trial-unhealthy-targets", "Preferences.MinHealthyPercentage": "100"}
bad = {k: (v, last.get(k)) for k, v in want.items() if last.get(k) != v}
assert "DesiredConfiguration.LaunchTemplate.Version" in last, last
print("refresh preferences:", "as configured" if not bad else bad)
sys.exit(1 if bad else 0)' >>"$WORK/release.log" 2>&1; then
    record "release-to-fleet: release" PASS "uploaded, new launch template version, refresh with checkpoints/rollback/2 alarms, parameter updated"
  else
    cat "$WORK/release.log"
    record "release-to-fleet: release" FAIL "see above"
    return
  fi
  # No drift back: Terraform renders the pipeline's release, so neither the
  # launch template nor the group changes on the next plan.
  # (moto's own drift on the group, default_instance_warmup, is not ours: only
  # its launch template and version count.)
  (cd "$TFW" && terraform plan -input=false -no-color "${pvars[@]}" -target=aws_launch_template.app \
    -target=aws_autoscaling_group.app -out="$WORK/after-release.plan" >"$WORK/plan-after-release.log" 2>&1)
  local after
  after=$( (cd "$TFW" && terraform show -json -no-color "$WORK/after-release.plan") | "$MOTO_PY" -c '
import json, sys
for r in json.load(sys.stdin)["resource_changes"]:
    c = r["change"]
    if r["address"] == "aws_launch_template.app" and c["actions"] != ["no-op"]:
        print("launch template", "/".join(c["actions"]))
    if r["address"] == "aws_autoscaling_group.app" and (c["before"] or {}).get("launch_template") != (c["after"] or {}).get("launch_template"):
        print("group launch template", c["before"]["launch_template"], "->", c["after"].get("launch_template"))' 2>&1)
  if [ -s "$WORK/after-release.plan" ] && [ -z "$after" ]; then
    record "pipeline release: no drift back" PASS "next plan: launch template unchanged, group stays on the pipeline's version"
  else
    grep -B2 -A12 'aws_launch_template.app\|Error' "$WORK/plan-after-release.log" | head -60
    record "pipeline release: no drift back" FAIL "${after:-plan failed}"
  fi
}

# ------------------------------------------- 6-7. real provider against moto ---
step "6. terraform init (mirror) / validate / plan against moto"
PHASE_START=$SECONDS
TFW="$WORK/tf"
moto_ok=0
if [ ! -d "$MIRROR/registry.terraform.io/hashicorp/aws/5.100.0" ]; then
  echo "the provider mirror $MIRROR lacks registry.terraform.io/hashicorp/aws 5.100.0;" >&2
  echo "set TF_PLUGIN_MIRROR or fill it with: terraform providers mirror $MIRROR" >&2
  record "terraform init (mirror)" FAIL "no hashicorp/aws 5.100.0 in $MIRROR"
elif ! MOTO_SERVER=$("$ROOT/scripts/install-moto.sh"); then
  record "moto" FAIL "scripts/install-moto.sh failed"
else
  MOTO_PY="$(dirname "$MOTO_SERVER")/python"
  "$MOTO_PY" "$TF_DIR/tests/moto_server.py" --ready-file "$WORK/moto.json" >"$WORK/moto.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 60); do
    [ -s "$WORK/moto.json" ] && break
    sleep 0.5
  done
  if [ -s "$WORK/moto.json" ]; then
    moto_ok=1
  else
    cat "$WORK/moto.log"
    record "moto" FAIL "the seeded moto server did not start"
  fi
fi
if [ "$moto_ok" -eq 1 ]; then
  read -r MOTO_EP MOTO_ZONE < <("$MOTO_PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["endpoint"], d["zone_id"])' "$WORK/moto.json")
  # A temporary copy: no state, lock file or .terraform lands in the repository.
  mkdir -p "$TFW"
  (cd "$TF_DIR" && tar --exclude=./tests --exclude=.terraform --exclude='*.tfstate*' -cf - .) | tar -xf - -C "$TFW"
  # The provider pointed at moto by an override file in the copy only.
  "$MOTO_PY" - "$MOTO_EP" >"$TFW/moto_override.tf" <<'PY'
import sys
ep = sys.argv[1]
services = ["acm", "autoscaling", "cloudfront", "cloudwatch", "ec2", "efs", "elbv2", "iam", "kms", "logs",
            "rds", "route53", "s3", "secretsmanager", "sns", "ssm", "sts", "wafv2",
            "codebuild", "codepipeline", "codestarconnections", "events"]
for alias, region in ((None, "eu-west-1"), ("us_east_1", "us-east-1")):
    print('provider "aws" {')
    if alias:
        print('  alias = "%s"' % alias)
    print('  region = "%s"' % region)
    for k, v in (("access_key", '"testing"'), ("secret_key", '"testing"'), ("insecure", "true"),
                 ("skip_credentials_validation", "true"), ("skip_requesting_account_id", "true"),
                 ("skip_metadata_api_check", "true"), ("skip_region_validation", "true"), ("s3_use_path_style", "true")):
        print("  %s = %s" % (k, v))
    print("  endpoints {")
    for s in services:
        print('    %s = "%s"' % (s, ep))
    print("  }\n}")
PY
  head -c 65536 /dev/urandom >"$WORK/newsread-1"
  head -c 65536 /dev/urandom >"$WORK/newsread-2"
  cat >"$WORK/trial.tfvars" <<VARS
environment             = "trial"
artifact_path           = "$WORK/newsread-1"
single_nat_gateway      = true
alb_deletion_protection = false
db_deletion_protection  = false
db_skip_final_snapshot  = true
VARS
  cat >"$WORK/full.tfvars" <<VARS
environment              = "prod"
artifact_path            = "$WORK/newsread-1"
domain_name              = "news.example.test"
route53_zone_id          = "$MOTO_ZONE"
enable_waf               = true
enable_bastion           = true
create_mediastack_secret = true
alarm_email              = "ops@example.test"
VARS
  if (cd "$TFW" && terraform init -input=false -no-color >"$WORK/init.log" 2>&1); then
    record "terraform init (mirror)" PASS "$(grep -o 'hashicorp/aws v[0-9.]*' "$WORK/init.log" | head -1) from $MIRROR, no network"
  else
    cat "$WORK/init.log"
    record "terraform init (mirror)" FAIL "see above"
  fi
  if out=$(cd "$TFW" && terraform validate -no-color 2>&1); then
    record "terraform validate" PASS "$(echo "$out" | tail -1)"
  else
    echo "$out"
    record "terraform validate" FAIL "see above"
  fi
  phase_time
  # Four plans in parallel, each with its own (empty) state.
  plan() { # plan NAME VARFILE EXTRA...
    local name=$1 vars=$2
    shift 2
    (cd "$TFW" && terraform plan -input=false -no-color -lock=false \
      -state="$WORK/plan-$name.tfstate" -var-file="$vars" "$@" -out="$WORK/$name.plan" >"$WORK/plan-$name.log" 2>&1)
  }
  plan trial-postgres "$WORK/trial.tfvars" &
  p1=$!
  plan trial-mysql "$WORK/trial.tfvars" -var db_engine=mysql &
  p2=$!
  plan full-postgres "$WORK/full.tfvars" &
  p3=$!
  plan full-mysql-arm64 "$WORK/full.tfvars" -var db_engine=mysql -var architecture=arm64 &
  p4=$!
  # The CodeStar-connection pipeline: plan only (moto has no CodeStar connections API).
  plan full-pipeline-codestar-arm64 "$WORK/full.tfvars" -var enable_pipeline=true -var pipeline_source=codestar \
    -var pipeline_repository=example/newsread -var architecture=arm64 &
  p5=$!
  for pair in "trial-postgres:$p1" "trial-mysql:$p2" "full-postgres:$p3" "full-mysql-arm64:$p4" \
    "full-pipeline-codestar-arm64:$p5"; do
    name=${pair%%:*}
    if wait "${pair##*:}"; then
      record "terraform plan $name" PASS "$(grep -o 'Plan: [0-9]* to add' "$WORK/plan-$name.log")"
    else
      tail -30 "$WORK/plan-$name.log"
      record "terraform plan $name" FAIL "see above"
    fi
  done
  if grep -q 'aws_codestarconnections_connection.source\[0\] will be created' "$WORK/plan-full-pipeline-codestar-arm64.log" &&
    grep -q 'aws_codepipeline.release\[0\] will be created' "$WORK/plan-full-pipeline-codestar-arm64.log"; then
    record "pipeline (CodeStar): plan only" PASS "connection + pipeline planned; moto has no CodeStar connections API"
  else
    record "pipeline (CodeStar): plan only" FAIL "no connection or pipeline in the plan"
  fi
  if grep -q 'data.aws_cloudfront' "$WORK/plan-trial-postgres.log"; then
    record "trial mode reads no CloudFront" FAIL "a CloudFront data source is read without a domain"
  else
    record "trial mode reads no CloudFront" PASS "no data.aws_cloudfront_* in the trial plan"
  fi
  phase_time

  step "7. terraform apply / second release / destroy against moto (trial, PostgreSQL)"
  # Resources moto cannot create (docs/deploy-aws.md lists them and why).
  MOTO_CANNOT=(aws_ssm_association.cloudwatch_agent aws_efs_backup_policy.shared)
  targets=()
  while read -r addr; do
    skip=0
    for c in "${MOTO_CANNOT[@]}"; do
      [ "$addr" = "$c" ] && skip=1
    done
    [ "$skip" -eq 0 ] && targets+=("-target=$addr")
  done < <(cd "$TFW" && terraform show -json -no-color "$WORK/trial-postgres.plan" |
    "$MOTO_PY" -c 'import json,sys; [print(r["address"]) for r in json.load(sys.stdin)["resource_changes"] if r["mode"]=="managed" and "create" in r["change"]["actions"]]')
  applied=0
  if (cd "$TFW" && timeout 1500 terraform apply -auto-approve -input=false -no-color -parallelism=30 \
    -var-file="$WORK/trial.tfvars" "${targets[@]}" >"$WORK/apply-1.log" 2>&1); then
    record "terraform apply (moto)" PASS "${#targets[@]} resources created; moto cannot: ${MOTO_CANNOT[*]}"
    applied=1
  else
    grep -A8 'Error:' "$WORK/apply-1.log" | head -80
    record "terraform apply (moto)" FAIL "see above"
  fi
  phase_time
  if [ "$applied" -eq 1 ]; then
    bucket=$(cd "$TFW" && terraform output -raw -no-color artifact_bucket)
    ver1=$(cd "$TFW" && terraform state show -no-color 'aws_s3_object.binary[0]' | sed -n 's/^ *version_id *= *"\(.*\)"/\1/p')
    # moto does not read back every attribute as AWS would (Performance Insights, a
    # replica's multi_az, parameter group entries, scaling policies, rule tags, ...), so a
    # plan right after the apply already shows updates. What a release changes is what a
    # plan with the new binary changes beyond that same-binary plan: it must be the
    # artifact, the launch template and the group, nothing else.
    changes() { # changes PLANFILE -> "address action" lines
      (cd "$TFW" && terraform show -json -no-color "$1") | "$MOTO_PY" -c '
import json, sys
for r in json.load(sys.stdin)["resource_changes"]:
    if r["change"]["actions"] not in (["no-op"], ["read"]):
        print(r["address"], "/".join(r["change"]["actions"]))'
    }
    (cd "$TFW" && terraform plan -input=false -no-color -var-file="$WORK/trial.tfvars" "${targets[@]}" \
      -out="$WORK/same.plan" >"$WORK/plan-same.log" 2>&1)
    (cd "$TFW" && terraform plan -input=false -no-color -var-file="$WORK/trial.tfvars" "${targets[@]}" \
      -var artifact_path="$WORK/newsread-2" -out="$WORK/release2.plan" >"$WORK/plan-release2.log" 2>&1)
    drift=$(changes "$WORK/same.plan" | sort)
    changed=$(changes "$WORK/release2.plan" | sort)
    echo "moto drift (same binary): $(echo "$drift" | grep -c .) resources"
    added=$(comm -13 <(echo "$drift") <(echo "$changed"))
    echo "changed by the release:"
    echo "$added"
    unexpected=$(echo "$added" | grep -v -e '^aws_s3_object.binary\[0\] update$' -e '^aws_launch_template.app update$' \
      -e '^aws_autoscaling_group.app update$' -e '^$')
    if [ -z "$unexpected" ] && echo "$changed" | grep -q '^aws_s3_object.binary\[0\] update$' &&
      echo "$changed" | grep -q '^aws_launch_template.app update$'; then
      record "second release: plan" PASS "beyond moto's drift, only the artifact (in place), the launch template and the group change"
    else
      record "second release: plan" FAIL "unexpected: ${unexpected:-no artifact or launch template update}"
    fi
    # The release's artifact applied (moto's drift would send the RDS instances through
    # modify waiters that never end against moto): the first binary must stay fetchable.
    if (cd "$TFW" && timeout 600 terraform apply -auto-approve -input=false -no-color -var-file="$WORK/trial.tfvars" \
      -var artifact_path="$WORK/newsread-2" -target='aws_s3_object.binary[0]' >"$WORK/apply-2.log" 2>&1) &&
      "$MOTO_PY" - "$MOTO_EP" "$bucket" "$ver1" "$WORK/newsread-1" "$WORK/newsread-2" <<'PY'
import sys, boto3, urllib3
urllib3.disable_warnings()
ep, bucket, version, first, second = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=ep, region_name="eu-west-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing", verify=False)
old = s3.get_object(Bucket=bucket, Key="releases/newsread", VersionId=version)
new = s3.get_object(Bucket=bucket, Key="releases/newsread")
ok_old = old["Body"].read() == open(first, "rb").read()
ok_new = new["Body"].read() == open(second, "rb").read() and new["VersionId"] != version
print("first release, version %s: %s" % (version, "fetchable, same bytes" if ok_old else "DIFFERENT"))
print("second release, version %s: %s" % (new["VersionId"], "current" if ok_new else "NOT CURRENT"))
sys.exit(0 if ok_old and ok_new else 1)
PY
    then
      record "second release: rollback binary" PASS "the new binary is current and the first one's S3 version is still fetchable, byte for byte"
    else
      grep -A8 'Error:' "$WORK/apply-2.log" | head -40
      record "second release: rollback binary" FAIL "second apply failed or the first binary is gone"
    fi
    phase_time
  fi
  if [ "$applied" -eq 1 ]; then
    step "8. delivery pipeline (S3 source) against moto: apply, release-to-fleet, no drift back"
    pipeline_checks
    rm -f "$TFW/rds_drift_override.tf"
    phase_time
  fi
  # As docs/deploy-aws.md §11: empty the versioned buckets (never force-destroyed), destroy,
  # and if a last access-log file landed meanwhile (BucketNotEmpty), empty and destroy again.
  empty_buckets() {
    "$MOTO_PY" - "$MOTO_EP" <<'PY' || true
import sys, boto3, urllib3
urllib3.disable_warnings()
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="eu-west-1", aws_access_key_id="testing",
                  aws_secret_access_key="testing", verify=False)
for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if doomed:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed})
    print("emptied", bucket)
PY
  }
  destroy() {
    (cd "$TFW" && timeout 1500 terraform destroy -auto-approve -input=false -no-color -parallelism=30 \
      -var-file="$WORK/trial.tfvars" -var artifact_path="$WORK/newsread-2" -var enable_pipeline=true >"$WORK/destroy.log" 2>&1)
  }
  empty_buckets
  destroyed=0
  passes="one pass"
  if destroy; then
    destroyed=1
  elif grep -q BucketNotEmpty "$WORK/destroy.log"; then
    echo "a bucket filled again while being destroyed (access logs): emptying it and destroying again"
    passes="two passes (a last access-log file, as docs/deploy-aws.md §11 says)"
    empty_buckets
    destroy && destroyed=1
  fi
  if [ "$destroyed" -eq 1 ] && (cd "$TFW" && terraform state list 2>/dev/null | grep -q .); then
    record "terraform destroy (moto)" FAIL "destroy finished but the state still lists resources"
  elif [ "$destroyed" -eq 1 ]; then
    record "terraform destroy (moto)" PASS "state empty after $passes"
  else
    grep -A8 'Error:' "$WORK/destroy.log" | head -40
    record "terraform destroy (moto)" FAIL "see above"
  fi
  phase_time
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
