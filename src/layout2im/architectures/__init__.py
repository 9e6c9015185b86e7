"""Generator architectures, registered by name; see :mod:`.registry` for the contract."""

from .registry import (
    IMAGE_CODE,
    OBJECT_CODE,
    Architecture,
    Capabilities,
    LatentCode,
    LatentCodes,
    UnknownArchitectureError,
    UnsupportedError,
    architecture_names,
    get_architecture,
    register_architecture,
    unregister_architecture,
)

__all__ = [
    "IMAGE_CODE",
    "OBJECT_CODE",
    "Architecture",
    "Capabilities",
    "LatentCode",
    "LatentCodes",
    "UnknownArchitectureError",
    "UnsupportedError",
    "architecture_names",
    "get_architecture",
    "register_architecture",
    "unregister_architecture",
]
