// Evaluation vectors (engine/tests/data/cel/eval.txt): compile once, evaluate against facts.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "cryptnode/engine/cel.h"
#include "cryptnode/engine/error.h"

namespace {

// One "%% <kind> <args>" record: named sections of lines.
struct Record {
  std::string kind;
  std::string arg;
  std::map<std::string, std::string> sections;
  int line = 0;
};

std::vector<Record> read_records(const std::string& name) {
  std::ifstream in(std::string(CRYPTNODE_SOURCE_DIR) + "/engine/tests/data/cel/" + name);
  std::vector<Record> out;
  std::string line;
  Record cur;
  std::string section;
  std::vector<std::string> lines;
  int n = 0;
  auto flush_section = [&] {
    if (section.empty()) return;
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) text += (i ? "\n" : "") + lines[i];
    cur.sections[section] = text;
    lines.clear();
  };
  while (std::getline(in, line)) {
    ++n;
    if (line.rfind("%% ", 0) == 0 || line == "%% want" || line == "%% end") {
      flush_section();
      std::istringstream words(line.substr(3));
      std::string head, arg;
      words >> head >> arg;
      if (head == "end") {
        out.push_back(cur);
        cur = Record{};
        section.clear();
      } else if (head == "want" || head == "facts") {
        section = head;
      } else {
        cur.kind = head;
        cur.arg = arg;
        cur.line = n;
        section = "expr";
      }
      continue;
    }
    if (!section.empty()) lines.push_back(line);
  }
  return out;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(item);
  return out;
}

void set_disk(cryptnode::cel::DiskFacts& d, const std::string& f, const std::string& v) {
  if (f == "size")
    d.size = std::stoull(v);
  else if (f == "io_size")
    d.io_size = std::stoull(v);
  else if (f == "sector_size")
    d.sector_size = std::stoull(v);
  else if (f == "readonly")
    d.readonly = v == "true";
  else if (f == "rotational")
    d.rotational = v == "true";
  else if (f == "cdrom")
    d.cdrom = v == "true";
  else if (f == "model")
    d.model = v;
  else if (f == "serial")
    d.serial = v;
  else if (f == "modalias")
    d.modalias = v;
  else if (f == "wwid")
    d.wwid = v;
  else if (f == "bus_path")
    d.bus_path = v;
  else if (f == "sub_system")
    d.sub_system = v;
  else if (f == "transport")
    d.transport = v;
  else if (f == "dev_path")
    d.dev_path = v;
  else if (f == "pretty_size")
    d.pretty_size = v;
  else if (f == "uuid")
    d.uuid = v;
  else if (f == "symlinks")
    d.symlinks = split(v);
  else if (f == "secondary_disks")
    d.secondary_disks = split(v);
  else
    ADD_FAILURE() << "unknown disk fact " << f;
}

void set_volume(cryptnode::cel::VolumeFacts& o, const std::string& f, const std::string& v) {
  if (f == "size")
    o.size = std::stoull(v);
  else if (f == "sector_size")
    o.sector_size = std::stoull(v);
  else if (f == "io_size")
    o.io_size = std::stoull(v);
  else if (f == "block_size")
    o.block_size = static_cast<uint32_t>(std::stoul(v));
  else if (f == "filesystem_block_size")
    o.filesystem_block_size = static_cast<uint32_t>(std::stoul(v));
  else if (f == "probed_size")
    o.probed_size = std::stoull(v);
  else if (f == "partition_index")
    o.partition_index = std::stoull(v);
  else if (f == "offset")
    o.offset = std::stoull(v);
  else if (f == "name")
    o.name = v;
  else if (f == "uuid")
    o.uuid = v;
  else if (f == "label")
    o.label = v;
  else if (f == "partition_uuid")
    o.partition_uuid = v;
  else if (f == "partition_type")
    o.partition_type = v;
  else if (f == "partition_label")
    o.partition_label = v;
  else if (f == "type")
    o.type = v;
  else if (f == "device_path")
    o.device_path = v;
  else if (f == "parent")
    o.parent = v;
  else if (f == "dev_path")
    o.dev_path = v;
  else if (f == "parent_dev_path")
    o.parent_dev_path = v;
  else if (f == "pretty_size")
    o.pretty_size = v;
  else
    ADD_FAILURE() << "unknown volume fact " << f;
}

TEST(CelEval, Vectors) {
  using namespace cryptnode::cel;  // NOLINT
  auto records = read_records("eval.txt");
  ASSERT_GT(records.size(), 40u);
  for (const auto& r : records) {
    SCOPED_TRACE("eval.txt:" + std::to_string(r.line) + ": " + r.sections.at("expr"));
    bool volume_env = r.arg == "volume";
    DiskActivation da;
    VolumeActivation va;
    std::stringstream facts(r.sections.count("facts") ? r.sections.at("facts") : "");
    std::string line;
    while (std::getline(facts, line)) {
      std::string key = line.substr(0, line.find(' '));
      std::string value =
          line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
      std::string var = key.substr(0, key.find('.'));
      std::string field = key.find('.') == std::string::npos ? "" : key.substr(key.find('.') + 1);
      if (var == "system_disk") {
        da.system_disk = value == "true";
      } else if (var == "disk") {
        auto& d = volume_env ? va.disk : da.disk;
        if (!d) d.emplace();
        if (!field.empty()) set_disk(*d, field, value);
      } else if (var == "volume") {
        if (!va.volume) va.volume.emplace();
        if (!field.empty()) set_volume(*va.volume, field, value);
      } else {
        ADD_FAILURE() << "unknown fact " << line;
      }
    }
    std::string got;
    try {
      Program p = Program::compile(r.sections.at("expr"), volume_env ? Environment::kVolumeLocator
                                                                     : Environment::kDiskLocator);
      bool result = volume_env ? p.evaluate(va) : p.evaluate(da);
      got = result ? "true" : "false";
    } catch (const cryptnode::Error& e) {
      got = std::string("error ") + e.what();
    }
    EXPECT_EQ(got, r.sections.at("want"));
  }
}

TEST(CelEval, ProgramIsReusableAndEnvironmentChecked) {
  using namespace cryptnode::cel;  // NOLINT
  Program p = Program::compile("disk.size > 10u * GiB", Environment::kDiskLocator);
  EXPECT_EQ(p.environment(), Environment::kDiskLocator);
  EXPECT_EQ(p.expression(), "disk.size > 10u * GiB");
  DiskFacts small, large;
  small.size = 1ULL << 30;
  large.size = 11ULL << 30;
  EXPECT_FALSE(p.evaluate(DiskActivation{small, false}));
  EXPECT_TRUE(p.evaluate(DiskActivation{large, false}));
  EXPECT_THROW(p.evaluate(VolumeActivation{}), cryptnode::Error);
}

}  // namespace
