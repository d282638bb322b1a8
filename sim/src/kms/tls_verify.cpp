#include "tls_verify.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

namespace cryptnode::sim::kms_tls {
namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using CtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

void free_certs(STACK_OF(X509) * s) {
  sk_X509_pop_free(s, X509_free);
}
using CertStackPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), free_certs>>;

CertPtr from_der(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return CertPtr(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
}

std::string to_der(X509* c) {
  unsigned char* out = nullptr;
  int n = i2d_X509(c, &out);
  if (n <= 0) return "";
  std::string s(reinterpret_cast<char*>(out), static_cast<size_t>(n));
  OPENSSL_free(out);
  return s;
}

std::time_t to_time(const ASN1_TIME* t) {
  std::tm tm{};
  ASN1_TIME_to_tm(t, &tm);
  return timegm(&tm);
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t i = s.find(sep, start);
    out.push_back(s.substr(start, i == std::string::npos ? std::string::npos : i - start));
    if (i == std::string::npos) return out;
    start = i + 1;
  }
}

// --- crypto/x509's host name rules (verify.go) -----------------------------------------------

bool valid_hostname(std::string host, bool pattern) {
  if (!pattern && !host.empty() && host.back() == '.') host.pop_back();
  if (host.empty()) return false;
  const auto parts = split(host, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& part = parts[i];
    if (part.empty()) return false;
    if (pattern && i == 0 && part == "*") continue;
    for (size_t j = 0; j < part.size(); ++j) {
      const char c = part[j];
      if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) continue;
      if ((c == '-' && j != 0) || c == '_') continue;
      return false;
    }
  }
  return true;
}

bool match_exactly(const std::string& a, const std::string& b) {
  if (a.empty() || a == "." || b.empty() || b == ".") return false;
  return lower(a) == lower(b);
}

bool match_hostnames(std::string pattern, std::string host) {
  pattern = lower(pattern);
  host = lower(host);
  if (!host.empty() && host.back() == '.') host.pop_back();
  if (pattern.empty() || host.empty()) return false;
  const auto p = split(pattern, '.'), h = split(host, '.');
  if (p.size() != h.size()) return false;
  for (size_t i = 0; i < p.size(); ++i) {
    if (i == 0 && p[i] == "*") continue;
    if (p[i] != h[i]) return false;
  }
  return true;
}

// net.ParseIP: 16 bytes (IPv4 as ::ffff:a.b.c.d), or false.
bool parse_ip(const std::string& s, unsigned char out[16]) {
  unsigned char v4[4];
  if (inet_pton(AF_INET, s.c_str(), v4) == 1) {
    std::memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    std::memcpy(out + 12, v4, 4);
    return true;
  }
  return inet_pton(AF_INET6, s.c_str(), out) == 1;
}

bool is_v4_mapped(const unsigned char ip[16]) {
  static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(ip, prefix, 12) == 0;
}

// net.IP.String().
std::string ip_string(const unsigned char ip[16]) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4_mapped(ip))
    inet_ntop(AF_INET, ip + 12, buf, sizeof(buf));
  else
    inet_ntop(AF_INET6, ip, buf, sizeof(buf));
  return buf;
}

struct Names {
  bool has_san = false;
  std::vector<std::string> dns;
  std::vector<std::array<unsigned char, 16>> ips;
  std::string common_name;  // the last CN, as pkix.Name.FillFromRDNSequence keeps it
  std::string organization;
};

