// The KMS server's TLS material, generated in memory with OpenSSL: a CA and a server certificate
// for localhost, 127.0.0.1 and ::1 signed by it, or one of the broken certificates a KMS can
// present (expired, issued for another name, self-signed without a CA).
#pragma once

#include <ctime>
#include <string>

#include "cryptnode/engine/secret.h"

namespace cryptnode::sim::kms_tls {

struct ServerTls {
  std::string ca_pem;    // what a client must trust (the self-signed certificate itself for
                         // "self-signed")
  std::string cert_pem;  // the server certificate
  Secret key_pem;        // its private key (PKCS#8 PEM)
};

// `variant`: "valid", "expired", "wrong-name" or "self-signed"; Error(kInvalidArgument) otherwise.
ServerTls make_server_tls(const std::string& variant, std::time_t now);

// The names "wrong-name" certificates are issued for.
inline constexpr const char* kWrongDnsName = "kms.invalid";
inline constexpr const char* kWrongIp = "192.0.2.10";

}  // namespace cryptnode::sim::kms_tls
