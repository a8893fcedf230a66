"""The standard grok pattern library: named regular expressions that refer to each other.

Written for RE2 (no lookaround, no backreferences, no atomic groups), so
every pattern runs in time linear in the line. The names and the fields the
log patterns capture (``clientip``, ``verb``, ``response``...) are the ones
grok users know from Logstash; the expressions are our own.

Each entry is ``NAME: expression``; ``%{OTHER}`` in an expression refers to
another entry and is always wrapped in a group, so an alternation inside
``OTHER`` never leaks into its surroundings.
"""

from __future__ import annotations

__all__ = ["STANDARD_PATTERNS"]

_H16 = "[0-9A-Fa-f]{1,4}"

#: Name to expression; ``%{NAME}`` and ``%{NAME:field[:type]}`` refer to other entries.
STANDARD_PATTERNS: dict[str, str] = {
    # -- words, numbers, text ---------------------------------------------
    "USERNAME": r"[a-zA-Z0-9._-]+",
    "USER": r"%{USERNAME}",
    "EMAILLOCALPART": r"[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    "EMAILADDRESS": r"%{EMAILLOCALPART}@%{HOSTNAME}",
    "INT": r"[+-]?[0-9]+",
    "BASE10NUM": r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)",
    "NUMBER": r"%{BASE10NUM}",
    "BASE16NUM": r"[+-]?(?:0[xX])?[0-9A-Fa-f]+",
    "BASE16FLOAT": r"[+-]?(?:0[xX])?(?:[0-9A-Fa-f]+(?:\.[0-9A-Fa-f]*)?|\.[0-9A-Fa-f]+)",
    "POSINT": r"[1-9][0-9]*",
    "NONNEGINT": r"[0-9]+",
    "WORD": r"\b\w+\b",
    "NOTSPACE": r"\S+",
    "SPACE": r"\s*",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    # Each quote's body as runs of plain characters between escapes ("unrolled"): the same
    # strings as (?:[^"\\]|\\.)*, but a backtracking engine (the guarded engine's re) takes
    # a run at a time instead of a group per character, three times faster on a browser's
    # user agent.
    "QUOTEDSTRING": r"\"[^\"\\]*(?:\\.[^\"\\]*)*\"|'[^'\\]*(?:\\.[^'\\]*)*'|`[^`\\]*(?:\\.[^`\\]*)*`",
    "QS": r"%{QUOTEDSTRING}",
    "UUID": r"[A-Fa-f0-9]{8}-(?:[A-Fa-f0-9]{4}-){3}[A-Fa-f0-9]{12}",
    # -- networking ---------------------------------------------------------
    "CISCOMAC": r"(?:[A-Fa-f0-9]{4}\.){2}[A-Fa-f0-9]{4}",
    "WINDOWSMAC": r"(?:[A-Fa-f0-9]{2}-){5}[A-Fa-f0-9]{2}",
    "COMMONMAC": r"(?:[A-Fa-f0-9]{2}:){5}[A-Fa-f0-9]{2}",
    "MAC": r"%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC}",
    "IPV4": r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}",
    # Every textual form of RFC 4291 section 2.2: full, "::" in any place, an
    # IPv4 tail, and a zone after "%". Tried in this order; RE2 still finds a
    # later alternative when an earlier one leaves the rest of the line unmatched.
    "IPV6": (
        "(?:"
        f"(?:{_H16}:){{7}}{_H16}"
        f"|(?:{_H16}:){{6}}%{{IPV4}}"
        f"|(?:{_H16}:){{1,7}}:"
        f"|(?:{_H16}:){{1,6}}:{_H16}"
        f"|(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}"
        f"|(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}"
        f"|(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}"
        f"|(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}"
        f"|{_H16}:(?::{_H16}){{1,6}}"
        f"|:(?:(?::{_H16}){{1,7}}|:)"
        f"|(?:{_H16}:){{1,5}}:%{{IPV4}}"
        f"|(?:{_H16}:){{1,4}}:{_H16}:%{{IPV4}}"
        f"|(?:{_H16}:){{1,3}}:(?:{_H16}:){{1,2}}%{{IPV4}}"
        f"|(?:{_H16}:){{1,2}}:(?:{_H16}:){{1,3}}%{{IPV4}}"
        f"|{_H16}::(?:{_H16}:){{1,4}}%{{IPV4}}"
        f"|::(?:{_H16}:){{0,5}}%{{IPV4}}"
        ")(?:%[0-9A-Za-z._~-]+)?"
    ),
    "IP": r"%{IPV6}|%{IPV4}",
    "HOSTNAME": r"[0-9A-Za-z](?:[0-9A-Za-z_-]*[0-9A-Za-z])?(?:\.[0-9A-Za-z](?:[0-9A-Za-z_-]*[0-9A-Za-z])?)*\.?",
    "HOST": r"%{HOSTNAME}",
    "IPORHOST": r"%{IP}|%{HOSTNAME}",
    "HOSTPORT": r"%{IPORHOST}:%{POSINT}",
    # -- paths and URIs -----------------------------------------------------
    "UNIXPATH": r"(?:/[\w_%!$@:.,+~-]*)+",
    "TTY": r"/dev/(?:pts|tty(?:[pq])?)(?:\w+)?/?(?:[0-9]+)",
    "WINPATH": r"(?:[A-Za-z]+:|\\)(?:\\[^\\?*]*)+",
    "PATH": r"%{UNIXPATH}|%{WINPATH}",
    "URIPROTO": r"[A-Za-z][A-Za-z0-9+.-]*",
    "URIHOST": r"%{IPORHOST}(?::%{POSINT})?",
    "URIPATH": r"(?:/[A-Za-z0-9$.+!*'(){},~:;=@#%&_\-]*)+",
    "URIPARAM": r"\?[A-Za-z0-9$.+!*'|(){},~@#%&/=:;_?\-\[\]<>]*",
    "URIPATHPARAM": r"%{URIPATH}(?:%{URIPARAM})?",
    "URI": r"%{URIPROTO}://(?:%{USER}(?::[^@]*)?@)?(?:%{URIHOST})?(?:%{URIPATHPARAM})?",
    # -- dates and times ----------------------------------------------------
    "MONTH": (
        r"\b(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|Jun(?:e)?|Jul(?:y)?|Aug(?:ust)?"
        r"|Sep(?:tember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b"
    ),
    "MONTHNUM": r"0?[1-9]|1[0-2]",
    "MONTHNUM2": r"0[1-9]|1[0-2]",
    "MONTHDAY": r"0[1-9]|[12][0-9]|3[01]|[1-9]",
    "DAY": r"\b(?:Mon(?:day)?|Tue(?:sday)?|Wed(?:nesday)?|Thu(?:rsday)?|Fri(?:day)?|Sat(?:urday)?|Sun(?:day)?)\b",
    "YEAR": r"[0-9]{2}(?:[0-9]{2})?",
    "HOUR": r"2[0-3]|[01]?[0-9]",
    "MINUTE": r"[0-5][0-9]",
    "SECOND": r"(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?",
    "TIME": r"%{HOUR}:%{MINUTE}(?::%{SECOND})?",
    "DATE_US": r"%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}",
    "DATE_EU": r"%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}",
    "ISO8601_TIMEZONE": r"Z|[+-]%{HOUR}(?::?%{MINUTE})?",
    "ISO8601_SECOND": r"%{SECOND}",
    "TIMESTAMP_ISO8601": (r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?"),
    "DATE": r"%{DATE_US}|%{DATE_EU}",
    "DATESTAMP": r"%{DATE}[- ]%{TIME}",
    "TZ": r"[APMCE][SD]T|UTC",
    "DATESTAMP_RFC822": r"%{DAY} %{MONTH} %{MONTHDAY} %{YEAR} %{TIME} %{TZ}",
    "DATESTAMP_RFC2822": r"%{DAY}, %{MONTHDAY} %{MONTH} %{YEAR} %{TIME} %{ISO8601_TIMEZONE}",
    "DATESTAMP_OTHER": r"%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{TZ} %{YEAR}",
    "HTTPDATE": r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}",
    # -- syslog -------------------------------------------------------------
    "SYSLOGTIMESTAMP": r"%{MONTH} +%{MONTHDAY} %{TIME}",
    "PROG": r"[\x21-\x5a\x5c\x5e-\x7e]+",
    "SYSLOGPROG": r"%{PROG:program}(?:\[%{POSINT:pid}\])?",
    "SYSLOGHOST": r"%{IPORHOST}",
    "SYSLOGFACILITY": r"<%{NONNEGINT:facility}.%{NONNEGINT:priority}>",
    "SYSLOGBASE": r"%{SYSLOGTIMESTAMP:timestamp} (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:logsource} %{SYSLOGPROG}:",
    "SYSLOGLINE": r"%{SYSLOGBASE} ?%{GREEDYDATA:message}",
    "LOGLEVEL": (
        r"[Aa]lert|ALERT|[Tt]race|TRACE|[Dd]ebug|DEBUG|[Nn]otice|NOTICE|[Ii]nfo(?:rmation)?|INFO(?:RMATION)?"
        r"|[Ww]arn(?:ing)?|WARN(?:ING)?|[Ee]rr(?:or)?|ERR(?:OR)?|[Cc]rit(?:ical)?|CRIT(?:ICAL)?|[Ff]atal|FATAL"
        r"|[Ss]evere|SEVERE|[Ee]merg(?:ency)?|EMERG(?:ENCY)?"
    ),
    # -- web servers (Apache httpd, nginx) ----------------------------------
    # Lighter than IPORHOST and EMAILADDRESS|USER on purpose: the pattern's size
    # decides RE2's speed (a small program is matched by its fast backtracker,
    # a large one by the slower NFA), and access logs are the busiest input. A
    # client is an IPv4 address, a host name, or text of IPv6's characters with
    # a colon (ip.parse validates it further); a user is any run httpd writes
    # without spaces, quotes or brackets.
    "HTTPDCLIENT": r"%{IPV4}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]*(?:%[0-9A-Za-z._~-]+)?|%{HOSTNAME}",
    "HTTPDUSER": r"[^\s\[\]\"]+",
    "HTTPDERROR_DATE": r"%{DAY} %{MONTH} %{MONTHDAY} %{TIME} %{YEAR}",
    "COMMONAPACHELOG": (
        r"%{HTTPDCLIENT:clientip} %{HTTPDUSER:ident} %{HTTPDUSER:auth} \[%{HTTPDATE:timestamp}\] "
        r'"(?:%{WORD:verb} %{NOTSPACE:request}(?: HTTP/%{NUMBER:httpversion})?|%{DATA:rawrequest})" '
        r"%{NUMBER:response} (?:%{NUMBER:bytes}|-)"
    ),
    "COMBINEDAPACHELOG": r"%{COMMONAPACHELOG} %{QS:referrer} %{QS:agent}",
    "NGINXACCESS": r"%{COMBINEDAPACHELOG}",
}
