// Talos' endpoint.Parse (internal/pkg/endpoint/endpoint.go, release-1.12) over the part of Go's
// net/url.Parse it relies on (scheme, authority, host and port checks), with Go's error texts.
#include "cryptnode/engine/error.h"
#include "cryptnode/sim/kms.h"
#include "tls_verify.h"

namespace cryptnode::sim {
namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// urlSchemeMatcher = regexp.MustCompile(`[a-zA-z]+://`), unanchored: "://" after at least one
// character of [a-zA-z] (A-z also spans [ \ ] ^ _ `).
bool has_scheme(const std::string& s) {
  for (size_t i = s.find("://"); i != std::string::npos; i = s.find("://", i + 1))
    if (i > 0 && (is_alpha(s[i - 1]) || (s[i - 1] >= 'A' && s[i - 1] <= 'z'))) return true;
  return false;
}

struct UrlError {
  std::string text;
};

// url.getScheme.
std::string get_scheme(const std::string& raw, std::string& rest) {
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (is_alpha(c)) continue;
    if (is_digit(c) || c == '+' || c == '-' || c == '.') {
      if (i == 0) break;
      continue;
    }
    if (c == ':') {
      if (i == 0) throw UrlError{"missing protocol scheme"};
      rest = raw.substr(i + 1);
      return raw.substr(0, i);
    }
    break;
  }
  rest = raw;
  return "";
}

// url.validOptionalPort.
bool valid_optional_port(const std::string& port) {
  if (port.empty()) return true;
  if (port[0] != ':') return false;
  for (size_t i = 1; i < port.size(); ++i)
    if (!is_digit(port[i])) return false;
  return true;
}

// url.parseHost: the port check, then the characters a host may hold (unescape(host, encodeHost)).
std::string parse_host(const std::string& host) {
  if (!host.empty() && host[0] == '[') {
    const size_t i = host.rfind(']');
    if (i == std::string::npos) throw UrlError{"missing ']' in host"};
    const std::string colon_port = host.substr(i + 1);
    if (!valid_optional_port(colon_port))
      throw UrlError{"invalid port " + kms_tls::go_quote(colon_port) + " after host"};
  } else if (const size_t i = host.rfind(':'); i != std::string::npos) {
    const std::string colon_port = host.substr(i);
    if (!valid_optional_port(colon_port))
      throw UrlError{"invalid port " + kms_tls::go_quote(colon_port) + " after host"};
  }
  static const std::string kAllowed = "-_.~!$&'()*+,;=:[]<>\"";
  for (size_t i = 0; i < host.size(); ++i) {
    const auto c = static_cast<unsigned char>(host[i]);
    if (c == '%') throw UrlError{"invalid URL escape " + kms_tls::go_quote(host.substr(i, 3))};
    if (c >= 0x80 || is_alpha(static_cast<char>(c)) || is_digit(static_cast<char>(c)) ||
        kAllowed.find(static_cast<char>(c)) != std::string::npos)
      continue;
    throw UrlError{"invalid character " + kms_tls::go_quote(host.substr(i, 1)) + " in host name"};
  }
  return host;
}

struct Url {
  std::string scheme, host;
};

// url.Parse, keeping what Endpoint uses.
Url parse_url(const std::string& raw_url) {
  const std::string u = raw_url.substr(0, raw_url.find('#'));
  try {
    for (unsigned char c : u)
      if (c < 0x20 || c == 0x7f) throw UrlError{"net/url: invalid control character in URL"};
    Url url;
    std::string rest;
    url.scheme = get_scheme(u, rest);
    for (char& c : url.scheme)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    rest = rest.substr(0, rest.find('?'));
    if (rest.empty() || rest[0] != '/') {
      if (!url.scheme.empty()) return url;  // opaque: no host
      if (rest.substr(0, rest.find('/')).find(':') != std::string::npos)
        throw UrlError{"first path segment in URL cannot contain colon"};
    }
    if (rest.rfind("//", 0) == 0) {
      std::string authority = rest.substr(2);
      authority = authority.substr(0, authority.find('/'));  // the path is dropped
      const size_t at = authority.rfind('@');
      url.host = parse_host(at == std::string::npos ? authority : authority.substr(at + 1));
    }
    return url;
  } catch (const UrlError& e) {
    throw Error(Code::kInvalidArgument, "parse " + kms_tls::go_quote(u) + ": " + e.text);
  }
}

// url.URL.Port().
std::string url_port(const std::string& host) {
  const size_t colon = host.rfind(':');
  if (colon != std::string::npos && valid_optional_port(host.substr(colon)))
    return host.substr(colon + 1);
  return "";
}

}  // namespace

KmsEndpoint parse_kms_endpoint(const std::string& endpoint) {
  const std::string s = has_scheme(endpoint) ? endpoint : "grpc://" + endpoint;
  const Url u = parse_url(s);
  KmsEndpoint out{u.host, u.scheme == "grpc"};
  if (url_port(u.host).empty() && u.scheme == "https") out.host += ":443";
  return out;
}

}  // namespace cryptnode::sim
