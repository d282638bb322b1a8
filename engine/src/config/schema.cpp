#include "schema.h"

// Aggregate initialisation of the type table leaves trailing members defaulted on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <memory>

namespace cryptnode::config::schema {
namespace {

struct Types {
  Type str{Kind::kString, "string"};
  Type integer{Kind::kInt, "int"};
  Type uinteger{Kind::kUint, "uint"};
  Type uint64{Kind::kUint, "uint64"};
  Type boolean{Kind::kBool, "bool"};
  Type any{Kind::kAny, "interface {}"};
  Type strings{Kind::kSlice, "[]string", {}, &str};
  Type ints{Kind::kSlice, "[]int", {}, &integer};
  Type provider{Kind::kEnum, "block.EncryptionProviderType", {}, nullptr, {"none", "luks2"}};
  Type volume_type{Kind::kEnum,
                   "block.VolumeType",
                   {},
                   nullptr,
                   {"partition", "disk", "tmpfs", "directory", "symlink", "overlay"}};
  Type fs_type{Kind::kEnum,
               "block.FilesystemType",
               {},
               nullptr,
               {"none", "xfs", "vfat", "ext4", "iso9660", "swap"}};
  Type byte_size{Kind::kText, "block.ByteSize"};
  Type size{Kind::kText, "block.Size"};
  Type cel{Kind::kText, "cel.Expression"};

  Type tpm_options{Kind::kStruct, "block.EncryptionKeyTPMOptions", {{"pcrs", &ints}}};
  Type tpm{Kind::kStruct,
           "block.EncryptionKeyTPM",
           {{"options", &tpm_options}, {"checkSecurebootStatusOnEnroll", &boolean}}};
  Type key_static{Kind::kStruct, "block.EncryptionKeyStatic", {{"passphrase", &str}}};
  Type key_node_id{Kind::kStruct, "block.EncryptionKeyNodeID", {}};
  Type key_kms{Kind::kStruct, "block.EncryptionKeyKMS", {{"endpoint", &str}}};
  Type key{Kind::kStruct,
           "block.EncryptionKey",
           {{"slot", &integer},
            {"static", &key_static},
            {"nodeID", &key_node_id},
            {"kms", &key_kms},
            {"tpm", &tpm},
            {"lockToState", &boolean}}};
  Type keys{Kind::kSlice, "[]block.EncryptionKey", {}, &key};
  Type encryption{Kind::kStruct,
                  "block.EncryptionSpec",
                  {{"provider", &provider},
                   {"keys", &keys},
                   {"cipher", &str},
                   {"keySize", &uinteger},
                   {"blockSize", &uint64},
                   {"options", &strings}}};
  Type encryption_114 = with(encryption, {{"allowDiscards", &boolean}});

  Type disk_selector{Kind::kStruct, "block.DiskSelector", {{"match", &cel}}};
  Type provisioning{Kind::kStruct,
                    "block.ProvisioningSpec",
                    {{"diskSelector", &disk_selector},
                     {"grow", &boolean},
                     {"minSize", &byte_size},
                     {"maxSize", &size}}};
  Type filesystem{Kind::kStruct,
                  "block.FilesystemSpec",
                  {{"type", &fs_type}, {"projectQuotaSupport", &boolean}}};
  Type volume_selector{Kind::kStruct, "block.VolumeSelector", {{"match", &cel}}};
  Type discovery{
      Kind::kStruct, "block.VolumeDiscoverySpec", {{"volumeSelector", &volume_selector}}};
  Type existing_mount{Kind::kStruct, "block.MountSpec", {{"readOnly", &boolean}}};

  static Type with(const Type& t, std::vector<Field> more) {
    Type out = t;
    out.fields.insert(out.fields.end(), more.begin(), more.end());
    return out;
  }
  static std::vector<Field> meta() { return {}; }

