#!/usr/bin/env bash
# Builds an offline Debian bookworm Vagrant box (libvirt, qcow2) with everything provisioning
# needs already installed, because installing packages inside a VM under software emulation
# takes about 17 minutes: the Debian packages of vagrant/provision.sh, the project's
# node_modules (Node 24 among them) in /opt/skiff, and kubectl 1.32 in /usr/local/bin.
#
#   vagrant/box/build.sh            prints the path of the .box (built, or from the cache)
#
# The box is cached under $SKIFF_BOX_CACHE (default /var/lib/skiff/vagrant-cache), keyed by a
# hash of its inputs (this script, the package list, package-lock.json, kubectl, Vagrant's
# public key), so a second run with the same inputs takes no time. Needs root, debootstrap,
# qemu-utils, fdisk and a Debian mirror (the one apt uses here, or $SKIFF_MIRROR).
#
# Traps this handles (see HOST-NOTES): no udev, so partitions of the loop device come from
# `partx -a`; update-grub names the loop device as root (rewritten to the UUID); host keys and
# the machine id are removed so every VM makes its own at first boot (ed25519/ecdsa only: RSA
# generation takes minutes under emulation); eth0 needs net.ifnames=0.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${SKIFF_BOX_CACHE:-/var/lib/skiff/vagrant-cache}
say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'box: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

# What provisioning installs (vagrant/provision.sh), plus what a Vagrant box needs.
base_pkgs=(linux-image-amd64 udev grub-pc openssh-server sudo ifupdown isc-dhcp-client iproute2 systemd-sysv rsync ca-certificates)
read -ra skiff_pkgs <<<"$(bash "$here/../provision.sh" packages)"

mirror=${SKIFF_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}
node_modules=$(readlink -f "$root/node_modules")
[ -x "$node_modules/.bin/node" ] || die "$root/node_modules has no .bin/node: run npm ci first"
kubectl=${SKIFF_KUBECTL:-$(command -v kubectl || true)}
[ -n "$kubectl" ] || die "no kubectl here (set SKIFF_KUBECTL to a kubectl 1.32 binary)"
# Some installs keep one binary per minor version beside a dispatcher.
[ -x "$(dirname "$(readlink -f "$kubectl")")/kubectl.1.32" ] && kubectl="$(dirname "$(readlink -f "$kubectl")")/kubectl.1.32"
# Captured first: `grep -q` stops reading early, and under pipefail kubectl's SIGPIPE fails the test.
kubectl_says=$("$kubectl" version --client 2>/dev/null || true)
[[ $kubectl_says == *v1.32* ]] || die "$kubectl is not kubectl 1.32 (it says: ${kubectl_says:-nothing})"
pubkey=${SKIFF_VAGRANT_PUBKEY:-$({ find /usr/share/rubygems-integration /opt/vagrant -path '*keys/vagrant.pub' 2>/dev/null || true; } | head -1)}
[ -s "$pubkey" ] || die "cannot find Vagrant's insecure public key (keys/vagrant.pub of the vagrant package)"

key=$({
  cat "${BASH_SOURCE[0]}"
  echo "${base_pkgs[*]} ${skiff_pkgs[*]} $mirror"
  sha256sum "$root/package-lock.json" "$kubectl" "$pubkey" | cut -d' ' -f1
} | sha256sum | cut -c1-16)
out="$cache/skiff-bookworm-$key.box"
if [ -s "$out" ]; then
  say "cached: $out"
  echo "$out"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
mnt="$work/mnt"
loop=''
cleanup() {
  set +e
  for m in dev/pts dev proc sys ''; do mountpoint -q "$mnt/$m" && umount -l "$mnt/$m"; done
  if [ -n "$loop" ]; then
    partx -d "$loop" 2>/dev/null
    losetup -d "$loop"
  fi
  rm -rf "$work"
}
trap cleanup EXIT

t0=$(date +%s)
say "disk: 8 GB sparse, one partition, ext4"
truncate -s 8G "$work/disk.raw"
echo 'start=2048, type=83, bootable' | sfdisk -q "$work/disk.raw"
loop=$(losetup -f --show "$work/disk.raw")
partx -a "$loop"
part="${loop}p1"
[ -b "$part" ] || die "no $part after partx -a"
mkfs.ext4 -q -L skiffroot "$part"
uuid=$(blkid -s UUID -o value "$part")
mkdir -p "$mnt"
mount "$part" "$mnt"

