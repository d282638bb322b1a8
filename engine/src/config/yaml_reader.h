// Strict reading of yaml-cpp nodes for config documents: every error names the document, the field
// path and the 1-based line, and unknown fields / wrong types are errors (Code::kConfigParse).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace cryptnode::config::detail {

class Reader {
 public:
  explicit Reader(std::string document) : document_(std::move(document)) {}
  void set_document(std::string document) { document_ = std::move(document); }

  [[noreturn]] void fail(const YAML::Node& at, const std::string& message) const;

  void expect_map(const YAML::Node& n, const std::string& path) const;
  void expect_sequence(const YAML::Node& n, const std::string& path) const;
  // Fields of `n` outside `allowed` are errors: `unknown field "x" in <path>`.
  void only(const YAML::Node& n, const std::string& path,
            std::initializer_list<const char*> allowed) const;

  std::string str(const YAML::Node& n, const std::string& path) const;
  int64_t integer(const YAML::Node& n, const std::string& path) const;
  uint64_t uinteger(const YAML::Node& n, const std::string& path) const;
  bool boolean(const YAML::Node& n, const std::string& path) const;
  std::vector<int> int_list(const YAML::Node& n, const std::string& path) const;
  std::vector<std::string> str_list(const YAML::Node& n, const std::string& path) const;
  // go-humanize style byte sizes: 1048576, "100MiB", "2GB", "1.5GiB".
  uint64_t size(const YAML::Node& n, const std::string& path) const;

 private:
  std::string document_;
};

inline std::string join_path(const std::string& base, const std::string& field) {
  return base.empty() ? field : base + "." + field;
}

int line_of(const YAML::Node& n);  // 1-based, 0 when unknown

}  // namespace cryptnode::config::detail
