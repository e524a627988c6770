#!/usr/bin/env python3
"""Checks the GitHub workflows against what the repository promises (issue 18):

- ci.yml runs on pushes and pull requests, caches cargo, runs `.ci/run` (which runs the
  README's test command), and uploads the screenshots and the benchmark smoke report;
- release.yml builds x86_64 and aarch64 with `scripts/release TARGET` and attaches them;
- every `run:` step only calls the repository's scripts (the workflows hold no logic of
  their own), except the release upload itself.

Prints one line per check and "check-workflows: N passed, N failed"; exits 1 on a failure.
Needs PyYAML (Debian's python3-yaml, or the moto virtualenv's).
"""
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}{'' if ok else ': ' + detail}")


def load(name):
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def steps(workflow):
    for job_name, job in workflow["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


# YAML reads the key `on` as True.
ci, release = load("ci.yml"), load("release.yml")
ci_on = ci.get("on", ci.get(True))
check("ci runs on push and pull_request", "push" in ci_on and "pull_request" in ci_on)
ci_runs = [s["run"] for _, s in steps(ci) if "run" in s]
check("ci runs .ci/run", any(".ci/run" in r for r in ci_runs), str(ci_runs))
ci_script = (ROOT / ".ci" / "run").read_text()
readme = (ROOT / "README.md").read_text()
check(".ci/run execs scripts/test", re.search(r"^exec scripts/test$", ci_script, re.M) is not None)
check("README's test command is scripts/test", "`scripts/test`" in readme)
cache = [s for _, s in steps(ci) if s.get("uses", "").startswith("actions/cache@")]
check(
    "ci caches cargo (registry and target)",
    any("~/.cargo/registry" in s["with"]["path"] and "target" in s["with"]["path"] for s in cache),
)
uploads = " ".join(
    s["with"]["path"] for _, s in steps(ci) if s.get("uses", "").startswith("actions/upload-artifact@")
)
for path in ["target/screenshots", "target/bench-smoke"]:
    check(f"ci uploads {path}", path in uploads, uploads)

targets = release["jobs"]["build"]["strategy"]["matrix"]["target"]
check(
    "release builds x86_64 and aarch64 Linux",
    sorted(targets) == ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"],
    str(targets),
)
release_runs = [s["run"] for _, s in steps(release) if "run" in s]
check(
    "release builds with scripts/release TARGET",
    any("scripts/release ${{ matrix.target }}" in r for r in release_runs),
    str(release_runs),
)
check(
    "release attaches the binaries and their SHA-256 files",
    any("gh release create" in r and "dist/*" in r for r in release_runs),
)

# Every run step: optional `. "$HOME/.cargo/env" &&`, then a script of the repository.
allowed = re.compile(r'^(\. "\$HOME/\.cargo/env" && )?(scripts/[a-z-]+|\.ci/run)( |$)')
for name, wf in [("ci.yml", ci), ("release.yml", release)]:
    for job, step in steps(wf):
        run = step.get("run")
        if run is None or run.startswith("gh release create"):
            continue
        check(f"{name} {job}: '{run.strip()}' calls a repository script", bool(allowed.match(run.strip())))
        script = allowed.match(run.strip())
        if script:
            check(f"{name} {job}: {script.group(2)} exists", (ROOT / script.group(2)).is_file())

passed, failed = results.count(True), results.count(False)
print(f"check-workflows: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
