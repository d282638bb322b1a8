"""cryptnode.Node: a simulated Talos node (DESIGN.md §3). A thin layer over cryptnode._core._Node
that turns sizes, JSON and bytes into Python values."""

from __future__ import annotations

import json
import re
import uuid as _uuid
from typing import Iterable, Optional, Union

from . import _core

Size = Union[int, str]

_UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}


def parse_size(size: Size) -> int:
    """1073741824, "1GiB", "512MiB", "2GB" -> bytes."""
    if isinstance(size, bool):
        raise ValueError(f"invalid size {size!r}")
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"invalid size {size!r}: must be positive")
        return size
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]i?B|B)?\s*", str(size), re.IGNORECASE)
    if not m:
        raise ValueError(f"invalid size {size!r}: expected bytes or a number with KiB/MiB/GiB/TiB")
    return int(m.group(1)) * _UNITS[(m.group(2) or "").upper()]


class Node:
    """A node directory and, while powered on, its loop devices, volumes and mounts."""

    DEFAULT_DISKS = ("1GiB", "512MiB")  # the system disk, then one disk for user volumes

    def __init__(self, core: "_core._Node"):
        self._n = core

    @classmethod
    def create(cls, path, uuid: Optional[str] = None, disks: Optional[Iterable[Size]] = None,
               tpm: bool = True, secure_boot: bool = True, pbkdf: str = "fast",
               talos_version: str = "1.12", backend: str = "auto",
               layout: str = "compact") -> "Node":
        s = _core.NodeSettings()
        s.uuid = str(_uuid.uuid4()) if uuid is None else uuid
        s.tpm, s.secure_boot, s.pbkdf = tpm, secure_boot, pbkdf
        s.talos_version, s.backend, s.layout = talos_version, backend, layout
        for i, size in enumerate(cls.DEFAULT_DISKS if disks is None else disks):
            s.add_disk("system" if i == 0 else f"disk{i}", parse_size(size))
        return cls(_core._Node.create(str(path), s))

    @classmethod
    def open(cls, path) -> "Node":
        return cls(_core._Node.open(str(path)))

    # --- power and operations -------------------------------------------------------------
    def boot(self, config: Optional[str] = None) -> None:
        self._core().boot(config)

    def reboot(self) -> None:
        self._core().reboot()

    def shutdown(self) -> None:
        self._core().shutdown()

    def power_cut(self) -> None:
        self._core().power_cut()

    def apply_config(self, yaml_text: str, mode: str = "auto", insecure: bool = False) -> str:
        return self._core().apply_config(yaml_text, mode, insecure)

    def reset(self, system_labels_to_wipe=("EPHEMERAL",), reboot: bool = True,
              graceful: bool = True) -> None:
        if isinstance(system_labels_to_wipe, str):
            system_labels_to_wipe = [system_labels_to_wipe]
        self._core().reset(list(system_labels_to_wipe), reboot, graceful)

    def advance(self, seconds: float) -> None:
        self._core().advance(float(seconds))

    def set_firmware(self, secure_boot: bool = True, setup_mode: bool = False) -> None:
        self._core().set_firmware(secure_boot, setup_mode)

    def clear_tpm(self) -> None:
        self._core().clear_tpm()

    # --- views ------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._core().path

    @property
    def powered_on(self) -> bool:
        return self._core().powered_on

    @property
    def maintenance(self) -> bool:
        return self._core().maintenance

    @property
    def running(self) -> bool:
        return self._core().running

    def volume_status(self, volume_id: str):
        return self._core().volume_status(volume_id)

    def volumes(self):
        return self._core().volumes()

    def devices(self) -> dict:
        return dict(self._core().devices())

    def luks_dump(self, volume_id: str) -> dict:
        return json.loads(self._core().luks_dump(volume_id))

    def meta(self) -> dict:
        return json.loads(self._core().meta())

    def meta_write(self, tag: int, value) -> None:
        """talosctl meta write TAG VALUE (e.g. 0x0f: UUID override, effective from the next boot)."""
        if isinstance(value, str):
            value = value.encode()
        self._core().meta_write(int(tag), bytes(value).decode("latin-1"))

    def meta_delete(self, tag: int) -> None:
        self._core().meta_delete(int(tag))

    def active_config(self) -> str:
        return self._core().active_config()

    def events(self):
        return list(self._core().events())

    def write_file(self, volume_id: str, path: str, data: bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        self._core().write_file(volume_id, path, bytes(data))

    def read_file(self, volume_id: str, path: str) -> bytes:
        return self._core().read_file(volume_id, path)

    # --- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Powers off cleanly (if on) and releases the node directory."""
        if self._n is not None:
            n, self._n = self._n, None
            try:
                n.shutdown()
            finally:
                del n

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _core(self):
        if self._n is None:
            raise _core.FailedPreconditionError("node is closed")
        return self._n

    def __repr__(self) -> str:
        if self._n is None:
            return "Node(closed)"
        state = "maintenance" if self.maintenance else "running" if self.running else \
            "on" if self.powered_on else "off"
        return f"Node({self.path!r}, {state})"


class KmsServer:
    """A sidero.kms.KMSService gRPC server on loopback (plaintext), like `talosctl kms-launch`.

    kms = KmsServer.start(); kms.endpoint -> "grpc://127.0.0.1:PORT"
    kms.set_fault("down" | "slow" | "garbage" | "other-key" | None); kms.stop()"""

    def __init__(self, core):
        self._k = core

    @classmethod
    def start(cls, listen: str = "127.0.0.1:0", tls: bool = False) -> "KmsServer":
        if tls:
            raise _core.UnsupportedError("KMS over TLS is not supported by this build yet")
        return cls(_core._KmsServer.start(listen))

    @property
    def endpoint(self) -> str:
        return self._k.endpoint

    @property
    def calls(self) -> int:
        return self._k.calls

    def set_fault(self, fault: Optional[str]) -> None:
        self._k.set_fault(fault or "")

    def stop(self) -> None:
        self._k.stop()

    def __enter__(self) -> "KmsServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