Names names_of(X509* c) {
  Names n;
  n.has_san = X509_get_ext_by_NID(c, NID_subject_alt_name, -1) >= 0;
  NamesPtr sans(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(c, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans.get(), i);
    if (g->type == GEN_DNS) {
      const ASN1_STRING* s = g->d.dNSName;
      n.dns.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (g->type == GEN_IPADD) {
      const ASN1_STRING* s = g->d.iPAddress;
      std::array<unsigned char, 16> ip{};
      if (ASN1_STRING_length(s) == 4) {
        ip[10] = ip[11] = 0xff;
        std::memcpy(ip.data() + 12, ASN1_STRING_get0_data(s), 4);
      } else if (ASN1_STRING_length(s) == 16) {
        std::memcpy(ip.data(), ASN1_STRING_get0_data(s), 16);
      } else {
        continue;
      }
      n.ips.push_back(ip);
    }
  }
  X509_NAME* subject = X509_get_subject_name(c);
  for (int i = 0; i < X509_NAME_entry_count(subject); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(subject, i);
    const int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    const ASN1_STRING* v = X509_NAME_ENTRY_get_data(e);
    std::string text(reinterpret_cast<const char*>(ASN1_STRING_get0_data(v)),
                     static_cast<size_t>(ASN1_STRING_length(v)));
    if (nid == NID_commonName) n.common_name = text;
    if (nid == NID_organizationName && n.organization.empty()) n.organization = text;
  }
  return n;
}

// Certificate.VerifyHostname and HostnameError.Error().
std::string verify_hostname(X509* c, const std::string& h) {
  const Names n = names_of(c);
  std::string candidate_ip = h;
  if (h.size() >= 3 && h.front() == '[' && h.back() == ']')
    candidate_ip = h.substr(1, h.size() - 2);
  unsigned char ip[16];
  const bool is_ip = parse_ip(candidate_ip, ip);
  std::string host = h;
  if (is_ip) {
    for (const auto& san : n.ips)
      if (std::memcmp(san.data(), ip, 16) == 0) return "";
    host = candidate_ip;
  } else {
    const std::string name = lower(h);
    const bool valid_name = valid_hostname(name, false);
    for (const auto& match : n.dns) {
      if (valid_name && valid_hostname(match, true) ? match_hostnames(match, name)
                                                    : match_exactly(match, name))
        return "";
    }
  }
  if (!n.has_san && match_hostnames(n.common_name, host))
    return "x509: certificate relies on legacy Common Name field, use SANs instead";
  std::string valid;
  if (is_ip) {
    if (n.ips.empty())
      return "x509: cannot validate certificate for " + host +
             " because it doesn't contain any IP SANs";
    for (const auto& san : n.ips) valid += (valid.empty() ? "" : ", ") + ip_string(san.data());
  } else {
    for (const auto& d : n.dns) valid += (valid.empty() ? "" : ", ") + d;
  }
  if (valid.empty())
    return "x509: certificate is not valid for any names, but wanted to match " + host;
  return "x509: certificate is valid for " + valid + ", not " + host;
}

// CertificateInvalidError{Reason: Expired}.
std::string validity_error(X509* c, std::time_t now) {
  const std::time_t nb = to_time(X509_get0_notBefore(c)), na = to_time(X509_get0_notAfter(c));
  if (now < nb)
    return "x509: certificate has expired or is not yet valid: current time " + rfc3339(now) +
           " is before " + rfc3339(nb);
  if (now > na)
    return "x509: certificate has expired or is not yet valid: current time " + rfc3339(now) +
           " is after " + rfc3339(na);
  return "";
}

// Certificate.CheckSignatureFrom's error for a parent that did not sign `c`.
std::string signature_error(X509* c, X509* parent) {
  const uint32_t flags = X509_get_extension_flags(parent);
  const bool bc_valid = (flags & EXFLAG_BCONS) != 0, is_ca = (flags & EXFLAG_CA) != 0;
  if ((X509_get_version(parent) == X509_VERSION_3 && !bc_valid) || (bc_valid && !is_ca))
    return "x509: invalid signature: parent certificate cannot sign this kind of certificate";
  if ((flags & EXFLAG_KUSAGE) && !(X509_get_key_usage(parent) & KU_KEY_CERT_SIGN))
    return "x509: invalid signature: parent certificate cannot sign this kind of certificate";
  EVP_PKEY* key = X509_get0_pubkey(parent);
  if (key && X509_verify(c, key) == 1) return "";
  switch (key ? EVP_PKEY_get_base_id(key) : 0) {
    case EVP_PKEY_RSA:
      return "crypto/rsa: verification error";
    case EVP_PKEY_EC:
      return "x509: ECDSA verification failure";
    case EVP_PKEY_ED25519:
      return "x509: Ed25519 verification failure";
    default:
      return "x509: signature verification failure";
  }
}

// UnknownAuthorityError: with Go's hint when a certificate named as the issuer did not sign it
// (buildChains considers the roots, then the intermediates, whose subject is the issuer).
std::string unknown_authority(X509* leaf, const std::vector<CertPtr>& candidates) {
  std::string s = "x509: certificate signed by unknown authority";
  const std::string leaf_der = to_der(leaf);
  for (const auto& cand : candidates) {
    if (X509_NAME_cmp(X509_get_subject_name(cand.get()), X509_get_issuer_name(leaf)) != 0) continue;
    if (to_der(cand.get()) == leaf_der) continue;  // alreadyInChain
    std::string err = signature_error(leaf, cand.get());
    if (err.empty()) continue;
    const Names n = names_of(cand.get());
    std::string name = n.common_name;
    if (name.empty()) name = n.organization;
    if (name.empty()) {
      BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cand.get()), nullptr);
      char* dec = BN_bn2dec(bn);
      name = std::string("serial:") + dec;
      OPENSSL_free(dec);
      BN_free(bn);
    }
    return s + " (possibly because of " + go_quote(err) + " while trying to verify candidate " +
           "authority certificate " + go_quote(name) + ")";
  }
  return s;
}

}  // namespace

