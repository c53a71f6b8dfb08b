#!/usr/bin/env bash
# Runs the demo playbook against localhost: the first lessons of a Docker course, with berth.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export ANSIBLE_CONFIG="$here/ansible.cfg"
exec .venv/bin/ansible-playbook playbooks/demo.yml "$@"
