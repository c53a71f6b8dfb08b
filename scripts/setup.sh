#!/usr/bin/env bash
# Installs everything berth needs on a Debian 12 host, as root:
#   system packages, a virtualenv (.venv) with the pinned Python dependencies,
#   the collection on a collections path (.collections, a symlink to this checkout),
#   and the `berth` command in /usr/local/bin.
# Safe to run again: every step is idempotent.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

quiet=${BERTH_SETUP_QUIET:-0}
log() { [ "$quiet" = 1 ] || echo "setup: $*"; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: run as root (berth manages namespaces, mounts and cgroups)" >&2
  exit 1
fi

# System packages: the runtime needs only python3; the rest serve the tests, the demo
# and the interop peers (reference registry, skopeo, umoci).
pkgs=(python3 python3-venv python3-dev gcc libc6-dev git iproute2 nftables iptables zstd
      busybox-static debootstrap skopeo umoci docker-registry apache2-utils
      libseccomp2 ca-certificates curl procps psmisc iperf3)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packaged registry starts itself on install; berth's tests start their own instances.
if systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# Virtualenv on Debian's own interpreter, the one a fresh host has.
py=/usr/bin/python3
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "installing Python dependencies"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

# The collection: Ansible and Python both import it as ansible_collections.berth.engine.
mkdir -p .collections/ansible_collections/berth
ln -sfn ../../.. .collections/ansible_collections/berth/engine
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$here/.collections" > "$site/berth-collection.pth"

# The berth command.
cat > .venv/bin/berth <<PYEOF
#!$here/.venv/bin/python -sP
import sys
# The warm path first (cli/fastpath.py: the monitor server runs the command); None: run here.
from ansible_collections.berth.engine.plugins.module_utils.cli.fastpath import run
code = run(sys.argv[1:])
if code is None:
    from ansible_collections.berth.engine.plugins.module_utils.cli.main import main
    code = main()
sys.exit(code)
PYEOF
chmod 755 .venv/bin/berth
ln -sfn "$here/.venv/bin/berth" /usr/local/bin/berth
log "done: $(berth --version)"
