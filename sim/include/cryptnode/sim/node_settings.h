// node.json: a node's identity, hardware and settings. Never holds a secret.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cryptnode::sim {

struct DiskSettings {
  std::string name;   // "system" for the system disk, then "disk1", ...
  uint64_t size = 0;  // bytes
  std::string image;  // file name inside <node>/disks/
};

struct NodeSettings {
  std::string uuid;                 // SMBIOS system UUID
  std::vector<DiskSettings> disks;  // disks[0] is the system disk
  bool tpm = true;
  bool secure_boot = true;
  bool setup_mode = false;
  std::string pbkdf = "fast";  // fast | production
  // A Talos release (versions::Version::parse: "1.12.7", or "1.12" for the newest 1.12).
  std::string talos_version = "1.12";
  std::string backend = "auto";    // auto | kernel | userspace
  std::string layout = "compact";  // compact (small test sizes) | talos (Talos' real sizes)
  // The node's OS CA bundle (Talos' /etc/ssl/certs/ca-certificates, httpdefaults.RootCAs()): PEM
  // texts the KMS client trusts for TLS endpoints before any machine config is loaded. The
  // simulated node has no public CAs. Certificates, not secrets.
  std::vector<std::string> trusted_ca_pem;
  // Whose PCR signing key signs the node's UKIs (the booted release's PCR 11 policy). Official
  // releases share one key; another vendor's UKI does not unseal keys enrolled under the first.
  std::string uki_vendor = "siderolabs";
  // A slow TPM: milliseconds of the node's virtual clock each seal or unseal takes (talos#13056).
  int64_t tpm_latency_ms = 0;

  // Throws Error(kInvalidArgument) naming the setting and what is wrong.
  void validate() const;
  std::string to_json() const;
  // Throws Error(kCorrupt, "<path>: ...") for a damaged node.json.
  static NodeSettings from_json(const std::string& text, const std::string& path);
};

}  // namespace cryptnode::sim
