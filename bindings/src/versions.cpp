// init_versions: the Talos version profiles and the table of version-dependent rules.
#include "cryptnode/engine/versions.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"

namespace py = pybind11;
namespace v = cryptnode::versions;

void init_versions(py::module_& m) {
  m.def(
      "versions",
      [] {
        py::list out;
        for (const auto& r : v::table()) {
          py::dict row;
          row["rule"] = std::string(r.id);
          row["description"] = std::string(r.description);
          row["since"] = r.since.str();
          row["until"] = r.until ? py::object(py::str(r.until->str())) : py::object(py::none());
          row["source"] = std::string(r.source);
          row["fix"] = std::string(r.fix);
          out.append(row);
        }
        return out;
      },
      "The version-rule table: one dict per row (rule, description, since, until, source, fix).");
  m.def(
      "known_versions",
      [] {
        std::vector<std::string> out;
        for (const auto& ver : v::known_versions()) out.push_back(ver.str());
        return out;
      },
      "Every Talos release a node can reproduce, oldest first.");
  m.def(
      "resolve_version", [](const std::string& text) { return v::Version::parse(text).str(); },
      py::arg("text"), "\"1.12\" -> \"1.12.11\"; an unknown version raises InvalidArgumentError.");
  m.def(
      "rule_applies",
      [](const std::string& rule, const std::string& version) {
        auto r = v::rule_from_id(rule);
        if (!r) throw py::value_error("unknown rule \"" + rule + "\"");
        return v::applies(*r, v::Version::parse(version));
      },
      py::arg("rule"), py::arg("version"));
}
