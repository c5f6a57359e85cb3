#!/usr/bin/env bash
# Provisioning for a fresh Debian machine (a Vagrant VM, a test sandbox node, or CI), and the
# two entry points the README names:
#   provision.sh up     install what is missing, then bring up a 3-node `skiff sandbox` (network
#                       namespaces on this machine, embedded store) and show how to use kubectl
#   provision.sh host   install what is missing, then run `skiff up` (server + agent) on this host:
#                       for a VM or a machine dedicated to Skiff
#   provision.sh test   install what is missing, then run the whole test suite
#   provision.sh deps   only install what is missing
#   provision.sh packages  print the Debian packages a node needs (the offline box installs them)
#   provision.sh node   prepare this host (or sandbox node namespace) to run a Skiff node;
#                       `skiff sandbox up` runs it inside every node namespace
#   provision.sh vm server IP | vm agent IP SERVER_IP
#                       a Vagrant VM (vagrant/Vagrantfile): install what is missing, then the
#                       skiff-server / skiff-agent systemd units, from the secrets in vagrant/.skiff
# Idempotent: packages already present are not fetched again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cmd=${1:-deps}

say() { printf '==> %s\n' "$*"; }
die() { printf 'provision: %s\n' "$*" >&2; exit 1; }

# Debian packages Skiff uses on a node. etcd is for the etcd backend tests and benchmarks.
# vagrant/box/build.sh puts the same list into the offline box (`provision.sh packages`).
packages=(openssl iproute2 nftables conntrack containerd runc busybox-static containernetworking-plugins ca-certificates gcc libc6-dev util-linux ethtool)
if [ "$cmd" = packages ]; then echo "${packages[*]}"; exit 0; fi

[ "$(id -u)" = 0 ] || die "run as root (for example: su -c 'bash vagrant/provision.sh $cmd')"

# Per-node kernel settings (per network namespace where the setting is namespaced).
node_setup() {
  sysctl -qw net.ipv4.ip_forward=1
  sysctl -qw net.ipv4.conf.all.rp_filter=0 2>/dev/null || true
  mkdir -p /var/lib/skiff /run/skiff
}
if [ "$cmd" = node ]; then node_setup; exit 0; fi

[ "$cmd" = test ] && packages+=(etcd-server etcd-client dnsutils dnsmasq-base)
# The vagrant tier (left out with SKIFF_TEST_VAGRANT=0) boots real VMs under libvirt from a box
# built with debootstrap.
[ "$cmd" = test ] && [ "${SKIFF_TEST_VAGRANT:-}" != 0 ] && packages+=(qemu-system-x86 qemu-utils debootstrap fdisk vagrant
  vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients iptables rsync)
# A box built by vagrant/box/build.sh carries node_modules (Node 24 among them) in /opt/skiff,
# made from the same package-lock.json; otherwise npm installs them.
if [ ! -e "$root/node_modules" ] && [ -x /opt/skiff/node_modules/.bin/node ] &&
  cmp -s "$root/package-lock.json" /opt/skiff/package-lock.json; then
  ln -s /opt/skiff/node_modules "$root/node_modules"
fi
[ -x "$root/node_modules/.bin/node" ] || command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# kubectl is not a Debian package: fetch the release binary from where Kubernetes publishes it,
# checked against its published SHA-256. An offline box (vagrant/box/build.sh) already has it.
kubectl_version=${SKIFF_KUBECTL_VERSION:-v1.32.4}
if ! command -v kubectl >/dev/null 2>&1; then
  say "installing kubectl $kubectl_version from dl.k8s.io"
  command -v curl >/dev/null 2>&1 || apt-get install -y -qq --no-install-recommends curl >/dev/null
  base=https://dl.k8s.io/release/$kubectl_version/bin/linux/amd64
  curl -fsSL --retry 3 -o /tmp/kubectl "$base/kubectl" || die "cannot download kubectl (no internet?); install kubectl 1.32 and run again"
  echo "$(curl -fsSL --retry 3 "$base/kubectl.sha256")  /tmp/kubectl" | sha256sum -c --quiet - || die "kubectl checksum mismatch"
  install -m 755 /tmp/kubectl /usr/local/bin/kubectl && rm -f /tmp/kubectl
