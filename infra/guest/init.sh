#!/bin/busybox sh
# PID 1 of the tiny appliance guest: bring up the network and run the ScaleInfra agent, which reads
# its identity from the kernel command line; what the appliance serves, its install CloudScripts
# start (the guest carries busybox, haproxy and socat). Two networks:
# - a pool network (`si.ip=ADDR/PREFIX si.gw=GATEWAY` on the command line): eth0 on the pool's
#   bridge with the address IPAM gave the appliance;
# - otherwise restricted user-mode networking (gateway 10.0.2.2). The guest then also reports
#   whether the hypervisor host's loopback answers through the gateway (it must not: only the
#   agent's forwarded address is reachable) as the custom metric `host_loopback_open`.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /run/scaleinfra /www /tmp
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
NAME=appliance; URL=; IP=; GW=
for kv in $(cat /proc/cmdline); do
  case "$kv" in
    si.appliance=*) NAME=si-${kv#si.appliance=};;
    si.url=*) URL=${kv#si.url=};;
    si.ip=*) IP=${kv#si.ip=};;
    si.gw=*) GW=${kv#si.gw=};;
  esac
done
hostname "$NAME"
ip link set lo up
ip link set eth0 up 2>/dev/null
if [ -n "$IP" ]; then
  ip addr add "$IP" dev eth0
  [ -z "$GW" ] || ip route add default via "$GW"
else
  ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
  # the agent API's port on the host's loopback, as reached through the gateway
  PORT=${URL##*:}
  PORT=${PORT%%/*}
  if echo | nc -w 3 10.0.2.2 "$PORT" >/dev/null 2>&1; then OPEN=1; else OPEN=0; fi
  echo "host_loopback_open $OPEN" > /run/scaleinfra/metrics
fi
echo "guest: userspace up after $(cut -d' ' -f1 /proc/uptime)s" > /dev/console
/bin/scaleinfra-agent > /dev/console 2>&1 &
while true; do sleep 3600; done
