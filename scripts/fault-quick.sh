#!/usr/bin/env bash
# The quick fault tests, for CI: crash, two instances, graceful shutdown (about 1 minute in
# all). The database outage (stops the shared PostgreSQL) and schemathesis (downloads it) run
# on their own: scripts/fault-outage.sh, scripts/fault-schemathesis.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir="${CARGO_TARGET_DIR:-target}"
if [[ ! -x $target_dir/release/doztra-auth || ! -x $target_dir/release/doztra-bench ]]; then
  cargo build --release -p doztra-server -p doztra-bench
fi
for test in crash two-instances shutdown; do
  echo "== scripts/fault-$test.sh"
  scripts/fault-"$test".sh
done
echo "== all quick fault tests passed"
