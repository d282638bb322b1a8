// init_kms: the simulator's gRPC KMS server.
#include "cryptnode/sim/kms.h"

#include <pybind11/pybind11.h>

#include "bindings.h"

namespace py = pybind11;
using cryptnode::sim::KmsServer;

void init_kms(py::module_& m) {
  py::class_<KmsServer>(m, "_KmsServer")
      .def_static("start", &KmsServer::start, py::arg("listen") = "127.0.0.1:0",
                  py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("endpoint", &KmsServer::endpoint)
      .def("set_fault", &KmsServer::set_fault, py::arg("fault"))
      .def_property_readonly("calls", &KmsServer::calls)
      .def("stop", &KmsServer::stop, py::call_guard<py::gil_scoped_release>());
}
