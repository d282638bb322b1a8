// The Go types Talos decodes config documents into (pkg/machinery/config/types/block/*.go,
// v1alpha1's EncryptionConfig), as far as decoding and xyaml.CheckUnknownKeys see them: field
// names, Go type names for go-yaml's "cannot unmarshal" texts, and text-unmarshalled enums.
#pragma once

#include <string>
#include <vector>

#include "cryptnode/engine/versions.h"

namespace cryptnode::config::schema {

enum class Kind {
  kString,
  kInt,     // Go int (64-bit)
  kUint,    // Go uint (64-bit)
  kBool,    // bool / *bool
  kEnum,    // a TextUnmarshaler enum (EncryptionProviderType, VolumeType, FilesystemType)
  kText,    // a TextUnmarshaler struct (ByteSize, Size, cel.Expression)
  kStruct,  // a struct (pointer or not)
  kSlice,   // []T
  kAny,     // kept opaque (v1alpha1 parts cryptnode does not model)
};

struct Type;
struct Field {
  std::string key;
  const Type* type;
};
struct Type {
  Kind kind;
  std::string go_name;                   // "int", "block.EncryptionSpec", "[]block.EncryptionKey"
  std::vector<Field> fields;             // kStruct
  const Type* elem = nullptr;            // kSlice
  std::vector<std::string> enum_values;  // kEnum, lower case
};

// The document type of `kind` ("VolumeConfig", ..., "v1alpha1") for a Talos version; nullptr
// for a kind cryptnode does not model (decoded opaquely).
const Type* document_type(const std::string& kind, const versions::Version& v);
// The registry's Go type name: "*block.VolumeConfigV1Alpha1", "*v1alpha1.Config".
std::string registry_type(const std::string& kind);

}  // namespace cryptnode::config::schema
