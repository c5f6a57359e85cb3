#!/usr/bin/env bash
# Provisioning for a fresh Debian machine (a Vagrant VM, a test sandbox node, or CI), and the
# two entry points the README names:
#   provision.sh up     install what is missing, then bring up a 3-node `skiff sandbox` (network
#                       namespaces on this machine, embedded store) and show how to use kubectl
#   provision.sh host   install what is missing, then run `skiff up` (server + agent) on this host:
#                       for a VM or a machine dedicated to Skiff
#   provision.sh test   install what is missing, then run the whole test suite
#   provision.sh deps   only install what is missing
#   provision.sh node   prepare this host (or sandbox node namespace) to run a Skiff node;
#                       `skiff sandbox up` runs it inside every node namespace
# Idempotent: packages already present are not fetched again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cmd=${1:-deps}

say() { printf '==> %s\n' "$*"; }
die() { printf 'provision: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo bash vagrant/provision.sh $cmd)"

# Per-node kernel settings (per network namespace where the setting is namespaced).
node_setup() {
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.ipv4.conf.all.rp_filter=0 2>/dev/null || true
  mkdir -p /var/lib/skiff /run/skiff
}
if [ "$cmd" = node ]; then node_setup; exit 0; fi

# Debian packages Skiff uses on a node. etcd is for the etcd backend tests and benchmarks.
packages=(openssl iproute2 nftables conntrack containerd runc busybox-static containernetworking-plugins ca-certificates gcc libc6-dev util-linux ethtool)
[ "$cmd" = test ] && packages+=(etcd-server etcd-client)
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v kubectl >/dev/null 2>&1; then
  apt-get install -y -qq kubectl >/dev/null 2>&1 || die "kubectl is not installed and no configured apt source has it; install kubectl 1.32 and run again"
fi

# Node 24 comes from the registry's `node` package (node_modules/.bin/node), pinned in package-lock.json.
cd "$root"
if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (Node 24 among them)"
  npm ci --no-audit --no-fund --loglevel=error
fi
node_modules/.bin/node --version >/dev/null || die "node_modules/.bin/node does not run"

case "$cmd" in
  deps) ;;
  up)
    node_setup
    if "$root/controlplane/cli/skiff" sandbox list | grep -q '^skiff\b'; then
      say "sandbox 'skiff' is already up"
    else
      say "bringing up a 3-node sandbox cluster (network namespaces, no VMs)"
      "$root/controlplane/cli/skiff" sandbox up --nodes "${SKIFF_NODES:-3}"
    fi
    "$root/controlplane/cli/skiff" sandbox kubectl -- get nodes -o wide
    say "drive it with:  controlplane/cli/skiff sandbox kubectl -- get pods -A"
    say "remove it with: controlplane/cli/skiff sandbox down"
    ;;
  host)
    node_setup
    mkdir -p /var/log/skiff /run/skiff
    if [ -f /run/skiff/up.pid ] && kill -0 "$(cat /run/skiff/up.pid)" 2>/dev/null; then
      say "skiff already running (pid $(cat /run/skiff/up.pid))"
    else
      say "starting skiff up: server and agent (log: /var/log/skiff/skiff.log)"
      nohup "$root/controlplane/cli/skiff" up "${@:2}" >>/var/log/skiff/skiff.log 2>&1 &
      echo $! > /run/skiff/up.pid
    fi
    for _ in $(seq 1 100); do
      [ -s /etc/skiff/admin.kubeconfig ] && KUBECONFIG=/etc/skiff/admin.kubeconfig kubectl get --raw /readyz >/dev/null 2>&1 && break
      sleep 0.2
    done
    KUBECONFIG=/etc/skiff/admin.kubeconfig kubectl get --raw /readyz >/dev/null 2>&1 || { tail -20 /var/log/skiff/skiff.log; die "skiff did not become ready"; }
    say "skiff is up. Point kubectl at it:"
    echo "    export KUBECONFIG=/etc/skiff/admin.kubeconfig"
    echo "    kubectl get namespaces"
    ;;
  test)
    exec node_modules/.bin/node --disable-warning=ExperimentalWarning test/run.ts "${@:2}"
    ;;
  *) die "unknown command '$cmd' (up, host, test, deps or node)" ;;
esac
