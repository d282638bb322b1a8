"""cryptnode.Node: a simulated Talos node (docs/design.md). A thin layer over
cryptnode._core._Node that turns sizes, JSON and bytes into Python values and checks arguments
before they reach the native code (a native call's TypeError would echo its arguments, a config
with its passphrases among them)."""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
import uuid as _uuid
import weakref
from typing import Iterable, Optional, Union

from . import _core

Size = Union[int, str]
ConfigText = Union[bytes, bytearray, memoryview, str]

_UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
          "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12}
MAX_DISK_SIZE = 1 << 44  # 16 TiB: ext4's largest file, where node disk images usually live


def _error(cls, message: str):
    """An exception of one of _core's classes, raised from Python."""
    e = cls(message)
    e.retryable = False
    return e


def parse_size(size: Size) -> int:
    """1073741824, "1GiB", "512MiB", "2GB" -> bytes (positive, at most 16 TiB)."""
    if isinstance(size, bool) or not isinstance(size, (int, str)):
        raise ValueError(f"invalid size {size!r}: expected bytes or a number with a unit")
    if isinstance(size, int):
        value = size
    else:
        m = re.fullmatch(r"\s*(\d+)\s*([KMGT]i?B|B)?\s*", size, re.IGNORECASE)
        if not m:
            raise ValueError(f"invalid size {size!r}: expected bytes or a number with "
                             f"B, KiB, MiB, GiB, TiB, KB, MB, GB or TB")
        value = int(m.group(1)) * _UNITS[(m.group(2) or "").upper()]
    if value <= 0:
        raise ValueError(f"invalid size {size!r}: must be positive")
    if value > MAX_DISK_SIZE:
        raise ValueError(f"invalid size {size!r}: larger than 16 TiB")
    return value


def config_bytes(config: ConfigText, what: str = "config") -> bytes:
    """A config as the bytes Talos decodes (str is encoded as UTF-8)."""
    if isinstance(config, (bytes, bytearray, memoryview)):
        return bytes(config)
    if isinstance(config, str):
        try:
            return config.encode("utf-8", "surrogateescape")  # bytes read with surrogateescape
        except UnicodeEncodeError as e:
            raise ValueError(f"{what}: a lone surrogate (U+{ord(e.object[e.start]):04X}) at "
                             f"character {e.start} cannot be encoded as UTF-8") from None
    raise TypeError(f"{what} must be bytes or str, not {type(config).__name__}")


def _boolean(name: str, value) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return value


