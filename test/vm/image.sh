#!/bin/bash
# Builds (once per machine) the systemd + cgroup v2 Debian guest the VM tests boot, and prints the
# directory that holds it: root.img (ext4), vmlinuz, initrd.img.
#
#   test/vm/image.sh            # as root; prints /var/cache/cm-test-vm/<key>
#
# The key is a hash of this script and of the packages a user installs for cm (runtime_pkgs in
# scripts/setup.sh, read from there so the guest tests exactly what the README tells users to
# install): change either and the image is rebuilt. Nothing on the host outside the cache
# directory is touched: mmdebstrap runs in a private mount namespace, so its /proc, /sys, /dev
# mounts cannot reach the host's. Only Debian packages are used (mmdebstrap, e2fsprogs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
CACHE=${CM_TEST_VM_CACHE:-/var/cache/cm-test-vm}

# What a user installs for cm (README "Requirements"), straight from scripts/setup.sh.
runtime_pkgs=$(sed -n 's/^runtime_pkgs=(\(.*\))$/\1/p' "$repo/scripts/setup.sh")
[ -n "$runtime_pkgs" ] || { echo "image.sh: no runtime_pkgs=(...) line in scripts/setup.sh" >&2; exit 1; }
# A systemd machine as users have it: logind sessions, a user manager, the user's D-Bus.
system_pkgs="systemd systemd-sysv dbus dbus-user-session libpam-systemd linux-image-amd64 initramfs-tools udev kmod login passwd util-linux procps"
# Only for the tests: the other runtime, a static busybox for a tiny rootfs.
test_pkgs="crun busybox-static"

key=$( { cat "$0"; echo "$runtime_pkgs|$system_pkgs|$test_pkgs"; } | sha256sum | cut -c1-16)
OUT=$CACHE/$key
if [ -f "$OUT/ready" ]; then echo "$OUT"; exit 0; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9   # one build at a time; a second caller waits and then finds it ready
if [ -f "$OUT/ready" ]; then echo "$OUT"; exit 0; fi
# Older images (other keys) are only disk space now.
find "$CACHE" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +

TMP=$CACHE/.build-$key
ROOT=$TMP/rootfs
rm -rf "$TMP"; mkdir -p "$TMP"
t0=$(date +%s)
pkgs=$(echo $runtime_pkgs $system_pkgs $test_pkgs | tr ' ' ',')
echo "image.sh: mmdebstrap bookworm with $pkgs" >&2
# Debian's default initramfs (MODULES=most, 36 MB) boots slowly under emulation: only what
# finds the virtio disk. The 9p modules load later from the root filesystem.
unshare --mount --propagation private -- \
  mmdebstrap --mode=root --variant=minbase --include="$pkgs" --quiet \
    --aptopt='Acquire::Retries "3"' \
    --customize-hook='echo MODULES=list > "$1/etc/initramfs-tools/conf.d/cm-vm.conf"' \
    --customize-hook='printf "%s\n" virtio_pci virtio_blk crc32c_generic ext4 >> "$1/etc/initramfs-tools/modules"' \
    --customize-hook='chroot "$1" update-initramfs -u -k all >/dev/null' \
    bookworm "$ROOT" >&2

# A fixed machine-id: no "first boot" on every (snapshot) boot.
echo 6f1c2a9e0d8b4c7f9a3e5b1d2c4f6a8e > "$ROOT/etc/machine-id"
echo cm-vm > "$ROOT/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 cm-vm\n' > "$ROOT/etc/hosts"
echo '/dev/vda / ext4 rw,noatime 0 0' > "$ROOT/etc/fstab"
# dev: an ordinary user as after a fresh install (systemd's default delegation, subordinate ids).
# nodeleg: the same, but the guest script gives its user manager no cpu controller.
chroot "$ROOT" useradd -m -u 1000 -U -s /bin/bash dev
chroot "$ROOT" useradd -m -u 1001 -U -s /bin/bash nodeleg
printf 'dev:100000:65536\nnodeleg:200000:65536\n' > "$ROOT/etc/subuid"
cp "$ROOT/etc/subuid" "$ROOT/etc/subgid"

# The runner: when the kernel command line says cm.vm.run, mount the per-run 9p share "host" on
# /host and the read-only share "install" (the host's built cm) where /host/install-path says,
# run /host/guest.sh as root, record its status, power off. Output goes to /host/guest.log.
cat > "$ROOT/usr/local/sbin/cm-vm-run" <<'RUNNER'
#!/bin/bash
mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 host /host || { systemctl poweroff -f; exit 1; }
cut -d' ' -f1 /proc/uptime > /host/uptime-start
ip=$(cat /host/install-path)
mkdir -p "$ip"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro install "$ip" > /host/mount.log 2>&1
(cd /root && HOME=/root bash /host/guest.sh) > /host/guest.log 2>&1 < /dev/null
echo $? > /host/guest.rc
cut -d' ' -f1 /proc/uptime > /host/uptime-end
sync
# -f: the results are on the host and the disk is a throw-away snapshot; an orderly poweroff is slow
systemctl poweroff -f
RUNNER
chmod 755 "$ROOT/usr/local/sbin/cm-vm-run"
cat > "$ROOT/etc/systemd/system/cm-vm-run.service" <<'UNIT'
[Unit]
Description=cm VM tests: run /host/guest.sh and power off
ConditionKernelCommandLine=cm.vm.run
After=multi-user.target systemd-logind.service dbus.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/cm-vm-run
StandardOutput=journal+console
StandardError=journal+console
UNIT
ln -sf /etc/systemd/system/cm-vm-run.service "$ROOT/etc/systemd/system/multi-user.target.wants/cm-vm-run.service"
# Units that only cost boot time in a headless guest.
for u in getty@tty1.service serial-getty@ttyS0.service e2scrub_reap.service apt-daily.timer apt-daily-upgrade.timer man-db.timer; do
  ln -sf /dev/null "$ROOT/etc/systemd/system/$u"
done

cp -L "$ROOT"/boot/vmlinuz-*-amd64 "$TMP/vmlinuz"
cp -L "$ROOT"/boot/initrd.img-*-amd64 "$TMP/initrd.img"
mkfs.ext4 -q -F -L cm-vm -d "$ROOT" "$TMP/root.img" 3G
rm -rf "$ROOT"
t1=$(date +%s)
echo "built in $((t1 - t0)) s" > "$TMP/build-time"
touch "$TMP/ready"
rm -rf "$OUT"; mv "$TMP" "$OUT"
echo "image.sh: built $OUT in $((t1 - t0)) s" >&2
echo "$OUT"
