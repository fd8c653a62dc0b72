#!/bin/busybox sh
# PID 1 of the tiny appliance guest: bring up the network (user-mode: host is 10.0.2.2), serve HTTP,
# and run the ScaleInfra agent, which reads its identity from the kernel command line.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /run/scaleinfra /www /tmp
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net; do
  insmod /lib/modules/$m.ko 2>/dev/null
done
NAME=appliance
for kv in $(cat /proc/cmdline); do
  case "$kv" in si.appliance=*) NAME=si-${kv#si.appliance=};; esac
done
hostname "$NAME"
ip link set lo up
ip link set eth0 up 2>/dev/null && ip addr add 10.0.2.15/24 dev eth0 && ip route add default via 10.0.2.2
echo "hello from $NAME" > /www/index.html
httpd -p 80 -h /www
echo "guest: userspace up after $(cut -d' ' -f1 /proc/uptime)s" > /dev/console
/bin/scaleinfra-agent > /dev/console 2>&1 &
while true; do sleep 3600; done
