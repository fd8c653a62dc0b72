#!/bin/bash
# Build the tiny appliance guest from Debian packages and the agent: a Debian kernel plus a busybox
# initramfs that carries a static scaleinfra-agent. Usage: infra/guest/build.sh OUTDIR
# Writes OUTDIR/vmlinuz and OUTDIR/initramfs.cpio.gz. Needs busybox-static, cpio (installed if missing).
# The guest also carries Debian's haproxy and socat with the libraries they link (for the
# load-balancer appliance): their packages are downloaded and unpacked, never installed here.
set -euo pipefail
OUT=${1:?usage: build.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$ROOT/scripts/lib.sh"
apt_install busybox-static cpio
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# the agent, linked statically (glibc; it connects to an IP literal, so no NSS is needed)
AGENT_TARGET=${AGENT_TARGET_DIR:-/var/tmp/scaleinfra-agent-target}
(cd "$ROOT" && RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR="$AGENT_TARGET" \
  CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
  cargo build --release --quiet -p scaleinfra-agent --target x86_64-unknown-linux-gnu)
AGENT="$AGENT_TARGET/x86_64-unknown-linux-gnu/release/scaleinfra-agent"

cd "$OUT"
PKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
if [ ! -f kernel.deb ]; then
  (cd "$OUT" && apt-get download "$PKG" >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download "$PKG"; })
  mv "${PKG}"_*.deb kernel.deb
fi
rm -rf x root && mkdir -p x root/{bin,proc,sys,dev,lib/modules,run,www,tmp}
dpkg-deb --fsys-tarfile kernel.deb | tar -x -C x --wildcards './boot/vmlinuz-*' \
  './lib/modules/*/kernel/drivers/virtio/virtio*.ko' './lib/modules/*/kernel/drivers/net/virtio_net.ko' \
  './lib/modules/*/kernel/drivers/net/net_failover.ko' './lib/modules/*/kernel/net/core/failover.ko'
cp x/boot/vmlinuz-* vmlinuz
find x/lib -name '*.ko' -exec cp {} root/lib/modules/ \;

# haproxy and socat: their packages and their libraries' packages, two levels deep, unpacked into
# debs/stage; the host's C and C++ runtimes serve (they must match the loader copied with them)
SKIP=" libc6 libgcc-s1 libstdc++6 dpkg adduser lsb-base init-system-helpers debconf sysvinit-utils "
mkdir -p debs
deps() { apt-cache depends "$@" 2>/dev/null | awk '/^  (Pre)?Depends: [a-z]/{print $2}' | sort -u; }
WANT=$( { echo haproxy; echo socat; L1=$(deps haproxy socat); echo "$L1"; deps $L1; } | sort -u)
for p in $WANT; do
  case "$SKIP" in *" $p "*) continue;; esac
  ls debs/"${p}"_*.deb >/dev/null 2>&1 && continue
  (cd debs && { apt-get download "$p" >/dev/null 2>&1 || { as_root apt-get update -qq && apt-get download "$p" >/dev/null; }; })
done
rm -rf debs/stage && mkdir -p debs/stage
for d in debs/*.deb; do dpkg-deb -x "$d" debs/stage; done
STAGE_LIBS=$(find "$OUT/debs/stage" -name '*.so*' -printf '%h\n' | sort -u | paste -sd:)
mkdir -p root/lib root/lib64 root/usr/sbin root/usr/bin root/etc/haproxy root/var/lib/haproxy
install -m 755 debs/stage/usr/sbin/haproxy root/usr/sbin/haproxy
install -m 755 debs/stage/usr/bin/socat root/usr/bin/socat
for b in root/usr/sbin/haproxy root/usr/bin/socat; do
  LIBS=$(LD_LIBRARY_PATH="$STAGE_LIBS" ldd "$b")
  if echo "$LIBS" | grep -q "not found"; then echo "$b: $LIBS" >&2; exit 1; fi
  for l in $(echo "$LIBS" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'); do cp -L "$l" root/lib/; done
done
cp -L /lib64/ld-linux-x86-64.so.2 root/lib64/
cp -L /lib/x86_64-linux-gnu/libnss_files.so.2 root/lib/ 2>/dev/null || true
printf 'root:x:0:0:root:/:/bin/sh\nhaproxy:x:100:100:haproxy:/var/lib/haproxy:/bin/false\n' > root/etc/passwd
printf 'root:x:0:\nhaproxy:x:100:\n' > root/etc/group
printf 'passwd: files\ngroup: files\n' > root/etc/nsswitch.conf
cp /bin/busybox root/bin/busybox
install -m 755 "$AGENT" root/bin/scaleinfra-agent
install -m 755 "$HERE/init.sh" root/init
(cd root && find . | cpio -o -H newc --quiet | gzip -1) > initramfs.cpio.gz
rm -rf x root
chmod 644 vmlinuz initramfs.cpio.gz
ls -la vmlinuz initramfs.cpio.gz
