"""Routing: one train's data sent on to several trains of their own, chosen by condition.

:class:`Router` is the last cog of a train; each :class:`Route` has a condition
(a filter expression, or a function of the datum) and a train of its own cogs.
Acknowledgement of the train waits for every route a datum took. Pipeline files
write routes as ``[[route]]`` tables (see :mod:`deadbeat.pipeline`).
"""

from ._router import NoRoute, Route, Router, compile_condition

__all__ = ["NoRoute", "Route", "Router", "compile_condition"]
