# Job: format, key and fill volumes in the guest the way Talos does (cryptsetup CLI luksFormat with
# go-blockdevice's arguments, kernel dm-crypt, mkfs.xfs), for the simulation to open afterwards.
# Manifest lines (/job/manifest):
#   backup VOLID SERIAL PART SLOT KIND ARG      copy the volume's files to /tmp/VOLID.tar
#   format VOLID SERIAL PART SLOT KIND ARG LOCK PBKDF SECTOR
#          luksFormat (PBKDF talos: cryptsetup's defaults as Talos leaves them; fast: argon2id
#          t=4 m=32 KiB p=1 like the simulation's tests; SECTOR 0: cryptsetup's choice), open,
#          mkfs.xfs, mount rw at /mnt/VOLID
#   restore VOLID                               unpack /tmp/VOLID.tar into /mnt/VOLID
#   saltfrom VOLID                              /mnt/VOLID/encryption-salt.yaml -> /run/salt
#   addkey VOLID SLOT KIND ARG LOCK PBKDF       luksAddKey with the key the volume was formatted with
#   token VOLID SLOT FILE                       cryptsetup token import --token-id SLOT (/job/FILE)
#   write VOLID PATH BYTES                      random bytes; prints "VMT: SUM VOLID PATH <sha256>"
#   close VOLID
fails=0
bad() { say "FAIL $*"; fails=$((fails + 1)); }

pbkdf_args() {
  [ "$1" = fast ] && echo "--pbkdf argon2id --pbkdf-force-iterations 4 --pbkdf-memory 32 --pbkdf-parallel 1"
}

open_ro() {  # VOLID SERIAL PART SLOT KIND ARG
  dev=$(part "$2" "$3") || { bad "$1 no partition $3 on disk $2"; return 1; }
  passphrase "$5" "$6" "$1" 0 "/run/key.$1" || return 1
  cryptsetup open --type luks2 --readonly --key-slot "$4" --key-file "/run/key.$1" "$dev" \
    "luks2-$1" </dev/null 2>/tmp/err || { bad "$1 open: $(cat /tmp/err)"; return 1; }
  mkdir -p "/mnt/$1"
  mount -t xfs -o ro,norecovery "/dev/mapper/luks2-$1" "/mnt/$1" 2>/tmp/err ||
    { bad "$1 mount: $(cat /tmp/err)"; cryptsetup close "luks2-$1"; return 1; }
}

close_vol() {
  sync
  umount "/mnt/$1" 2>/dev/null
  cryptsetup close "luks2-$1" 2>/dev/null
}

