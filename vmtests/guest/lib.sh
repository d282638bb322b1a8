# Shell helpers for the guest's jobs (busybox ash), sourced by /job/run.sh. Devices are found by
# their virtio serial (/sys/block/vdX/serial) and GPT partitions by name (PARTNAME in the
# partition's uevent), so nothing depends on the order in which the host attached the disks.
# Passphrases are rebuilt here from what the test put on the job disk, exactly as Talos derives
# them (docs/talos/keys.md); they go to files under /run (tmpfs), never to the console.

say() { echo "VMT: $*"; }

# disk SERIAL -> /dev/vdX
disk() {
  for d in /sys/block/vd*; do
    [ "$(cat "$d/serial" 2>/dev/null)" = "$1" ] && { echo "/dev/${d##*/}"; return 0; }
  done
  return 1
}

# part SERIAL PARTNAME -> /dev/vdXN ("-" as PARTNAME: the whole disk)
part() {
  dev=$(disk "$1") || return 1
  [ "$2" = "-" ] && { echo "$dev"; return 0; }
  b=${dev#/dev/}
  for p in /sys/block/"$b"/"$b"*; do
    grep -qx "PARTNAME=$2" "$p/uevent" 2>/dev/null && { echo "/dev/${p##*/}"; return 0; }
  done
  return 1
}

# salt_from_yaml FILE OUT: Talos' encryption-salt.yaml (diskSalt: a YAML sequence of byte values)
# to the raw salt bytes.
salt_from_yaml() {
  : > "$2"
  sed -n 's/^ *- *\([0-9][0-9]*\) *$/\1/p' "$1" | while read -r n; do
    printf "\\$(printf %03o "$n")" >> "$2"
  done
}

# passphrase KIND ARG VOLID LOCK OUT: the bytes Talos feeds cryptsetup for that key.
#   static HEX    the configured passphrase (hex on the job disk: any byte survives)
#   nodeid UUID   UUID followed by the volume ID
#   kms B64       the unsealed key, base64: the passphrase is that text
# LOCK=1 appends the lockToSTATE salt from /run/salt (salt_from_yaml).
passphrase() {
  case "$1" in
    static) echo "$2" | xxd -r -p > "$5" ;;
    nodeid) printf '%s%s' "$2" "$3" > "$5" ;;
    kms) printf '%s' "$2" > "$5" ;;
    *) say "ERROR unknown key kind $1"; return 1 ;;
  esac
  if [ "$4" = 1 ]; then
    [ -s /run/salt ] || { say "ERROR lockToSTATE key for $3 but no salt was read"; return 1; }
    cat /run/salt >> "$5"
  fi
}

# is_kernel_dm NAME: the mapping exists in the kernel's device-mapper (not a userspace stand-in).
is_kernel_dm() {
  for d in /sys/block/dm-*; do
    [ "$(cat "$d/dm/name" 2>/dev/null)" = "$1" ] && return 0
  done
  return 1
}

# report_mapping VOLID: what dm-crypt runs for the open volume (no key material).
report_mapping() {
  st=$(cryptsetup status "luks2-$1")
  cipher=$(echo "$st" | sed -n 's/^ *cipher: *//p')
  keysize=$(echo "$st" | sed -n 's/^ *keysize: *\([0-9]*\).*/\1/p')
  sector=$(echo "$st" | sed -n 's/^ *sector size: *\([0-9]*\).*/\1/p')
  target=$(dmsetup table "luks2-$1" | cut -d' ' -f3)
  kdm=no
  is_kernel_dm "luks2-$1" && kdm=yes
  say "MAPPED $1 cipher=$cipher keysize=$keysize sector=$sector target=$target kernel_dm=$kdm"
}

# mount_ro VOLID: report the open mapping luks2-VOLID and mount it read-only at /mnt/VOLID (XFS
# without log replay); a failure goes to the job's bad() and closes the mapping.
mount_ro() {
  report_mapping "$1"
  mkdir -p "/mnt/$1"
  fs=$(fs_of "/dev/mapper/luks2-$1")
  opts=ro
  [ "$fs" = xfs ] && opts=ro,norecovery
  if ! mount -t "$fs" -o "$opts" "/dev/mapper/luks2-$1" "/mnt/$1" 2>/tmp/err; then
    bad "$1 mount ($fs): $(cat /tmp/err)"; cryptsetup close "luks2-$1"; return 1
  fi
  say "MOUNTED $1 fs=$fs"
}

# sum_file VOLID PATH: "VMT: SUM VOLID PATH <sha256>" of /mnt/VOLID/PATH, or the job's bad().
sum_file() {
  if [ -f "/mnt/$1/$2" ]; then
    say "SUM $1 $2 $(sha256sum "/mnt/$1/$2" | cut -d' ' -f1)"
  else
    bad "$1 $2 is missing"
  fi
}

# fs_of DEV: xfs or ext4 from the superblock magic (busybox-static has no blkid).
fs_of() {
  [ "$(head -c 4 "$1" 2>/dev/null)" = XFSB ] && { echo xfs; return 0; }
  [ "$(dd if="$1" bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 53ef ] &&
    { echo ext4; return 0; }
  echo unknown
}
