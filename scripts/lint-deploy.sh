#!/usr/bin/env bash
# Lints the deployment files and the documentation's shell examples (CI runs it; ~10 s once
# the linters are installed):
#   - Dockerfile with hadolint (no warning allowed);
#   - compose.yaml against the Compose specification's JSON schema (check-jsonschema);
#   - deploy/doztra-auth.service with `systemd-analyze verify` (any complaint fails);
#   - docs/examples/*.sh with shellcheck.
# The linters are pinned in deploy/lint-requirements.txt and installed from PyPI into a virtual
# environment under the target directory on first use (again when the file changes).
# The image itself is not built here: there is no Docker engine (docs/DEPLOYMENT.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${CARGO_TARGET_DIR:-$ROOT/target}/deploy-lint"
REQUIREMENTS="deploy/lint-requirements.txt"

if ! cmp -s "$REQUIREMENTS" "$VENV/installed-requirements.txt" 2>/dev/null; then
  echo "installing the linters into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  cp "$REQUIREMENTS" "$VENV/installed-requirements.txt"
fi

echo "hadolint Dockerfile"
"$VENV/bin/hadolint" --failure-threshold info Dockerfile

echo "check-jsonschema compose.yaml"
"$VENV/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose.yaml

echo "systemd-analyze verify deploy/doztra-auth.service"
if command -v systemd-analyze >/dev/null; then
  # verify also checks that ExecStart and EnvironmentFile exist: point them at stand-ins.
  scratch="$(mktemp -d)"
  trap 'rm -rf "$scratch"' EXIT
  touch "$scratch/doztra-auth.env"
  sed -e "s#^ExecStart=/usr/local/bin/doztra-auth#ExecStart=/bin/true#" \
      -e "s#^EnvironmentFile=.*#EnvironmentFile=$scratch/doztra-auth.env#" \
      deploy/doztra-auth.service > "$scratch/doztra-auth.service"
  complaints="$(systemd-analyze verify "$scratch/doztra-auth.service" 2>&1 || true)"
  if [[ -n "$complaints" ]]; then
    echo "$complaints" >&2
    exit 1
  fi
else
  echo "  skipped: systemd-analyze is not installed" >&2
fi

echo "shellcheck docs/examples/*.sh"
"$VENV/bin/shellcheck" --external-sources --source-path=docs/examples docs/examples/*.sh

echo "deployment files: OK"
