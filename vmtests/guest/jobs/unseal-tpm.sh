# Job: unseal a talos-tpm2 token with tpm2-tools against the guest's TPM (the node's own swtpm
# state), the way Talos' internal/pkg/secureboot/tpm2/unseal.go does, then open the volume with
# the cryptsetup CLI and kernel dm-crypt and print the SHA-256 of the files the test names.
# Job files: tpm2-pcr-public-key.pem and tpm2-pcr-signature.json (what systemd-stub puts in
# /.extra). Manifest lines (/job/manifest):
#   tcti TCTI                       tpm2-tools' TCTI (device:/dev/tpm0: no resource manager, so
#                                   every transient object is flushed after use)
#   pcrs                            print "VMT: PCR n <sha256>" for PCRs 0-23 (the guest firmware's)
#   replay PCR SHA256 DESCRIPTION   extend a measurement of the node's boot (DESCRIPTION: no spaces)
#   unseal VOLID SERIAL PART        find the talos-tpm2 token, unseal, open luks2-VOLID read-only,
#                                   mount it at /mnt/VOLID
#   refused VOLID SERIAL PART       the unseal must fail now: print "VMT: REFUSED VOLID <error>"
#   sum VOLID PATH                  print "VMT: SUM VOLID PATH <sha256>"
#   close VOLID
# Failures print "VMT: FAIL ..."; the exit status counts them. The unsealed key and the passphrase
# stay in /run (tmpfs) and never reach the console.
fails=0
bad() { say "FAIL $*"; fails=$((fails + 1)); }
umask 077
T=/run/tpm
mkdir -p "$T"
EXTRA=/job

hex() { od -An -v -tx1 ${1:+"$1"} | tr -d ' \n'; }  # FILE, or stdin (no /dev/stdin here)
tpm() { tpm2 "$@" 2>>"$T/err"; }
flush() { tpm2 flushcontext -t 2>/dev/null; }  # no resource manager: transient objects
pcr() { tpm2 pcrread "sha256:$1" 2>>"$T/err" | sed -n "s/^ *$1 *: *0x//p" | tr 'A-F' 'a-f'; }

# json_str FILE KEY: the string value of "KEY" (the first one) in compact or indented JSON.
json_str() { tr ',{}' '\n\n\n' < "$1" | sed -n "s/^ *\"$2\" *: *\"\([^\"]*\)\".*/\1/p" | head -n 1; }
# json_ints FILE KEY: the integer list of "KEY", comma-separated ("" when absent or empty).
json_ints() { tr -d ' \n' < "$1" | sed -n "s/.*\"$2\":\[\([0-9,]*\)\].*/\1/p"; }

# sig_entries FILE: "pol pkfp sig" per entry of the sha256 bank of systemd-stub's signature JSON
# ({"sha256":[{"pcrs":[11],"pkfp":..,"pol":..,"sig":..}],"sha384":[..]}); Talos reads only sha256.
sig_entries() {
  tr -d ' \n' < "$1" | sed 's/"\(sha[0-9]*\)":\[/\n\1 /g; s/}/}\n/g' | awk '
    /^sha[0-9]+ / { bank = $1 }
    bank == "sha256" && /"pol":/ {
      pol = $0; sub(/.*"pol":"/, "", pol); sub(/".*/, "", pol)
      fp = $0; sub(/.*"pkfp":"/, "", fp); sub(/".*/, "", fp)
      sig = $0; sub(/.*"sig":"/, "", sig); sub(/".*/, "", sig)
      print pol, fp, sig
    }'
}

# find_token DEV: the id of the first talos-tpm2 token, its JSON in $T/token.json.
find_token() {
  i=0
  while [ $i -lt 32 ]; do
    if cryptsetup token export --token-id $i "$1" > "$T/token.json" 2>/dev/null &&
        [ "$(json_str "$T/token.json" type)" = talos-tpm2 ]; then
      echo $i; return 0
    fi
    i=$((i + 1))
  done
  return 1
}

# unseal VOLID DEV: Talos' Unseal; the 32 key bytes in $T/key.VOLID. On failure: status 1 and
# Talos' error text in $why. Every object and session is flushed either way.
unseal() {
  why=""
  unseal_steps "$@"
  rc=$?
  for w in -t -l -s; do tpm2 flushcontext $w 2>/dev/null; done
  return $rc
}

