"""cryptnode: Talos Linux disk encryption on a simulated node made of real parts.

The native core lives in cryptnode._core; this package re-exports its public names.
"""

from . import _core
from ._core import (AlreadyExistsError, ConfigInvalidError, ConfigParseError, CorruptError,
                    DeviceBusyError, DeviceNotReadyError, Document, EncryptionKey,
                    EncryptionSpec, Error, FailedPreconditionError, HeaderValidationError,
                    InternalError, InvalidArgumentError, IOError, KeyRejectedError, KeyTPM,
                    LockedError, MachineConfig, NoTokenError, NotFoundError, TimeoutError,
                    TokenInvalidError, UnavailableError, UnsupportedError, format_multierror,
                    parse_config, validate_config, VolumeStatus, NodeSettings, Event)
from .node import KmsServer, Node, parse_size

__version__ = "0.1.0"

__all__ = [
    "AlreadyExistsError", "ConfigInvalidError", "ConfigParseError", "CorruptError",
    "DeviceBusyError", "DeviceNotReadyError", "Document", "EncryptionKey", "EncryptionSpec",
    "Error", "FailedPreconditionError", "HeaderValidationError", "InternalError",
    "InvalidArgumentError", "IOError", "KeyRejectedError", "KeyTPM", "LockedError",
    "MachineConfig", "NoTokenError", "NotFoundError", "TimeoutError", "TokenInvalidError",
    "UnavailableError", "UnsupportedError", "format_multierror", "parse_config",
    "validate_config", "VolumeStatus", "NodeSettings", "Event", "Node", "KmsServer", "parse_size",
    "__version__",
]
