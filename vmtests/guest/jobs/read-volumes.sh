# Job: open volumes the simulation wrote, with the cryptsetup CLI and kernel dm-crypt, read-only,
# and print the SHA-256 of the files the test names. Manifest lines (/job/manifest):
#   salt SERIAL PART SLOT KIND ARG    open STATE with that key, read encryption-salt.yaml -> /run/salt
#   open VOLID SERIAL PART SLOT KIND ARG LOCK   open luks2-VOLID read-only and mount it at /mnt/VOLID
#   sum VOLID PATH                     print "VMT: SUM VOLID PATH <sha256>"
#   close VOLID
# Failures print "VMT: FAIL ..." and the job goes on with the next volume; the exit status counts
# them.
fails=0
bad() { say "FAIL $*"; fails=$((fails + 1)); }

open_ro() {  # VOLID SERIAL PART SLOT KIND ARG LOCK
  dev=$(part "$2" "$3") || { bad "$1 no partition $3 on disk $2"; return 1; }
  passphrase "$5" "$6" "$1" "$7" "/run/key.$1" || { bad "$1 passphrase"; return 1; }
  if ! cryptsetup open --type luks2 --readonly --key-slot "$4" --key-file "/run/key.$1" \
      "$dev" "luks2-$1" 2>/tmp/err; then
    bad "$1 cryptsetup open slot $4: $(cat /tmp/err)"; return 1
  fi
  say "OPENED $1 slot=$4 device=$dev kind=$5 lock=$7"
  mount_ro "$1"
}

close_vol() {
  umount "/mnt/$1" 2>/dev/null
  cryptsetup close "luks2-$1" 2>/dev/null
  rm -f "/run/key.$1"
}

while read -r op a b c d e f g <&3; do
  case "$op" in
    salt)
      if open_ro STATE "$a" "$b" "$c" "$d" "$e" 0; then
        if [ -f /mnt/STATE/encryption-salt.yaml ]; then
          salt_from_yaml /mnt/STATE/encryption-salt.yaml /run/salt
          say "SALT bytes=$(wc -c < /run/salt) sha256=$(sha256sum /run/salt | cut -d' ' -f1)"
        else
          bad "STATE has no encryption-salt.yaml"
        fi
        close_vol STATE
      fi ;;
    open) open_ro "$a" "$b" "$c" "$d" "$e" "$f" "$g" ;;
    sum) sum_file "$a" "$b" ;;
    close) close_vol "$a" ;;
    ''|'#'*) ;;
    *) bad "unknown manifest line: $op" ;;
  esac
done 3< /job/manifest
say "DONE fails=$fails"
[ "$fails" = 0 ]
