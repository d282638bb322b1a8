# Job: the tier's own probes (and the benchmark's empty boot). Manifest lines:
#   echo WORD    print "VMT: ECHO WORD"
#   hang         never return (the host must kill the VM at its time bound)
#   panic        crash the kernel (sysrq c): the VM must end and be reported as such
while read -r op a <&3; do
  case "$op" in
    echo) say "ECHO $a" ;;
    hang) say "HANGING"; while :; do sleep 1; done ;;
    panic) say "PANICKING"; echo c > /proc/sysrq-trigger ;;
  esac
done 3< /job/manifest
say "DISKS $(for d in /sys/block/vd*; do printf '%s=%s ' "${d##*/}" "$(cat "$d/serial")"; done)"
say "DM $([ -e /dev/mapper/control ] && echo yes || echo no)"
