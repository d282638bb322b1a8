// init_kms: the simulator's gRPC KMS server, plaintext or TLS.
#include "cryptnode/sim/kms.h"

#include <pybind11/pybind11.h>

#include "bindings.h"

namespace py = pybind11;
using cryptnode::sim::KmsServer;
using cryptnode::sim::KmsTls;

void init_kms(py::module_& m) {
  py::class_<KmsServer>(m, "_KmsServer")
      .def_static(
          "start",
          [](const std::string& listen, bool tls, const std::string& cert) {
            return KmsServer::start(listen, KmsTls{tls, cert});
          },
          py::arg("listen") = "127.0.0.1:0", py::arg("tls") = false, py::arg("cert") = "valid",
          py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("endpoint", &KmsServer::endpoint)
      .def_property_readonly("ca_pem", &KmsServer::ca_pem)
      .def("set_fault", &KmsServer::set_fault, py::arg("fault"))
      .def_property_readonly("calls", &KmsServer::calls)
      .def("stop", &KmsServer::stop, py::call_guard<py::gil_scoped_release>());
}
