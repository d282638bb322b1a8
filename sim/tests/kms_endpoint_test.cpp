// Talos' KMS endpoint rules (internal/pkg/endpoint/endpoint.go): no scheme means grpc://, grpc is
// plaintext, every other scheme TLS, https without a port :443, the path dropped; net/url's
// errors for what Go's url.Parse refuses.
#include <gtest/gtest.h>

#include "cryptnode/engine/error.h"
#include "cryptnode/sim/kms.h"

using namespace cryptnode;
using cryptnode::sim::parse_kms_endpoint;

namespace {

struct Case {
  const char* endpoint;
  const char* host;
  bool insecure;
};

TEST(KmsEndpoint, ParsesAsTalos) {
  const Case cases[] = {
      {"127.0.0.1:4050", "127.0.0.1:4050", true},
      {"kms.example.com", "kms.example.com", true},
      {"grpc://10.5.0.1:4050", "10.5.0.1:4050", true},
      {"GRPC://10.5.0.1:4050", "10.5.0.1:4050", true},  // url.Parse lower-cases the scheme
      {"grpc://kms:4050/some/path?x=1#frag", "kms:4050", true},
      {"https://kms.example.com", "kms.example.com:443", false},
      {"HTTPS://kms.example.com", "kms.example.com:443", false},
      {"https://kms.example.com:8443/v1/kms", "kms.example.com:8443", false},
      {"https://user:secret@kms:8443", "kms:8443", false},
      {"https://[::1]", "[::1]:443", false},
      {"https://[::1]:4050", "[::1]:4050", false},
      {"http://kms.example.com", "kms.example.com", false},  // TLS, and no :443 (https only)
      {"http://127.0.0.1:4050", "127.0.0.1:4050", false},
      {"tcp://127.0.0.1:4050", "127.0.0.1:4050", false},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.endpoint);
    const auto e = parse_kms_endpoint(c.endpoint);
    EXPECT_EQ(e.host, c.host);
    EXPECT_EQ(e.insecure, c.insecure);
  }
}

TEST(KmsEndpoint, SchemeMatcherIsUnanchoredAsTalosRegexp) {
  // `[a-zA-z]+://` anywhere: the endpoint is not prefixed with grpc:// and url.Parse then finds
  // no scheme before the first colon.
  try {
    parse_kms_endpoint("127.0.0.1:4050/x://y");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "parse \"127.0.0.1:4050/x://y\": first path segment in URL cannot contain colon");
  }
}

TEST(KmsEndpoint, GoErrorTexts) {
  const std::pair<const char*, const char*> cases[] = {
      {"https://kms:port", "parse \"https://kms:port\": invalid port \":port\" after host"},
      {"kms:port", "parse \"grpc://kms:port\": invalid port \":port\" after host"},
      {"https://[::1", "parse \"https://[::1\": missing ']' in host"},
      {"https://kms host:443",
       "parse \"https://kms host:443\": invalid character \" \" in host name"},
      {"https://kms\t:443",
       "parse \"https://kms\\t:443\": net/url: invalid control character in URL"},
      {"1https://x", "parse \"1https://x\": first path segment in URL cannot contain colon"},
      // No "://": grpc:// is put in front, and "https" becomes the host.
      {"https:kms", "parse \"grpc://https:kms\": invalid port \":kms\" after host"},
  };
  for (const auto& [endpoint, text] : cases) {
    SCOPED_TRACE(endpoint);
    try {
      parse_kms_endpoint(endpoint);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Code::kInvalidArgument);
      EXPECT_EQ(std::string(e.what()), text);
    }
  }
}

}  // namespace
