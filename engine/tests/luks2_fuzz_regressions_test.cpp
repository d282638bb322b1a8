// Inputs the fuzz target fuzz/fuzz_luks2_header.cpp found, or that its findings led to, against
// luks2::validate_header: every hostile header fails with a kHeaderValidation error (Talos'
// go-blockdevice encryption/luks/header.go texts), never another exception.
#include <gtest/gtest.h>

#include <cstring>

#include "cryptnode/engine/error.h"
#include "cryptnode/engine/header_validation.h"

using namespace cryptnode;

namespace {

class MemDevice final : public BlockDevice {
 public:
  explicit MemDevice(std::string bytes) : bytes_(std::move(bytes)) {}
  const std::string& path() const override { return path_; }
  uint64_t size() const override { return bytes_.size(); }
  void read_at(uint64_t off, void* buf, size_t len) override {
    if (off > bytes_.size() || len > bytes_.size() - off) throw Error(Code::kIO, "short read");
    std::memcpy(buf, bytes_.data() + off, len);
  }
  void write_at(uint64_t, const void*, size_t) override {}
  void sync() override {}

 private:
  std::string bytes_;
  std::string path_ = "/dev/mem0p1";
};

constexpr uint64_t kHdr = 16384;

void put_be(std::string& b, size_t off, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b[off + i] = static_cast<char>(v >> (8 * (n - 1 - i)));
}

// A header pair (16 KiB each) holding json1 / json2 with the given seqids.
std::string image(const std::string& json1, const std::string& json2, uint64_t seq1 = 1,
                  uint64_t seq2 = 1) {
  std::string dev(2 * kHdr + 16384, '\0');
  for (int i = 0; i < 2; ++i) {
    const size_t off = i * kHdr;
    std::memcpy(dev.data() + off, i ? "SKUL\xba\xbe" : "LUKS\xba\xbe", 6);
    put_be(dev, off + 6, 2, 2);
    put_be(dev, off + 8, kHdr, 8);
    put_be(dev, off + 16, i ? seq2 : seq1, 8);
    const std::string& json = i ? json2 : json1;
    std::memcpy(dev.data() + off + 4096, json.data(), json.size());
  }
  return dev;
}

std::string error_of(const std::string& json1, const std::string& json2, uint64_t seq1 = 1,
                     uint64_t seq2 = 1) {
  MemDevice dev(image(json1, json2, seq1, seq2));
  try {
    luks2::validate_header(dev);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Code::kHeaderValidation) << e.what();
    return e.what();
  }
  return "";
}

std::string error_of(const std::string& json) {
  return error_of(json, json);
}

const std::string kKeyslot =
    R"({"type":"luks2","area":{"encryption":"aes-xts-plain64"},"kdf":{"type":"argon2id"}})";
const std::string kSegment =
    R"({"type":"crypt","offset":"16777216","encryption":"aes-xts-plain64"})";

std::string meta(const std::string& keyslots, const std::string& segments) {
  return R"({"keyslots":)" + keyslots + R"(,"segments":)" + segments + "}";
}

const std::string kValid = meta(R"({"0":)" + kKeyslot + "}", R"({"0":)" + kSegment + "}");

TEST(Luks2FuzzRegressions, ValidBaseline) {
  EXPECT_EQ(error_of(kValid), "");
}

// crash-cdc4b9fd: std::stoull threw std::out_of_range for an offset of more than 20 digits.
TEST(Luks2FuzzRegressions, DataOffsetOutOfRange) {
  const std::string big = "99999999999999999999999";
  const std::string json =
      meta(R"({"0":)" + kKeyslot + "}", R"({"0":{"type":"crypt","offset":")" + big + R"("}})");
  EXPECT_EQ(error_of(json),
            "invalid data offset: strconv.Atoi: parsing \"" + big + "\": value out of range");
  // One more than int64 (Go's int) is out of range too; a sign or a letter is bad syntax.
  EXPECT_NE(error_of(meta("{}", R"({"0":{"offset":"9223372036854775808"}})")).find("out of range"),
            std::string::npos);
  EXPECT_EQ(error_of(meta("{}", R"({"0":{"offset":"-1"}})")),
            "invalid data offset: strconv.Atoi: parsing \"-1\": invalid syntax");
  EXPECT_EQ(error_of(meta("{}", R"({"0":{"offset":"12x"}})")),
            "invalid data offset: strconv.Atoi: parsing \"12x\": invalid syntax");
  EXPECT_EQ(error_of(meta("{}", R"({"0":{"offset":"0"}})")), "unexpected zero data offset");
}

