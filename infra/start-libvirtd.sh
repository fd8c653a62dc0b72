#!/bin/bash
# Install (if missing) and start libvirtd + virtlogd without systemd (Debian 12), for qemu:///system
# with TCG guests. Idempotent. Used by scripts/test for the slow tier.
# libvirtd runs inside a network namespace of its own (SITEST_NETNS, default scaleinfra-test) that
# holds the guests' bridge sibr0 (10.77.0.1/24): guests' taps, their private addresses and the
# sockets of user-mode networking live there, never on this machine's own network. Clients in the
# root namespace still reach libvirtd through qemu:///system (a Unix socket); tests reach the
# namespace through tests/src/netns.rs.
# Note: these machines ship qemu-utils 10 from backports, which conflicts with bookworm's
# qemu-system-x86 7.2: qemu-utils/bookworm must be named with it (with --allow-downgrades).
. "$(dirname "$0")/../scripts/lib.sh"
# (libvirt-daemon-config-nwfilter, ebtables and iptables: the filters that our per-application
# filter builds on, which binds a guest on a pool's bridge to its MAC and IPAM address)
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if ! installed qemu-system-x86 || ! installed libvirt-daemon-driver-qemu \
   || ! installed libvirt-daemon-config-nwfilter || ! installed ebtables; then
  log "apt-get install libvirt, qemu-system-x86 (TCG), libvirt's network filters"
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends --allow-downgrades \
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libvirt-dev pkg-config \
    libvirt-daemon-config-nwfilter ebtables iptables \
    qemu-system-x86 qemu-utils/bookworm >/dev/null
fi
getent group kvm >/dev/null || as_root groupadd -r kvm
getent group libvirt-qemu >/dev/null || as_root groupadd -r libvirt-qemu
id libvirt-qemu >/dev/null 2>&1 || as_root useradd -r -g libvirt-qemu -G kvm -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
as_root mkdir -p /var/log/libvirt /var/lib/libvirt /var/run/libvirt
if ! grep -q '^security_driver = "none"' /etc/libvirt/qemu.conf 2>/dev/null; then
  printf 'user = "root"\ngroup = "root"\nsecurity_driver = "none"\ncgroup_controllers = [ ]\n' | as_root tee -a /etc/libvirt/qemu.conf >/dev/null
fi
NS=${SITEST_NETNS:-scaleinfra-test}
command -v ip >/dev/null 2>&1 || apt_install iproute2
[ -e "/run/netns/$NS" ] || as_root ip netns add "$NS"
in_ns() { as_root ip netns exec "$NS" "$@"; }
in_ns ip link set lo up
in_ns ip link show sibr0 >/dev/null 2>&1 || in_ns ip link add sibr0 type bridge
in_ns ip addr replace 10.77.0.1/24 dev sibr0
in_ns ip link set sibr0 up
# a libvirtd that runs outside the namespace, or that started before the network filters were
# installed, is stopped (its guests keep running)
PID=$(cat /var/run/libvirtd.pid 2>/dev/null || true)
if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null \
   && { [ "$(as_root ip netns identify "$PID" 2>/dev/null)" != "$NS" ] \
        || ! virsh -c qemu:///system nwfilter-list 2>/dev/null | grep -qw clean-traffic; }; then
  as_root kill "$PID"
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
fi
# (pgrep also matches zombies, which PID 1 here may leave unreaped: probe the sockets instead)
{ [ -S /var/run/libvirt/virtlogd-sock ] && kill -0 "$(cat /var/run/virtlogd.pid 2>/dev/null)" 2>/dev/null; } || as_root virtlogd -d
virsh -c qemu:///system version >/dev/null 2>&1 || in_ns libvirtd -d
for _ in $(seq 1 100); do virsh -c qemu:///system version >/dev/null 2>&1 && exit 0; sleep 0.2; done
echo "libvirtd did not come up; see /var/log/libvirt/libvirtd.log" >&2
exit 1
