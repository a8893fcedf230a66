"""How big a value is, roughly, for the cogs that copy or keep what data hold.

The estimate is of the text the value would take as JSON, and of the memory it
holds, whichever counts more for each part: a text or bytes its length, any
other scalar 8 bytes, and each entry of a mapping or list 16 bytes more (plus
its key's length). It is counted without recursion, and stops as soon as it
passes a budget, so an oversized or nested datum costs no more than the budget
to refuse.
"""

from __future__ import annotations

from typing import Any

__all__ = ["weight"]

#: What each entry of a mapping or a list adds.
ENTRY = 16
#: What a number, a boolean or None adds.
SCALAR = 8


def weight(value: Any, budget: int, skip: Any = None) -> int:
    """:returns: the estimated size of ``value`` in bytes, or a number above ``budget`` once past it.

    :param skip: a container inside ``value`` (by identity) not to count.
    """
    total = 0
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bytes or kind is bytearray:
            total += len(item)
        elif kind is dict:
            if item is skip:
                continue
            total += ENTRY * len(item) + sum(len(k) if type(k) is str else SCALAR for k in item)
            push(item.values())
        elif kind is list or kind is tuple:
            if item is skip:
                continue
            total += ENTRY * len(item)
            push(item)
        else:
            total += SCALAR
        if total > budget:
            return total
    return total