// nlohmann::json::type_error escaped validate_header for values of the wrong JSON type; Go's
// json.Unmarshal fails instead (readHeader's offset struct, then the JSONMetadata struct).
TEST(Luks2FuzzRegressions, WrongJsonTypesInTheOffsetStruct) {
  for (const std::string& json :
       {std::string("[]"), std::string("5"), std::string(R"({"segments":[]})"),
        std::string(R"({"segments":{"0":"x"}})"), std::string(R"({"segments":{"0":{"offset":1}}})"),
        std::string(R"({"segments":{"1":{"offset":true}}})")})
    EXPECT_EQ(error_of(json), "failed to unmarshal JSON area of both headers") << json;
  // The secondary area is read when the primary's does not unmarshal (here it is newer, too).
  EXPECT_EQ(error_of(R"({"segments":{"0":{"offset":1}}})", kValid, 1, 2), "");
}

TEST(Luks2FuzzRegressions, WrongJsonTypesInTheMetadata) {
  EXPECT_EQ(error_of(meta(R"({"0":{"type":7}})", R"({"0":)" + kSegment + "}")),
            "failed to unmarshal JSON area: json: cannot unmarshal number into keyslots.0.type of "
            "kind string");
  EXPECT_EQ(error_of(meta(R"({"0":{"type":"luks2","kdf":[]}})", R"({"0":)" + kSegment + "}")),
            "failed to unmarshal JSON area: json: cannot unmarshal array into keyslots.0.kdf of "
            "kind object");
  EXPECT_EQ(error_of(meta(R"({"0":)" + kKeyslot + "}",
                          R"({"0":{"type":"crypt","offset":"1","flags":[1]}})")),
            "failed to unmarshal JSON area: json: cannot unmarshal number into segments.0.flags "
            "of kind string");
  EXPECT_EQ(error_of(meta("7", R"({"0":)" + kSegment + "}")),
            "failed to unmarshal JSON area: json: cannot unmarshal number into keyslots of kind "
            "object");
}

// JSON null is Go's zero value: validation texts, not a crash.
TEST(Luks2FuzzRegressions, NullsAreZeroValues) {
  EXPECT_EQ(error_of(meta(R"({"0":null})", R"({"0":)" + kSegment + "}")),
            "LUKS2 header validation error: keyslot 0 has unexpected type \"\"");
  EXPECT_EQ(error_of(meta(R"({"0":{"type":"luks2","area":null,"kdf":{"type":"argon2id"}}})",
                          R"({"0":)" + kSegment + "}")),
            "LUKS2 header validation error: keyslot 0 has unexpected area encryption \"\"");
  EXPECT_EQ(error_of(meta(R"({"0":)" + kKeyslot + "}",
                          R"({"0":{"type":"crypt","offset":"1","encryption":"aes-xts-plain64",)"
                          R"("flags":[null,"allow-discards"]}})")),
            "LUKS2 header validation error: segment 0 has unexpected flags: [ allow-discards]");
  EXPECT_EQ(error_of(meta(R"({"0":)" + kKeyslot + "}", R"({"0":{"offset":"1","type":null}})")),
            "LUKS2 header validation error: segment 0 has unexpected type \"\"");
}

// Keyslot ids that are the same number ("0" and "00") each get validated: before, only one of
// them was (a map keyed by atoi), so a pbkdf2 keyslot could hide behind a valid one.
TEST(Luks2FuzzRegressions, EveryKeyslotIdIsValidated) {
  const std::string pbkdf2 =
      R"({"type":"luks2","area":{"encryption":"aes-xts-plain64"},"kdf":{"type":"pbkdf2"}})";
  EXPECT_EQ(error_of(meta(R"({"0":)" + kKeyslot + R"(,"00":)" + pbkdf2 + "}",
                          R"({"0":)" + kSegment + "}")),
            "LUKS2 header validation error: keyslot 00 has unexpected KDF type \"pbkdf2\"");
  EXPECT_EQ(error_of(meta(R"({"0":)" + kKeyslot + R"(,"x":)" + pbkdf2 + "}",
                          R"({"0":)" + kSegment + "}")),
            "LUKS2 header validation error: keyslot x has unexpected KDF type \"pbkdf2\"");
}

}  // namespace
