"""Text cogs: JSON parsing and formatting.

``text.json_parse`` turns a line of JSON into fields of the datum and
``text.json_format`` writes the datum back out as one line of JSON. orjson is
used when the ``orjson`` extra is installed; the results are the same.
"""

from ._json import JSONFormat, JSONParse

__all__ = ["JSONFormat", "JSONParse"]