unseal_steps() {
  v=$1
  : > "$T/err"
  tok=$(find_token "$2") || { why="no talos-tpm2 token on $2"; return 1; }
  # The token's UserData object (Talos' TPMToken), flat: every field is a string or an int list.
  ud="$T/userdata.json"
  tr -d ' \n' < "$T/token.json" | sed -n 's/.*"UserData":{\([^}]*\)}.*/{\1}/p' > "$ud"
  say "TOKEN $v id=$tok keyslots=$(json_ints "$ud" keyslots) pcrs=$(json_ints "$ud" pcrs)" \
    "pubkey_pcrs=$(json_ints "$ud" pubkey_pcrs) alg=$(json_str "$ud" alg)" \
    "encryption_version=$(json_str "$ud" encryption_version)"
  json_str "$ud" sealed_blob_private | base64 -d > "$T/blob.priv"
  json_str "$ud" sealed_blob_public | base64 -d > "$T/blob.pub"
  json_str "$ud" key_name | base64 -d > "$T/key_name"

  # validatePCRBanks: PCR 11 (and each sealed PCR) neither all zeroes nor all ones.
  for p in 11 $(json_ints "$ud" pcrs | tr ',' ' '); do
    val=$(pcr "$p")
    case "$val" in
      ''|*[!0]*) ;;
      *) why="PCR bank $p is populated with all zeroes"; return 1 ;;
    esac
    [ "$val" = "$(printf 'f%.0s' $(seq 64))" ] && { why="PCR bank $p is populated with all 0xFF"; return 1; }
  done

  # The SRK: go-tpm's ECCSRKTemplate (unique x and y of 32 zero bytes); its name must match.
  head -c 64 /dev/zero | tpm createprimary -C o -G ecc256:null:aes128cfb -u - -c "$T/srk.ctx" \
    -a 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt' \
    > /dev/null || { why="createprimary: $(tail -n 3 "$T/err")"; return 1; }
  flush
  tpm readpublic -c "$T/srk.ctx" -n "$T/srk.name" > /dev/null
  flush
  # key_name is a marshalled TPM2B_NAME: 2-byte size, then the name.
  if [ "$(tail -c +3 "$T/key_name" | hex)" != "$(hex "$T/srk.name")" ]; then
    why="srk name does not match, expected $(tail -c +3 "$T/key_name" | hex), got $(hex "$T/srk.name")"
    return 1
  fi
  say "SRK $v name=$(hex "$T/srk.name") matches key_name"

  tpm load -C "$T/srk.ctx" -u "$T/blob.pub" -r "$T/blob.priv" -c "$T/blob.ctx" > /dev/null ||
    { why="load: $(tail -n 3 "$T/err")"; return 1; }
  flush
  # Policy session salted with the SRK (tpm2.Salted); the HMAC session Talos adds for response
  # encryption (tpm2.AESEncryption(128, EncryptOut)) is the second one below.
  tpm startauthsession --policy-session -c "$T/srk.ctx" -S "$T/policy.ctx" ||
    { why="policy session: $(tail -n 3 "$T/err")"; return 1; }
  flush
  tpm loadexternal -C o -G rsa -u "$EXTRA/tpm2-pcr-public-key.pem" -c "$T/pcrkey.ctx" \
    -n "$T/pcrkey.name" > /dev/null ||
    { why="loadexternal: $(tail -n 3 "$T/err")"; return 1; }
  flush
  # PolicyPCR(11, current values): the digest must be a signed "pol" of the sha256 bank.
  tpm policypcr -S "$T/policy.ctx" -l sha256:11 -L "$T/pol.bin" > /dev/null ||
    { why="policypcr 11: $(tail -n 3 "$T/err")"; return 1; }
  pol=$(hex "$T/pol.bin")
  fp=$(openssl rsa -pubin -in "$EXTRA/tpm2-pcr-public-key.pem" -RSAPublicKey_out -outform DER \
    2>/dev/null | sha256sum | cut -d' ' -f1)
  sig=""
  sig_entries "$EXTRA/tpm2-pcr-signature.json" > "$T/entries"
  while read -r epol efp esig; do
    if [ "$epol" = "$pol" ]; then
      [ "$efp" = "$fp" ] || { why="certificate fingerprint does not match"; return 1; }
      sig=$esig; break
    fi
  done < "$T/entries"
  [ -n "$sig" ] || {
    why="no signatures matching PCR SHA256 digest found in signature JSON (pol=$pol)"
    return 1
  }
  say "POLICY $v pcr11=$(pcr 11) pol=$pol pkfp=$fp"
  echo "$sig" | base64 -d > "$T/sig.bin"
  # VerifySignature over SHA256(pol) -> ticket; PolicyAuthorize(pol, keySign name, ticket).
  tpm verifysignature -c "$T/pcrkey.ctx" -g sha256 -m "$T/pol.bin" -f rsassa -s "$T/sig.bin" \
    -t "$T/ticket.bin" > /dev/null ||
    { why="failed to verify signature: $(tail -n 3 "$T/err")"; return 1; }
  flush
  tpm policyauthorize -S "$T/policy.ctx" -i "$T/pol.bin" -n "$T/pcrkey.name" -t "$T/ticket.bin" \
    -L "$T/authorized.bin" > /dev/null ||
    { why="failed to execute policy authorize: $(tail -n 3 "$T/err")"; return 1; }
  # Talos 1.12+: PolicyPCR on the token's pcrs (none for pcrs: []), matching policy_hash.
  pcrs=$(json_ints "$ud" pcrs)
  if [ -n "$pcrs" ] && [ -n "$(json_str "$ud" encryption_version)" ]; then
    tpm policypcr -S "$T/policy.ctx" -l "sha256:$pcrs" -L "$T/pcrpol.bin" > /dev/null ||
      { why="policypcr $pcrs: $(tail -n 3 "$T/err")"; return 1; }
    want=$(json_str "$ud" policy_hash | base64 -d | hex)
    [ "$(hex "$T/pcrpol.bin")" = "$want" ] || {
      why="sealing policy digest does not match, expected $want, got $(hex "$T/pcrpol.bin")"
      return 1
    }
  fi
  tpm startauthsession --hmac-session -c "$T/srk.ctx" -S "$T/enc.ctx" ||
    { why="hmac session: $(tail -n 3 "$T/err")"; return 1; }
  flush
  # go-tpm's policy session has no encryption attributes; the HMAC session encrypts the response.
  tpm sessionconfig --disable-encrypt --disable-decrypt "$T/policy.ctx" > /dev/null
  tpm sessionconfig --enable-encrypt --disable-decrypt "$T/enc.ctx" > /dev/null
  tpm unseal -c "$T/blob.ctx" -p "session:$T/policy.ctx" -S "$T/enc.ctx" -o "$T/key.$v" ||
    { why="failed to unseal op: $(tail -n 3 "$T/err")"; return 1; }
  flush
  say "UNSEALED $v bytes=$(wc -c < "$T/key.$v")"
}

