"""The public Python surface a conformance-suite author programs against: the type stub
cryptnode/_core.pyi says what cryptnode._core really has (names, parameters with their defaults,
read-only versus writable attributes, static methods), and cryptnode.__all__ is exactly what
`import cryptnode` offers."""

from __future__ import annotations

import ast
import inspect
import re
import types
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import cryptnode
from cryptnode import _core

STUB = Path(cryptnode.__file__).with_name("_core.pyi")

# --- the stub -----------------------------------------------------------------------------------

Params = List[Tuple[str, Optional[str]]]  # (name, default source text or None)


def stub_params(fn: ast.FunctionDef, drop_self: bool) -> Params:
    args = fn.args.posonlyargs + fn.args.args
    defaults = [None] * (len(args) - len(fn.args.defaults)) + list(fn.args.defaults)
    out = [(a.arg, None if d is None else ast.unparse(d)) for a, d in zip(args, defaults)]
    out += [(a.arg, None if d is None else ast.unparse(d))
            for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults)]
    if drop_self and out and out[0][0] == "self":
        out = out[1:]
    return out


class StubClass:
    def __init__(self, node: ast.ClassDef):
        self.name = node.name
        self.bases = [ast.unparse(b) for b in node.bases]
        self.methods: Dict[str, Tuple[Params, bool]] = {}  # name -> (params, static)
        self.readonly: set = set()
        self.writable: set = set()
        for item in node.body:
            if isinstance(item, ast.FunctionDef):
                decorators = {ast.unparse(d) for d in item.decorator_list}
                if "property" in decorators:
                    self.readonly.add(item.name)
                else:
                    static = "staticmethod" in decorators
                    self.methods[item.name] = (stub_params(item, not static), static)
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                self.writable.add(item.target.id)


def load_stub():
    tree = ast.parse(STUB.read_text())
    functions = {n.name: stub_params(n, False) for n in tree.body
                 if isinstance(n, ast.FunctionDef)}
    classes = {n.name: StubClass(n) for n in tree.body if isinstance(n, ast.ClassDef)}
    aliases = {t.id: ast.unparse(n.value) for n in tree.body if isinstance(n, ast.Assign)
               for t in n.targets if isinstance(t, ast.Name) and not t.id.startswith("_")}
    return functions, classes, aliases


# --- the module ---------------------------------------------------------------------------------

SIGNATURE = re.compile(r"^(?:\d+\. )?(\w+)\((.*)\) -> ", re.M)


def split_top(text: str) -> List[str]:
    """Split a pybind11 parameter list on the commas outside brackets and quotes."""
    parts, depth, quote, cur = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def native_overloads(obj) -> List[Params]:
    """Each overload's parameters (self dropped) from pybind11's docstring signatures."""
    doc = getattr(obj, "__doc__", None) or ""
    out = []
    for m in SIGNATURE.finditer(doc):
        params: Params = []
        for p in split_top(m.group(2)):
            if p in ("*", "/") or p.startswith("*"):
                continue
            name, _, rest = p.partition(":")
            default = rest.split("=", 1)[1].strip() if "=" in rest else None
            params.append((name.strip(), default))
        if params and params[0][0] == "self":
            params = params[1:]
        out.append(params)
    return out


def same_default(stub: Optional[str], native: Optional[str]) -> bool:
    if (stub is None) != (native is None):
        return False
    if stub is None:
        return True
    try:
        return ast.literal_eval(stub) == ast.literal_eval(native)
    except (ValueError, SyntaxError):
        return stub == native


def params_problems(where: str, stub: Params, overloads: List[Params]) -> List[str]:
    if not overloads:
        return [f"{where}: no pybind11 signature to compare with"]
    for native in overloads:
        if [n for n, _ in native] == [n for n, _ in stub] and all(
                same_default(s, n) for (_, s), (_, n) in zip(stub, native)):
            return []
    return [f"{where}: stub ({', '.join(n + ('=' + d if d else '') for n, d in stub)}) vs "
            f"native " + " | ".join("(" + ", ".join(n + ("=" + d if d else "") for n, d in o) + ")"
                                   for o in overloads)]


def public(names) -> set:
    return {n for n in names if not n.startswith("_")}


def surface_problems() -> List[str]:
    functions, classes, aliases = load_stub()
    out: List[str] = []
    native = {n: getattr(_core, n) for n in dir(_core) if not n.startswith("__")}
    stubbed = set(functions) | set(classes) | set(aliases)
    for name in sorted(set(native) - stubbed):
        out.append(f"_core.{name} is not in _core.pyi")
    for name in sorted(stubbed - set(native)):
        out.append(f"_core.pyi declares {name}, _core has no such name")
    for name, target in aliases.items():
        if name in native and target in native and native[name] is not native[target]:
            out.append(f"_core.pyi: {name} = {target}, but they are different objects")
    for name, params in functions.items():
        if name in native:
            out += params_problems(f"_core.{name}", params, native_overloads(native[name]))
    for name, sc in classes.items():
        cls = native.get(name)
        if not isinstance(cls, type):
            continue
        out += class_problems(sc, cls)
    return out


