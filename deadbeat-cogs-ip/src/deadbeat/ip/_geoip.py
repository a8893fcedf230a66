"""Where an address is: country, city and network owner from MaxMind DB files (GeoLite2, GeoIP2, DB-IP).

The ``maxminddb`` reader (the ``geoip`` extra) does the lookup, in C where its
extension is built. Around it, per datum, this cog does only three things:
find the address, pick the chosen properties out of the record (a plan of
key paths made once, when the cog is built), and set the result.

Several databases. City and ASN data come in separate files (GeoLite2-City
and GeoLite2-ASN); each file is looked up and the properties found are
merged, the first file winning a property two of them have.

Repeats. Addresses repeat in logs (one client, many requests), so each
database's answers are remembered for the last ``cache_size`` addresses; the
memory is dropped whole when full, and when the files are read again.

Reloading. MaxMind publishes new files weekly, and they are usually swapped in
by renaming (``geoipupdate`` does so). The files are opened again on SIGHUP and
when one changes in its directory; until the new ones have all opened, the old
readers stay in use, and a file that fails to open is reported and changes
nothing. The old readers are closed after the swap. Each reader reads a copy
of its file in memory (see :func:`_open_private_copy`), so a file copied over
in place (``cp``), or half written, never disturbs the reader in use.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from deadbeat import conf, movement
from deadbeat.plugins import missing_library

from ._address import AddressError, format_address, parse_address
from ._fields import FieldMapper, check_missing, fields_and_getter
from ._regular import open_regular

__all__ = ["GEOIP_PROPERTIES", "GeoIP"]

log = logging.getLogger("deadbeat.ip")

#: Property name to the path of keys in a MaxMind record (``LANG`` is the chosen language).
GEOIP_PROPERTIES: dict[str, tuple[Any, ...]] = {
    "country_code": ("country", "iso_code"),
    "country_name": ("country", "names", "LANG"),
    "continent_code": ("continent", "code"),
    "region_code": ("subdivisions", 0, "iso_code"),
    "region_name": ("subdivisions", 0, "names", "LANG"),
    "city": ("city", "names", "LANG"),
    "postal_code": ("postal", "code"),
    "latitude": ("location", "latitude"),
    "longitude": ("location", "longitude"),
    "time_zone": ("location", "time_zone"),
    "asn": ("autonomous_system_number",),
    "as_org": ("autonomous_system_organization",),
}
_DEFAULT_PROPERTIES = tuple(GEOIP_PROPERTIES)


# An IPv4 address as every reader writes it: four decimal numbers from 0 to 255, no leading zero.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PLAIN_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def _open(path: str) -> Any:
    try:
        import maxminddb  # type: ignore[import-untyped, import-not-found, unused-ignore]
    except ImportError:  # pragma: no cover - exercised where the extra is missing
        raise ValueError("ip.geoip needs maxminddb: pip install 'deadbeat-cogs-ip[geoip]'") from None
    try:
        with open_regular(path, "rb") as source:
            return _open_private_copy(maxminddb, source, path)
    except (OSError, ValueError, RuntimeError) as exc:  # InvalidDatabaseError is a RuntimeError
        raise ValueError(f"{path}: not a MaxMind DB file that can be read: {exc}") from None


def _open_private_copy(maxminddb: Any, source: Any, path: str) -> Any:
    """Open a copy of the database that nobody else can change, in memory.

    The reader maps its file into memory. Mapped in place, a file replaced in
    place (``cp new.mmdb city.mmdb`` truncates it first) killed the daemon with
    SIGBUS at the next lookup, and one overwritten with other bytes made every
    lookup fail, although the reader in use was to stay until a new one opened.
    A copy in an anonymous memory file (as much memory as the file, which the
    mapping would take in the page cache anyway) is the reader's alone.
    Where there is no ``memfd_create``, the file itself is opened.
    """
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is None:  # pragma: no cover - not Linux
        return maxminddb.open_database(path)
    fd = memfd_create(f"deadbeat-geoip:{os.path.basename(path)}", getattr(os, "MFD_CLOEXEC", 0))
    try:
        with open(fd, "wb", closefd=False) as copy:
            shutil.copyfileobj(source, copy, 1 << 20)
        # The reader opens the copy by its name and keeps its mapping once the descriptor is closed.
        return maxminddb.open_database(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def _picker(properties: Sequence[str], language: str) -> Callable[[Any], dict[str, Any]]:
    """What takes the chosen properties out of a record: only those it has."""
    plan = [(name, tuple(language if k == "LANG" else k for k in GEOIP_PROPERTIES[name])) for name in properties]

    def pick(record: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        if not isinstance(record, dict):
            return found
        for name, path in plan:
            node: Any = record
            try:
                for key in path:
                    node = node[key]
            except (KeyError, IndexError, TypeError):
                continue
            found[name] = node
        return found

    return pick


class GeoIP(movement.Cog):
    """Add the country, city and network (ASN) of addresses from MaxMind DB files.

    Each address is looked up in every database file (a City or Country file,
    an ASN file...), and the chosen properties found are set at ``target`` as
    one mapping (a list of them when the fields hold several addresses). An
    address no database knows (a private one) gets ``{}``, as does an IPv6
    address in an IPv4-only file. Addresses are read as ``ip.parse`` reads
    them (a port or a zone taken off, ``::ffff:192.0.2.5`` looked up as
    ``192.0.2.5``); text that is not an address (``010.1.1.1``, ``127.1``)
    sends the datum to the error output, naming the field. The files
    are opened again on SIGHUP and when they change; a file that fails to open
    is reported and the previous ones stay in use. A ``--once`` run opens them
    once and watches nothing.

    :param esc: the Escapement (for SIGHUP and file watches).
    :param database: the MaxMind DB file, or a list of them (e.g. City and ASN).
    :param fields: field path(s) of the addresses (``*`` reaches into lists).
    :param target: where the properties go, as a field path or a setter
        (``movement.itemsetter("geo")``).
    :param properties: which to set, of ``country_code``, ``country_name``,
        ``continent_code``, ``region_code``, ``region_name``, ``city``,
        ``postal_code``, ``latitude``, ``longitude``, ``time_zone``, ``asn``,
        ``as_org`` (default: all a database has).
    :param language: the language of names (``en``, ``de``, ``ja``, ``zh-CN``...).
    :param missing: a datum without the field: ``skip`` passes it on untouched
        (counted), ``error`` sends it to the error output.
    :param cache_size: how many addresses' answers to remember (0: none).
    :param poll_interval: seconds between looks at the files without inotify.
    :param ip_getter: where the address (or list of addresses) is, as a callable
        (``operator.itemgetter("src")``) or a field path, instead of ``fields``.
    """

    one_to_one = True

    @staticmethod
    def missing_requirements(params: Mapping[str, Any]) -> list[str]:
        """For ``deadbeat check``: maxminddb, when it is not installed (looked up, not imported)."""
        return missing_library("maxminddb", "deadbeat-cogs-ip[geoip]", "ip.geoip")

    def __init__(
        self,
        esc: movement.Escapement,
        database: conf.Path | Sequence[conf.Path],
        fields: str | Sequence[str] = "ip",
        target: movement.FieldSetter = "geo",
        properties: Sequence[str] = _DEFAULT_PROPERTIES,
        language: str = "en",
        missing: Literal["skip", "error"] = "skip",
        cache_size: Annotated[int, conf.Range(0)] = 10000,
        poll_interval: float = 5.0,
        ip_getter: movement.FieldGetter | None = None,
    ) -> None:
        check_missing(missing)
        both = fields_and_getter(fields, ip_getter)
        if both is not None:
            raise ValueError(both)
        unknown = [p for p in properties if p not in GEOIP_PROPERTIES]
        if isinstance(properties, str) or unknown:
            raise ValueError(
                f"properties must be a list of {', '.join(GEOIP_PROPERTIES)}; unknown: {unknown or properties!r}"
            )
        if type(cache_size) is not int or cache_size < 0:
            raise ValueError(f"cache_size must be a whole number of at least 0, not {cache_size!r}")
        self.esc = esc
        self.database = database
        self.fields = fields
        self.target = target
        self.properties = list(properties)
        self.language = language
        self.missing = missing
        self.cache_size = cache_size
        self.poll_interval = poll_interval
        self.ip_getter = ip_getter
        self._paths = [str(database)] if isinstance(database, (str, os.PathLike)) else [str(p) for p in database]
        if not self._paths:
            raise ValueError("database must name at least one MaxMind DB file")
        self._pick = _picker(self.properties, language)
        self._mapper = FieldMapper(fields, ip_getter, missing=missing, write=False)
        #: Per field, the data that lacked it (passed on untouched).
        self.counts = self._mapper.counts
        self._set = movement.setter(target)
        plain = ip_getter is None and isinstance(fields, str) and fields.isidentifier()
        self._plain: str | None = fields if plain else None  # type: ignore[assignment]
        self._readers: list[Any] = [_open(p) for p in self._paths]
        self._memory: dict[str, dict[str, Any]] = {}
        self._lookup = self._make_lookup()
        self._watches: list[movement.Binding] = []
        self._timer: movement.Binding | None = None
        if getattr(esc, "once", False):
            return  # a --once run ends when its input does: watches would keep it going
        esc.signal_register(signal.SIGHUP, self.reload)
        for directory in sorted({os.path.dirname(os.path.abspath(p)) for p in self._paths}):
            self._watches.append(
                esc.inotify_add(
                    directory,
                    movement.IN_CLOSE_WRITE | movement.IN_MOVED_TO | movement.IN_CREATE,
                    self._changed,
                    poll_interval=poll_interval,
                )
            )

    def _make_lookup(self) -> Callable[[str, str], dict[str, Any]]:
        """``lookup(text, path)``: the properties for one address (a fresh dict), through the memory."""
        gets = [reader.get for reader in self._readers]
        single = gets[0] if len(gets) == 1 else None
        plain_ipv4 = _PLAIN_IPV4.fullmatch
        pick = self._pick
        memory = self._memory
        size = self.cache_size

        def properties(text: str, path: str) -> dict[str, Any]:
            if type(text) is not str:
                raise AddressError(f"field {path!r}: expected an address as text, got {type(text).__name__}")
            if plain_ipv4(text) is not None:
                # Four decimal numbers 0-255 without leading zeros: the reader reads them as every cog does.
                bare = text
            else:
                # Parsed as ip.parse, ip.anonymise and ip.cidr parse it (a port or a zone taken off), and
                # looked up in its canonical form: the database's own reader takes old numeric spellings
                # (010.1.1.1 as octal 8.1.1.1, 127.1, 3221225989) that every other cog refuses.
                try:
                    address = parse_address(text)
                except AddressError as exc:
                    raise AddressError(f"field {path!r}: {exc}") from None
                if address.version == 6 and address.value >> 32 == 0xFFFF:
                    # An IPv4 address written as IPv6 (::ffff:192.0.2.5) is that IPv4 address, in every database.
                    bare = format_address(4, address.value & 0xFFFFFFFF)
                else:
                    bare = format_address(address.version, address.value)
            if single is not None:
                try:
                    return pick(single(bare))
                except ValueError:
                    return {}  # an IPv6 address and an IPv4-only database: it knows nothing of it
            found: dict[str, Any] = {}
            for get in gets:
                try:
                    record = get(bare)
                except ValueError:
                    continue  # an IPv6 address and an IPv4-only database: that one knows nothing of it
                for name, value in pick(record).items():
                    found.setdefault(name, value)  # the first database wins a property two have
            return found

        if not size:
            return properties  # a fresh dict every time: nothing to copy

        def remembered(text: str, path: str) -> dict[str, Any]:
            found = memory.get(text)
            if found is None:
                found = properties(text, path)
                if len(memory) >= size:
                    memory.clear()
                memory[text] = found
            # A copy per datum: a later cog changing it must not change the memory.
            return dict(found)

        return remembered

    def _changed(self, event: movement.InotifyEvent) -> None:
        names = {os.path.basename(p) for p in self._paths}
        if event.name in names and self._timer is None:
            # A file copied in place arrives in several writes; open it once they are done.
            self._timer = self.esc.after(0.05, self.reload)

    def reload(self) -> None:
        """Open the databases again; keep the old ones if any new one fails."""
        self._timer = None
        try:
            readers = [_open(p) for p in self._paths]
        except ValueError as exc:
            log.error("%s: databases not reloaded, the previous ones stay: %s", self, exc)
            return
        old, self._readers = self._readers, readers
        self._memory = {}
        self._lookup = self._make_lookup()
        for reader in old:
            reader.close()
        log.info("%s: reloaded %d database(s)", self, len(readers))

    def __call__(self, data: Any) -> tuple[Any, ...]:
        lookup = self._lookup
        key = self._plain
        if key is not None and type(data) is dict:
            # The common case, one address in a top-level field, without the path machinery.
            value = data.get(key)
            if type(value) is str:
                return (self._set(data, lookup(value, key)),)
        results: list[dict[str, Any]] = []

        def look(text: str, path: str) -> str:
            results.append(lookup(text, path))
            return text

        self._mapper.apply(data, look)
        if not results:
            # Every field missing (missing = "skip", counted) or an empty list: the datum as it came.
            return (data,)
        return (self._set(data, results[0] if len(results) == 1 else results),)

    def call_batch(self, data: list[Any]) -> list[Any]:
        """Look up a list of data; the same as one call per datum, raising where one would (each datum once)."""
        return movement.call_each(self.__call__, data)

    def finish(self) -> None:
        """Stop watching the files and SIGHUP."""
        for watch in self._watches:
            self.esc.inotify_rm(watch)
        self._watches.clear()
        if self._timer is not None:
            self.esc.dequeue(self._timer)
            self._timer = None
        self.esc.signal_unregister(signal.SIGHUP, self.reload)

    def done(self) -> None:
        """Close the databases."""
        for reader in self._readers:
            reader.close()
        self._readers = []
