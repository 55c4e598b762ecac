"""mediatag: custom tags for image and video libraries, inside PostgreSQL."""

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .sdk import Client


def __getattr__(name: str):
    # Lazy, so `import mediatag` stays light (no SQLAlchemy/torch) for the CLI and the service.
    if name == "Client":
        from .sdk import Client

        return Client
    raise AttributeError(name)


__all__ = ["Client", "__version__"]
