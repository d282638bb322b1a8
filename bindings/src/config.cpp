// init_config: the config documents (config.h), read-only, with reprs that never show a secret.
#include "cryptnode/engine/config.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"

namespace py = pybind11;
using namespace cryptnode::config;

namespace {

std::string kind_str(DocumentKind k) {
  switch (k) {
    case DocumentKind::kV1Alpha1:
      return "v1alpha1";
    case DocumentKind::kVolumeConfig:
      return "VolumeConfig";
    case DocumentKind::kUserVolumeConfig:
      return "UserVolumeConfig";
    case DocumentKind::kRawVolumeConfig:
      return "RawVolumeConfig";
    case DocumentKind::kSwapVolumeConfig:
      return "SwapVolumeConfig";
    case DocumentKind::kExistingVolumeConfig:
      return "ExistingVolumeConfig";
    case DocumentKind::kExternalVolumeConfig:
      return "ExternalVolumeConfig";
    case DocumentKind::kOther:
      return "other";
  }
  return "other";
}

py::object key_type(const EncryptionKey& k) {
  auto t = k.type();
  if (!t) return py::none();
  return py::str(std::string(key_type_name(*t)));
}

std::string key_repr(const EncryptionKey& k) {
  std::string r = "EncryptionKey(slot=" + std::to_string(k.slot) + ", type=";
  auto t = k.type();
  r += t ? std::string(key_type_name(*t)) : "None";
  if (k.static_key) r += ", passphrase=<redacted>";
  if (k.kms) r += ", endpoint=" + k.kms->endpoint;
  if (k.tpm) {
    r += ", pcrs=[";
    auto p = k.tpm->pcrs();
    for (size_t i = 0; i < p.size(); ++i) r += (i ? ", " : "") + std::to_string(p[i]);
    r += "]";
  }
  if (k.locked_to_state()) r += ", lock_to_state=True";
  return r + ")";
}

}  // namespace