  Type volume_config_112{Kind::kStruct,
                         "block.VolumeConfigV1Alpha1",
                         {{"apiVersion", &str},
                          {"kind", &str},
                          {"name", &str},
                          {"provisioning", &provisioning},
                          {"encryption", &encryption}}};
  Type volume_config_114{Kind::kStruct,
                         "block.VolumeConfigV1Alpha1",
                         {{"apiVersion", &str},
                          {"kind", &str},
                          {"name", &str},
                          {"provisioning", &provisioning},
                          {"encryption", &encryption_114}}};
  Type user_112{Kind::kStruct,
                "block.UserVolumeConfigV1Alpha1",
                {{"apiVersion", &str},
                 {"kind", &str},
                 {"name", &str},
                 {"volumeType", &volume_type},
                 {"provisioning", &provisioning},
                 {"filesystem", &filesystem},
                 {"encryption", &encryption}}};
  Type user_114 = replace_encryption(user_112, &encryption_114);
  Type user_111{Kind::kStruct,  // before volumeType (versions::Rule::kUserVolumeType)
                "block.UserVolumeConfigV1Alpha1",
                {{"apiVersion", &str},
                 {"kind", &str},
                 {"name", &str},
                 {"provisioning", &provisioning},
                 {"filesystem", &filesystem},
                 {"encryption", &encryption}}};
  Type raw_112{Kind::kStruct,
               "block.RawVolumeConfigV1Alpha1",
               {{"apiVersion", &str},
                {"kind", &str},
                {"name", &str},
                {"provisioning", &provisioning},
                {"encryption", &encryption}}};
  Type raw_114 = replace_encryption(raw_112, &encryption_114);
  Type swap_112{Kind::kStruct,
                "block.SwapVolumeConfigV1Alpha1",
                {{"apiVersion", &str},
                 {"kind", &str},
                 {"name", &str},
                 {"provisioning", &provisioning},
                 {"encryption", &encryption}}};
  Type swap_114 = replace_encryption(swap_112, &encryption_114);
  Type existing{Kind::kStruct,
                "block.ExistingVolumeConfigV1Alpha1",
                {{"apiVersion", &str},
                 {"kind", &str},
                 {"name", &str},
                 {"discovery", &discovery},
                 {"mount", &existing_mount}}};

  // v1alpha1: machine.systemDiskEncryption (v1alpha1_types.go); the rest is opaque.
  Type legacy_tpm{
      Kind::kStruct, "v1alpha1.EncryptionKeyTPM", {{"checkSecurebootStatusOnEnroll", &boolean}}};
  Type legacy_static{Kind::kStruct, "v1alpha1.EncryptionKeyStatic", {{"passphrase", &str}}};
  Type legacy_node_id{Kind::kStruct, "v1alpha1.EncryptionKeyNodeID", {}};
  Type legacy_kms{Kind::kStruct, "v1alpha1.EncryptionKeyKMS", {{"endpoint", &str}}};
  Type legacy_key{Kind::kStruct,
                  "v1alpha1.EncryptionKey",
                  {{"static", &legacy_static},
                   {"nodeID", &legacy_node_id},
                   {"kms", &legacy_kms},
                   {"slot", &integer},
                   {"tpm", &legacy_tpm}}};
  Type legacy_keys{Kind::kSlice, "[]*v1alpha1.EncryptionKey", {}, &legacy_key};
  Type legacy_encryption{Kind::kStruct,
                         "v1alpha1.EncryptionConfig",
                         {{"provider", &str},
                          {"keys", &legacy_keys},
                          {"cipher", &str},
                          {"keySize", &uinteger},
                          {"blockSize", &uint64},
                          {"options", &strings}}};
  Type sde{Kind::kStruct,
           "v1alpha1.SystemDiskEncryptionConfig",
           {{"state", &legacy_encryption}, {"ephemeral", &legacy_encryption}}};
  Type machine{Kind::kAny, "v1alpha1.MachineConfig", {{"systemDiskEncryption", &sde}}};
  Type v1alpha1{Kind::kStruct,
                "v1alpha1.Config",
                {{"version", &str},
                 {"debug", &boolean},
                 {"persist", &boolean},
                 {"machine", &machine},
                 {"cluster", &any}}};

  Type replace_encryption(const Type& t, const Type* enc) {
    Type out = t;
    for (Field& f : out.fields)
      if (f.key == "encryption") f.type = enc;
    return out;
  }
};

const Types& types() {
  static const Types* t = new Types();
  return *t;
}

}  // namespace

const Type* document_type(const std::string& kind, const versions::Version& v) {
  const Types& t = types();
  const bool discards = versions::applies(versions::Rule::kEncryptionAllowDiscards, v);
  if (kind == "VolumeConfig") return discards ? &t.volume_config_114 : &t.volume_config_112;
  if (kind == "UserVolumeConfig") {
    if (!versions::applies(versions::Rule::kUserVolumeType, v)) return &t.user_111;
    return discards ? &t.user_114 : &t.user_112;
  }
  if (kind == "RawVolumeConfig") return discards ? &t.raw_114 : &t.raw_112;
  if (kind == "SwapVolumeConfig") return discards ? &t.swap_114 : &t.swap_112;
  if (kind == "ExistingVolumeConfig") return &t.existing;
  if (kind == "v1alpha1") return &t.v1alpha1;
  return nullptr;
}

std::string registry_type(const std::string& kind) {
  if (kind == "v1alpha1") return "*v1alpha1.Config";
  return "*block." + kind + "V1Alpha1";
}

}  // namespace cryptnode::config::schema