fi

# Node 24 comes from the registry's `node` package (node_modules/.bin/node), pinned in package-lock.json.
cd "$root"
# node_modules records the hash of the lock it was installed from (file times do not survive
# copies and checkouts); the offline box writes the same record for the modules it carries.
lock_sha=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/node ] || [ "$(cat node_modules/.skiff-lock-sha256 2>/dev/null)" != "$lock_sha" ]; then
  say "installing npm dependencies (Node 24 among them)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_sha" > node_modules/.skiff-lock-sha256
fi
node_modules/.bin/node --version >/dev/null || die "node_modules/.bin/node does not run"

case "$cmd" in
  deps) ;;
  up)
    node_setup
    if [[ $'\n'$("$root/bin/skiff" sandbox list)$'\n' == *$'\n'skiff[[:space:]]* ]]; then
      say "sandbox 'skiff' is already up"
    else
      say "bringing up a 3-node sandbox cluster (network namespaces, no VMs)"
      "$root/bin/skiff" sandbox up --nodes "${SKIFF_NODES:-3}"
    fi
    "$root/bin/skiff" sandbox kubectl -- get nodes -o wide
    say "drive it with:  bin/skiff sandbox kubectl -- get pods -A"
    say "remove it with: bin/skiff sandbox down"
    ;;
  host)
    node_setup
    mkdir -p /var/log/skiff /run/skiff
    if [ -f /run/skiff/up.pid ] && kill -0 "$(cat /run/skiff/up.pid)" 2>/dev/null; then
      say "skiff already running (pid $(cat /run/skiff/up.pid))"
    else
      say "starting skiff up: server and agent (log: /var/log/skiff/skiff.log)"
      nohup "$root/bin/skiff" up "${@:2}" >>/var/log/skiff/skiff.log 2>&1 &
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
  vm)
    role=${2:-} ip=${3:-} server_ip=${4:-${3:-}}
    [ "$role" = server ] || [ "$role" = agent ] || die "usage: provision.sh vm server IP | vm agent IP SERVER_IP"
    [ -n "$ip" ] && [ -n "$server_ip" ] || die "usage: provision.sh vm server IP | vm agent IP SERVER_IP"
    state="$here/.skiff"
    [ -s "$state/token" ] || die "no $state/token (the Vagrantfile writes it on the host)"
    node_setup
    echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/90-skiff.conf
    install -d -m 700 /etc/skiff
    install -m 600 "$state/token" /etc/skiff/token
    if [ "$role" = server ]; then
      d=/var/lib/skiff/server
      install -d -m 700 "$d" "$d/tls"
      # The cluster identity the host made: the CA, the join secret and the admin token.
      [ -s "$d/tls/ca.key" ] || install -m 600 "$state/ca.crt" "$state/ca.key" "$d/tls/"
      [ -s "$d/join-secret" ] || install -m 600 "$state/join-secret" "$d/"
      [ -s "$d/tokens.csv" ] || install -m 600 "$state/tokens.csv" "$d/"
      "$root/bin/skiff" install server -- --data-dir "$d" --advertise-address "$ip"
    fi
    "$root/bin/skiff" install agent -- --server "https://$server_ip:6443" --token-file /etc/skiff/token \
      --node-ip "$ip" --node-name "$(hostname)"
    if [ "$role" = server ]; then
      say "waiting for the API server and node $(hostname) to be Ready"
      export KUBECONFIG=/etc/skiff/admin.kubeconfig
      for _ in $(seq 1 600); do
        [ "$(kubectl get node "$(hostname)" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ] && break
        sleep 1
      done
      kubectl get nodes -o wide || die "the server did not answer (journalctl -u skiff-server)"
    fi
    say "skiff-$role runs as a systemd unit (journalctl -u skiff-$role follows it)"
    ;;
  test)
    exec node_modules/.bin/node --disable-warning=ExperimentalWarning test/run.ts "${@:2}"
    ;;
  *) die "unknown command '$cmd' (up, host, vm, test, deps or node)" ;;
esac
