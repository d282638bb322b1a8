// CEL selector expressions (provisioning.diskSelector.match, volumeSelector, ...): cel::check,
// then Program::compile and evaluate against a populated activation and one without variables.
//
// Input: the expression. A leading byte 0x01 selects the VolumeLocator environment instead of
// DiskLocator. Property: check() is "" exactly when compile() succeeds, and compile's error is
// check()'s text.
#include "cryptnode/engine/cel.h"
#include "fuzz_support.h"

using namespace cryptnode;

namespace {

cel::DiskFacts disk() {
  cel::DiskFacts d;
  d.size = 10ull << 30;
  d.io_size = 512;
  d.sector_size = 512;
  d.model = "QEMU HARDDISK";
  d.serial = "cn-0001";
  d.modalias = "scsi:t-0x00";
  d.wwid = "naa.5000c500a0b1c2d3";
  d.bus_path = "/pci0000:00/0000:00:05.0/virtio2";
  d.sub_system = "/sys/class/block";
  d.transport = "virtio";
  d.rotational = true;
  d.dev_path = "/dev/vda";
  d.pretty_size = "10 GB";
  d.secondary_disks = {"/dev/vdb"};
  d.uuid = "0c3b2a1e-7f3e-4d6a-9b1c-2d3e4f5a6b7c";
  d.symlinks = {"/dev/disk/by-id/virtio-cn-0001"};
  return d;
}

cel::VolumeFacts volume() {
  cel::VolumeFacts v;
  v.size = 1ull << 30;
  v.sector_size = 512;
  v.io_size = 512;
  v.name = "luks";
  v.uuid = "5b1d9c0e-2a3f-4b6c-8d7e-9f0a1b2c3d4e";
  v.label = "STATE";
  v.block_size = 4096;
  v.filesystem_block_size = 4096;
  v.probed_size = 1ull << 30;
  v.partition_uuid = "8e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7";
  v.partition_type = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
  v.partition_label = "STATE";
  v.partition_index = 6;
  v.type = "partition";
  v.device_path = "/sys/devices/virtual/block/loop0/loop0p6";
  v.parent = "loop0";
  v.dev_path = "/dev/loop0p6";
  v.parent_dev_path = "/dev/loop0";
  v.pretty_size = "1.1 GB";
  v.offset = 1ull << 20;
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cel::Environment env = cel::Environment::kDiskLocator;
  if (size >= 1 && data[0] == 0x01) {
    env = cel::Environment::kVolumeLocator;
    ++data;
    --size;
  }
  const std::string_view expression = fuzz::text(data, size);
  const std::string checked = cel::check(expression, env);
  std::optional<cel::Program> program;
  try {
    program = cel::Program::compile(expression, env);
  } catch (const Error& e) {
    fuzz::expect(!checked.empty(), "check() accepts what compile() rejects");
    // (std::runtime_error keeps a C string: an expression with a NUL byte shows up to it.)
    fuzz::expect(std::strcmp(checked.c_str(), e.what()) == 0,
                 "compile()'s error is check()'s text");
    return 0;
  }
  fuzz::expect(checked.empty(), "compile() accepts what check() rejects");

  auto run = [&](const auto& activation) {
    try {
      program->evaluate(activation);
    } catch (const Error&) {
    }
  };
  if (env == cel::Environment::kDiskLocator) {
    run(cel::DiskActivation{disk(), true});
    run(cel::DiskActivation{});
  } else {
    run(cel::VolumeActivation{volume(), disk()});
    run(cel::VolumeActivation{});
  }
  return 0;
}
