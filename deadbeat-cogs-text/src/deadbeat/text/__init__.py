"""Text cogs: parse lines (JSON, CSV, regex, key=value, syslog), format them back, marshal bytes.

======================  ==============  =============================================
name                    class           what it does
======================  ==============  =============================================
``text.json_parse``     JSONParse       JSON text to a value (orjson if installed)
``text.json_format``    JSONFormat      a value to one line of JSON
``text.csv_parse``      CSVParse        one CSV record to named fields
``text.csv_format``     CSVFormat       chosen fields to one CSV record
``text.regex_parse``    RegexParse      named groups of a regular expression
``text.kv_parse``       KeyValueParse   ``key=value`` pairs, quoted values allowed
``text.grok``           GrokParse       grok patterns (``%{IP:client}``), standard library
``text.cef_parse``      CEFParse        ArcSight Common Event Format records to fields
``text.syslog_parse``   SyslogParse     RFC 5424 and RFC 3164 syslog lines to fields
``text.syslog_format``  SyslogFormat    fields to an RFC 5424 or RFC 3164 syslog line
``text.template``       TemplateFormat  ``$field`` template to text
``text.encode``         Encode          text to bytes
``text.decode``         Decode          bytes to text
``time.parse``          TimeParse       timestamps in chosen formats and zones to UTC
======================  ==============  =============================================
"""

from ._cef import CEFParse
from ._formatters import CSVFormat, Decode, Encode, TemplateFormat
from ._grok import Grok, GrokParse, load_pattern_file
from ._grok_patterns import STANDARD_PATTERNS
from ._json import JSONFormat, JSONParse, dumps, loads
from ._parsers import CSVParse, KeyValueParse, RegexParse
from ._syslog import SyslogFormat, SyslogParse
from ._time import TIME_FORMATS, TimeParse, Timestamps

__all__ = [
    "STANDARD_PATTERNS",
    "CEFParse",
    "Grok",
    "GrokParse",
    "CSVFormat",
    "CSVParse",
    "Decode",
    "Encode",
    "JSONFormat",
    "JSONParse",
    "KeyValueParse",
    "RegexParse",
    "SyslogFormat",
    "SyslogParse",
    "TIME_FORMATS",
    "TemplateFormat",
    "TimeParse",
    "Timestamps",
    "dumps",
    "load_pattern_file",
    "loads",
]
