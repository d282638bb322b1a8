// The KMS client's decoding of a sidero.kms.Response from a KMS server (sim/src/kms/
// kms_client.cpp: GrpcKmsTransport::call): the protobuf wire bytes are parsed with the classes
// generated for cn_kms, then the data field becomes the unsealed Secret and the message copy is
// wiped, as the client does. The client's own steps are not reachable without a gRPC server (no
// seam yet: fuzz/README.md), so this target repeats them on the generated class.
#include "cryptnode/engine/secret.h"
#include "fuzz_support.h"
#include "kms.pb.h"

using namespace cryptnode;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sidero::kms::Response resp;
  if (!resp.ParseFromArray(data, static_cast<int>(size))) return 0;
  Secret out(resp.data());
  wipe(resp.mutable_data()->data(), resp.data().size());
  // What a server sent must be what the client hands on (re-encoding the message and decoding it
  // again gives the same data).
  sidero::kms::Response again;
  sidero::kms::Response copy;
  copy.set_data(std::string(out.view()));
  fuzz::expect(again.ParseFromString(copy.SerializeAsString()), "Response re-parses");
  fuzz::expect(Secret(again.data()) == out, "Response data round trip");
  return 0;
}
