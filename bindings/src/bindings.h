#pragma once
#include <pybind11/pybind11.h>

// One per file in bindings/src; module.cpp calls them in order.
void init_errors(pybind11::module_& m);
void init_config(pybind11::module_& m);
void init_versions(pybind11::module_& m);
void init_node(pybind11::module_& m);
void init_kms(pybind11::module_& m);
