"""Flow cogs: filter, reshape, deduplicate, throttle, aggregate, batch and split data.

===================  ==========  ====================================================
name                 class       what it does
===================  ==========  ====================================================
``flow.filter``      Filter      keeps (or drops) data matching a safe expression
``flow.select``      Select      keeps only the named fields
``flow.rename``      Rename      renames fields
``flow.drop_fields`` DropFields  removes fields
``flow.set``         SetFields   gives fields fixed values
``flow.dedupe``      Dedupe      drops repeats of a key within a time window
``flow.throttle``    Throttle    lets through a rate per key
``flow.aggregate``   Aggregate   one datum per key and time window (count, sum, ...)
``flow.batch``       Batch       lists of data by size or time
``flow.split``       Split       one datum per item of a list field
``flow.lookup``      Lookup      fields from a CSV/JSON table by a field's value
``flow.sample``      Sample      keeps 1 in N (or a rate), by key if given
===================  ==========  ====================================================
"""

from ._expression import ExpressionError, compile_expression
from ._group import Aggregate, Batch, Split
from ._lookup import Lookup, Sample, load_table
from ._rate import Dedupe, Throttle
from ._shape import DropFields, Filter, Rename, Select, SetFields

__all__ = [
    "Aggregate",
    "Batch",
    "Dedupe",
    "DropFields",
    "ExpressionError",
    "Filter",
    "Lookup",
    "Rename",
    "Sample",
    "Select",
    "SetFields",
    "Split",
    "Throttle",
    "compile_expression",
    "load_table",
]
