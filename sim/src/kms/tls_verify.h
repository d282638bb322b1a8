// The server check of Talos' KMS client over TLS: Go's crypto/tls client verification
// (x509.Certificate.Verify with DNSName = the dialled host and RootCAs = the node's bundle,
// `getConn` in internal/pkg/encryption/keys/kms.go), done with OpenSSL and answering Go's texts.
#pragma once

#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace cryptnode::sim::kms_tls {

// Go's x509 verification of the server's chain (`chain_pem`: PEM, leaf first) for `host` (an IP,
// possibly in brackets, or a DNS name) against the certificates in `roots_pem` at `now`, in Go's
// order: the leaf's validity period, the host name, then a chain to a root. "" when trusted, else
// Go's error text ("x509: certificate signed by unknown authority", ...).
std::string verify_server(const std::string& chain_pem, const std::string& host,
                          const std::vector<std::string>& roots_pem, std::time_t now);

// The certificates of a PEM text as Go's CertPool.AppendCertsFromPEM takes them: other blocks and
// unparsable certificates are skipped. Returns the DER of each.
std::vector<std::string> parse_pem_certificates(const std::string& pem);

// The host gRPC-Go verifies for an authority ("127.0.0.1:443" -> "127.0.0.1", "[::1]:443" ->
// "::1"): net.SplitHostPort's host, or the authority itself when it has no port.
std::string server_name(std::string_view authority);

// Go's %q of a string (strconv.Quote for printable ASCII, with \" and \\ escaped).
std::string go_quote(std::string_view s);

// Go's time.Time.Format(time.RFC3339) of a UTC time: "2025-06-01T12:00:00Z".
std::string rfc3339(std::time_t t);

}  // namespace cryptnode::sim::kms_tls
