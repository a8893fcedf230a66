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
from ._inotify import (
    IN_ALL_EVENTS,
    IN_ATTRIB,
    IN_CLOSE_WRITE,
    IN_CREATE,
    IN_DELETE,
    IN_DELETE_SELF,
    IN_IGNORED,
    IN_ISDIR,
    IN_MODIFY,
    IN_MOVE_SELF,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
)
from ._train import Batch, DeadLetterLog, ErrorRecord, Train

__all__ = [
    "BROADCASTS",
    "Batch",
    "IN_ALL_EVENTS",
    "IN_ATTRIB",
    "IN_CLOSE_WRITE",
    "IN_CREATE",
    "IN_DELETE",
    "IN_DELETE_SELF",
    "IN_IGNORED",
    "IN_ISDIR",
    "IN_MODIFY",
    "IN_MOVED_FROM",
    "IN_MOVED_TO",
    "IN_MOVE_SELF",
    "IN_Q_OVERFLOW",
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