std::vector<std::string> parse_pem_certificates(const std::string& pem) {
  static const std::string kBegin = "-----BEGIN CERTIFICATE-----",
                           kEnd = "-----END CERTIFICATE-----";
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = pem.find(kBegin, pos)) != std::string::npos) {
    const size_t end = pem.find(kEnd, pos);
    if (end == std::string::npos) break;
    const std::string block = pem.substr(pos, end + kEnd.size() - pos) + "\n";
    pos = end + kEnd.size();
    std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>> b(
        BIO_new_mem_buf(block.data(), static_cast<int>(block.size())));
    CertPtr c(PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr));
    if (c) out.push_back(to_der(c.get()));
  }
  return out;
}

std::string server_name(std::string_view authority) {
  const std::string a(authority);
  const size_t colon = a.rfind(':');
  if (colon == std::string::npos) return a;
  std::string host = a.substr(0, colon);
  if (!host.empty() && host.front() == '[') {
    if (host.back() != ']') return a;
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return a;  // too many colons
  }
  return host;
}

std::string go_quote(std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\x";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string rfc3339(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string verify_server(const std::string& chain_pem, const std::string& host,
                          const std::vector<std::string>& roots_pem, std::time_t now) {
  std::vector<CertPtr> chain;
  for (const auto& der : parse_pem_certificates(chain_pem))
    if (CertPtr c = from_der(der)) chain.push_back(std::move(c));
  if (chain.empty()) return "tls: server sent no certificate";  // not seen with a gRPC server
  X509* leaf = chain.front().get();

  // Verify: the leaf's validity period, then the host name.
  if (std::string e = validity_error(leaf, now); !e.empty()) return e;
  if (std::string e = verify_hostname(leaf, host); !e.empty()) return e;

  std::vector<CertPtr> roots;
  StorePtr store(X509_STORE_new());
  const std::string leaf_der = to_der(leaf);
  for (const auto& pem : roots_pem)
    for (const auto& der : parse_pem_certificates(pem)) {
      if (der == leaf_der) return "";  // opts.Roots.contains(c)
      if (CertPtr c = from_der(der)) {
        X509_STORE_add_cert(store.get(), c.get());
        roots.push_back(std::move(c));
      }
    }

  CertStackPtr untrusted(sk_X509_new_null());
  for (size_t i = 1; i < chain.size(); ++i) {
    X509_up_ref(chain[i].get());
    sk_X509_push(untrusted.get(), chain[i].get());
  }
  CtxPtr ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, untrusted.get());
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  // Go's roots are trust anchors whether or not they are self-signed.
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  X509_VERIFY_PARAM_set_time(param, now);
  if (X509_verify_cert(ctx.get()) == 1) return "";

  const int err = X509_STORE_CTX_get_error(ctx.get());
  X509* current = X509_STORE_CTX_get_current_cert(ctx.get());
  switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
      if (current) return validity_error(current, now);
      break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
    case X509_V_ERR_CERT_UNTRUSTED: {
      if (chain.size() > 1) return "x509: certificate signed by unknown authority";
      return unknown_authority(leaf, roots);
    }
    case X509_V_ERR_INVALID_CA:
      return "x509: certificate is not authorized to sign other certificates";
    case X509_V_ERR_INVALID_PURPOSE:
      return "x509: certificate specifies an incompatible key usage";
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
      return "x509: too many intermediates for path length constraint";
    default:
      break;
  }
  return std::string("x509: ") + X509_verify_cert_error_string(err);
}

}  // namespace cryptnode::sim::kms_tls