void init_config(py::module_& m) {
  py::class_<KeyTPM>(m, "KeyTPM")
      .def_property_readonly("pcrs", &KeyTPM::pcrs)
      .def_property_readonly("pcrs_nil", &KeyTPM::pcrs_nil)
      .def_property_readonly("pub_key_pcrs", &KeyTPM::pub_key_pcrs)
      .def_readonly("check_secureboot_status_on_enroll",
                    &KeyTPM::check_secureboot_status_on_enroll);

  py::class_<EncryptionKey>(m, "EncryptionKey")
      .def_readonly("slot", &EncryptionKey::slot)
      .def_property_readonly("type", &key_type, "static | nodeID | kms | tpm | None")
      .def_property_readonly("kms_endpoint",
                             [](const EncryptionKey& k) -> py::object {
                               if (!k.kms) return py::none();
                               return py::str(k.kms->endpoint);
                             })
      .def_readonly("tpm", &EncryptionKey::tpm)
      .def_property_readonly("lock_to_state", &EncryptionKey::locked_to_state)
      .def_readonly("line", &EncryptionKey::line)
      .def(
          "static_passphrase",
          [](const EncryptionKey& k) -> py::object {
            if (!k.static_key) return py::none();
            return py::bytes(std::string(k.static_key->passphrase.view()));
          },
          "The static passphrase as bytes (explicit: it is never part of repr).")
      .def("__repr__", &key_repr);

  py::class_<EncryptionSpec>(m, "EncryptionSpec")
      .def_readonly("provider", &EncryptionSpec::provider)
      .def_readonly("keys", &EncryptionSpec::keys)
      .def_readonly("cipher", &EncryptionSpec::cipher)
      .def_property_readonly("effective_cipher", &EncryptionSpec::effective_cipher)
      .def_readonly("key_size", &EncryptionSpec::key_size)
      .def_readonly("block_size", &EncryptionSpec::block_size)
      .def_readonly("perf_options", &EncryptionSpec::perf_options)
      .def_readonly("allow_discards", &EncryptionSpec::allow_discards)
      .def_readonly("legacy", &EncryptionSpec::legacy)
      .def_property_readonly("enabled", &EncryptionSpec::enabled)
      .def("validate", &EncryptionSpec::validate)
      .def("__repr__", [](const EncryptionSpec& e) {
        std::string r = "EncryptionSpec(provider=" + (e.provider.empty() ? "''" : e.provider) +
                        (e.legacy ? ", legacy" : "") + ", keys=[";
        for (size_t i = 0; i < e.keys.size(); ++i) r += (i ? ", " : "") + key_repr(e.keys[i]);
        return r + "])";
      });

  py::class_<Document>(m, "Document")
      .def_property_readonly("kind", [](const Document& d) { return kind_str(d.kind); })
      .def_readonly("kind_name", &Document::kind_name)
      .def_readonly("api_version", &Document::api_version)
      .def_readonly("name", &Document::name)
      .def_readonly("line", &Document::line)
      .def_readonly("encryption", &Document::encryption)
      .def_readonly("volume_type", &Document::volume_type)
      .def_readonly("filesystem_type", &Document::filesystem_type)
      .def_readonly("legacy_state", &Document::legacy_state)
      .def_readonly("legacy_ephemeral", &Document::legacy_ephemeral)
      .def_property_readonly("volume_id", &Document::volume_id)
      .def_property_readonly("display_name", &Document::display_name)
      .def("__repr__", [](const Document& d) { return "Document(" + d.display_name() + ")"; });

  py::class_<MachineConfig>(m, "MachineConfig")
      .def_property_readonly("documents", &MachineConfig::documents)
      .def_property_readonly("text", &MachineConfig::text)
      .def("validate", &MachineConfig::validate)
      .def("encryption_for", &MachineConfig::encryption_for, py::arg("volume_id"))
      .def("user_volume_ids", &MachineConfig::user_volume_ids)
      .def("__repr__", [](const MachineConfig& c) {
        std::string r = "MachineConfig([";
        for (size_t i = 0; i < c.documents().size(); ++i)
          r += (i ? ", " : "") + c.documents()[i].display_name();
        return r + "])";
      });

  // Configs are bytes end to end: Talos decodes bytes, so invalid UTF-8 is go-yaml's error, not
  // a Python decoding failure. str is accepted too (encoded as UTF-8).
  auto text_of = [](const py::object& o) -> std::string {
    if (py::isinstance<py::bytes>(o)) return o.cast<std::string>();
    if (py::isinstance<py::str>(o)) return o.cast<std::string>();
    throw py::type_error("a config is bytes or str, not " +
                         std::string(py::str(o.get_type().attr("__name__"))));
  };
  auto version_of = [](const std::string& v) {
    return v.empty() ? cryptnode::versions::default_version()
                     : cryptnode::versions::Version::parse(v);
  };
  m.def(
      "parse_config",
      [=](const py::object& text, const std::string& talos_version) {
        std::string t = text_of(text);
        py::gil_scoped_release release;
        return MachineConfig::parse(t, version_of(talos_version));
      },
      py::arg("text"), py::arg("talos_version") = "",
      "Parse a multi-document machine config as that Talos version does (default: the newest "
      "1.12). Raises ConfigParseError.");
  m.def(
      "validate_config",
      [=](const py::object& text, const std::string& talos_version) {
        std::string t = text_of(text);
        py::gil_scoped_release release;
        return validate_text(t, version_of(talos_version));
      },
      py::arg("text"), py::arg("talos_version") = "",
      "Talos' validation errors for a config text ([] when valid; a parse error is one string).");
  m.def(
      "check_config",
      [=](const py::object& text, const std::string& talos_version) {
        std::string t = text_of(text);
        Report r;
        {
          py::gil_scoped_release release;
          r = check(t, version_of(talos_version));
        }
        py::dict d;
        d["errors"] = r.errors;
        d["warnings"] = r.warnings;
        d["hints"] = r.hints;
        return d;
      },
      py::arg("text"), py::arg("talos_version") = "",
      "Talos' errors plus cryptnode's warnings (configs Talos accepts that lose data or fail at "
      "boot) and hints: {'errors': [...], 'warnings': [...], 'hints': [...]}.");
  m.def("format_multierror", &format_multierror, py::arg("errors"));
  m.def(
      "gen_config", [](const std::string& type) { return gen_config(type); },
      py::arg("machine_type") = "worker",
      "A minimal v1alpha1 machine config (talosctl gen config for a simulated node).");
  m.def(
      "strategic_merge",
      [=](const py::object& base, const py::object& patch) {
        return strategic_merge(text_of(base), text_of(patch));
      },
      py::arg("base"), py::arg("patch"),
      "talosctl patch machineconfig's strategic merge of YAML documents.");
}
