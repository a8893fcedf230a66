"""Socket cogs: listen on TCP, UDP and Unix sockets, and send to them.

=================  ============  ==================================================
name               class         what it does
=================  ============  ==================================================
``socket.listen``  SocketSupply  takes messages from many clients (newline,
                                 octet-counted or syslog framing; datagrams; TLS)
``socket.send``    SocketDrain   sends one message per datum, reconnecting, holding
                                 a bounded amount, acknowledging once written
=================  ============  ==================================================

Standard library only.
"""

from ._framing import FramingError, MessageTooLong, UnfinishedMessage
from ._listen import SocketSupply
from ._send import SocketDrain

__all__ = ["FramingError", "MessageTooLong", "SocketDrain", "SocketSupply", "UnfinishedMessage"]