def class_problems(sc: StubClass, cls: type) -> List[str]:
    out: List[str] = []
    native_bases = [b.__name__ for b in cls.__bases__ if b is not object]
    if sc.bases != native_bases and (sc.bases or native_bases != ["pybind11_object"]):
        out.append(f"_core.pyi: class {sc.name}({', '.join(sc.bases)}), the class derives from "
                   f"({', '.join(native_bases)})")
    if issubclass(cls, BaseException):
        # Exceptions carry `code` and `retryable` per instance (set where they are raised); the
        # stub's annotations on Error are checked by the exception hierarchy tests.
        return out
    own = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__ != "builtins":
            own.update(vars(klass))
    members = public(own)
    if sc.name == "VolumeStatus":  # the old names, added (with a DeprecationWarning) by the package
        from cryptnode.volume_status import DEPRECATED
        members -= set(DEPRECATED)
    declared = set(sc.methods) | sc.readonly | sc.writable
    for m in sorted(members - declared):
        out.append(f"_core.{sc.name}.{m} is not in _core.pyi")
    for m in sorted(declared - members - {"__init__"}):
        out.append(f"_core.pyi declares {sc.name}.{m}, the class has no such member")
    for m in sorted((sc.readonly | sc.writable) & members):
        attr = own[m]
        if isinstance(attr, property):
            writable = attr.fset is not None
            if m in sc.readonly and writable:
                out.append(f"_core.pyi: {sc.name}.{m} is a read-only @property, the class lets "
                           f"it be set")
            if m in sc.writable and not writable:
                out.append(f"_core.pyi: {sc.name}.{m} is a writable attribute, the class "
                           f"makes it read-only (declare it with @property)")
        elif callable(attr) or isinstance(attr, (staticmethod, classmethod)):
            out.append(f"_core.pyi: {sc.name}.{m} is declared as data, the class has a method")
    for m, (params, static) in sc.methods.items():
        if m == "__init__":
            init = cls.__dict__.get("__init__")
            if init is not None:
                out += params_problems(f"_core.{sc.name}.__init__", params,
                                       native_overloads(init))
            continue
        if m not in own:
            continue
        attr = own[m]
        if static != isinstance(attr, staticmethod):
            out.append(f"_core.pyi: {sc.name}.{m} is {'' if static else 'not '}a staticmethod "
                       f"in the stub, {'not ' if static else ''}in the class")
        if isinstance(attr, property):
            out.append(f"_core.pyi: {sc.name}.{m} is declared as a method, the class has a "
                       f"property")
            continue
        fn = getattr(cls, m)
        out += params_problems(f"_core.{sc.name}.{m}", params, native_overloads(fn))
    return out


# --- the tests ------------------------------------------------------------------------------

def test_the_stub_matches_the_native_module():
    assert surface_problems() == []


def test_all_is_what_import_gives():
    exported = set(cryptnode.__all__)
    assert len(exported) == len(cryptnode.__all__), "duplicates in __all__"
    missing = {n for n in exported if not hasattr(cryptnode, n)}
    assert missing == set()
    # Public names of the package that are not in __all__: submodules imported as a side effect
    # are not part of the surface; everything else is.
    offered = {n for n, v in vars(cryptnode).items()
               if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    offered |= {n for n in ("__version__",) if hasattr(cryptnode, n)}
    assert offered - exported == set()
    assert {n for n in exported if not isinstance(getattr(cryptnode, n), types.ModuleType)} \
        == offered
    namespace: dict = {}
    exec("from cryptnode import *", namespace)  # noqa: S102 - what a star import gives
    assert set(namespace) - {"__builtins__"} == exported


def test_reexports_are_the_native_objects():
    for name in cryptnode.__all__:
        if hasattr(_core, name) and not name.startswith("_"):
            assert getattr(cryptnode, name) is getattr(_core, name), name


def test_every_exported_callable_has_a_docstring_or_a_stub():
    functions, classes, _ = load_stub()
    for name in cryptnode.__all__:
        obj = getattr(cryptnode, name)
        if isinstance(obj, types.ModuleType) or not callable(obj):
            continue
        if getattr(obj, "__module__", "") == "cryptnode._core":
            assert name in functions or name in classes, name
        else:
            assert inspect.getdoc(obj), f"cryptnode.{name} has no docstring"


# The checker's own tests: it reports each kind of mismatch.

def test_signature_parsing_and_default_comparison():
    doc = ("apply_config(self: cryptnode._core._Node, yaml: object, mode: str = 'auto', "
           "insecure: bool = False) -> str\n")

    class F:
        __doc__ = doc
    assert native_overloads(F) == [[("yaml", None), ("mode", "'auto'"), ("insecure", "False")]]
    stub = [("yaml", None), ("mode", '"auto"'), ("insecure", "False")]
    assert params_problems("x", stub, native_overloads(F)) == []
    assert params_problems("x", [("yaml", None), ("mode", '"reboot"'), ("insecure", "False")],
                           native_overloads(F))
    assert params_problems("x", [("text", None)], native_overloads(F))
    assert split_top("a: Dict[str, int] = {}, b: str = 'x,y'") == ["a: Dict[str, int] = {}",
                                                                   "b: str = 'x,y'"]


def test_class_checker_reports_writability_and_unknown_members():
    class Fake:
        ro = property(lambda self: 1)
        rw = property(lambda self: 1, lambda self, v: None)

        def go(self):
            """go(self: Fake, n: int = 1) -> None"""

    tree = ast.parse("class Fake:\n    rw: int\n    ro: int\n    missing: int\n"
                     "    def go(self, n: int = 2) -> None: ...\n")
    sc = StubClass(tree.body[0])
    found = class_problems(sc, Fake)
    assert any("Fake.ro is a writable attribute" in p for p in found), found
    assert any("declares Fake.missing" in p for p in found), found
    assert any("_core.Fake.go" in p for p in found), found
