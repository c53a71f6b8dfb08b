#!/usr/bin/env bash
# Runs the whole berth test suite, as root, after scripts/setup.sh:
# lint, unit tests, kernel integration tests, playbook tests.
# Extra arguments go to pytest (for example: scripts/test.sh -k store).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[ -x .venv/bin/python ] || BERTH_SETUP_QUIET=1 scripts/setup.sh
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_CONFIG="$here/ansible.cfg"
ruff check plugins tests bench
exec python -m pytest "$@"