format_vol() {  # VOLID SERIAL PART SLOT KIND ARG LOCK PBKDF SECTOR
  dev=$(part "$2" "$3") || { bad "$1 no partition $3 on disk $2"; return 1; }
  passphrase "$5" "$6" "$1" "$7" "/run/key.$1" || { bad "$1 passphrase"; return 1; }
  sector=""
  [ "$9" != 0 ] && sector="--sector-size=$9"
  t0=$(cut -d' ' -f1 /proc/uptime)
  # go-blockdevice: luksFormat --type luks2 --key-file=- -c <cipher> <dev> --key-slot=<N>
  #                 --key-size=<K> [--sector-size=<blockSize>]; the key comes from a file here.
  # shellcheck disable=SC2046
  if ! cryptsetup luksFormat -q --type luks2 --key-file="/run/key.$1" -c aes-xts-plain64 "$dev" \
      --key-slot="$4" --key-size=512 $sector $(pbkdf_args "$8") </dev/null 2>/tmp/err; then
    bad "$1 luksFormat: $(cat /tmp/err)"; return 1
  fi
  t1=$(cut -d' ' -f1 /proc/uptime)
  say "FORMATTED $1 device=$dev slot=$4 kind=$5 lock=$7 pbkdf=$8 uuid=$(cryptsetup luksUUID "$dev") seconds=$(echo "$t1 $t0" | awk '{print $1-$2}')"
  say "KDF $1 $(cryptsetup luksDump "$dev" | sed -n 's/^[[:space:]]*PBKDF: *//p' | head -1) $(cryptsetup luksDump "$dev" | sed -n 's/^[[:space:]]*Memory: *\([0-9]*\).*/memory=\1/p' | head -1)"
  cryptsetup open --type luks2 --key-slot "$4" --key-file "/run/key.$1" "$dev" "luks2-$1" \
    </dev/null 2>/tmp/err || { bad "$1 open: $(cat /tmp/err)"; return 1; }
  report_mapping "$1"
  size=$(blockdev --getsize64 "/dev/mapper/luks2-$1")
  unsup=""
  [ "$size" -le 314572800 ] && unsup=--unsupported  # mkfs.xfs 6.1 refuses < 300 MB otherwise
  mkfs.xfs -q -f -n ftype=1 -L "$1" $unsup "/dev/mapper/luks2-$1" 2>/tmp/err ||
    { bad "$1 mkfs.xfs: $(cat /tmp/err)"; return 1; }
  mkdir -p "/mnt/$1"
  mount -t xfs "/dev/mapper/luks2-$1" "/mnt/$1" 2>/tmp/err || { bad "$1 mount: $(cat /tmp/err)"; return 1; }
  say "MKFS $1 xfs bytes=$size"
}

while read -r op a b c d e f g h i <&3; do
  case "$op" in
    backup)
      if open_ro "$a" "$b" "$c" "$d" "$e" "$f"; then
        tar -cf "/tmp/$a.tar" -C "/mnt/$a" . && say "BACKUP $a files=$(tar -tf "/tmp/$a.tar" | grep -vc '/$')"
        close_vol "$a"
      fi ;;
    format) format_vol "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" ;;
    restore) tar -xf "/tmp/$a.tar" -C "/mnt/$a" && say "RESTORED $a" || bad "$a restore" ;;
    saltfrom)
      salt_from_yaml "/mnt/$a/encryption-salt.yaml" /run/salt
      say "SALT bytes=$(wc -c < /run/salt) sha256=$(sha256sum /run/salt | cut -d' ' -f1)" ;;
    addkey)
      dev=$(cryptsetup status "luks2-$a" | sed -n 's/^ *device: *//p')
      passphrase "$c" "$d" "$a" "$e" "/run/newkey.$a" || { bad "$a passphrase"; continue; }
      # shellcheck disable=SC2046
      if cryptsetup luksAddKey -q "$dev" --key-file="/run/key.$a" --key-slot="$b" --key-size=512 \
          $(pbkdf_args "$f") "/run/newkey.$a" </dev/null 2>/tmp/err; then
        say "ADDKEY $a slot=$b kind=$c lock=$e"
      else
        bad "$a luksAddKey slot $b: $(cat /tmp/err)"
      fi
      rm -f "/run/newkey.$a" ;;
    token)
      dev=$(cryptsetup status "luks2-$a" | sed -n 's/^ *device: *//p')
      if cryptsetup token import -q "$dev" --token-id "$b" --json-file "/job/$c" </dev/null 2>/tmp/err; then
        say "TOKEN $a id=$b"
      else
        bad "$a token import: $(cat /tmp/err)"
      fi ;;
    write)
      mkdir -p "$(dirname "/mnt/$a/$b")"
      head -c "$c" /dev/urandom > "/mnt/$a/$b"
      say "SUM $a $b $(sha256sum "/mnt/$a/$b" | cut -d' ' -f1)" ;;
    close) close_vol "$a"; rm -f "/run/key.$a" ;;
    ''|'#'*) ;;
    *) bad "unknown manifest line: $op" ;;
  esac
done 3< /job/manifest
say "DONE fails=$fails"
[ "$fails" = 0 ]