def _text(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    return value


# Nodes open in this process, by real path: the directory lock is per open file, so a second open
# here would otherwise read as "locked by another process" with this process's own pid.
_OPEN: "weakref.WeakValueDictionary[str, Node]" = weakref.WeakValueDictionary()


def _claim(path) -> str:
    real = os.path.realpath(os.fspath(path)) if os.fspath(path) else ""
    other = _OPEN.get(real) if real else None
    if other is not None and other._n is not None:
        raise _error(_core.LockedError,
                     f"node directory {os.fspath(path)} is already open in this process "
                     f"(close that Node first)")
    return real


class Node:
    """A node directory and, while powered on, its loop devices, volumes and mounts."""

    DEFAULT_DISKS = ("1GiB", "512MiB")  # the system disk, then one disk for user volumes

    def __init__(self, core: "_core._Node", real_path: str = ""):
        self._n = core
        self._real = real_path or os.path.realpath(core.path)
        _OPEN[self._real] = self

    @classmethod
    def create(cls, path, uuid: Optional[str] = None, disks: Optional[Iterable[Size]] = None,
               tpm: bool = True, secure_boot: bool = True, pbkdf: str = "fast",
               talos_version: str = "1.12", backend: str = "auto",
               layout: str = "compact", trusted_cas: Iterable[str] = (),
               uki_vendor: str = "siderolabs") -> "Node":
        """trusted_cas: PEM certificates in the node's OS CA bundle (what its KMS client trusts
        for https:// endpoints before any machine config is loaded), kept in node.json.
        uki_vendor: whose PCR signing key signs the node's UKIs (official releases share
        "siderolabs"; keys sealed under one vendor's PCR 11 policy do not unseal under another)."""
        s = _core.NodeSettings()
        s.uuid = str(_uuid.uuid4()) if uuid is None else _text("uuid", uuid)
        s.tpm, s.secure_boot = _boolean("tpm", tpm), _boolean("secure_boot", secure_boot)
        s.pbkdf, s.talos_version = _text("pbkdf", pbkdf), _text("talos_version", talos_version)
        s.backend, s.layout = _text("backend", backend), _text("layout", layout)
        s.uki_vendor = _text("uki_vendor", uki_vendor)
        if isinstance(trusted_cas, (str, bytes)):
            raise TypeError("trusted_cas must be a list of PEM texts, not one text")
        s.trusted_ca_pem = [_text("trusted_cas entry", pem) for pem in trusted_cas]
        for i, size in enumerate(cls.DEFAULT_DISKS if disks is None else disks):
            s.add_disk("system" if i == 0 else f"disk{i}", parse_size(size))
        real = _claim(path)
        return cls(_core._Node.create(os.fspath(path), s), real)

    @classmethod
    def open(cls, path) -> "Node":
        """Opens a node directory (powered off). Anything a crashed owner left behind (mounts,
        the FUSE mapper, loop devices) is cleared here."""
        real = _claim(path)
        return cls(_core._Node.open(os.fspath(path)), real)

    # --- power and operations -------------------------------------------------------------
    def boot(self, config: Optional[ConfigText] = None) -> None:
        """Power on and run the boot sequence. `config` (bytes or str) is offered the way a
        cmdline/platform config is: used only when STATE holds none."""
        self._core().boot(None if config is None else config_bytes(config))

    def reboot(self) -> None:
        self._core().reboot()

    def upgrade(self, to: str) -> str:
        """talosctl upgrade: reboot into another Talos release (a version as talos_version takes,
        e.g. "1.11.0", "1.12" or "1.11.0-beta.1"), disks kept; a rollback is an upgrade to the
        earlier release. A node that is off stays off and boots the new release next time.
        Returns the version now installed ("1.12" -> "1.12.11")."""
        return self._core().upgrade(_text("to", to))

    def shutdown(self) -> None:
        self._core().shutdown()

    def power_cut(self) -> None:
        self._core().power_cut()

    def apply_config(self, config: ConfigText, mode: str = "auto", insecure: bool = False) -> str:
        """talosctl apply-config; returns the mode applied (auto -> reboot or no-reboot)."""
        return self._core().apply_config(config_bytes(config), _text("mode", mode),
                                         _boolean("insecure", insecure))

    def patch_config(self, patch: ConfigText, mode: str = "auto") -> str:
        """talosctl patch machineconfig --patch ... --mode: the patch (strategic merge: documents
        matched by apiVersion/kind/name, maps merged, lists appended, `$patch: delete` removes)
        over the active config, applied in `mode`. Returns the mode applied."""
        return self._core().patch_config(config_bytes(patch), _text("mode", mode))

    def reset(self, system_labels_to_wipe=("EPHEMERAL",), reboot: bool = False,
              graceful: bool = True) -> None:
        """talosctl reset --system-labels-to-wipe ... (talosctl's default: --reboot=false, the
        node powers off afterwards)."""
        if isinstance(system_labels_to_wipe, str):
            system_labels_to_wipe = [system_labels_to_wipe]
        labels = [_text("system_labels_to_wipe[]", x) for x in system_labels_to_wipe]
        self._core().reset(labels, _boolean("reboot", reboot), _boolean("graceful", graceful))

    def advance(self, seconds: float) -> None:
        """Moves the node's virtual clock forward (retry ticks, try-mode rollback)."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"seconds must be a number, not {type(seconds).__name__}")
        try:
            value = float(seconds)
        except OverflowError:
            value = math.inf
        self._core().advance(value)

    def crash_at(self, point: str) -> None:
        """Arms a fault point (a name of cryptnode.fault_points()): when the node reaches it, in
        any operation, it loses power right there. "<name>#<N>" fires at the Nth reach counted
        from now (docs/fault-points.md#naming-one-instance). Fires once; "" disarms; see
        last_crash."""
        self._core().crash_at(_text("point", point))

    @property
    def last_crash(self) -> str:
        """The fault point of the last crash since power-on ("" when none)."""
        return self._core().last_crash

    @property
    def clock_ms(self) -> int:
        """The node's virtual clock, in milliseconds."""
        return self._core().clock_ms

    def set_firmware(self, secure_boot: bool = True, setup_mode: bool = False) -> None:
        self._core().set_firmware(_boolean("secure_boot", secure_boot),
                                  _boolean("setup_mode", setup_mode))

    def clear_tpm(self) -> None:
        self._core().clear_tpm()

    def set_tpm_latency(self, seconds: float) -> None:
        """A slow TPM (talos#13056): each seal and unseal advances the node's virtual clock by
        `seconds` (0..3600), from the next power-on."""
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"seconds must be a number, not {type(seconds).__name__}")
        self._core().set_tpm_latency(float(seconds))

    # --- views ------------------------------------------------------------------------------
    @property
    def path(self) -> str:
        return self._core().path

    @property
    def swtpm_run_dir(self) -> str:
        """Where the node's swtpm keeps its socket, pid file and log while it runs
        (/run/cryptnode/<first 16 hex digits of SHA-256 of the node path>); gone once the node is
        closed."""
        return self._core().swtpm_run_dir

    @property
    def powered_on(self) -> bool:
        return self._core().powered_on

    @property
    def maintenance(self) -> bool:
        return self._core().maintenance

    @property
    def running(self) -> bool:
        return self._core().running

    @property
    def state(self) -> str:
        """off, maintenance, running, or booting (powered on, a volume not settled yet)."""
        n = self._core()
        if not n.powered_on:
            return "off"
        return "maintenance" if n.maintenance else "running" if n.running else "booting"

    def volume_status(self, volume_id: str):
        return self._core().volume_status(_text("volume_id", volume_id))

    def volumes(self):
        return self._core().volumes()

    def devices(self) -> dict:
        return dict(self._core().devices())

    def luks_dump(self, volume_id: str) -> dict:
        return json.loads(self._core().luks_dump(_text("volume_id", volume_id)))

    def meta(self) -> dict:
        return json.loads(self._core().meta())

    def meta_write(self, tag: int, value) -> None:
        """talosctl meta write TAG VALUE (e.g. 0x0f: UUID override, live as in Talos)."""
        if isinstance(value, str):
            value = value.encode()
        self._core().meta_write(int(tag), bytes(value))

    def meta_delete(self, tag: int) -> None:
        self._core().meta_delete(int(tag))

    def active_config(self) -> str:
        return self._core().active_config()

    def events(self):
        return list(self._core().events())

    def write_file(self, volume_id: str, path: str, data: bytes) -> None:
        """Writes a file beneath the volume's mount (atomically; a path that resolves outside the
        volume, a directory or a NUL byte in the path is refused)."""
        if isinstance(data, str):
            data = data.encode()
        self._core().write_file(_text("volume_id", volume_id), _text("path", path), bytes(data))

    def read_file(self, volume_id: str, path: str) -> bytes:
        return self._core().read_file(_text("volume_id", volume_id), _text("path", path))

    # --- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        """Powers off cleanly (if on) and releases the node directory."""
        if self._n is not None:
            n, self._n = self._n, None
            try:
                n.shutdown()
            finally:
                del n
                if _OPEN.get(self._real) is self:
                    del _OPEN[self._real]

    def __enter__(self) -> "Node":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _core(self):
        if self._n is None:
            raise _error(_core.FailedPreconditionError, "node is closed")
        return self._n

    def __repr__(self) -> str:
        if self._n is None:
            return "Node(closed)"
        return f"Node({self.path!r}, {self.state})"


# --- KMS ------------------------------------------------------------------------------------

def parse_listen(listen: str, allow_remote: bool = False) -> str:
    """Checks a KMS listen address: host:port ([v6]:port) or unix:/path. A host that is not
    loopback needs allow_remote (the server is plaintext gRPC, like `talosctl kms-launch`)."""
    listen = _text("listen", listen)
    if listen.startswith("unix:"):
        if len(listen) == len("unix:"):
            raise _error(_core.InvalidArgumentError, f"--listen {listen!r}: empty unix socket path")
        return listen
    m = re.fullmatch(r"\[([^\]]*)\]:(\d+)|([^:\[\]]*):(\d+)", listen)
    if not m:
        raise _error(_core.InvalidArgumentError,
                     f"--listen {listen!r}: expected HOST:PORT, [IPv6]:PORT or unix:/path")
    host, port = (m.group(1), m.group(2)) if m.group(2) else (m.group(3), m.group(4))
    if int(port) > 65535:
        raise _error(_core.InvalidArgumentError,
                     f"--listen {listen!r}: port {port} is out of range (0-65535)")
    if host == "localhost":
        return listen
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise _error(_core.InvalidArgumentError,
                     f"--listen {listen!r}: {host!r} is not an IP address") from None
    if not ip.is_loopback and not allow_remote:
        raise _error(_core.InvalidArgumentError,
                     f"--listen {listen!r}: {host} is not a loopback address; the KMS serves "
                     f"plaintext gRPC: pass --allow-remote to listen on it anyway")
    return listen


class KmsServer:
    """A sidero.kms.KMSService gRPC server on loopback, like `talosctl kms-launch`: plaintext, or
    TLS with a CA generated at start and a certificate for localhost, 127.0.0.1 and ::1.

    kms = KmsServer.start(); kms.endpoint -> "grpc://127.0.0.1:PORT"
    kms = KmsServer.start(tls=True); kms.endpoint -> "https://127.0.0.1:PORT"; kms.ca_pem (the CA)
    KmsServer.start(tls=True, cert="expired" | "wrong-name" | "self-signed"): a broken certificate
    kms.set_fault("down" | "slow" | "garbage" | "other-key" | None); kms.stop()"""

    CERTS = ("valid", "expired", "wrong-name", "self-signed")

    def __init__(self, core):
        self._k = core

    @classmethod
    def start(cls, listen: str = "127.0.0.1:0", tls: bool = False,
              allow_remote: bool = False, cert: str = "valid") -> "KmsServer":
        tls, cert = _boolean("tls", tls), _text("cert", cert)
        if cert not in cls.CERTS:
            raise _error(_core.InvalidArgumentError,
                         f"cert {cert!r} is not one of {', '.join(cls.CERTS)}")
        if cert != "valid" and not tls:
            raise _error(_core.InvalidArgumentError, f"cert {cert!r} needs tls=True")
        listen = parse_listen(listen, _boolean("allow_remote", allow_remote))
        if tls and listen.startswith("unix:"):
            raise _error(_core.InvalidArgumentError,
                         f"--listen {listen!r}: KMS over TLS listens on TCP only (a Talos "
                         f"endpoint cannot name a unix socket)")
        return cls(_core._KmsServer.start(listen, tls, cert))

    @property
    def ca_pem(self) -> str:
        """The PEM certificate a node must trust for this server (its CA; the certificate itself
        for cert="self-signed"); "" for a plaintext server."""
        return self._k.ca_pem

    @property
    def endpoint(self) -> str:
        return self._k.endpoint

    @property
    def calls(self) -> int:
        return self._k.calls

    def set_fault(self, fault: Optional[str]) -> None:
        self._k.set_fault(_text("fault", fault or ""))

    def stop(self) -> None:
        self._k.stop()

    def __enter__(self) -> "KmsServer":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
