// init_errors: one Python exception class per cryptnode::Code under cryptnode.Error, and the one
// translator from cryptnode::Error to them.
#include <pybind11/pybind11.h>

#include <map>

#include "bindings.h"
#include "cryptnode/engine/error.h"

namespace py = pybind11;
using cryptnode::Code;

namespace {

struct ErrorClass {
  Code code;
  const char* name;
  PyObject* extra_base;  // a builtin to also derive from, or nullptr
};

std::map<Code, py::object>& classes() {
  static auto* m = new std::map<Code, py::object>();
  return *m;
}

}  // namespace

void init_errors(py::module_& m) {
  static py::exception<cryptnode::Error> base(m, "Error", PyExc_RuntimeError);
  base.doc() =
      "Base of every cryptnode error. Attributes: code (stable name, e.g. 'key_rejected'), "
      "retryable (Talos retries it on its 30 s ticker).";
  const ErrorClass table[] = {
      {Code::kInvalidArgument, "InvalidArgumentError", PyExc_ValueError},
      {Code::kConfigParse, "ConfigParseError", PyExc_ValueError},
      {Code::kConfigInvalid, "ConfigInvalidError", PyExc_ValueError},
      {Code::kNotFound, "NotFoundError", nullptr},
      {Code::kAlreadyExists, "AlreadyExistsError", nullptr},
      {Code::kCorrupt, "CorruptError", nullptr},
      {Code::kIO, "OSEffectError", nullptr},
      {Code::kKeyRejected, "KeyRejectedError", nullptr},
      {Code::kTokenInvalid, "TokenInvalidError", nullptr},
      {Code::kNoToken, "NoTokenError", nullptr},
      {Code::kDeviceNotReady, "DeviceNotReadyError", nullptr},
      {Code::kDeviceBusy, "DeviceBusyError", nullptr},
      {Code::kHeaderValidation, "HeaderValidationError", nullptr},
      {Code::kUnsupported, "UnsupportedError", nullptr},
      {Code::kUnavailable, "UnavailableError", nullptr},
      {Code::kTimeout, "DeadlineExceededError", nullptr},
      {Code::kFailedPrecondition, "FailedPreconditionError", nullptr},
      {Code::kLocked, "LockedError", nullptr},
      {Code::kInternal, "InternalError", nullptr},
  };
  for (const ErrorClass& c : table) {
    py::tuple bases =
        c.extra_base ? py::make_tuple(base, py::handle(c.extra_base)) : py::make_tuple(base);
    py::object cls = py::reinterpret_steal<py::object>(PyErr_NewException(
        (std::string("cryptnode._core.") + c.name).c_str(), bases.ptr(), nullptr));
    cls.attr("code") = std::string(cryptnode::code_name(c.code));
    m.attr(c.name) = cls;
    classes()[c.code] = cls;
  }
  // The first names, kept importable from _core only (the package exports names that do not
  // shadow Python's built-in IOError and TimeoutError).
  m.attr("IOError") = classes()[Code::kIO];
  m.attr("TimeoutError") = classes()[Code::kTimeout];
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const cryptnode::Error& e) {
      py::gil_scoped_acquire gil;
      py::object cls = classes()[e.code()];
      py::object exc = cls(py::str(e.what()));
      exc.attr("code") = std::string(cryptnode::code_name(e.code()));
      exc.attr("retryable") = e.retryable();
      PyErr_SetObject(cls.ptr(), exc.ptr());
    }
  });
}
