// What go-yaml (go.yaml.in/yaml/v4, as Talos' configloader uses it) does differently from
// yaml-cpp, reproduced around yaml-cpp: the reader's and scanner's rejections yaml-cpp does not
// make, plain-scalar tag resolution (resolve.go), and the emitter output of
// xyaml.CheckUnknownKeys' summary (yaml.Marshal of a map of the original nodes).
#pragma once

#include <yaml-cpp/yaml.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cryptnode::config::goyaml {

// The YAML library of Talos' configloader (versions::Rule::kYamlV4Decoder): before 1.12 a fork
// of gopkg.in/yaml.v3 (github.com/unix4ever/yaml, v3.0.1-based), from 1.12 go.yaml.in/yaml/v4
// v4.0.0-rc.3. Where they differ here: v4 resolves a plain "-0" as !!float (v3: !!int), and v3's
// scanner spells "did not find expected hexdecimal number".
enum class Library { kYamlV3Fork, kYamlV4 };
// The library the functions below follow on this thread while the scope lives (default v4).
class LibraryScope {
 public:
  explicit LibraryScope(Library l);
  ~LibraryScope();
  LibraryScope(const LibraryScope&) = delete;
  LibraryScope& operator=(const LibraryScope&) = delete;

 private:
  Library previous_;
};

// go-yaml's reader/scanner errors that yaml-cpp would not raise (invalid UTF-8, control
// characters, an unterminated quoted scalar): "yaml: ..." as ParserError.Error() prints it;
// nullopt when the stream passes.
std::optional<std::string> stream_error(std::string_view text);

// yaml-cpp's parse error as go-yaml words the common cases ("yaml: line N: ...").
std::string parser_error(const YAML::ParserException& e);

// The resolved short tag of a node as go-yaml's resolve() gives it: "!!null", "!!bool", "!!int",
// "!!float", "!!str", "!!map", "!!seq" (quoted scalars are "!!str").
std::string tag(const YAML::Node& n, std::string_view source);

struct Resolved {
  enum Kind { kNull, kBool, kInt, kUint, kFloat, kString } kind = kString;
  bool b = false;
  int64_t i = 0;
  uint64_t u = 0;
  double f = 0;
};
Resolved resolve(const YAML::Node& n, std::string_view source);

bool quoted(const YAML::Node& n, std::string_view source);

// Go's strconv.Quote (fmt's %q and %#v of a string) for UTF-8 text: "\"a\\\"b\"".
std::string quote(std::string_view s);
int line(const YAML::Node& n);  // 1-based (go-yaml Node.Line)

// The unknown-keys summary: a tree of maps (sorted as go-yaml sorts map keys), lists and
// original nodes.
struct Unknown {
  enum Kind { kMap, kList, kNode } kind = kMap;
  std::map<std::string, std::shared_ptr<Unknown>> map_entries;  // re-sorted at emit time
  std::vector<std::shared_ptr<Unknown>> list;
  YAML::Node node;
};
// yaml.Marshal(summary) with go-yaml's defaults (4-space indent). Values under a `passphrase`
// key print as "<redacted>" (cryptnode's decision: Talos would echo the secret). nullopt when
// printing would visit more than `max_nodes` nodes or exceed `max_bytes` (an alias bomb: yaml-cpp
// expands aliases where go-yaml prints "*anchor").
std::optional<std::string> marshal(const Unknown& root, std::string_view source, size_t max_nodes,
                                   size_t max_bytes);

}  // namespace cryptnode::config::goyaml
