// Talos' LUKS2 header validation before unlock (luks2::validate_header, from 1.12.7): both binary
// headers and JSON areas of a device anyone with the disk can rewrite.
//
// Input: byte 0 = mode.
//   mode & 3 == 0: the rest of the input is the device, as is (mode bit 2: zero-padded to
//                  64 KiB so that large header sizes can be read).
//   otherwise:     bytes 1..3 = primary version (low byte), primary seqid, secondary seqid; the
//                  rest is JSON text, written into a well-formed header pair (magic, hdr_size
//                  16 KiB, or 32 KiB with mode bit 3): mode 1 puts it in both JSON areas, mode 2
//                  splits it at the first NUL byte (primary, secondary), mode 3 leaves the
//                  secondary area empty.
// Both reject_argon2i settings run.
#include "cryptnode/engine/header_validation.h"
#include "fuzz_support.h"

using namespace cryptnode;

namespace {

void put_be(std::string& b, size_t off, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b[off + i] = static_cast<char>(v >> (8 * (bytes - 1 - i)));
}

void binary_header(std::string& dev, size_t off, uint64_t hdr_size, uint64_t seqid,
                   unsigned version, bool secondary) {
  std::memcpy(dev.data() + off, secondary ? "SKUL\xba\xbe" : "LUKS\xba\xbe", 6);
  put_be(dev, off + 6, version, 2);
  put_be(dev, off + 8, hdr_size, 8);
  put_be(dev, off + 16, seqid, 8);
  std::memcpy(dev.data() + off + 72, "sha256", 6);
  put_be(dev, off + 256, off, 8);  // hdr_offset
}

std::string structured(uint8_t mode, const uint8_t* data, size_t size) {
  if (size < 3) return {};
  const unsigned version = data[0];
  const uint64_t seq1 = data[1], seq2 = data[2];
  std::string_view text = fuzz::text(data + 3, size - 3);
  const uint64_t hdr = (mode & 8) ? 32768 : 16384;
  const size_t area = hdr - 4096;
  std::string json1(text), json2(text);
  if ((mode & 3) == 2) {
    const size_t nul = text.find('\0');
    if (nul != std::string_view::npos) {
      json1 = text.substr(0, nul);
      json2 = text.substr(nul + 1);
    }
  } else if ((mode & 3) == 3) {
    json2.clear();
  }
  json1.resize(std::min(json1.size(), area));
  json2.resize(std::min(json2.size(), area));
  std::string dev(2 * hdr + 16384, '\0');
  binary_header(dev, 0, hdr, seq1, version, false);
  binary_header(dev, hdr, hdr, seq2, 2, true);
  std::memcpy(dev.data() + 4096, json1.data(), json1.size());
  std::memcpy(dev.data() + hdr + 4096, json2.data(), json2.size());
  return dev;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::string image;
  if ((mode & 3) == 0) {
    image.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    if ((mode & 4) && image.size() < 65536) image.resize(65536, '\0');
  } else {
    image = structured(mode, data + 1, size - 1);
  }
  for (bool reject_argon2i : {false, true}) {
    fuzz::MemoryDevice dev(image, "/dev/mem0p1");
    try {
      luks2::ValidatedHeader h = luks2::validate_header(dev, reject_argon2i);
      fuzz::expect(h.selected == 1 || h.selected == 2, "a header was selected");
    } catch (const Error& e) {
      fuzz::expect(e.code() == Code::kHeaderValidation || e.code() == Code::kIO,
                   "header validation fails with kHeaderValidation");
    }
  }
  return 0;
}
