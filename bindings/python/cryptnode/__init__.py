"""cryptnode: Talos Linux disk encryption on a simulated node made of real parts.

The native core lives in cryptnode._core; this package re-exports its public names. No public name
shadows a built-in: the errors of code "io" and "timeout" are OSEffectError and
DeadlineExceededError (their old names IOError and TimeoutError stay importable from
cryptnode._core only)."""

try:
    from . import _core
except ImportError as e:  # a source tree without the built module
    raise ImportError(f"cryptnode: the native module cryptnode._core is missing or does not load "
                      f"({e}); build it (`make build`) or put its directory on PYTHONPATH") from e
from ._core import (AlreadyExistsError, ConfigInvalidError, ConfigParseError, CorruptError,
                    DeviceBusyError, DeviceNotReadyError, Document, EncryptionKey,
                    EncryptionSpec, Error, Event, FailedPreconditionError, HeaderValidationError,
                    InternalError, InvalidArgumentError, KeyRejectedError, KeyTPM, LockedError,
                    MachineConfig, NodeSettings, NoTokenError, NotFoundError, TokenInvalidError,
                    UnavailableError, UnsupportedError, VolumeStatus, check_config,
                    fault_points, format_multierror, gen_config, known_versions, parse_config,
                    resolve_version, rule_applies, strategic_merge, validate_config, versions)
from . import configs
from .node import KmsServer, Node, parse_size
from .volume_status import install_deprecated_aliases as _install_deprecated_aliases

# Until the native module registers the new names itself, they are the same classes as the old.
OSEffectError = getattr(_core, "OSEffectError", None) or getattr(_core, "IOError")
DeadlineExceededError = (getattr(_core, "DeadlineExceededError", None)
                         or getattr(_core, "TimeoutError"))

_install_deprecated_aliases(VolumeStatus)

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError", "ConfigInvalidError", "ConfigParseError", "CorruptError",
    "DeadlineExceededError", "DeviceBusyError", "DeviceNotReadyError", "Document",
    "EncryptionKey", "EncryptionSpec", "Error", "Event", "FailedPreconditionError",
    "HeaderValidationError", "InternalError", "InvalidArgumentError", "KeyRejectedError",
    "KeyTPM", "KmsServer", "LockedError", "MachineConfig", "Node", "NodeSettings",
    "NoTokenError", "NotFoundError", "OSEffectError", "TokenInvalidError", "UnavailableError",
    "UnsupportedError", "VolumeStatus", "check_config", "configs", "fault_points",
    "format_multierror", "gen_config", "known_versions", "parse_config", "parse_size",
    "resolve_version", "rule_applies", "strategic_merge", "validate_config", "versions",
    "__version__",
]