open_ro() {  # VOLID SERIAL PART
  dev=$(part "$2" "$3") || { bad "$1 no partition $3 on disk $2"; return 1; }
  unseal "$1" "$dev" || { bad "$1 $why"; return 1; }
  # Talos' passphrase for a TPM key: base64 of the unsealed bytes.
  base64 -w 0 "$T/key.$1" | tr -d '\n' > "/run/pass.$1"
  rm -f "$T/key.$1"
  if ! cryptsetup open --type luks2 --readonly --key-file "/run/pass.$1" "$dev" "luks2-$1" \
      2>/tmp/err; then
    bad "$1 cryptsetup open: $(cat /tmp/err)"; return 1
  fi
  say "OPENED $1 device=$dev kind=tpm"
  mount_ro "$1"
}

while read -r op a b c <&3; do
  case "$op" in
    tcti) export TPM2TOOLS_TCTI="$a" TSS2_LOG=all+NONE ;;
    pcrs)
      tpm pcrread "sha256:$(seq -s, 0 23)" | tr 'A-F' 'a-f' |
        sed -n 's/^ *\([0-9][0-9]*\) *: *0x\([0-9a-f]*\).*/\1 \2/p' |
        while read -r n val; do say "PCR $n $val"; done ;;
    replay)
      tpm pcrextend "$a:sha256=$b" || bad "extend PCR $a ($c): $(tail -n 3 "$T/err")" ;;
    unseal) open_ro "$a" "$b" "$c" ;;
    refused)
      if ! dev=$(part "$b" "$c"); then
        bad "$a no partition $c on disk $b"
      elif unseal "$a" "$dev"; then
        rm -f "$T/key.$a"; bad "$a unsealed although it must not"
      else
        say "REFUSED $a $why"
      fi ;;
    sum) sum_file "$a" "$b" ;;
    close)
      umount "/mnt/$a" 2>/dev/null
      cryptsetup close "luks2-$a" 2>/dev/null
      rm -f "/run/pass.$a" ;;
    ''|'#'*) ;;
    *) bad "unknown manifest line: $op" ;;
  esac
done 3< /job/manifest
say "DONE fails=$fails"
[ "$fails" = 0 ]
