// init_node: sim::Node and VolumeStatus. Every call that can block on I/O releases the GIL: a FUSE
// thread serving the node's volumes must never wait on the interpreter.
#include "cryptnode/sim/node.h"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "cryptnode/engine/volume_status.h"
#include "cryptnode/sim/boot_measurements.h"
#include "cryptnode/sim/swtpm.h"

namespace py = pybind11;
using cryptnode::sim::Node;
using cryptnode::sim::NodeSettings;
using cryptnode::volume::VolumeStatus;

namespace {

py::object optional_phase(const std::optional<cryptnode::volume::Phase>& p) {
  if (!p) return py::none();
  return py::str(std::string(cryptnode::volume::phase_name(*p)));
}

}  // namespace

void init_node(py::module_& m) {
  py::class_<VolumeStatus>(m, "VolumeStatus", "Talos' VolumeStatus of one volume.")
      .def_readonly("id", &VolumeStatus::id)
      .def_property_readonly("phase",
                             [](const VolumeStatus& s) { return std::string(phase_name(s.phase)); })
      .def_property_readonly("pre_fail_phase",
                             [](const VolumeStatus& s) { return optional_phase(s.pre_fail_phase); })
      .def_readonly("error_message", &VolumeStatus::error_message)
      .def_readonly("retryable", &VolumeStatus::retryable)
      .def_readonly("type", &VolumeStatus::type)
      .def_readonly("location", &VolumeStatus::location)
      .def_readonly("mount_location", &VolumeStatus::mount_location)
      .def_readonly("parent_location", &VolumeStatus::parent_location)
      .def_readonly("partition_index", &VolumeStatus::partition_index)
      .def_readonly("size", &VolumeStatus::size)
      .def_readonly("filesystem", &VolumeStatus::filesystem)
      .def_readonly("mount_point", &VolumeStatus::mount_point)
      .def_readonly("encryption_provider", &VolumeStatus::encryption_provider)
      .def_readonly("encryption_slot", &VolumeStatus::encryption_slot)
      .def_readonly("encryption_failed_syncs", &VolumeStatus::encryption_failed_syncs)
      .def_readonly("encryption_locked_to_state", &VolumeStatus::encryption_locked_to_state)
      .def_readonly("configured_encryption_keys", &VolumeStatus::configured_encryption_keys)
      .def_property_readonly("pcrs",
                             [](const VolumeStatus& s) -> py::object {
                               // Through Talos' API (protobuf) an empty list and nil are
                               // the same: both read back as nil.
                               if (!s.tpm_pcrs || s.tpm_pcrs_nil || s.tpm_pcrs->empty())
                                 return py::none();
                               return py::cast(*s.tpm_pcrs);
                             })
      .def_readonly("pub_key_pcrs", &VolumeStatus::tpm_pub_key_pcrs)
      .def("__repr__", [](const VolumeStatus& s) {
        std::string r = "VolumeStatus(" + s.id + ", phase=" + std::string(phase_name(s.phase));
        if (!s.encryption_provider.empty()) {
          r += ", " + s.encryption_provider;
          if (s.encryption_slot) r += " slot " + std::to_string(*s.encryption_slot);
        }
        if (!s.error_message.empty())
          r += ", error=" + py::repr(py::str(s.error_message)).cast<std::string>();
        return r + ")";
      });

  py::class_<NodeSettings>(m, "NodeSettings")
      .def(py::init<>())
      .def_readwrite("uuid", &NodeSettings::uuid)
      .def_readwrite("tpm", &NodeSettings::tpm)
      .def_readwrite("secure_boot", &NodeSettings::secure_boot)
      .def_readwrite("setup_mode", &NodeSettings::setup_mode)
      .def_readwrite("pbkdf", &NodeSettings::pbkdf)
      .def_readwrite("talos_version", &NodeSettings::talos_version)
      .def_readwrite("backend", &NodeSettings::backend)
      .def_readwrite("layout", &NodeSettings::layout)
      .def_readwrite("trusted_ca_pem", &NodeSettings::trusted_ca_pem)
      .def_readwrite("uki_vendor", &NodeSettings::uki_vendor)
      .def(
          "add_disk",
          [](NodeSettings& s, const std::string& name, uint64_t size) {
            s.disks.push_back({name, size, ""});
          },
          py::arg("name"), py::arg("size"))
      .def_property_readonly("disks",
                             [](const NodeSettings& s) {
                               py::list out;
                               for (const auto& d : s.disks)
                                 out.append(py::make_tuple(d.name, d.size, d.image));
                               return out;
                             })
      .def("to_json", &NodeSettings::to_json);

  auto nogil = py::call_guard<py::gil_scoped_release>();
  m.def(
      "fault_points",
      [] {
        py::list out;
        for (const auto& p : cryptnode::fault_points())
          out.append(py::make_tuple(std::string(p.name), std::string(p.description)));
        return out;
      },
      "Every fault point node.crash_at() can arm: (name, description).");
  m.def(
      "boot_measurements",
      [](const std::string& node_dir) {
        return cryptnode::sim::boot_measurements_json(cryptnode::Env::posix(), node_dir);
      },
      py::arg("node_dir"),
      "JSON: the measured boot a powered-off node's next power-on performs (PCR events, the UKI's "
      "PCR public key and signed PCR 11 policy), for a real machine to replay.");
  py::class_<cryptnode::sim::Event>(m, "Event")
      .def_readonly("time_ms", &cryptnode::sim::Event::time_ms)
      .def_readonly("wall_ms", &cryptnode::sim::Event::wall_ms)
      .def_readonly("step", &cryptnode::sim::Event::step)
      .def_readonly("message", &cryptnode::sim::Event::message);

  py::class_<Node>(m, "_Node")
      .def_static(
          "create",
          [](const std::string& path, const NodeSettings& settings) {
            return Node::create(path, settings, cryptnode::Env::posix());
          },
          py::arg("path"), py::arg("settings"), nogil)
      .def_static(
          "open", [](const std::string& path) { return Node::open(path, cryptnode::Env::posix()); },
          py::arg("path"), nogil)
      .def_property_readonly("path", &Node::path)
      .def_property_readonly("swtpm_run_dir",
                             [](const Node& n) {
                               return cryptnode::sim::Swtpm::run_dir_for(
                                   n.path(), cryptnode::sim::SwtpmOptions{}.run_root);
                             })
      .def_property_readonly("settings", &Node::settings)
      .def("boot", &Node::boot, py::arg("config") = std::nullopt, nogil)
      .def("reboot", &Node::reboot, nogil)
      .def("upgrade", &Node::upgrade, py::arg("to"), nogil)
      .def("shutdown", &Node::shutdown, nogil)
      .def("power_cut", &Node::power_cut, nogil)
      .def_property_readonly("powered_on", &Node::powered_on)
      .def_property_readonly("maintenance", &Node::maintenance)
      .def_property_readonly("running", &Node::running)
      .def("apply_config", &Node::apply_config, py::arg("yaml"), py::arg("mode") = "auto",
           py::arg("insecure") = false, nogil)
      .def("patch_config", &Node::patch_config, py::arg("patch"), py::arg("mode") = "auto", nogil)
      .def("reset", &Node::reset, py::arg("system_labels_to_wipe"), py::arg("reboot") = false,
           py::arg("graceful") = true, nogil)
      .def("advance", &Node::advance, py::arg("seconds"), nogil)
      .def_property_readonly("clock_ms", &Node::clock_ms)
      .def("crash_at", &Node::crash_at, py::arg("point"))
      .def_property_readonly("last_crash", &Node::last_crash)
      .def("volume_status", &Node::volume_status, py::arg("id"))
      .def("volumes", &Node::volumes)
      .def("devices", &Node::devices)
      .def(
          "write_file",
          [](Node& n, const std::string& volume, const std::string& path, const py::bytes& data) {
            std::string bytes = data;
            py::gil_scoped_release release;
            n.write_file(volume, path, bytes);
          },
          py::arg("volume"), py::arg("path"), py::arg("data"))
      .def(
          "read_file",
          [](const Node& n, const std::string& volume, const std::string& path) {
            std::string bytes;
            {
              py::gil_scoped_release release;
              bytes = n.read_file(volume, path);
            }
            return py::bytes(bytes);
          },
          py::arg("volume"), py::arg("path"))
      .def("luks_dump", &Node::luks_dump, py::arg("volume"), nogil)
      .def("meta", &Node::meta, nogil)
      .def("meta_write", &Node::meta_write, py::arg("tag"), py::arg("value"), nogil)
      .def("meta_delete", &Node::meta_delete, py::arg("tag"), nogil)
      .def("active_config", &Node::active_config)
      .def("events", &Node::events)
      .def("set_firmware", &Node::set_firmware, py::arg("secure_boot"), py::arg("setup_mode"))
      .def("clear_tpm", &Node::clear_tpm)
      .def("set_tpm_latency", &Node::set_tpm_latency, py::arg("seconds"));
}
