"""Supplies and outputs on a broker's streams: Redis Streams and NATS JetStream.

Many Deadbeat processes share one flow through a broker the users already run:
agents write into a stream (``stream.redis_write``, ``stream.nats_write``), and
workers read it as members of one consumer group (``stream.redis``,
``stream.nats``), each message going to one of them. A message is acknowledged
to the broker only once the train is done with it, so a worker that dies loses
nothing; an output counts a datum as done only once the broker confirmed it.

The client libraries are extras, imported only when a cog of their kind is
made: ``deadbeat-cogs-net[redis]`` (redis-py) and ``deadbeat-cogs-net[nats]``
(nats-py).
"""

from ._nats_drain import NATSStreamDrain
from ._nats_supply import NATSStreamSupply
from ._redis_drain import RedisStreamDrain
from ._redis_supply import RedisStreamSupply

__all__ = ["NATSStreamDrain", "NATSStreamSupply", "RedisStreamDrain", "RedisStreamSupply"]
