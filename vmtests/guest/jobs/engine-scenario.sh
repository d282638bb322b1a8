# Job: run cryptnode's engine itself in the guest with the kernel activation backend
# (libcryptsetup -> kernel dm-crypt), from the host's root shared read-only over virtiofs (tag
# hostroot) and a writable scratch disk (virtio serial "scratch", ext4 made by the host).
# Manifest lines (/job/manifest):
#   pythonpath DIR      the build tree's cryptnode package, a host path
#   script FILE         the Python scenario on the job disk (prints its own "VMT: " lines)
#   env NAME=VALUE      extra environment for the scenario
#   arg WORD            one more argument for the scenario
root=/hostroot
pythonpath=""; script=""; extra=""; args=""
while read -r op a <&3; do
  case "$op" in
    pythonpath) pythonpath=$a ;;
    script) script=$a ;;
    env) extra="$extra $a" ;;
    arg) args="$args $a" ;;
  esac
done 3< /job/manifest

mkdir -p $root
mount -t virtiofs -o ro hostroot $root || { say "FAIL cannot mount the host root (virtiofs)"; exit 1; }
scratch=$(disk scratch) || { say "FAIL no scratch disk"; exit 1; }
mount -t ext4 "$scratch" $root/tmp || { say "FAIL cannot mount the scratch disk"; exit 1; }
mount -t tmpfs -o mode=0755 run $root/run
mount --bind /dev $root/dev
mount --bind /proc $root/proc
mount --bind /sys $root/sys
mkdir -p $root/tmp/job $root/run/cryptsetup
cp "/job/$script" $root/tmp/job/
say "ENGINE-START uptime=$(cut -d' ' -f1 /proc/uptime) loop_control=$([ -e /dev/loop-control ] && echo yes || echo no) dm_control=$([ -e /dev/mapper/control ] && echo yes || echo no) udev=$([ -e /run/udev/control ] && echo yes || echo no)"
# shellcheck disable=SC2086
chroot $root /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp TMPDIR=/tmp \
  PYTHONPATH="$pythonpath" PYTHONDONTWRITEBYTECODE=1 $extra \
  /usr/bin/python3 -u "/tmp/job/$script" $args
status=$?
say "ENGINE-END status=$status uptime=$(cut -d' ' -f1 /proc/uptime) dm_left=$(ls /sys/block | grep -c '^dm-') loops_left=$(losetup -a | grep -c .)"
umount $root/sys $root/proc $root/dev $root/run 2>/dev/null
sync
umount $root/tmp 2>/dev/null
umount $root 2>/dev/null
exit $status
