"""The engine: the Escapement event loop, the Train of cogs and their broadcasts.

Everything an application or a cog author needs from the core is re-exported
here under the names of the developer manual.
"""

from ._access import (
    Getter,
    Setter,
    default_id_getter,
    getter,
    itemsetter,
    path_getter,
    path_setter,
    setter,
)
from ._cog import Cog, Supply
from ._escapement import Binding, DummyEscapement, Escapement, InotifyEvent
from ._hooks import BROADCASTS, BroadcastSpec
from ._train import DeadLetterLog, ErrorRecord, Train

__all__ = [
    "BROADCASTS",
    "Binding",
    "BroadcastSpec",
    "Cog",
    "DeadLetterLog",
    "DummyEscapement",
    "ErrorRecord",
    "Escapement",
    "Getter",
    "InotifyEvent",
    "Setter",
    "Supply",
    "Train",
    "default_id_getter",
    "getter",
    "itemsetter",
    "path_getter",
    "path_setter",
    "setter",
]
