"""IP address cogs: parsing, anonymisation, CIDR tagging.

This distribution is installable but holds no cogs yet; they are tracked in the
project's issues. Nothing here is imported by the core.
"""

__all__: list[str] = []
