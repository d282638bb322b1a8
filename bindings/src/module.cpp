// cryptnode._core: the pybind11 module. Each area registers itself with init_<area>(m).
#include <pybind11/pybind11.h>

#include "bindings.h"

PYBIND11_MODULE(_core, m) {
  m.doc() = "cryptnode native core (use the `cryptnode` package, not this module)";
  init_errors(m);
  init_config(m);
  init_versions(m);
  init_node(m);
  init_kms(m);
}
