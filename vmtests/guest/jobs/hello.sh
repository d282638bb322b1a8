# Job: the smallest one — list what the guest sees (used by the tier's own checks and the benchmark).
while read -r op a <&3; do
  case "$op" in
    echo) say "ECHO $a" ;;
  esac
done 3< /job/manifest
say "DISKS $(for d in /sys/block/vd*; do printf '%s=%s ' "${d##*/}" "$(cat "$d/serial")"; done)"
say "DM $([ -e /dev/mapper/control ] && echo yes || echo no)"
