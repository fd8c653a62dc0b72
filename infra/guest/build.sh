#!/bin/bash
# Build the tiny appliance guest from Debian packages and the agent: a Debian kernel plus a busybox
# initramfs that carries a static scaleinfra-agent. Usage: infra/guest/build.sh OUTDIR
# Writes OUTDIR/vmlinuz and OUTDIR/initramfs.cpio.gz. Needs busybox-static, cpio (installed if missing).
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
cp /bin/busybox root/bin/busybox
install -m 755 "$AGENT" root/bin/scaleinfra-agent
install -m 755 "$HERE/init.sh" root/init
(cd root && find . | cpio -o -H newc --quiet | gzip -1) > initramfs.cpio.gz
rm -rf x root
chmod 644 vmlinuz initramfs.cpio.gz
ls -la vmlinuz initramfs.cpio.gz