say "debootstrap bookworm from $mirror (with Skiff's packages)"
list=$(IFS=,; echo "${base_pkgs[*]},${skiff_pkgs[*]}")
debootstrap --include="$list" bookworm "$mnt" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }

say "configuring the image"
for m in dev dev/pts proc sys; do mount --bind "/$m" "$mnt/$m"; done
in_root() { chroot "$mnt" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" > "$mnt/etc/fstab"
echo skiff > "$mnt/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 skiff\n' > "$mnt/etc/hosts"
printf 'auto lo\niface lo inet loopback\n\nauto eth0\niface eth0 inet dhcp\n' > "$mnt/etc/network/interfaces"

# Vagrant's user: passwordless sudo, the insecure key (Vagrant swaps it for a per-VM key).
in_root useradd -m -s /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > "$mnt/etc/sudoers.d/vagrant"
chmod 440 "$mnt/etc/sudoers.d/vagrant"
install -d -m 700 -o 1000 -g 1000 "$mnt/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$pubkey" "$mnt/home/vagrant/.ssh/authorized_keys"
echo 'UseDNS no' > "$mnt/etc/ssh/sshd_config.d/vagrant.conf"

# Unique per VM: host keys (made before sshd starts at first boot) and the machine id.
# A drop-in's ExecStartPre runs after the unit's own `sshd -t`, which fails without host keys,
# so the list is emptied first and `sshd -t` put back after the key step. systemd substitutes
# ${...} in Exec lines itself: the shell's variables are written $${...}.
rm -f "$mnt"/etc/ssh/ssh_host_*
mkdir -p "$mnt/etc/systemd/system/ssh.service.d"
cat > "$mnt/etc/systemd/system/ssh.service.d/host-keys.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'for t in ed25519 ecdsa; do k=/etc/ssh/ssh_host_$${t}_key; [ -s $$k ] || ssh-keygen -q -t $$t -N "" -f $$k; done'
ExecStartPre=/usr/sbin/sshd -t
EOF
: > "$mnt/etc/machine-id"
rm -f "$mnt/var/lib/dbus/machine-id"
# Skiff runs its own containerd; the distribution's stays off (provisioning masks it too).
in_root systemctl disable containerd.service >/dev/null 2>&1 || true

# Node 24 and the project's dependencies, matched to this package-lock.json; kubectl 1.32.
mkdir -p "$mnt/opt/skiff"
cp -a "$node_modules" "$mnt/opt/skiff/node_modules"
cp "$root/package-lock.json" "$mnt/opt/skiff/package-lock.json"
sha256sum "$root/package-lock.json" | cut -d' ' -f1 > "$mnt/opt/skiff/node_modules/.skiff-lock-sha256"
install -m 755 "$kubectl" "$mnt/usr/local/bin/kubectl"

say "boot loader"
sed -i 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/; s/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0 console=tty0 console=ttyS0"/' "$mnt/etc/default/grub"
in_root grub-install --target=i386-pc --modules=part_msdos "$loop" >/dev/null 2>&1 || die "grub-install failed"
in_root update-grub >/dev/null 2>&1 || die "update-grub failed"
sed -i "s|root=${part}|root=UUID=${uuid}|g" "$mnt/boot/grub/grub.cfg"
grep -q "root=UUID=$uuid" "$mnt/boot/grub/grub.cfg" || die "grub.cfg does not boot the root by UUID"
in_root apt-get clean
rm -rf "$mnt"/var/lib/apt/lists/* "$mnt"/tmp/*

for m in dev/pts dev proc sys ''; do umount "$mnt/$m"; done
partx -d "$loop"
losetup -d "$loop"
loop=''

say "qcow2 and .box"
qemu-img convert -O qcow2 "$work/disk.raw" "$work/box.img"
rm -f "$work/disk.raw"
echo '{"provider":"libvirt","format":"qcow2","virtual_size":8}' > "$work/metadata.json"
cat > "$work/Vagrantfile" <<'EOF'
Vagrant.configure('2') do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = 'virtio'
  end
end
EOF
tar -C "$work" -cf "$out.tmp" metadata.json Vagrantfile box.img
mv "$out.tmp" "$out"
say "built $out in $(($(date +%s) - t0)) s"
echo "$out"
