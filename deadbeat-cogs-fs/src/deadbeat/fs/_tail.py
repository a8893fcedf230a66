"""Tailing files through rotation, truncation and restarts without losing or repeating a line.

The pieces: :mod:`._identity` (how a file is known), :mod:`._followed` (one
file's state and positions), :mod:`._names` (what directory events say about
names), :mod:`._lines` (bytes into data). This module puts them together.

What the events mean. A directory's events are followed name by name: a file
created under a matching name is opened as soon as its event is read, and a
followed file renamed within the directory is followed under its new name, even
one the patterns do not match, until it is drained. A file's own events
(``IN_MODIFY``) say there is more to read. An ``IN_Q_OVERFLOW`` (events lost)
rescans everything, and so does the polling fallback: a lost event delays a
line, never drops it.

Rotation patterns:

* rename + create: the followed file is renamed (its events say to what) and a
  new file appears under the name. The old file is read to its end first (its
  size says where that is: a writer appends to it until it reopens, and the
  events saying so may come late), then the new one from its start, so one
  writer's lines keep their order. The old file is let go once quiet for
  ``rotate_wait`` seconds (a writer may still append until it reopens).
* delete: the name is gone; the open descriptor still reads what is left, as
  for a rename.
* copytruncate / truncate in place: the file shrinks below our offset (or its
  first bytes change). Before starting again at 0, the directory is searched for
  a copy with the same first bytes; if there is one, it is read from where we
  were to its end, so lines written between our last read and the copy are kept.
  A copy shorter than where we were holds nothing unread (we read on in the
  original after the copy): it is taken at its end, remembered as read.
  Without a copy, what was not read before the truncation is gone: we say so.
* delete with inode reuse: a file with a remembered inode but another
  fingerprint, or an inode created at another time (where the file system
  says; a banner may make the fingerprints alike), is new, and is read from its
  start; the content remembered goes to its lineage's mark, where a compressed
  copy of it is recognised.
* compress: a ``.gz`` appearing beside a followed file is left unread (its
  content is read from the file it was made of), unless a file of its series
  was created and removed before it could be opened: then the new compressed
  files of the series whose content is not one read already are read.

Restarts. Files found rotated are finished; files made and rotated while we
were stopped are found in each lineage's rotation series (:mod:`._series`) and
told from those read and forgotten by the lineage's mark (:mod:`._known`):
created after it, or (compressed) holding a content it does not keep. A known
file found under its name with other first bytes but born when it was was
truncated (copytruncate): its copy, found by its first bytes, is read on from
the saved position (or taken at its end, if shorter). A file of a series that
starts as a known file still under its name is judged as a new file seen while
following is: it may be the copy, its truncation to come. A series renamed
while it is looked at is looked at again: a name listed is no proof of where a
file is a moment later.

Many files, for a year. Each question an event asks (which open file has this
name, which files of this lineage are older, which could this new file be a
copy of) is answered from the indexes of :mod:`._table`, not by a look at every
file. Files drained and gone are forgotten once acknowledged (:mod:`._known`).
Idle files are closed and opened again when their directory reports a change
(``IN_MODIFY`` carries the name); beyond ``max_open_files`` the idle longest is
closed and busy files take turns. Compressed rotations are read through
:mod:`._gzip`; multiline events are made by :mod:`._multiline`.

Positions. Every read chunk goes down the train as a :class:`~deadbeat.movement.Batch`;
its ``batch_done`` tells us that every line of it has been handled and written,
and only then does the position of the file move on. Positions are saved at
``checkpoint`` into the ``state_file``, which an output can share (see
:class:`~deadbeat.fs.LineFileDrain`) to make a file-to-file pipeline exact across
SIGKILL.
"""

from __future__ import annotations

import codecs
import dataclasses
import errno
import fnmatch
import functools
import glob
import logging
import os
import resource
import socket
import stat
import time
from collections.abc import Collection, Container, Iterable, Iterator, Mapping, Sequence
from typing import Annotated, Any, Literal

from deadbeat import conf, movement
from deadbeat.daemon import UnsafePath, descriptor_note

from ._followed import FileState, FollowedFile, KnownFile, Position
from ._gzip import GzipReader, looks_compressed
from ._identity import (
    FINGERPRINT_BYTES,
    FileId,
    Likeness,
    birth_time,
    birth_time_at,
    fingerprint,
    read_head,
    starts_alike,
)
from ._known import KnownBook, LineageMark, ReadContent
from ._lines import EventMaker, LineMaker, LineTooLong, WideLineMaker, event_id, is_wide
from ._multiline import Multiline
from ._names import PAIR_WAIT, Arrival, NameBook
from ._outputs import is_output, outputs_in
from ._paths import LinkOnTheWay, NotRegular, fixed_prefix, glob_without_links, kind, open_for_reading
from ._series import Listings, may_be_copy, rotation_series, series_age
from ._state import StateFile, state_file_doubts, state_file_problems
from ._table import FileTable

__all__ = ["FileReaderSupply", "FileWatcherSupply", "LineTooLong"]

log = logging.getLogger("deadbeat.fs")

_FILE_EVENTS = movement.IN_MODIFY | movement.IN_ATTRIB | movement.IN_DELETE_SELF | movement.IN_MOVE_SELF
# IN_MODIFY too: a file closed while idle (or not opened, being old) is opened
# again when it changes, told by its directory, without a watch of its own.
_DIR_EVENTS = (
    movement.IN_CREATE
    | movement.IN_MOVED_TO
    | movement.IN_MOVED_FROM
    | movement.IN_DELETE
    | movement.IN_MODIFY
    | movement.IN_MOVE_SELF
    | movement.IN_DELETE_SELF
)
#: Descriptors left to the rest of the application when max_open_files is derived from the limit.
_DESCRIPTOR_SHARE = 0.75
#: ... and at least this many besides those open already (an output's file, its
#: directories while they are opened, a reopen on SIGHUP, connections).
_DESCRIPTORS_KEPT = 16

#: Seconds between two warnings that the inotify queue overflowed.
_OVERFLOW_SAID_EVERY = 10.0

#: Seconds a deleted file may be written to before the tailer says it holds it open.
_HELD_TOO_LONG = 60.0

#: How long (ns) before its creation was read from the events a file lost
#: sight of may have been made: its compressed copy is looked for among the
#: files changed since.
_COPY_MADE_BEFORE_SEEN = 1_000_000_000

#: How many times the compressed copy of a file created and removed before it
#: could be opened is looked for, and the seconds between two looks.
_LOST_LOOKS = 5
_LOST_LOOK_AGAIN = 0.2

#: How many times a file renamed again and again (a rotation series shifting
#: under us) is looked for before it is taken as gone.
_SEARCHES = 3

#: What a file forgotten leaves on its lineage: (lineage, creation ns or None, last change ns, content).
_Mark = tuple[str, int | None, int | None, ReadContent | None]

#: Seconds between two tidyings of the lineages' marks while running, where rescan_interval is 0.
_TIDY_EVERY = 60.0

#: Chunks read per turn of the loop, so that signals and other cogs get theirs.
_CHUNKS_PER_TURN = 16

#: Least seconds between two warnings that max_open_files was reached.
_CAP_SAID_EVERY = 60.0

_TO_FOLLOW = "(follow_symlinks = true to read where it leads)"
_NOT_FOLLOWED = f"a symbolic link; not followed {_TO_FOLLOW}"

#: Where an open file is watched: the file the descriptor holds, whatever its name leads to now.
_FD_PATH = "/proc/self/fd/{}"
_HAVE_FD_PATHS = os.path.isdir("/proc/self/fd")


class FileWatcherSupply(movement.Supply):
    r"""Follow files (or glob patterns) and send every complete line down the train.

    New lines are read as soon as inotify reports a change (a timer polls where
    inotify is missing or out of watches). Rotation by rename (however fast,
    even to names the patterns do not match) and by deletion loses no line, and
    a writer's lines keep their order across files. With copytruncate, the copy
    (in the same directory) is found and read from where the tailer was, but
    lines written between the copy and the truncation exist nowhere, and are
    lost for any reader: prefer rename and create (logrotate's ``create``).
    Truncation in place loses what was not read yet when it happened, for any
    reader, and says so. With a
    ``state_file`` a restart (even after SIGKILL) continues where the train had
    finished. Each datum holds one line without its newline (``fs.write`` adds
    one back), or one event of several lines with ``multiline``.

    For thousands of files: descriptors are capped (``max_open_files``), idle
    files closed and opened again when they change (``close_inactive``), old
    ones left (``ignore_older``), and files that came and went are forgotten,
    so that memory, the state file and each batch cost what the live files
    need. Compressed rotations (logrotate ``compress``) lose and repeat
    nothing. See "Tailing files: what we promise" in the manual. For
    example, Java services' logs with their stack traces::

        [[cog]]
        use = "fs.tail"
        filenames = ["/var/log/app/*.log"]
        exclude = ["*.gz"]
        state_file = "/var/lib/deadbeat/positions.json"
        line_setter = "message"
        path_field = "log.file.path"
        multiline = {mode = "java", timeout = 2}

    Its figures for ``/metrics`` and ``--stats`` (``metrics()``): bytes and
    lines read, files open (and rotated, held though deleted, closed while
    idle, waiting for a descriptor), batches not acknowledged yet, and
    ``lag_bytes``, what the open files hold beyond what was read.

    :param esc: the Escapement (a Train is taken too).
    :param filenames: paths or glob patterns; files matching later are picked up.
    :param tail: keep following at end of file; ``false`` (or ``deadbeat run
        --once``) reads to the end and stops.
    :param state_file: where positions are kept across restarts (its directory is created if missing);
        one process at a time uses it (see "The state file" in the tailing docs).
    :param start: where to begin a file seen for the first time at the very first
        start (no state yet): ``"beginning"`` or ``"end"``; files appearing
        later are always read from their beginning.
    :param encoding: text encoding of the files: one where a newline is the
        byte 0x0A (UTF-8, Latin-1, ASCII ...), or UTF-16 and UTF-32
        (``"utf-16"`` takes the byte order from each file's byte order mark,
        little-endian without one; ``"utf-16-le"``, ``"utf-16-be"`` fix it;
        not with ``multiline``). A byte order mark at the start of a file is no
        part of its first line, whose offset is the mark's length. Example:
        ``encoding = "utf-16"``.
    :param encoding_errors: what becomes of a line that does not decode:
        ``"error"`` (the default: it goes to the error output, with its file
        and offset), ``"replace"`` (undecodable bytes become U+FFFD and the
        line goes on), or ``"bytes"`` (the line goes on as bytes, undecoded).
        Example: ``encoding_errors = "replace"``.
    :param max_line: longest line in bytes; longer ones go to the error output.
    :param read_size: bytes read per chunk (one Batch each). 128 KiB measured
        fastest (``bench/fs_file_to_file.py``, ``bench/t1_default_path.py``):
        each batch costs the train a fixed amount of work, which smaller chunks
        pay more often, while a batch of a few hundred lines still stays in the
        CPU's caches from one cog to the next.
    :param rotate_wait: seconds a rotated or deleted file is kept open after its
        last data, for writers that have not reopened yet; then an unfinished
        last line is sent as it is. Reading once with a ``state_file``, the
        unfinished last line of a file written to within this time is left for
        the next run.
    :param poll_interval: seconds between looks when polling.
    :param rescan_interval: seconds between two full looks at what the patterns
        match, a safety net behind the directory events (which are handled by
        the name they carry, without looking at other files). ``0`` never looks
        but at start and when the kernel reports lost events. Example:
        ``rescan_interval = 300``.
    :param state_interval: least seconds between two saves of the state file
        (what is saved is always consistent). After a crash, up to that much
        work is done again: an output sharing the state file is cut back to
        the saved checkpoint and the lines after it read again, so nothing is
        lost or written twice, but a reader of the output sees it shrink. A
        shorter interval redoes less, at the cost of an fsync each time.
    :param line_setter: where the line goes in a new mapping (callable or
        field path, such as ``"line"``); by default each datum is the line itself.
    :param id_setter: where the event id ``FILE:OFFSET`` goes in that mapping (a
        setter or a field path, such as ``"id"``), or a function of the datum
        that sets an id of its own (the manual's form). By default the id is not
        put in the data, and the train knows it all the same (error records,
        ``event_done``). A datum whose setter fails goes to the error output
        with its file and offset.
    :param missing_ok: when reading to the end (``tail = false`` or ``--once``),
        a file or pattern that matches nothing is skipped; otherwise the run
        fails (exit status 1). Following, a missing file is read when it appears.
    :param follow_symlinks: read files that symbolic links lead to; by default a
        link is not followed (a link planted in a log directory could lead to any
        file), and says so once: a link a pattern matches, and a directory below
        the pattern's fixed part (before its first wildcard) that is a link, as
        ``logs/evil -> /root`` for ``logs/*/*.log``. Whatever this says, only
        regular files are read: a FIFO, socket or device under a matching name
        is refused, said once, and never waited on.
    :param owners: users (names or uids) whose files may be read; a file someone
        else owns is refused, said once. Empty: anyone's.
    :param exclude: glob patterns of files not to read although ``filenames``
        match them; a pattern without ``/`` is matched against the file's
        name, one with ``/`` against its whole path (in a pipeline file,
        relative to the file's directory, as ``filenames`` are). Example:
        ``exclude = ["*.gz", "*.[0-9]", "/var/log/app/debug-*"]``.
    :param ignore_older: seconds; a file not modified for that long is not
        opened (said once per look, with how many), and is read from its
        beginning if it changes later. ``0``: every file. Example:
        ``ignore_older = 86400``.
    :param close_inactive: seconds; a file read to its end that got no new
        data for that long is closed (its descriptor and watch released) and
        opened again when its directory says it changed, found again by
        device, inode and its first bytes, and read on from where it was: no
        line lost or repeated. ``0``: kept open. Example: ``close_inactive = 60``.
    :param max_open_files: most files open at once. When a file must be opened
        beyond it, the file idle longest is closed (as by ``close_inactive``);
        when all are busy, files take turns: after its turn of reading, a busy
        file gives its descriptor to the one that waited longest and queues
        behind the others (reaching the cap is said once each time). ``0``:
        three quarters of the process's limit of descriptors (``ulimit -n``),
        and at most what is left of it with 16 kept for the rest of the
        application (under a low limit, the process's own take many).
        Example: ``max_open_files = 500``.
    :param path_field: where the file's path goes in each datum (a field path);
        none by default. Like ``host_field`` and ``offset_field``, it needs
        data that are mappings (``line_setter``). Example:
        ``line_setter = "message"``, ``path_field = "log.file.path"``.
    :param host_field: where this machine's name goes in each datum. Example:
        ``host_field = "host.name"``.
    :param offset_field: where the byte offset of the line (or of an event's
        first line) goes in each datum, as a number. Not with an ``id_setter``
        that is a function of its own. Example: ``offset_field = "log.offset"``.
    :param multiline: join lines into events (stack traces, continuation
        lines), a table of rules: ``start`` (a line matching it begins an
        event), ``continuation`` (a line matching it continues the one before),
        or Filebeat's ``pattern`` with ``negate`` (default false) and ``match``
        (``"after"``, the default, or ``"before"``); or ``mode``: ``"java"``,
        ``"python"`` or ``"go"`` for their stack traces. ``max_lines`` (500) and
        ``max_bytes`` (``max_line``) bound an event (the rest becomes the next
        one); ``timeout`` (5 s) sends the last event of a quiet file. Patterns
        are RE2, searched anywhere in the line. An event is one datum, its lines
        joined by newlines, its id the offset of its first line; a restart
        never splits or repeats one. Examples: ``multiline = {mode = "java"}``,
        ``multiline = {start = '^\d{4}-\d{2}-\d{2} ', timeout = 2}``,
        ``multiline = {pattern = '^\[', negate = true, match = "after"}``.
    """

    config_name = "tail"

    @staticmethod
    def missing_requirements(params: Mapping[str, Any]) -> list[str]:
        """For ``deadbeat check``: what the tailer would refuse at start, found without building it.

        The ``multiline`` table (its keys, values and patterns, which need
        google-re2), the encoding, and the settings that do not go together.
        """
        problems = []
        encoding = params.get("encoding", "utf-8")
        multiline = params.get("multiline")
        try:
            _check_encoding(encoding)
        except ValueError as exc:
            problems.append(str(exc))
        if multiline is not None:
            try:
                Multiline.from_config(multiline, params.get("max_line", 1 << 20))
            except (ValueError, TypeError) as exc:
                problems.append(str(exc))
            if params.get("encoding_errors") == "bytes":
                problems.append(
                    "encoding_errors = 'bytes' does not go with multiline (an event is text): use 'replace'"
                )
            if isinstance(encoding, str) and not problems and is_wide(encoding):
                problems.append(f"multiline does not go with encoding {encoding!r} yet: convert the files to UTF-8")
        state = params.get("state_file")
        if isinstance(state, str) and state:
            problems += state_file_problems(state)
        return problems

    @staticmethod
    def check_warnings(params: Mapping[str, Any]) -> list[str]:
        """For ``deadbeat check``: what the run would do without failing but say (a state file it cannot read)."""
        state = params.get("state_file")
        return state_file_doubts(state) if isinstance(state, str) and state else []

    def __init__(
        self,
        esc: movement.Escapement,
        filenames: conf.PathList,
        tail: bool = True,
        state_file: conf.Path | None = None,
        start: Literal["beginning", "end"] = "beginning",
        encoding: conf.Encoding = "utf-8",
        max_line: Annotated[int, conf.Range(1)] = 1 << 20,
        read_size: Annotated[int, conf.Range(1)] = 1 << 17,
        rotate_wait: Annotated[float, conf.Range(0)] = 5.0,
        poll_interval: Annotated[float, conf.Range(0, above=True)] = 1.0,
        rescan_interval: Annotated[float, conf.Range(0)] = 60.0,
        state_interval: Annotated[float, conf.Range(0)] = 1.0,
        line_setter: movement.FieldSetter | None = None,
        id_setter: movement.IdSetter | None = None,
        missing_ok: bool = False,
        follow_symlinks: bool = False,
        owners: Sequence[str] = (),
        multiline: Mapping[str, Any] | None = None,
        exclude: conf.FilePatternList = (),
        ignore_older: Annotated[float, conf.Range(0)] = 0.0,
        close_inactive: Annotated[float, conf.Range(0)] = 300.0,
        max_open_files: Annotated[int, conf.Range(0)] = 0,
        path_field: str | None = None,
        host_field: str | None = None,
        offset_field: str | None = None,
        encoding_errors: Literal["error", "replace", "bytes"] = "error",
    ) -> None:
        if isinstance(filenames, str):
            raise TypeError("filenames must be a list of paths or patterns, not one string")
        if start not in ("beginning", "end"):
            raise ValueError(f"start must be 'beginning' or 'end', not {start!r}")
        esc = movement.escapement_of(esc)
        self.esc = esc
        self.filenames = list(filenames)
        self.tail = tail
        self.state_file = state_file
        self.start = start
        self.encoding = _check_encoding(encoding)
        if encoding_errors not in ENCODING_ERRORS:
            raise ValueError(
                f"encoding_errors must be one of {', '.join(map(repr, ENCODING_ERRORS))}, not {encoding_errors!r}"
            )
        if encoding_errors == "bytes" and multiline is not None:
            raise ValueError("encoding_errors = 'bytes' does not go with multiline (an event is text): use 'replace'")
        if multiline is not None and is_wide(encoding):
            raise ValueError(f"multiline does not go with encoding {encoding!r} yet: convert the files to UTF-8")
        self.encoding_errors = encoding_errors
        self.max_line = max_line
        if type(read_size) is not int or read_size < 1:
            raise ValueError(f"read_size must be a whole number of bytes, at least 1, not {read_size!r}")
        self.read_size = read_size
        self.rotate_wait = rotate_wait
        self.poll_interval = poll_interval
        if not isinstance(rescan_interval, (int, float)) or rescan_interval < 0:
            raise ValueError(f"rescan_interval must be a number of seconds, 0 or more, not {rescan_interval!r}")
        self.rescan_interval = rescan_interval
        self._rescanner: movement.Binding | None = None
        self._tidier: movement.Binding | None = None
        self.state_interval = state_interval
        self.line_setter = line_setter
        self.id_setter = id_setter
        self.missing_ok = missing_ok
        self.follow_symlinks = follow_symlinks
        self.owners = list(owners)
        self._owner_ids = _user_ids(self.owners)
        self._refused: set[str] = set()
        self._patterns = [os.path.abspath(os.path.expanduser(p)) for p in self.filenames]
        #: The patterns' fixed prefixes (directories before the first wildcard), the longest first,
        #: each with the form a path below it starts with: links below them are not followed.
        prefixes = sorted({fixed_prefix(p) for p in self._patterns}, key=len, reverse=True)
        self._prefixes = [(prefix, prefix.rstrip("/") + "/") for prefix in prefixes]
        self._following = tail and not getattr(esc, "once", False)
        self.multiline = multiline
        self.path_field = path_field
        self.host_field = host_field
        self.offset_field = offset_field
        fields = {"path_field": path_field, "host_field": host_field, "offset_field": offset_field}
        asked = [key for key, value in fields.items() if value is not None]
        needing = (["id_setter"] if id_setter is not None else []) + asked
        if needing and line_setter is None:
            # Each datum would be the line itself, a text: nowhere to put the field.
            raise ValueError(f"{needing[0]} needs data that are mappings: set line_setter too (such as 'message')")
        #: Setters of the metadata fields asked for (path, host, offset), on the fast path only when asked.
        self._metadata = tuple(None if value is None else movement.setter(value) for value in fields.values())
        if not asked:
            self._metadata = ()
        self._host = socket.gethostname() if host_field is not None else ""
        if isinstance(exclude, str):
            raise TypeError("exclude must be a list of glob patterns, not one string")
        self.exclude = list(exclude)
        # A path pattern is matched against absolute paths, as filenames are made.
        self._exclude = [os.path.abspath(os.path.expanduser(p)) if "/" in p else p for p in self.exclude]
        for name, seconds in (("ignore_older", ignore_older), ("close_inactive", close_inactive)):
            if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
                raise ValueError(f"{name} must be a number of seconds, 0 or more, not {seconds!r}")
        self.ignore_older = ignore_older
        self.close_inactive = close_inactive
        if type(max_open_files) is not int or max_open_files < 0:
            raise ValueError(f"max_open_files must be a whole number, 0 or more, not {max_open_files!r}")
        self.max_open_files = max_open_files
        self._cap = max_open_files or _descriptor_share()
        #: Files closed while idle: identity -> (name, offset to read on from), and name -> identity.
        self._closed: dict[FileId, tuple[str, int]] = {}
        self._closed_paths: dict[str, FileId] = {}
        #: Open files read to their end with nothing waiting, the one idle longest first.
        self._idle: dict[FileId, None] = {}
        #: Files waiting for a descriptor (max_open_files reached): name -> how to open it.
        self._waiting_open: dict[str, tuple[FileId, dict[str, Any]]] = {}
        #: The name each file waiting for a descriptor waits under: one entry
        #: per file, dropped when the file is opened by any way (see _queue).
        self._waiting_names: dict[FileId, str] = {}
        self._said_cap = False
        self._said_cap_at = -_CAP_SAID_EVERY
        #: How many files ignore_older left out at the last look (said when it changes).
        self._said_old = 0
        #: Deleted files still written to, said once each (see _sweep).
        self._said_held: set[FileId] = set()
        self._closer: movement.Binding | None = None
        #: Compressed files left unread (their content was read from the file
        #: they were made of, or they were there before us): identity -> birth
        #: time, which tells them from a later file given the same inode number
        #: (logrotate deletes and creates files by the hundred).
        self._compressed: dict[FileId, int | None] = {}
        self._rules = Multiline.from_config(multiline, max_line)
        self._lines: LineMaker
        if self._rules is not None:
            self._lines = EventMaker(encoding, max_line, line_setter, id_setter, self._rules, encoding_errors)
        elif is_wide(encoding):
            self._lines = WideLineMaker(encoding, max_line, line_setter, id_setter, encoding_errors)
        else:
            self._lines = LineMaker(encoding, max_line, line_setter, id_setter, encoding_errors)
        #: Files whose last event waits for a next line, or for the multiline time-out.
        self._building: dict[FileId, None] = {}
        self._flusher: movement.Binding | None = None
        self._reject = self._rejecter()
        #: The open files, by identity.
        self._files = FileTable()
        #: Copies of followed files, left unread (see _copy_verdict): identity -> name,
        #: and name -> identity, to forget one when its name is deleted.
        self._shadows: dict[FileId, str | None] = {}
        self._shadow_paths: dict[str, FileId] = {}
        #: A copy's original, and the timer that decides, rotate_wait after
        #: the verdict, whether it was a copy at all (see _copy_due).
        self._shadow_of: dict[FileId, tuple[FollowedFile, int]] = {}
        self._shadow_timers: dict[FileId, movement.Binding] = {}
        #: The rescan an overflow asked for, overflows not said yet, and when said last.
        self._overflow_rescan: movement.Binding | None = None
        self._overflows = 0
        self._overflow_said = -_OVERFLOW_SAID_EVERY
        #: Acknowledged positions, by identity: what the state file keeps.
        #: Invariant: an entry for every open file, and for no file drained and gone.
        self._known = KnownBook()
        #: Batches sent and not acknowledged yet, by file; files let go of and
        #: waiting for their last acknowledgement to be forgotten.
        self._unacknowledged: dict[FileId, int] = {}
        #: Files let go of and waiting for their last acknowledgement, with the
        #: mark they leave on their lineage once forgotten (see ._known).
        self._forgetting: dict[FileId, _Mark | None] = {}
        #: Of those, the ones kept while a file of their lineage never opened
        #: waits for a descriptor (see _forget_if_done).
        self._forget_later: set[FileId] = set()
        #: Names created and removed before they could be opened: path ->
        #: (lineage, the earliest it may have been made, ns).
        self._lost: dict[str, tuple[str, int]] = {}
        #: Looks for their compressed copies so far, per path lost (see _find_lost).
        self._lost_looks: dict[str, int] = {}
        self._lost_retry: movement.Binding | None = None
        #: Batches sent and not yet acknowledged, by sequence number.
        self._batches: dict[int, Position] = {}
        self._seq = 0
        #: Bytes read from the files so far (their content, for compressed ones): one addition per chunk.
        self._bytes_read = 0
        #: Files with something to read, in the order they became so (a dict as an ordered set).
        self._dirty: dict[FileId, None] = {}
        self._missing: set[str] = set()
        self._turn: movement.Binding | None = None
        self._settling: movement.Binding | None = None
        # A settle again once an IN_MOVED_FROM read alone has waited for its pair.
        self._pairing: movement.Binding | None = None
        self._dir_watches: dict[str, movement.Binding] = {}
        #: The directory each watch was set on (see _slow_rescan).
        self._dir_ids: dict[str, FileId] = {}
        #: Directories of the patterns that cannot be watched yet (not there),
        #: and the timer that tries them again.
        self._unwatched: set[str] = set()
        self._retry: movement.Binding | None = None
        self._sweeper: movement.Binding | None = None
        self._finished = False
        self._state: StateFile | None = None
        self._section = "fs.tail " + " ".join(self._patterns)
        self._started = False
        #: A lineage first seen while running got a mark not saved yet (see _open).
        self._marks_unsaved = False
        if state_file:
            self._state = StateFile.acquire(esc, state_file, interval=state_interval)
            self._state.claimed.add(self._section)
            saved = self._state.get(self._section)
            if saved is None:
                self._adopt_sections()
            else:
                try:
                    self._known.load(saved)
                except ValueError as exc:
                    # As for a state file that is not JSON: kept as evidence, and reading starts over.
                    self._state.set_aside(f"section {self._section[8:]!r}: {exc}")
        first_run = not self._known and (self._state is None or self._section not in self._state.sections)
        self._names = NameBook(max((k.order for k in self._known.values()), default=0))
        self._watch_directories()
        self._resume_orphans()
        self._rescan(initial=first_run)
        self._resume_left_behind()
        if first_run and self._state is not None and self._following:
            self._mark_following_began()
        #: Files opened from now on are seen while running (see _open).
        self._started = True
        if self._following and rescan_interval:
            self._rescanner = esc.every(rescan_interval, self._slow_rescan, keeps_alive=False)
        if self._following:
            self._tidier = esc.every(rescan_interval or _TIDY_EVERY, self._tidy_running, keeps_alive=False)
        if self._following and close_inactive:
            self._closer = esc.every(max(close_inactive / 4, 0.05), self._close_inactive, keeps_alive=False)
        self._schedule()

    def _adopt_sections(self) -> None:
        """Carry over the positions of the section the same input had under other patterns.

        The section is named after the patterns, so editing ``filenames`` (a
        pattern added, a path written another way) would otherwise start with
        no positions and read every file again from its start. A section of
        another ``fs.tail`` that no cog of this application has claimed, and
        that knows a file whose name one of our patterns matches, was this
        input's: its files and marks become ours and it is removed.
        """
        assert self._state is not None
        for name, value in sorted(self._state.sections.items()):
            if not name.startswith("fs.tail ") or name in self._state.claimed or not isinstance(value, dict):
                continue
            files = value.get("files")
            entries = files.values() if isinstance(files, dict) else ()
            paths = [entry.get("path") for entry in entries if isinstance(entry, dict)]
            # By the lineages' names too: after a rotation the section may know only the rotated file
            # (app.log.1, which the pattern app.log does not match) of the lineage our pattern follows; left
            # behind, that section came back stale when the patterns were changed back, and lines repeated.
            lineages = value.get("lineages")
            names = [*paths, *(lineages if isinstance(lineages, dict) else ())]
            names += [entry.get("lineage") for entry in entries if isinstance(entry, dict)]
            if not any(isinstance(name, str) and self._matches(name) for name in names):
                continue
            try:
                self._known.load(value)
            except ValueError as exc:
                log.warning("%s: positions kept under %r cannot be carried over: %s", self, name[8:], exc)
                continue
            del self._state.sections[name]
            self._state.dirty = True
            log.info(
                "%s: the patterns were %r: the positions of %d files are carried over",
                self,
                name[8:],
                len(paths),
            )

    def _slow_rescan(self) -> None:
        """The safety net: a full look every ``rescan_interval`` seconds.

        It also looks whether each watched directory is still the one under
        its name: some file systems (overlayfs) say nothing to the watch of a
        directory deleted, and the one made again under its name would go
        unwatched.
        """
        for directory, watched in list(self._dir_ids.items()):
            try:
                there = FileId.of(os.stat(directory))  # as the watch took it: through links
            except OSError:
                there = None
            if there != watched:
                self._lost_directory(directory)
        self._rescan()
        self._schedule()

    def _rejecter(self) -> Any:
        def reject(datum: Any, error: Exception) -> None:
            self.esc.reject(self, datum, error)

        return reject

    # -- names and patterns ----------------------------------------------------

    def _directories(self) -> set[str]:
        return {os.path.dirname(p) for p in self._patterns}

    def _matches(self, path: str) -> bool:
        """Whether ``path`` is one of the names the patterns ask for (and ``exclude`` does not take back)."""
        return any(
            fnmatch.fnmatchcase(path, p) if glob.has_magic(p) else path == p for p in self._patterns
        ) and not self._excluded(path)

    def _excluded(self, path: str) -> bool:
        """Whether an ``exclude`` pattern takes ``path`` out."""
        if not self._exclude:
            return False
        name = os.path.basename(path)
        return any(fnmatch.fnmatchcase(path if "/" in p else name, p) for p in self._exclude)

    def _at(self, path: str) -> FollowedFile | None:
        """:returns: the open file known to be at ``path`` now, if any."""
        return self._files.at(path)

    def _name_of(self, followed: FollowedFile) -> str:
        """The name event ids use: where the file is, else where it was last seen."""
        if followed.path is not None:
            return followed.path
        known = self._known.get(followed.file)
        return known.path if known is not None and known.path else followed.file.key

    # -- watching ----------------------------------------------------------------

    def _watch_directories(self) -> None:
        """Watch every directory of the patterns; retry those that are not there yet.

        Where inotify is missing or out of watches, the Escapement polls instead
        (``poll_interval``) and delivers the same events, renames as a delete
        and a create.
        """
        if not self._following:
            return
        for directory in sorted(self._directories() - self._dir_watches.keys()):
            if glob.has_magic(directory):
                # Directories matched by a wildcard are looked at every
                # poll_interval (below), never watched by a name that could be
                # a link planted among them.
                if directory not in self._unwatched:
                    log.info(
                        "%s: directories matched by a wildcard are looked at every %.3g s",
                        directory,
                        self.poll_interval,
                    )
                self._unwatched.add(directory)
                continue
            try:
                # Not paused with the rest: a directory's events say which file
                # is which, in their order, and _settle needs all of them read.
                watched = FileId.of(os.stat(directory))
                self._dir_watches[directory] = self.esc.inotify_add(
                    directory,
                    _DIR_EVENTS,
                    self._on_dir_event,
                    directory,
                    poll_interval=self.poll_interval,
                    pausable=False,
                )
                self._dir_ids[directory] = watched
            except OSError as exc:
                if directory not in self._unwatched:
                    log.warning(
                        "%s: cannot watch directory (%s); trying again every %.3g s",
                        directory,
                        exc.strerror,
                        self.poll_interval,
                    )
                self._unwatched.add(directory)
            else:
                self._unwatched.discard(directory)
        if self._unwatched and self._retry is None:
            self._retry = self.esc.every(self.poll_interval, self._retry_directories)

    def _retry_directories(self) -> None:
        self._watch_directories()
        if not self._unwatched and self._retry is not None:
            self.esc.dequeue(self._retry)
            self._retry = None
        self._rescan()
        self._schedule()

    def _on_dir_event(self, directory: str, event: movement.InotifyEvent) -> None:
        """Replay one directory event on the names (see :mod:`._names`); files open after the batch."""
        mask = event.mask
        if mask & movement.IN_Q_OVERFLOW:
            self._overflow()
            return
        if mask & (movement.IN_MOVE_SELF | movement.IN_DELETE_SELF | movement.IN_IGNORED):
            self._lost_directory(directory)
            return
        if mask & movement.IN_ISDIR or not event.name:
            return
        path = os.path.join(directory, event.name)
        names = self._names
        if mask & movement.IN_MOVED_FROM:
            names.moved_from(path, event.cookie)
        elif mask & movement.IN_MOVED_TO:
            old = names.moved_to(event.cookie)
            if old is not None:
                self._renamed(old, path)
            elif self._matches(path):
                names.arrive(path, self._lineage_of_name(path), fresh=True)
        elif mask & movement.IN_CREATE:
            if self._matches(path):
                names.arrive(path, self._lineage_of_name(path), fresh=True)
        elif mask & movement.IN_DELETE:
            if event.polled and path in self._closed_paths:
                # Polling tells a rename as a deletion (and a creation). A file
                # closed while idle has no descriptor to go on reading it by:
                # found under another name, it is followed there as renamed
                # (its writer may still append to it), not forgotten.
                moved = self._search(self._closed_paths[path], [directory])
                if moved is not None and moved != path:
                    self._names.arrivals.pop(moved, None)  # its creation, if polling told it first
                    self._renamed(path, moved)
                    self._settle_soon()
                    return
            self._gone(path)
        elif mask & movement.IN_MODIFY:
            followed = self._at(path)
            if followed is not None:
                self._mark_dirty(followed)
                self._schedule()
                return
            if path in names.arrivals or not (path in self._closed_paths or self._matches(path)):
                return
            # Closed while idle, or not opened (old, waiting): open it again.
            names.arrive(path, path, fresh=False)
        self._settle_soon()

    def _settle_soon(self) -> None:
        if self._settling is None and not self._finished:
            # After every event of this read: open what arrived, under the names it has now.
            self._settling = self.esc.enqueue(self._settle)

    def _lost_directory(self, directory: str) -> None:
        """A watched directory was deleted or renamed away: watch the one made under its name next.

        A redeploy does ``rm -rf logs; mkdir logs``: the watch ended with the
        old directory (or followed it where it was renamed), and nothing in
        the new one would have been read. Its files already open are read by
        their descriptors until quiet, as rotated files.
        """
        watch = self._dir_watches.pop(directory, None)
        self._dir_ids.pop(directory, None)
        if watch is None or self._finished:
            return
        self.esc.inotify_rm(watch)  # renamed away, it would go on telling of the old directory
        self._watch_directories()
        if directory in self._dir_watches:
            self._rescan()  # made again already: what it holds was never announced
            self._schedule_sweep()
            self._schedule()
        else:
            log.warning(
                "%s: the directory was deleted or renamed away; looking for it every %.3g s",
                directory,
                self.poll_interval,
            )

    def _lineage_of_name(self, path: str) -> str:
        """:returns: the lineage a file seen first under ``path`` belongs to.

        A name that is a rotation of a lineage followed (``app.log.3`` beside
        ``app.log``; see :func:`~deadbeat.fs._series.rotation_series`) is that
        lineage's: with a pattern that matches rotated names, a file seen first
        under one (after a restart, or events read late) is read in its
        writer's order, not as a lineage of its own.
        """
        directory, name = os.path.split(path)
        for end, char in enumerate(name):
            if end and char in ".-_":
                lineage = os.path.join(directory, name[:end])
                if self._known.mark(lineage) is not None or next(iter(self._files.lineage(lineage)), None):
                    return lineage
        return path

    def _renamed(self, old: str, new: str) -> None:
        """``old`` was renamed to ``new`` within a watched directory."""
        names = self._names
        waiting = self._unqueue(old)
        if (
            old != new
            and old not in names.arrivals
            and old not in self._closed_paths
            and waiting is None
            and self._at(old) is None
        ):
            # A file of no concern moved onto the name (``mv app.log.tmp
            # app.log``): what was there is replaced. (A file of ours renamed
            # is a rotation; the names it shifts over moved on before it.)
            self._replaced(new)
        if waiting is not None:
            # Waiting for a descriptor (max_open_files), it waits under its new
            # name, behind the files waiting already: the file made under its
            # old name next (the writer's next lines) comes after it. Left
            # under the old name, that file took its place in the queue, and
            # it was never opened: its lines were lost.
            file, how = waiting
            self._queue(new, file, {**how, "rotated": not self._matches(new)})
        arrival = names.arrivals.pop(old, None)
        if arrival is not None:
            names.arrivals[new] = arrival  # not open yet: follow the name
            return
        followed = self._at(old)
        if followed is None:
            closed = self._closed_paths.pop(old, None)
            if closed is not None:
                self._closed_paths[new] = closed
                self._closed[closed] = (new, self._closed[closed][1])
                if not self._matches(new):
                    # Rotated away while idle. Its writer goes on appending to
                    # it until it reopens its file (what rotate_wait is for):
                    # opened again under its new name, it is read to its end
                    # before the file that replaces it, and let go once quiet,
                    # as a rotated file that was open. (Forgotten here, what
                    # the writer appended was lost.)
                    known = self._known.get(closed)
                    names.arrive(new, known.lineage if known is not None else old, fresh=False)
                return
            if self._matches(new):
                names.arrive(new, self._lineage_of_name(new), fresh=True)
            elif self._matches(old) and self._never_looked_at(new):
                # Renamed off a name the patterns ask for before any look
                # found it there: made while we were stopped, and rotated after
                # the start watched the directory but before it listed the
                # names. No listing will show it again: a rotated file of the
                # name's lineage, read to its end.
                names.arrive(new, self._lineage_of_name(old), fresh=True)
            return
        if self._at_name(new) not in (None, followed.file) and self._at_name(old) == followed.file:
            # Ours is still where it was: what was renamed is a file not seen
            # yet (ours was found under the name by a look after this event).
            # It is read under the name it has now. Anywhere else, the rename
            # was ours: another file under its new name (or none) means the
            # events are behind, and the next ones take ours on from there and
            # bring the other file under the name by events of its own.
            names.arrive(new, followed.lineage, fresh=False)
            return
        followed.path = new
        if not self._matches(new):
            followed.rotate(new)
            self._mark_dirty(followed)
            self._schedule_sweep()

    def _never_looked_at(self, path: str) -> bool:
        """Whether the file now at ``path`` is none we follow, know, keep closed or chose not to read.

        A name that cannot be looked at (renamed again already) counts as one
        never looked at: its arrival follows the next renames, and what is
        found at the end is checked when it is opened.
        """
        try:
            st = self._stat(path)
        except OSError:
            return True
        file = FileId.of(st)
        if file in self._files or file in self._known or file in self._closed or file in self._shadows:
            return False
        if any(waiting == file for waiting, _ in self._waiting_open.values()):
            return False
        if self._compressed_seen(file, path):
            return False
        # Left unread for its age by the look that found it under the old name.
        return not (self.ignore_older and time.time() - st.st_mtime > self.ignore_older)

    def _replaced(self, path: str) -> None:
        """A rename onto ``path`` unlinked the file that was there (``mv app.log.tmp app.log``), if any.

        Without this the followed file replaced stayed followed under a name
        that is another's until a rescan, and a file not opened yet was lost
        without a word. Ours is taken as replaced only if it is not under the
        name now (events can lag behind the names).
        """
        if path in self._names.arrivals:
            self._gone(path)
            return
        followed = self._at(path)
        closed = self._closed_paths.get(path)
        if (followed is not None and self._at_name(path) != followed.file) or (
            closed is not None and self._at_name(path) != closed
        ):
            self._gone(path)

    def _at_name(self, path: str) -> FileId | None:
        """:returns: the file under ``path`` now, ``None`` if none can be looked at."""
        try:
            return FileId.of(self._stat(path))
        except OSError:
            return None

    def _gone(self, path: str) -> None:
        """``path`` was deleted (or, when polling, renamed to who knows where)."""
        closed = self._closed_paths.pop(path, None)
        if closed is not None:
            self._forget_closed(closed)
        self._unqueue(path)
        shadow = self._shadow_paths.get(path)
        if shadow is not None:
            self._unshadow(shadow)
        self._refused.discard(path)
        arrival = self._names.arrivals.pop(path, None)
        if arrival is not None and closed is None:
            # (The arrival of a file closed while idle is of a file read before, forgotten above.)
            # Rotated and compressed (logrotate's compress) before we could open
            # it: its lines may be in the compressed copy, looked for once the
            # events read so far are replayed (see _settle).
            since = arrival.seen - _COPY_MADE_BEFORE_SEEN
            self._lost[path] = (arrival.lineage, min(since, self._lost.get(path, (arrival.lineage, since))[1]))
        followed = self._at(path)
        if followed is not None and followed.state is not FileState.ROTATED:
            followed.rotate(None)
            self._mark_dirty(followed)
            self._schedule_sweep()

    def _settle(self) -> None:
        """Open the files of every arrival, and let go of names renamed out of sight."""
        self._settling = None
        if self._lost:
            self._find_lost()
        if self._names.unpaired:
            # An IN_MOVED_FROM read alone: its IN_MOVED_TO may be queued since.
            self.esc.inotify_read()
        for old in self._names.moved_away():
            arrival = self._names.arrivals.pop(old, None)
            closed = self._closed_paths.pop(old, None)
            waiting = self._unqueue(old)
            if closed is not None:
                # Closed while idle and moved where no event follows it: it
                # cannot be opened again, and is forgotten (kept, it would
                # stay in memory and in the state file for ever).
                self._forget_closed(closed)
            elif arrival is not None or waiting is not None:
                log.warning("%s: moved out of the watched directories before it could be opened", old)
            followed = self._at(old)
            if followed is not None:
                followed.rotate(None)
                self._mark_dirty(followed)
        if self._names.unpaired and self._pairing is None:
            self._pairing = self.esc.after(PAIR_WAIT, self._pair_waited, keeps_alive=False)
        looked: list[tuple[str, Arrival, os.stat_result]] = []
        for path, arrival in list(self._names.arrivals.items()):
            try:
                looked.append((path, arrival, self._stat(path)))
            except FileNotFoundError:
                continue  # renamed or removed meanwhile: the next events say which
            except OSError as exc:
                log.error("%s: cannot stat: %s", path, exc.strerror)
                del self._names.arrivals[path]
        # What was found under a name is its arrival's file only if no event
        # queued before the look moved that name: logrotate may have renamed
        # the file away and made a newer one there, which opened as the older
        # one would be read first, out of its writer's order. The kernel queues
        # an event before the rename returns, so reading the queue now tells of
        # every such rename; an arrival they moved waits under its new name for
        # the next settle (which they scheduled), its file to be looked at there.
        self.esc.inotify_read()
        for path, arrival, st in looked:
            if self._names.arrivals.get(path) is not arrival:
                continue
            del self._names.arrivals[path]
            if not self._may_read(path, st):
                continue
            file = FileId.of(st)
            followed = self._files.get(file)
            if followed is not None:
                # Already open under another name the events had not told of yet.
                followed.path = path
                followed.order = max(followed.order, arrival.order)
                continue
            if file in self._shadows or self._compressed_seen(file, path):
                continue
            if file not in self._known and not self._matches(path) and self._forgotten(arrival.lineage, path, st):
                # Renamed within the directory by events read late (a series
                # shifting at each rotation): a file read and forgotten already.
                log.debug("%s: read and forgotten before; not read again", path)
                continue
            self._open(
                path,
                file,
                lineage=arrival.lineage,
                order=arrival.order,
                fresh=arrival.fresh,
                rotated=not self._matches(path),
                arrival=arrival,
            )
        if self._forget_later:
            self._forget_deferred()  # (files waiting deleted or moved away above)
        self._schedule_sweep()
        self._schedule()
        self._save_changes()  # files deleted while closed, forgotten

    def _pair_waited(self) -> None:
        self._pairing = None
        self._settle_soon()

    def _find_lost(self) -> None:
        """Read the compressed copies of files created and removed before they could be opened."""
        lost, self._lost = self._lost, {}
        lineages: dict[str, int] = {}
        for lineage, since in lost.values():
            lineages[lineage] = min(since, lineages.get(lineage, since))
        found: set[str] = set()
        for lineage, since in lineages.items():
            for copy in self._read_successors({lineage: []}, changed_since=since):
                found.add(copy.lineage)
                log.info("%s: holds the lines of a file created and removed before it could be opened", copy.path)
        for path, (lineage, since) in lost.items():
            if lineage in found:
                self._lost_looks.pop(path, None)
                continue
            looks = self._lost_looks.get(path, 0) + 1
            if looks < _LOST_LOOKS and not self._finished:
                # Rotations in a burst rename the series under the listing (app.log.1.gz
                # to app.log.2.gz between a look and the open): looked for again in a
                # moment, before its lines are given up.
                self._lost_looks[path] = looks
                self._lost[path] = (lineage, since)
                continue
            self._lost_looks.pop(path, None)
            log.warning(
                "%s: created and removed before it could be opened, and no compressed copy of it found;"
                " its lines were not read",
                path,
            )
        if self._lost and self._lost_retry is None and not self._finished:
            self._lost_retry = self.esc.after(_LOST_LOOK_AGAIN, self._look_for_lost_again)

    def _look_for_lost_again(self) -> None:
        self._lost_retry = None
        if self._lost and not self._finished:
            self._find_lost()

    def _forgotten(self, lineage: str, path: str, st: os.stat_result) -> bool:
        """Whether the file at ``path`` is one of ``lineage`` read and forgotten (by its mark)."""
        mark = self._known.mark(lineage)
        if mark is None or not mark.timed:
            return False
        return not mark.newer(birth_time_at(path) if mark.born is not None else None, st.st_mtime_ns)

    def _compressed_seen(self, file: FileId, path: str) -> bool:
        """Whether ``path`` (``file``) is a compressed file seen and left unread, not a later one given its inode."""
        if file not in self._compressed:
            return False
        born = self._compressed[file]
        if born is None or birth_time_at(path) == born:
            return True
        del self._compressed[file]  # deleted since, and its inode number given to another file
        return False

    def _unshadow(self, file: FileId) -> None:
        """``file`` is no longer a copy left unread."""
        path = self._shadows.pop(file, None)
        if path is not None and self._shadow_paths.get(path) == file:
            del self._shadow_paths[path]
        self._shadow_of.pop(file, None)
        timer = self._shadow_timers.pop(file, None)
        if timer is not None:
            self.esc.dequeue(timer)

    def _copy_due(self, file: FileId) -> None:
        """A file judged a copy, ``rotate_wait`` later: was its original truncated (copytruncate)?

        copytruncate truncates the original right after copying it. If that
        happened (and the original's events were not read yet: a paused
        supply), the copy is read from where we were, as always. If not, the
        two files only start alike (two logs opening with the same lines): the
        second is a file of its own, read from its start; left unread, its
        lines would be lost. A copy made without truncating the original
        (``cp app.log app.log.bak`` where a pattern matches) is thus read too:
        ``exclude`` such names.
        """
        self._shadow_timers.pop(file, None)
        if self._finished or file not in self._shadows:
            return
        original, generation = self._shadow_of.get(file, (None, 0))
        if original is not None and self._files.get(original.file) is original and original.state is FileState.FOLLOWED:
            self._check_truncation(original)  # finds and reads the copy, if it was truncated
            if file not in self._shadows:
                return
        path = self._shadows.get(file)
        self._unshadow(file)
        if path is None:
            return
        if original is not None and original.generation != generation:
            # Truncated since the verdict, and what it held before was read from it
            # and from the copy found then: this one is a copy of the same, left unread.
            log.info("%s: a copy of %s from before its truncation; not read", path, self._name_of(original))
            return
        try:
            st = self._stat(path)
        except OSError:
            return  # gone: the events say what became of it
        if FileId.of(st) != file or not self._may_read(path, st):
            return
        log.info(
            "%s: started as %s, which was not truncated: a file of its own, read from its start",
            path,
            self._name_of(original) if original is not None else "another file",
        )
        self._open(path, file, lineage=path, order=self._names.next_order(), rotated=not self._matches(path))
        self._schedule_sweep()
        self._schedule()

    def _on_file_event(self, file: FileId, event: movement.InotifyEvent) -> None:
        if event.mask & movement.IN_Q_OVERFLOW:
            self._overflow()
            return
        followed = self._files.get(file)
        if followed is not None:
            self._mark_dirty(followed)
        self._schedule()

    def _overflow(self) -> None:
        """Events were lost: one rescan, however many watches were told (every watch is told of it)."""
        self._overflows += 1
        if self._overflow_rescan is None and not self._finished:
            self._overflow_rescan = self.esc.enqueue(self._rescan_after_overflow)

    def _rescan_after_overflow(self) -> None:
        self._overflow_rescan = None
        now = time.monotonic()
        if now - self._overflow_said >= _OVERFLOW_SAID_EVERY:
            # Said at most every few seconds: under a flood, each line would cost more events lost.
            log.warning(
                "%s: inotify queue overflowed%s; rescanning and reading every file"
                " (raise fs.inotify.max_queued_events if it keeps happening)",
                self,
                f" {self._overflows} times since said last" if self._overflows > 1 else "",
            )
            self._overflow_said, self._overflows = now, 0
        self._names.forget()
        # Files made and renamed away while events were lost, never opened: read
        # after the known ones of their series that moved, before what the rescan
        # opens under the patterns' names.
        moved: dict[str, list[FollowedFile]] = {}
        for followed in self._files:
            if not self._still_at(followed) and followed.file in self._known:
                moved.setdefault(followed.lineage, []).append(followed)
        self._read_successors(moved, compressed=False)
        self._rescan()
        for followed in self._files:
            self._mark_dirty(followed)
        self._schedule_sweep()
        self._schedule()

    def _mark_dirty(self, followed: FollowedFile) -> None:
        followed.at_end = False
        self._dirty[followed.file] = None
        self._idle.pop(followed.file, None)

    # -- idle files and the cap on open files ----------------------------------------

    def _wait_to_open(self, path: str, file: FileId, how: dict[str, Any]) -> None:
        now = time.monotonic()
        if not self._said_cap and now - self._said_cap_at >= _CAP_SAID_EVERY:
            # Said when the cap is reached again, at most once a minute: under a steady load
            # the files waiting come and go many times a second.
            self._said_cap = True
            self._said_cap_at = now
            log.warning(
                "%s: max_open_files (%d) reached; files idle longest are closed, the others wait their turn",
                self,
                self._cap,
            )
        self._queue(path, file, how)

    def _queue(self, path: str, file: FileId, how: dict[str, Any]) -> None:
        """Queue ``file`` under ``path`` for a descriptor, behind the files waiting already.

        A file waits once: asked again under another name (a look found it
        there before the events that rename it were read), it keeps its place
        and is looked for in its directory when its turn comes. Two entries
        for one file outlived its opening by the first: the second opened it
        again once it was read to its end and forgotten, from its start.
        """
        name = self._waiting_names.get(file)
        if name is not None and name != path:
            return
        replaced = self._waiting_open.get(path)
        if replaced is not None and replaced[0] != file:
            del self._waiting_names[replaced[0]]  # (another file was waiting under the name: renamed over)
        self._waiting_open[path] = (file, how)
        self._waiting_names[file] = path

    def _unqueue(self, path: str) -> tuple[FileId, dict[str, Any]] | None:
        """:returns: the entry of the file waiting under ``path``, no longer waiting, if one was."""
        entry = self._waiting_open.pop(path, None)
        if entry is not None:
            del self._waiting_names[entry[0]]
        return entry

    def _unqueue_file(self, file: FileId) -> None:
        """``file`` waits no longer, under whatever name: it was opened, or forgotten."""
        name = self._waiting_names.pop(file, None)
        if name is not None:
            del self._waiting_open[name]

    def _make_room(self) -> bool:
        """Close the open file idle longest. :returns: whether one was closed."""
        while self._idle:
            file = next(iter(self._idle))
            del self._idle[file]
            followed = self._files.get(file)
            if followed is not None and self._closable(followed):
                self._park(followed)
                return True
        return False

    def _closable(self, followed: FollowedFile) -> bool:
        """Whether ``followed`` may be closed now and opened again later without a line lost or repeated."""
        return (
            followed.state is FileState.FOLLOWED
            and followed.at_end
            and followed.file not in self._dirty
            and followed.file not in self._building
            and followed.path is not None
            and followed.truncated is None
        )

    def _park(self, followed: FollowedFile) -> None:
        """Close an idle file, remembering where to read on (opened again when its directory says it changed)."""
        assert followed.path is not None
        # line_start, not the acknowledged offset: what was sent is not sent
        # again; an unfinished last line is read again from its start.
        self._closed[followed.file] = (followed.path, followed.line_start)
        self._closed_paths[followed.path] = followed.file
        self._close(followed)

    def _may_rotate_out(self, followed: FollowedFile) -> bool:
        """Whether a busy file may give its descriptor to a waiting one and wait its next turn."""
        return (
            followed.state is FileState.FOLLOWED
            and followed.path is not None
            and followed.truncated is None
            and followed.gz is None
        )

    def _rotate_out(self, followed: FollowedFile) -> None:
        """Fair rotation beyond ``max_open_files``: close a busy file after its turn and queue it behind the others.

        It reads on from what was sent when its turn comes again (an
        unfinished line, or a multiline event being built, is read again whole).
        """
        assert followed.path is not None
        path = followed.path
        how = {
            "lineage": followed.lineage,
            "order": followed.order,
            "fresh": False,
            "rotated": False,
            "at_end": False,
            "compressed": False,
        }
        self._park(followed)
        self._queue(path, followed.file, how)

    def _forget_closed(self, file: FileId, mark: _Mark | None = None) -> None:
        """A file closed while idle is gone: forget it once its last batches are acknowledged.

        :param mark: what it leaves on its lineage (see :meth:`_mark_of`); none once deleted.
        """
        self._closed.pop(file, None)
        self._forgetting[file] = mark
        self._forget_if_done(file)

    def _mark_of(self, file: FileId, path: str | None = None, followed: FollowedFile | None = None) -> _Mark | None:
        """:returns: the mark ``file`` leaves on its lineage when forgotten (see :data:`_Mark`).

        Read from ``followed``, still open and read to its end, or else the name
        ``path``; ``None`` when the file cannot be looked at (gone: it cannot be
        read again anyway).
        """
        known = self._known.get(file)
        if known is None or not known.lineage:
            return None
        try:
            if followed is not None:
                head = followed.pread(FINGERPRINT_BYTES, 0)
                content = (fingerprint(head), len(head), followed.read_pos)
                return known.lineage, birth_time(followed.fd), os.fstat(followed.fd).st_mtime_ns, content
            if path is not None:
                st = self._stat(path)
                return known.lineage, birth_time_at(path), st.st_mtime_ns, _read_whole(self._head_and_size_at(path))
        except OSError:
            pass
        return None

    def _remember_content(self, known: KnownFile) -> None:
        """A known file is lost sight of (deleted, its inode number maybe given to another file): its
        lineage's mark keeps what it held and how far it was read, for a compressed copy of it."""
        if known.fingerprint_length and known.lineage:
            content = (known.fingerprint, known.fingerprint_length, known.offset)
            self._known.mark_forgotten(known.lineage, None, None, content)

    def _head_and_size_at(self, path: str) -> tuple[bytes, int] | None:
        """:returns: the first bytes of what ``path`` holds, and its size (of a compressed file: of
        its content, as its trailer says, modulo 2**32); ``None`` if it cannot be read."""
        try:
            fd = self._open_regular(path)
        except OSError:
            return None
        if fd < 0:
            return None
        try:
            return _head_and_size(fd, bool(looks_compressed(os.pread(fd, 2, 0))))
        except OSError:
            return None
        finally:
            os.close(fd)

    def _holds(self, path: str, file: FileId, known: KnownFile) -> bool:
        """Whether ``file``, seen at ``path``, is still the file ``known`` describes (by its first
        bytes, and by the creation time of its inode where both are known: see :func:`_reborn`)."""
        if not known.fingerprint_length and known.inode_born is None:
            return True  # nothing to tell by
        handle = self._open_identified(path, file)
        if handle is None:
            return False
        fd, _ = handle
        try:
            if _reborn(fd, known):
                return False
            if not known.fingerprint_length:
                return True
            found = _head_and_size(fd, bool(looks_compressed(os.pread(fd, 2, 0))))
        except OSError:
            return False
        finally:
            os.close(fd)
        return found is not None and _starts_as(found[0], known)

    def _open_identified(self, path: str, file: FileId) -> tuple[int, str] | None:
        """Open ``file``, seen at ``path``: looked for again in its directory if renamed since.

        :returns: the descriptor and the name it was opened under, or ``None`` if it is gone.
        """
        for _ in range(_SEARCHES):
            try:
                fd = self._open_regular(path)
            except OSError:
                fd = -1
            if fd >= 0:
                if FileId.of(os.fstat(fd)) == file:
                    return fd, path
                os.close(fd)
            found = self._search(file, {os.path.dirname(path)})
            if found is None:
                return None
            path = found
        return None

    def _close_inactive(self) -> None:
        """Close the files that got no data for ``close_inactive`` seconds."""
        limit = time.monotonic() - self.close_inactive
        for file in list(self._idle):
            followed = self._files.get(file)
            if followed is None:
                del self._idle[file]
            elif followed.last_data <= limit and self._closable(followed):
                del self._idle[file]
                self._park(followed)
        self._open_waiting()

    def _open_waiting(self) -> None:
        """Open the files waiting for a descriptor, as far as the cap (and idle files to close) allows."""
        while self._waiting_open and not self._finished:
            if len(self._files) >= self._cap and not self._make_room():
                return
            path, (file, how) = next(iter(self._waiting_open.items()))
            self._unqueue(path)
            if file in self._files or not (self._following or os.path.lexists(path)):
                continue  # (read once, a file gone meanwhile is skipped, as it always was)
            # Looked for in its directory if it is no longer under the name it
            # waited under: renamed meanwhile (rotated away, and maybe still
            # written to), it is read under its new name, to its end, as any
            # file renamed before it could be opened. Dropped, its lines were
            # lost: no event would bring it back. (Deleted, it is not found:
            # its unread lines are lost, as for any reader without a descriptor.)
            self._open(path, file, search={os.path.dirname(path)}, **how)
        if not self._waiting_open:
            self._said_cap = False
        if self._forget_later:
            self._forget_deferred()
        self._schedule()

    # -- discovery by looking ------------------------------------------------------

    def _listed(self, directories: Iterable[str]) -> Iterator[tuple[str, os.stat_result]]:
        """:returns: (path, stat) of each name in ``directories`` as they are listed (names gone meanwhile left out)."""
        for directory in directories:
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            for name in names:
                path = os.path.join(directory, name)
                try:
                    yield path, self._stat(path)
                except OSError:
                    continue

    def _search(self, file: FileId, directories: Collection[str]) -> str | None:
        """:returns: the name ``file`` has now in one of ``directories``, if any."""
        return next((path for path, st in self._listed(directories) if FileId.of(st) == file), None)

    def _stat(self, path: str) -> os.stat_result:
        """``stat`` of ``path``: of the link itself unless links are followed."""
        return os.stat(path) if self.follow_symlinks else os.lstat(path)

    def _steps(self, path: str) -> tuple[str, list[str]]:
        """:returns: the fixed prefix ``path`` is below, and the directories from it to the file's own."""
        for prefix, below in self._prefixes:
            if path.startswith(below):
                return prefix, path[len(below) :].split("/")[:-1]
        return os.path.dirname(path), []

    def _linked_directory(self, path: str) -> str | None:
        """:returns: the first directory below a pattern's fixed prefix on the way to ``path`` that is a link."""
        if self.follow_symlinks:
            return None
        where, steps = self._steps(path)
        for name in steps:
            where = os.path.join(where, name)
            try:
                if stat.S_ISLNK(os.lstat(where).st_mode):
                    return where
            except OSError:
                return None  # gone: opening it will say
        return None

    def _may_read(self, path: str, st: os.stat_result, named: bool = False) -> bool:
        """Whether ``path`` (``st`` from :meth:`_stat`) is a regular file this tailer may read; refusals said once.

        :param named: the path was named as it is, not matched by a pattern: a
            refusal then fails the run (what was asked for cannot be read).
        """
        mode = st.st_mode
        # Below a linked directory, nothing is looked at more closely, nor named in a log line.
        link = self._linked_directory(path)
        if link is not None:
            self._refuse_link_on_the_way(link, path)
            return False
        if stat.S_ISREG(mode):
            if not self._owner_ids or st.st_uid in self._owner_ids:
                return True
            why = f"owned by uid {st.st_uid}, not by {', '.join(self.owners)}; not read"
        elif stat.S_ISLNK(mode):
            why = _NOT_FOLLOWED
        elif stat.S_ISDIR(mode) and not named:
            return False  # a pattern may match directories too
        else:
            why = f"not a regular file ({kind(mode)}); not read"
        self._refuse(path, why, named)
        return False

    def _refuse(self, path: str, why: str, named: bool = False) -> None:
        """Say once why ``path`` is not read (a named one fails the run)."""
        if path not in self._refused:
            self._refused.add(path)
            if named:
                self._cannot_read(path, why)
            else:
                log.warning("%s: %s", path, why)

    def _refuse_link_on_the_way(self, link: str, path: str) -> None:
        """Say once, for the link, that what is below it is not read."""
        if link not in self._refused:
            self._refused.add(link)
            log.warning("%s: a symbolic link on the way to %s; not followed %s", link, path, _TO_FOLLOW)

    def _open_regular(self, path: str) -> int:
        """Open ``path`` for reading: never through a link below a fixed prefix, never waiting on a FIFO.

        :returns: a descriptor of a regular file, or -1 when ``path`` is refused (said once).
        :raises OSError: when it cannot be opened.
        """
        prefix, steps = self._steps(path)
        try:
            return open_for_reading(path, prefix, steps, self.follow_symlinks)
        except LinkOnTheWay as exc:
            self._refuse_link_on_the_way(exc.link, path)
        except UnsafePath as exc:
            # A link another account could have planted on the way to the named directory.
            self._refuse(path, f"{exc}; not read", named=True)
        except NotRegular as exc:
            # Regular when looked at, something else when opened: swapped in meanwhile.
            self._refuse(path, f"not a regular file ({kind(exc.mode)}); not read")
        except OSError as exc:
            if exc.errno != errno.ELOOP or self.follow_symlinks or not os.path.islink(path):
                raise
            self._refuse(path, _NOT_FOLLOWED)
        return -1

    def _cannot_read(self, path: str, why: str) -> None:
        """A file that is there cannot be read: its lines are not delivered, so the run has failed."""
        self.esc.fail(self, f"{path}: {why}")

    def _glob(self, pattern: str) -> list[str]:
        """The names ``pattern`` matches; below a directory that is a link (said once) only when following links."""
        if self.follow_symlinks:
            return glob.glob(pattern)
        links: set[str] = set()
        paths = glob_without_links(pattern, links)
        for link in sorted(links):
            self._refuse_link_on_the_way(link, pattern)
        return paths

    def _matching(self) -> dict[FileId, tuple[str, os.stat_result]]:
        """:returns: identity -> (path, stat) of every regular file matching now.

        A directory whose files were renamed while it was looked at (a rotation
        series shifting by one name) is looked at again: a file moved from a
        name not listed yet to one listed already would be missed, and read
        later, out of its lineage's order.
        """
        found: dict[FileId, tuple[str, os.stat_result]] = {}
        for _ in range(_SEARCHES):
            before = self._directory_times()
            self._match_once(found)
            if not self._following or self._directory_times() == before:
                break
        return found

    def _directory_times(self) -> list[int | None]:
        return [_changed_at(directory) for directory in sorted(self._directories())]

    def _match_once(self, found: dict[FileId, tuple[str, os.stat_result]]) -> None:
        """Add to ``found`` the files matching now (the name found last wins)."""
        for pattern in self._patterns:
            paths = sorted(self._glob(pattern)) if glob.has_magic(pattern) else [pattern]
            if not paths and not self._following and pattern not in self._missing:
                self._missing.add(pattern)
                if self.missing_ok:
                    log.info("%s: matches nothing; skipped (missing_ok)", pattern)
                else:
                    self.esc.fail(self, f"{pattern}: matches no file")
            for path in paths:
                if self._excluded(path):
                    continue
                try:
                    st = self._stat(path)
                except FileNotFoundError:
                    if self._following and glob.has_magic(pattern):
                        continue  # matched, then gone: nothing to remember of a name that came and went
                    if path not in self._missing:
                        self._missing.add(path)
                        if self._following:
                            log.info("%s: not there yet; it will be read when it appears", path)
                        elif self.missing_ok:
                            log.info("%s: not there; skipped (missing_ok)", path)
                        else:
                            self.esc.fail(self, f"{path}: cannot read: no such file")
                    continue
                except OSError as exc:
                    self._cannot_read(path, f"cannot stat: {exc.strerror}")
                    continue
                self._missing.discard(path)
                if self._may_read(path, st, named=not glob.has_magic(pattern)):
                    found[FileId.of(st)] = (path, st)

    def _resume_orphans(self) -> None:
        """After a restart, finish files that were rotated away while we were down, and those made meanwhile."""
        marks = self._known.marks()
        if not self._known and not marks:
            return
        self._finish_orphans(marks)

    def _resume_left_behind(self) -> None:
        """At the start, finish the known files renamed away after :meth:`_resume_orphans` looked, before the look
        at the names opened them.

        Still under its name when the start looked for the files rotated while
        we were stopped, a known file renamed away a moment later (logrotate,
        the writer going on in a new file) was under no name the patterns
        match when :meth:`_rescan` looked: not opened, and the event of its
        rename told of a file known but not followed, which no event handling
        takes on. The new file was read, and the rest of the known one only at
        the next start: out of its writer's order, or, without another start,
        never. A reload (SIGHUP with a changed pipeline) starts the new tailer
        the moment the old one finished, while logrotate is busy, and landed
        there often. Found before anything is read, it is read first, as a
        rotated file of its lineage.
        """
        waiting = {file for file, _ in self._waiting_open.values()}
        unopened = {
            file for file in self._known if file not in self._files and file not in waiting and file not in self._closed
        }
        if unopened:
            self._finish_orphans({}, only=unopened)

    def _finish_orphans(self, marks: dict[str, LineageMark], only: Container[FileId] | None = None) -> None:
        """Find the known files not under their names any more, read them on, and those made after them unseen.

        :param marks: the lineages' marks, whose series are looked at too (see :meth:`_read_successors`).
        :param only: the known files to look at (default: every one).
        """
        matching = self._matching()
        # Rotated away, or deleted and its inode number given to the file now
        # under the name (logrotate's compress frees one a moment before its
        # create takes one): either way, ours is to be found elsewhere.
        orphans = {
            k: v
            for k, v in self._known.items()
            if (only is None or k in only) and (k not in matching or not self._holds(matching[k][0], k, v))
        }
        if not orphans and only is not None:
            return
        directories = self._directories()
        unfound = dict(orphans)
        #: Known files found under their name with other first bytes, and not
        #: born anew: truncated while we were stopped (copytruncate).
        truncated: dict[FileId, KnownFile] = {}
        # Looked for again while some are not found: a series renamed at each
        # rotation may move a file from a name not listed yet to one listed already.
        for _ in range(_SEARCHES if orphans else 0):
            for path, st in self._listed(directories):
                file = FileId.of(st)
                known = unfound.pop(file, None)
                if known is None or not self._may_read(path, st):
                    continue
                if not self._holds(path, file, known):
                    # Its inode number given to another file since: ours
                    # was deleted (its compressed copy is looked for below).
                    # Or, born when ours was, ours truncated: its copy is.
                    born = birth_time_at(path)
                    if (known.born is None or born == known.born) and (
                        known.inode_born is None or born == known.inode_born
                    ):
                        truncated[file] = known
                    continue
                # Under a name the patterns match (``app.log*``), it is one of the
                # lineage's followed files, aged by its creation like the others:
                # taken for rotated, it went before every one of them, older or not.
                followed = self._open(
                    path,
                    file,
                    lineage=known.lineage,
                    order=known.order,
                    rotated=not self._matches(path),
                    search=directories,
                )
                if followed is not None:
                    _quiet_since_change(followed, st)
                    log.info(
                        "%s: finishing %s, rotated before this start, from offset %d", self, path, followed.read_pos
                    )
            if not unfound:
                break
        copied = self._resume_copies(truncated) if truncated else set()
        waiting = {file for file, _ in self._waiting_open.values()}
        left = {
            file: known
            for file, known in orphans.items()
            if file not in self._files and file not in waiting and file not in copied
        }
        if left:
            self._resume_compressed(left)
        # When the known files of a lineage are all gone, the files of its series
        # born after them are new: the bound their births give, kept here.
        gone_born: dict[str, int] = {}
        for file, known in left.items():
            if file not in self._files:
                # Gone: nothing left to resume, unless its compressed copy is
                # still being made. Its lineage keeps what it held, and how far
                # it was read: the copy, once there, is read on from there.
                self._remember_content(known)
                self._known.pop(file)
                if known.born is not None:
                    gone_born[known.lineage] = min(known.born, gone_born.get(known.lineage, known.born))
        # Every lineage read before: those with files found rotated, and those
        # whose files were all read and forgotten (their mark tells which of
        # the files beside are new).
        lineages: dict[str, list[FollowedFile]] = {lineage: [] for lineage in marks}
        for known in orphans.values():
            lineages.setdefault(known.lineage, [])
        for followed in self._files:  # the orphans found, as they were or compressed
            if followed.lineage in lineages:
                lineages[followed.lineage].append(followed)
        self._read_successors(lineages, gone_born=gone_born)
        if only is None:
            self._tidy_marks(marks, contents=marks)
            self._known.untidy.clear()

    def _resume_copies(self, truncated: dict[FileId, KnownFile]) -> set[FileId]:
        """Find the copies of files truncated while we were stopped (copytruncate), and read on in them.

        The copy starts as the file did. Made after the stop, it is at least as
        long as what was read of it: it is read on from the saved position (the
        lines written between the stop and the copy are there), as a rotated
        file of the lineage, and the file under the name, forgotten, is read
        from its start. Taken for a file given a deleted file's inode number,
        ours was forgotten and its copy, made after the lineage's mark, read
        again from its start. Without a copy (truncated in place), the file is
        read from its start: what was not read before the truncation is gone.

        Made before the stop, while we went on reading the file (the lines its
        writer appended between the copy and the truncation), the copy is
        shorter than the saved position: everything in it was read. It is the
        copy all the same, taken in at its end (nothing read from it), so that
        it is remembered as read; passed over, it looked like a file made while
        we were stopped and was read again whole. A copy at least as long is
        preferred; of the shorter ones, the longest not read and forgotten
        before (by the lineage's mark).

        :returns: the truncated files whose copy was found (forgotten: read again from their start).
        """
        truncated = dict(truncated)
        directories = self._directories()
        copies: dict[FileId, tuple[str, os.stat_result, KnownFile]] = {}  # original -> its copy
        #: original -> the longest copy shorter than its saved position, should no longer one be found.
        shorter: dict[FileId, tuple[str, os.stat_result]] = {}
        for path, st in self._listed(directories):
            file = FileId.of(st)
            if not truncated or not st.st_size or file in self._files or file in self._known:
                continue
            if not stat.S_ISREG(st.st_mode) or not self._may_read(path, st):
                continue
            handle = self._open_identified(path, file)
            if handle is None:
                continue
            fd, path = handle
            try:
                if looks_compressed(os.pread(fd, 2, 0)):
                    continue  # a compressed copy is found by _resume_compressed
                head, size = os.pread(fd, FINGERPRINT_BYTES, 0), os.fstat(fd).st_size
            except OSError:
                continue
            finally:
                os.close(fd)
            alike = [o for o, k in truncated.items() if _starts_as(head, k) and self._copy_named(k.path, path, file)]
            original = next((o for o in alike if size >= truncated[o].offset), None)
            if original is not None:
                copies[original] = (path, st, truncated.pop(original))
                self._known.pop(original)  # under its name, it starts again at 0 (the rescan reads it)
                continue
            for other in alike:
                known = truncated[other]
                best = shorter.get(other)
                if (best is None or best[1].st_size < size) and not self._forgotten(known.lineage, path, st):
                    shorter[other] = (path, st)
        for original, (path, st) in shorter.items():
            if original in truncated:
                copies[original] = (path, st, truncated.pop(original))
                self._known.pop(original)
        for path, st, known in copies.values():
            file = FileId.of(st)
            # The copy takes the original's place (its born too), under an inode of its own;
            # one shorter than the position saved was read to its end before the stop.
            self._known.set(
                file, dataclasses.replace(known, path=path, inode_born=None, offset=min(known.offset, st.st_size))
            )
            followed = self._open(
                path, file, lineage=known.lineage, order=known.order, rotated=True, search=directories
            )
            if followed is not None:
                _quiet_since_change(followed, st)
                log.info(
                    "%s: %s was truncated while stopped; finishing its copy %s from offset %d%s",
                    self,
                    known.path,
                    followed.path,
                    followed.read_pos,
                    " (its end: read before the stop)" if known.offset > st.st_size else "",
                )
        return set(copies)

    def _tidy_marks(self, marks: dict[str, LineageMark], contents: Container[str]) -> set[str]:
        """Forget the marks of lineages with no file left in their directory (dated names come and go,
        and so do files named after a job), and the contents no file of a series holds any more
        (compressed copies deleted).

        :param contents: the lineages whose contents are looked at (each file of
            their series opened; the rest costs a listing of each directory).
        :returns: the lineages of ``contents`` that could not be looked at (their directory changed meanwhile).
        """
        listings = Listings()
        # A lineage with a file still known (open, closed while idle, renamed
        # to another directory) keeps its mark: it is moved when that file is forgotten.
        followed = {known.lineage for known in self._known.values()}
        # A name a pattern gives in full keeps its mark while its file is away:
        # one made and rotated before a checkpoint is found by it (see _mark_following_began).
        followed |= {pattern for pattern in self._patterns if not glob.has_magic(pattern)}
        # A first start's mark has done its part once a file of the lineage is
        # saved: that file is found again by its identity after a restart.
        saved = {known.lineage for file, known in self._known.items() if self._known.saved(file)}
        untidy = set()
        for lineage, mark in marks.items():
            if mark.placeholder and lineage in saved:
                self._known.drop_mark(lineage)
                continue
            series = listings.series(lineage)
            if not series:
                if lineage not in followed:
                    self._known.drop_mark(lineage)
            elif mark.contents and lineage in contents:
                # Only from a look at a directory that did not change meanwhile: a
                # file renamed under us (a series shifting) is no file gone.
                directory = os.path.dirname(lineage)
                before = _changed_at(directory)
                found = [self._head_and_size_at(path) for path in series]
                if before is None or _changed_at(directory) != before or None in found:
                    untidy.add(lineage)
                    continue
                if mark.keep_only([head for head, _ in filter(None, found)]):
                    self._known.mark_changed(lineage)
        return untidy

    def _tidy_running(self) -> None:
        """Tidy the marks while running (see :meth:`_tidy_marks`), and save what that changed.

        Files under names of their own (``job-1234.log``), read, rotated and
        deleted by the thousand, each leave a mark on a lineage of their own:
        kept until a restart, the marks made the state file grow without bound
        while the live files stayed as many. Contents are looked at only for
        the lineages whose mark took a file in since the last time: a mark
        grows only then.
        """
        untidy, self._known.untidy = self._known.untidy, set()
        self._known.untidy |= self._tidy_marks(self._known.marks(), contents=untidy)
        self._save_changes()

    def _save_changes(self) -> None:
        """Save the positions when what is remembered changed without a batch (files forgotten once let go,
        marks tidied); else the state file kept them until the next batch, however long that took.

        Safe at any moment between two turns: every acknowledgement is
        followed by a checkpoint of every cog in the same turn, so the
        output's offset already saved matches the positions saved now.
        """
        if self._state is not None and self._known.changed and not self._finished:
            self.checkpoint()

    def _mark_following_began(self) -> None:
        """At the first start, give each lineage a mark before any line goes out, so the first save holds it.

        A new file is saved once judged not a copy (see :meth:`_copy_verdict`):
        a run killed before its first checkpoint had saved no file, and, but
        for the output's offset, no section at all. The next start took itself
        for a first one again (or, its section empty, knew of no lineage), and
        the file rotated meanwhile for history beside the new one: all its
        lines lost, the output cut back to nothing. Marked here (by the
        history there, or at the epoch when there is none: no file of the
        series is history then), the rotated file is one made while stopped,
        read from its start as the output was cut back to it. The same for a
        name a pattern gives in full, whose file is not there yet.
        """
        lineages = {followed.lineage for followed in self._files}
        named = {pattern for pattern in self._patterns if not glob.has_magic(pattern)}
        self._mark_series_there(named - lineages)
        for lineage in lineages | named:
            self._known.mark_forgotten(lineage, None, 0)  # timed, for files changed after the epoch at least
        # Set, not saved: the first save (the output's, before its first line;
        # else this tailer's first checkpoint) takes it, and a save now would
        # put off the first checkpoint by a whole state_interval.
        assert self._state is not None
        self._state.set(self._section, self._state_section())

    def _mark_series_there(self, lineages: Iterable[str]) -> None:
        """At the first start, the rotated files beside each lineage's file are history: left unread.

        The lineage's mark takes them in, so that after a restart they are not
        taken for files made while we were stopped (nor, compressed later, their copies).
        """
        listings = Listings()
        for lineage in lineages:
            for path in listings.series(lineage):
                if path == lineage or self._matches(path):
                    continue
                try:
                    st = self._stat(path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    content = _read_whole(self._head_and_size_at(path))
                    self._known.mark_forgotten(lineage, birth_time_at(path), st.st_mtime_ns, content)

    def _read_successors(
        self,
        lineages: dict[str, list[FollowedFile]],
        compressed: bool = True,
        by_mark: bool = True,
        changed_since: int | None = None,
        gone_born: Mapping[str, int] | None = None,
    ) -> list[FollowedFile]:
        """Files made and rotated away unseen, in lineages we know: read them, in order.

        Rotated twice while stopped, ``app.log`` (known) became ``app.log.2``,
        and the file that replaced it, never seen, became ``app.log.1``. The
        known one is found by its inode; the other, under a name no pattern
        matches, would be missed. So for each lineage, the files of its
        rotation series (names starting with the name it began with) that are
        unknown and not matched by a pattern (those are read anyway) are read
        from their start, oldest first, if they are newer than what was read:

        * created after the lineage's mark (:class:`~deadbeat.fs._known.LineageMark`),
          where a file of it was read and forgotten before (``by_mark``);
        * else changed since the files given for it were (the known files found rotated);
        * compressed (born when compressed, whatever it holds): not a copy of a
          known file, and holding a content the mark does not keep (one it
          keeps, read only in part, is read on from there); without such a
          mark, changed since, as above.

        One that starts as a known file of its lineage does (``by_mark``) may be
        the copy ``copytruncate`` made of it, whose truncation is still to come
        (stopped, or reloaded, between the two): it is opened new, and read
        only once told from a copy, as a file seen while following is (see
        :meth:`_copy_verdict`). Read from its start, its lines went out twice.

        The same after an inotify overflow, after a file was lost before it
        could be opened, and after a copytruncate found more copies than one
        (there ``by_mark`` is false: the copies read before are known by their
        content, not by their age).

        :param lineages: lineage -> the files of it found rotated (may be none,
            where it has a mark).
        :param compressed: read compressed ones too (after a restart, those not
            found to be a known file compressed); while following, a
            compressed file beside ours is most likely one we read, compressed.
        :param changed_since: for a lineage given no files, the time (ns) after
            which a file of its series must have changed to be read.
        :param gone_born: lineage -> when its oldest known file, deleted while
            we were stopped, was created (ns): the files of its series born
            after it are new, as when it is still known.
        :returns: the files opened.
        """
        candidates: dict[FileId, tuple[tuple[int, int], str, str, os.stat_result, bool]] = {}
        listings = Listings()
        # The known files by lineage, grouped once: a restart may look at thousands of lineages.
        kins: dict[str, list[KnownFile]] = {}
        for known in self._known.values():
            kins.setdefault(known.lineage, []).append(known)
        for lineage, files in lineages.items():
            mark = self._known.mark(lineage) if by_mark else None
            kin = kins.get(lineage, [])
            try:
                # A compressed file changed when it was made: no bound for the others.
                plain = [f for f in files if f.gz is None] or files
                since = min((os.fstat(f.fd).st_mtime_ns for f in plain), default=changed_since)
            except OSError:
                continue
            # Without a mark: created after the oldest file of the lineage we know.
            borns = [k.born for k in kin if k.born is not None]
            if gone_born and lineage in gone_born:
                borns.append(gone_born[lineage])
            first_born = min(borns, default=None) if by_mark else None
            if mark is None and since is None and first_born is None:
                continue
            directories = {os.path.dirname(f.path) for f in files if f.path} or {os.path.dirname(lineage)}
            for directory in directories:
                for path in listings.series(lineage, directory):
                    if self._excluded(path):
                        continue
                    # A name the patterns match is read by the rescan, unless
                    # compressed (there, one that appeared is left unread).
                    matched = self._matches(path)
                    try:
                        st = self._stat(path)
                    except OSError:
                        continue
                    file = FileId.of(st)
                    if (
                        not stat.S_ISREG(st.st_mode)
                        or not st.st_size  # nothing to read, nor to tell a compressed file by (being made)
                        or file in self._files
                        or file in self._known
                        or file in self._shadows
                        or self._compressed_seen(file, path)
                        or file in self._closed
                        or file in candidates
                    ):
                        continue
                    if not self._may_read(path, st):
                        continue
                    # Looked at through a descriptor of this very file: the name
                    # may hold another by now (the series shifts under us).
                    handle = self._open_identified(path, file)
                    if handle is None:
                        continue  # deleted meanwhile
                    fd, path = handle
                    try:
                        packed = bool(looks_compressed(os.pread(fd, 2, 0)))
                        born = birth_time(fd)
                        found = _head_and_size(fd, packed) if packed and compressed else None
                        plain_head = os.pread(fd, FINGERPRINT_BYTES, 0) if by_mark and not packed else b""
                    except OSError:
                        continue
                    finally:
                        os.close(fd)
                    if (packed and not compressed) or (matched and not packed):
                        continue
                    if packed:
                        # Born when compressed: what it holds tells whether it was read, and how far.
                        if found is None:
                            continue
                        head, size = found
                        if any(_starts_as(head, known) for known in kin):
                            continue  # a copy of a file we know, read from its own descriptor
                        offset = mark.read_to(head) if mark is not None else None
                        log.debug(
                            "%s: compressed, %d bytes, starting %s; read before to %s",
                            path,
                            size,
                            fingerprint(head),
                            offset,
                        )
                        if offset is not None:
                            if offset % (1 << 32) == size or size <= offset < 1 << 32:
                                # Read to its end (or further: a writer appended
                                # to the file after it was compressed), and forgotten.
                                # Left unread by the rescan too, which reads
                                # compressed files when run once (fs.read's way):
                                # read once with a state file, every .gz beside
                                # the file was read again from its start.
                                self._compressed[file] = born
                                continue
                            # Lost sight of before its end: read on from there.
                            self._known.set(file, KnownFile(fingerprint(head), len(head), offset, path, lineage, 0))
                        elif (mark is None or not mark.contents) and (since is None or st.st_mtime_ns < since):
                            continue
                    elif mark is not None and mark.timed:
                        if not mark.newer(born, st.st_mtime_ns):
                            continue  # read and forgotten, or there before we followed the lineage
                    elif first_born is not None and born is not None:
                        if born <= first_born:
                            continue  # there before the lineage's files we know
                    elif since is None or st.st_mtime_ns < since:
                        continue
                    age = series_age(lineage, path)
                    when = born if born is not None and not packed else st.st_mtime_ns
                    # Starting as a file we know: maybe its copy (see above).
                    alike = bool(plain_head) and any(_starts_as(plain_head, known) for known in kin)
                    candidates[file] = ((0, age) if age is not None else (1, when), path, lineage, st, alike)
        opened = []
        # Oldest first: by the rotated name where it tells (app.log.3.gz before
        # app.log.2.gz before app.log.1), else by creation, else by last change.
        for file, (_, path, lineage, st, alike) in sorted(candidates.items(), key=lambda item: item[1][0]):
            successor = self._open(
                path,
                file,
                lineage=lineage,
                order=self._names.next_order(),
                fresh=alike,
                rotated=True,
                compressed=True,
                search={os.path.dirname(path)},
            )
            if successor is not None:
                _quiet_since_change(successor, st)
                if successor.gz is not None:
                    # Born when compressed, later than its place: in the order
                    # found, after the files of the lineage we knew.
                    successor.born = None
                opened.append(successor)
                if successor.state is FileState.NEW:
                    log.info("%s: %s starts as a file read before: read once told from a copy", self, path)
                else:
                    log.info("%s: %s was made and rotated unseen; reading it from its start", self, path)
        return opened

    def _still_at(self, followed: FollowedFile) -> bool:
        """Whether ``followed`` is still under the name we last knew it by."""
        if followed.path is None:
            return False
        try:
            return FileId.of(self._stat(followed.path)) == followed.file
        except OSError:
            return False

    def _resume_compressed(self, orphans: dict[FileId, KnownFile]) -> None:
        """Find files rotated and compressed while we were stopped, by their content's first bytes, and read on.

        logrotate's ``compress`` makes ``app.log.1.gz`` of ``app.log.1`` and
        deletes that: the inode we knew is gone, but the content of the
        compressed file starts as the file did (see :mod:`._gzip`).
        """
        unmatched = dict(orphans)
        looked: set[FileId] = set()
        directories = self._directories()
        # Looked for again while some are not found: the series may be renamed under us (see _resume_orphans).
        for _ in range(_SEARCHES):
            for path, st in self._listed(directories):
                found = self._compressed_head(path, st, looked)
                if found is None:
                    continue
                file, head = found
                orphan = next((o for o, k in unmatched.items() if _starts_as(head, k)), None)
                if orphan is None:
                    continue
                known = unmatched.pop(orphan)
                length = known.fingerprint_length
                replaced = self._known.get(file)
                if replaced is not None and file not in unmatched:
                    self._remember_content(replaced)  # a stale entry with this inode number
                self._known.set(
                    file,
                    KnownFile(known.fingerprint, length, known.offset, path, known.lineage, known.order, known.born),
                )
                followed = self._open(
                    path,
                    file,
                    lineage=known.lineage,
                    order=known.order,
                    rotated=True,
                    compressed=True,
                    search=directories,
                )
                if followed is not None:
                    log.info(
                        "%s: finishing %s (compressed while stopped) from offset %d",
                        self,
                        followed.path,
                        followed.read_pos,
                    )
            if not unmatched:
                return

    def _compressed_head(self, path: str, st: os.stat_result, looked: set[FileId]) -> tuple[FileId, bytes] | None:
        """:returns: the identity and first bytes of the content of ``path`` (``st``), if it is compressed
        and was not looked at yet (added to ``looked``)."""
        try:
            if FileId.of(st) in looked or FileId.of(st) in self._files or not self._may_read(path, st):
                return None
            fd = self._open_regular(path)
        except OSError:
            return None
        if fd < 0:
            return None
        try:
            file = FileId.of(os.fstat(fd))  # what was opened: the name may hold another file by now
            looked.add(file)
            if file in self._files or not looks_compressed(os.pread(fd, 2, 0)):
                return None
            return file, GzipReader(fd).head(FINGERPRINT_BYTES)
        except OSError:
            return None  # damaged: not the file we look for
        finally:
            os.close(fd)

    def _rescan(self, initial: bool = False) -> None:
        """Look at what the patterns match now (at start, after lost events, when polling)."""
        if not initial:
            # The look finds names as they are now: the events queued before it
            # are about older states of those names, and are read first (else a
            # rename of the file that was there would be taken for ours).
            self.esc.inotify_read()
        matching = self._matching()
        for shadow in [s for s in self._shadows if s not in matching]:
            self._unshadow(shadow)  # gone, or under a name no pattern asks for
        self._compressed = {file: born for file, born in self._compressed.items() if file in matching}
        for followed in self._files:
            file = followed.file
            if file in matching:
                followed.path = matching[file][0]
            elif followed.state is FileState.FOLLOWED:
                # Renamed out of the patterns or deleted, and no event said where.
                followed.rotate(None)
                self._mark_dirty(followed)
        now = time.time()
        old = 0
        items = list(matching.items())
        # The rotated files a pattern matches (app.log.1, app.log.2.gz beside
        # app.log), at the first start, made while we were stopped, or read
        # once, are one writer's: oldest first, each in the lineage of the name
        # it was rotated from, so its lines keep their order.
        series = rotation_series(path for _, (path, _) in items)
        if self._following:
            items.sort(key=lambda item: item[1][1].st_mtime)
        else:
            # Read once, files go in the order asked for (fs.read promises it);
            # a rotation series goes oldest first where its first name stands.
            place: dict[str, int] = {}
            for index, (_, (path, _)) in enumerate(items):
                place.setdefault(series.get(path, path), index)
            items.sort(key=lambda item: (place[series.get(item[1][0], item[1][0])], item[1][1].st_mtime))
        for file, (path, st) in items:
            closed = self._closed.get(file)
            if closed is not None and st.st_size == closed[1]:
                continue  # closed while idle, and unchanged
            if self.ignore_older and closed is None and now - st.st_mtime > self.ignore_older:
                old += 1
                continue
            if file not in self._files and file not in self._shadows and not self._compressed_seen(file, path):
                known = self._known.get(file)
                opened = self._open(
                    path,
                    file,
                    lineage=known.lineage if known is not None else series.get(path) or self._lineage_of_name(path),
                    order=known.order if known is not None else self._names.next_order(),
                    fresh=True,
                    at_end=initial and self.start == "end",
                    compressed=initial or not self._following,
                    search={os.path.dirname(path)} if self._following else (),
                )
                if opened is not None and initial and series and known is None:
                    # By age, not by birth: copytruncate keeps the oldest-born file as the newest.
                    opened.born = None
        if old != self._said_old:
            self._said_old = old
            if old:
                log.info("%s: %d files not modified for %g s (ignore_older); not read", self, old, self.ignore_older)
        if initial and self._following:
            self._mark_series_there({f.lineage for f in self._files})
        self._schedule_sweep()

    def _open(
        self,
        path: str,
        file: FileId,
        *,
        lineage: str,
        order: int,
        fresh: bool = False,
        rotated: bool = False,
        at_end: bool = False,
        compressed: bool = False,
        search: Collection[str] = (),
        arrival: Arrival | None = None,
    ) -> FollowedFile | None:
        """Open ``path`` (expected to be ``file``) and start following it.

        A remembered file continues at its acknowledged offset, if its first
        bytes are still what they were; ``at_end`` starts at the last line
        boundary; anything else starts at 0. A file closed while idle reads on
        from where it was. Beyond ``max_open_files``, the file waits its turn
        (``None``).

        :param compressed: a gzip file is read as its content (``fs.read``; at
            the first start; a rotated file compressed while we were stopped);
            otherwise it is left unread, said once.
        :param search: directories where ``file`` is looked for if it was
            renamed before it could be opened (logrotate renames a whole series
            at each rotation); found by listing a directory, it would otherwise
            not be seen again.
        :param arrival: what the directory's events said of the file: if it
            left ``path`` since it was looked at, the arrival waits for the
            events not read yet, which say where it went (see
            :meth:`~deadbeat.fs._names.NameBook.put_back`).
        """
        how = {
            "lineage": lineage,
            "order": order,
            "fresh": fresh,
            "rotated": rotated,
            "at_end": at_end,
            "compressed": compressed,
        }
        if len(self._files) >= self._cap and not self._make_room():
            self._wait_to_open(path, file, how)
            return None
        for searches_left in range(_SEARCHES if search else 0, -1, -1):
            try:
                fd = self._open_regular(path)
            except OSError as exc:
                if exc.errno == errno.ENOENT and self._following:
                    # Renamed or deleted since it was looked at: not a failure.
                    # Events tell where a file they announced went; one found
                    # by looking is looked for again.
                    if searches_left and (found := self._search(file, search)):
                        path = found
                        continue
                    self._left_before_opened(path, arrival)
                    return None
                if exc.errno in (errno.EMFILE, errno.ENFILE) and len(self._files):
                    # Out of descriptors below our cap (the application holds others): wait like beyond it.
                    self._cap = max(1, len(self._files) - 1)
                    self._wait_to_open(path, file, how)
                    return None
                # (Out of descriptors with none of ours open: the note names the limit to raise.)
                self._cannot_read(path, f"cannot open: {exc.strerror}{descriptor_note(exc)}")
                return None
            if fd < 0:
                return None
            opened = os.fstat(fd)
            if FileId.of(opened) == file:
                break
            os.close(fd)
            # Renamed between stat and open. Found by events, the next events
            # or rescan see where it went; found by looking (no event will
            # tell of it again), it is looked for under its new name.
            if not searches_left or (found := self._search(file, search)) is None:
                self._left_before_opened(path, arrival)
                return None
            path = found
        else:
            return None
        if search and not self._matches(path):
            rotated = True  # found under a name the patterns do not match: read to its end, then let go
        gz = None
        if looks_compressed(os.pread(fd, 2, 0)):
            # One read before (a position kept for it: killed while reading it)
            # goes on from there, however it was found this time.
            if (not compressed or at_end) and file not in self._known:
                self._compressed[file] = birth_time(fd)
                os.close(fd)
                log.info("%s: compressed, appeared while following: left unread (read by fs.read)", path)
                return None
            gz = GzipReader(fd)
            try:
                gz.head(FINGERPRINT_BYTES)
            except OSError as exc:
                os.close(fd)
                self._cannot_read(path, exc.strerror or str(exc))
                return None
        known = self._known.get(file)
        offset = 0
        resume = 0  # where reading goes on: after what was sent (a file closed while idle)
        closed = self._closed.pop(file, None)
        if closed is not None and self._closed_paths.get(closed[0]) == file:
            del self._closed_paths[closed[0]]
        if known is not None:
            length = known.fingerprint_length
            head = (gz.head(length) if gz is not None else read_head(fd, length)) if length else b""
            if length and fingerprint(head) == known.fingerprint and not _reborn(fd, known):
                offset = known.offset
                resume = closed[1] if closed is not None else offset
                lineage, order = known.lineage or lineage, known.order or order
            else:
                # The file we knew was deleted, and its inode number given to
                # this one (logrotate deletes and creates by the hundred): told
                # by its first bytes, or, where they are the same (a banner
                # longer than the fingerprint), by the creation time of the inode.
                log.debug("%s: same inode as a file read before, other content: reading it from the start", path)
                self._remember_content(known)
                known = None
        elif at_end:
            offset = opened.st_size
            # Begin at a line boundary: the rest of a line cut in the middle is no line.
            if offset:
                tail = os.pread(fd, min(offset, 65536), offset - min(offset, 65536))
                offset -= len(tail) - (tail.rfind(b"\n") + 1)
        followed = FollowedFile(path, fd, file, max(offset, resume), lineage, order)
        if known is not None and known.born is not None:
            # A compressed copy (born when compressed) takes the place of the
            # file it was made of, in its lineage and in the state.
            followed.created = known.born
            if gz is not None:
                followed.born = known.born
        followed.gz = gz
        followed.refresh_head()
        if gz is None and followed.read_pos > 0:
            self._resume_inside_line(followed)
        if gz is not None:
            # Never written to: read to its end and let go (not a copy of anything).
            followed.rotate(path)
        elif fresh and known is None and not at_end:
            # Whether it is a copy is decided before it is read (then, whether it is rotated).
            followed.state = FileState.NEW
            followed.rotated_name = rotated
        elif rotated:
            followed.rotate(path)
        self._files.add(followed)
        # Opened by another way than its turn (an arrival: renamed while it
        # waited and closed; a look), it waits no longer. Left waiting, its
        # entry opened it again after it was read to its end and forgotten
        # (logrotate's next rename moved the entry on): from 0, every line twice.
        self._unqueue_file(file)
        self._forgetting.pop(file, None)
        # A new file is saved once judged (_copy_verdict), not a copy or read
        # on as one: saved at 0 before, a copy was read whole after a restart.
        self._known.set(file, followed.known(offset), saved=followed.state is not FileState.NEW)
        if (
            self._started
            and followed.state is FileState.NEW
            and self._state is not None
            and self._following
            and self._known.mark(lineage) is None
        ):
            # A lineage without a mark: given one, saved before its first lines
            # go out (see _mark_following_began, and _send_lines). At the epoch,
            # not by the files beside: one of them may be a file of ours being
            # read (renamed before it was opened), which the mark would call read.
            self._known.mark_forgotten(lineage, None, 0)
            self._marks_unsaved = True
        if self._following:
            try:
                # Watched through its descriptor: the file opened, not what
                # the name (or a link swapped in on the way) leads to now.
                where = _FD_PATH.format(fd) if _HAVE_FD_PATHS else path
                followed.watch = self.esc.inotify_add(
                    where, _FILE_EVENTS, self._on_file_event, file, poll_interval=self.poll_interval
                )
            except OSError as exc:
                log.error("%s: cannot watch (%s); read when its directory changes", path, exc.strerror)
        self._mark_dirty(followed)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: opened %s (%s, born %s) at %d, %s, lineage %s order %d",
                self,
                path,
                file.key,
                followed.born,
                followed.read_pos,
                followed.state.value,
                followed.lineage,
                followed.order,
            )
        return followed

    def _resume_inside_line(self, followed: FollowedFile) -> None:
        """Opened at a saved position that is not at a line's start: skip to the next line.

        The position was saved while a line longer than ``max_line`` was being
        skipped (its writer had not finished it: reported once, as too long,
        and the rest dropped as it came). That it was inside the line is not
        in the state file; the bytes before the position say it, after a
        restart, a second ``run --once``, or a file closed while idle and
        opened again: ``max_line`` bytes or more since the last newline. Read
        as a line of its own, the rest would be a record the writer never
        wrote (one a hostile line could shape). Fewer is the rest of an
        unfinished last line that was sent as it was: that rest is read as a
        line, as the run that sent the first part promised.
        """
        position = followed.read_pos
        newline = self._lines.newline(followed)
        bom = self._lines.bom(followed)
        if bom and position == len(bom) and followed.head.startswith(bom):
            return  # just after the byte order mark: the first line's start
        if position < len(newline):
            before = b""
        else:
            try:
                before = os.pread(followed.fd, len(newline), position - len(newline))
            except OSError:
                return  # read errors are met, and said, when it is read
        if before == newline:
            return
        # Inside a line, but which? A line longer than max_line being skipped, or the rest of an
        # unfinished last line sent as it was (--once, or its writer quiet for rotate_wait): that rest is
        # a line of its own, as it was in the run that sent the first part. Only the first has max_line
        # bytes or more since the last newline (or the file's start).
        # Counted from the file's first line's start: after a byte order mark, if any.
        since_start = position - (len(bom) if bom and followed.head.startswith(bom) else 0)
        reach = min(since_start, self.max_line + len(newline))
        try:
            behind = os.pread(followed.fd, reach, position - reach)
        except OSError:
            return
        if newline in behind or reach <= self.max_line:
            return  # a line of at most max_line bytes so far: no oversize line
        followed.skipping = True
        log.info(
            "%s: reading on at offset %d, inside a line (the rest of one longer than max_line, said before):"
            " skipped to its end",
            followed.path,
            position,
        )

    def _left_before_opened(self, path: str, arrival: Arrival | None) -> None:
        """The file seen at ``path`` was renamed or deleted before it could be opened.

        One the directory's events announced is followed by name again: the
        events that tell what became of it are not read yet (it was there when
        looked at, a moment ago), and they take its arrival where it went,
        even to a name the patterns do not match, to be opened there; or,
        deleted, say it was lost. Dropped here, a file renamed at that moment
        (a rotation series shifting at every rotation) would never be read.
        """
        if arrival is None:
            log.debug("%s: gone before it could be opened", path)
            return
        log.debug("%s: renamed or deleted before it could be opened; the next events say which", path)
        self._names.put_back(path, arrival)

    # -- copies (copytruncate) ---------------------------------------------------------

    def _copy_verdict(self, followed: FollowedFile) -> tuple[str, FollowedFile | None]:
        """Is a file seen for the first time a copy of one we follow?

        copytruncate first copies the file under a new name; when the patterns
        match that name too, the copy must not be read as a new file, or its
        lines would go out twice. A copy shows itself by starting with the same
        bytes as a followed file in the same directory, or as the content that
        file had before it was truncated. While the new file is still a prefix
        of such a start (a copy in progress) the answer is ``"wait"``. A file
        judged new has its entry saved from then on (not before: see :meth:`_open`).

        :returns: ``("copy", original)``, ``("copy-of-truncated", original)``,
            ``("wait", None)`` or ``("new", None)``.
        """
        head = read_head(followed.fd)
        compressed = looks_compressed(head)
        if compressed is None or not head:
            return "wait", None
        if compressed:
            return "compressed", None
        directory = os.path.dirname(followed.path or "")
        waiting = False
        now = time.monotonic()
        for other in list(self._files.truncated.values()):
            if other is followed or other.state is FileState.NEW or os.path.dirname(other.path or "") != directory:
                continue
            assert other.truncated is not None
            if now - other.truncated[2] > self.rotate_wait + 1.0:
                other.truncated = None  # a copy made for that truncation would have shown up by now
                continue
            likeness = starts_alike(head, other.truncated[0])
            if likeness is Likeness.SAME:
                return "copy-of-truncated", other
            waiting = waiting or likeness is Likeness.PREFIX
        # Only the files whose start may agree are compared (see ._table):
        # creating thousands of files costs thousands of looks, not millions.
        for other in self._files.copy_candidates(directory, head):
            if other is followed or other.state is FileState.NEW:
                continue
            likeness = starts_alike(head, other.head)
            if likeness is not Likeness.OTHER and len(other.head) < FINGERPRINT_BYTES:
                # Its start as it is now: the head kept from when it was
                # opened may be from a moment it was empty or nearly, and a
                # new file would then look like a copy of it (and go unread).
                try:
                    other.refresh_head()
                except OSError:
                    pass
                likeness = starts_alike(head, other.head)
            if likeness is Likeness.SAME:
                return "copy", other
            waiting = waiting or likeness is Likeness.PREFIX
        if waiting:
            return "wait", None
        # Judged a file of its own: its entry is saved from now on (see _open).
        self._known.set(followed.file, followed.known(followed.read_pos))
        return "new", None

    def _check_truncation(self, followed: FollowedFile) -> None:
        if followed.gz is not None:
            return  # a compressed file is never written to: its size is no offset of ours
        try:
            size = os.fstat(followed.fd).st_size
            same_start = followed.refresh_head()
        except OSError:
            return
        if size >= followed.read_pos and same_start:
            return
        old_head, old_start = followed.head, followed.line_start
        followed.truncated = (old_head, old_start, time.monotonic())
        copy = self._find_copy(followed, old_head, old_start)
        if copy is None:
            log.warning(
                "%s: truncated below offset %d; reading from the start (unread data before the truncation are gone,"
                " unless a copy shows up)",
                followed.path,
                followed.read_pos,
            )
        followed.read_pos = followed.line_start = followed.end_seen = 0
        followed.partial = b""
        followed.skipping = False
        followed.generation += 1
        followed.head = b""
        followed.refresh_head()
        self._known.set(followed.file, followed.known(0))

    def _continue_in_copy(self, copy: FollowedFile, original: FollowedFile, offset: int) -> None:
        """Read ``copy`` from where ``original`` was when it was truncated, then let it go.

        A copy shorter than that was made before the tailer read what its
        original held beyond (written between the copy and the truncation):
        everything in it was read, and it is taken at its end. Beyond its end,
        the position would say the copy was truncated, where a pattern matches
        its name, and it would be read again whole.
        """
        try:
            size = os.fstat(copy.fd).st_size
        except OSError:
            size = offset
        log.info(
            "%s: truncated; finishing its copy %s from offset %d%s",
            original.path,
            self._name_of(copy),
            min(offset, size),
            " (its end: read before the truncation)" if offset > size else "",
        )
        offset = min(offset, size)
        copy.read_pos = copy.line_start = offset
        copy.state = FileState.FOLLOWED
        copy.rotate(copy.path)
        # The copy holds the original's older lines: it comes first in the lineage.
        copy.lineage, copy.order = original.lineage, original.order - 1
        copy.born = None if original.born is None else original.born - 1
        self._known.set(copy.file, copy.known(offset))
        original.truncated = None
        # Truncated twice or more before we looked: the copies made after this one
        # hold what the original held between the truncations. Read after it, then
        # the original again (its order moves after theirs).
        later = self._read_successors({copy.lineage: [copy]}, compressed=False, by_mark=False)
        if later:
            # By order, not by birth: the original was born before every copy of it.
            for successor in later:
                successor.born = None
            original.order = self._names.next_order()
        self._mark_dirty(copy)
        self._schedule_sweep()

    def _find_copy(self, followed: FollowedFile, old_head: bytes, old_start: int) -> FollowedFile | None:
        """Find the copy of a truncated file's old content in its directory and resume in it.

        A copy shorter than ``old_start`` was made before we read what its
        original held beyond (the lines written between the copy and the
        truncation): it holds nothing unread. It is the copy all the same,
        taken in at its end (nothing read from it) and let go as any, so that
        it is remembered as read: passed over, nothing remembered it, and
        the next start took it for a file made while stopped (or, where a
        pattern matches it, for a new file) and read it again whole. A copy at
        least as long is preferred; of the shorter ones, the longest not read
        and forgotten before (by the lineage's mark).
        """
        if followed.path is None or not old_head:
            return None
        directory = os.path.dirname(followed.path)
        for other in self._files.copy_candidates(directory, old_head):
            if (
                other.state is FileState.NEW
                and self._copy_named(followed.path, other.path, other.file)
                and starts_alike(read_head(other.fd), old_head) is Likeness.SAME
            ):
                self._continue_in_copy(other, followed, old_start)
                return other
        try:
            names = os.listdir(directory)
        except OSError:
            return None
        shorter: tuple[str, os.stat_result] | None = None
        for name in names:
            path = os.path.join(directory, name)
            try:
                st = self._stat(path)
            except OSError:
                continue
            file = FileId.of(st)
            if file in self._files or not st.st_size or not self._copy_named(followed.path, path, file):
                continue
            if not self._may_read(path, st):
                continue
            if st.st_size < old_start and (
                (shorter is not None and shorter[1].st_size >= st.st_size)
                or file in self._known
                or self._forgotten(followed.lineage, path, st)
            ):
                continue
            try:
                fd = self._open_regular(path)
            except OSError:
                continue
            if fd < 0:
                continue
            try:
                head = read_head(fd)
            finally:
                os.close(fd)
            if starts_alike(head, old_head) is not Likeness.SAME:
                continue
            if st.st_size < old_start:
                shorter = (path, st)
                continue
            return self._take_copy(followed, path, file, old_start)
        if shorter is not None:
            return self._take_copy(followed, shorter[0], FileId.of(shorter[1]), old_start)
        return None

    def _copy_named(self, original: str | None, path: str | None, file: FileId) -> bool:
        """Whether ``file``, at ``path``, may be a copytruncate copy of the file named ``original``.

        Named as a copy of it (see :func:`._series.may_be_copy`), and not a file
        this process writes, or that an output sharing our state file wrote
        last (at a start, outputs open their files after us): an output
        written from the original starts as it does, and taken for its copy it
        was read back into itself without end.
        """
        if original is None or path is None or not may_be_copy(original, path) or is_output(file):
            return False
        return self._state is None or file not in outputs_in(self._state.sections)

    def _take_copy(self, followed: FollowedFile, path: str, file: FileId, old_start: int) -> FollowedFile | None:
        """Open ``file``, at ``path``, as the copy of ``followed`` truncated at ``old_start``, and read on in it."""
        self._unshadow(file)
        self._known.pop(file)
        copy = self._open(path, file, lineage=followed.lineage, order=followed.order, rotated=True)
        if copy is not None:
            self._continue_in_copy(copy, followed, old_start)
        return copy

    # -- reading -----------------------------------------------------------------------

    def _schedule(self) -> None:
        if self._dirty and self._turn is None and not self._finished:
            self._turn = self.esc.enqueue(self._read_dirty)

    def _schedule_sweep(self) -> None:
        if self._sweeper is None and not self._finished and self._files.rotated:
            self._sweeper = self.esc.after(min(self.rotate_wait, 1.0) or 0.01, self._sweep)

    def _sweep(self) -> None:
        """Let go of rotated files that have been read to the end and stayed quiet."""
        self._sweeper = None
        now = time.monotonic()
        for followed in list(self._files.rotated.values()):
            assert followed.rotated_at is not None
            if now - max(followed.rotated_at, followed.last_data) < self.rotate_wait or self._written_lately(followed):
                if (
                    followed.path is None
                    and now - followed.rotated_at > _HELD_TOO_LONG
                    and followed.file not in self._said_held
                ):
                    # Its disk space is held by the writer as much as by us;
                    # we let go once it stops writing, and say why we wait.
                    self._said_held.add(followed.file)
                    log.warning(
                        "%s: deleted %.0f s ago and still written to; held open (its disk space is not freed)"
                        " until its writer stops for rotate_wait = %g s",
                        self._name_of(followed),
                        now - followed.rotated_at,
                        self.rotate_wait,
                    )
                continue
            if self._older_unread(followed) is not None:
                continue  # its turn comes after the older ones of its lineage
            if self._read_file(followed, limit=_CHUNKS_PER_TURN, final=True)[1]:
                self._close(followed)
            else:
                self._mark_dirty(followed)  # more to read first; try again after it
        if self._waiting_open:
            # The descriptors let go of go to the files waiting for one. Left
            # unused, a file waiting was opened only when a read came to end
            # its turn: once its writer had stopped, never.
            self._open_waiting()
        self._schedule()
        self._schedule_sweep()
        self._save_changes()  # the files let go and forgotten

    def _written_lately(self, followed: FollowedFile) -> bool:
        """Whether ``followed`` was changed less than ``rotate_wait`` ago, by its own clock.

        Its reads may say nothing of that: while the train holds the tailer
        back nothing is read, and a file renamed meanwhile would be let go as
        soon as it was read again, its writer still appending.
        """
        if followed.gz is not None:
            return False
        try:
            age = time.time() - os.fstat(followed.fd).st_mtime
        except OSError:
            return False
        return abs(age) < self.rotate_wait  # (a time far ahead, a clock gone wrong, says nothing)

    def _older_unread(self, followed: FollowedFile) -> FollowedFile | None:
        """:returns: the oldest file of ``followed``'s lineage that is older and not read to its end."""
        return self._oldest_unread(
            [other for other in self._files.lineage(followed.lineage) if other.older_than(followed)]
        )

    def _oldest_unread(self, files: Iterable[FollowedFile]) -> FollowedFile | None:
        """:returns: the oldest of ``files`` (of one lineage) with something left to read."""
        found = None
        for other in files:
            if (found is None or other.older_than(found)) and self._unread(other):
                found = other
        return found

    def _unread(self, followed: FollowedFile) -> bool:
        """Whether ``followed`` holds more than was read: by its events, or else by its size.

        Its size too: a rotated file its writer still appends to (until it
        reopens its file) grows after it was read to its end, and the events
        that say so may still wait in the queue, behind those of the file that
        replaced it. Read meanwhile, that file's lines would go out before the
        older ones.
        """
        if not followed.at_end or followed.file in self._dirty:
            return True
        if followed.gz is not None:
            return False  # compressed: never written to
        # A new file too, though not read before it is known not to be a copy:
        # one left waiting for its verdict (empty, or a copy's start) that grew
        # since is asked again before a younger file of its lineage is read.
        try:
            return os.fstat(followed.fd).st_size > followed.end_seen
        except OSError:
            return False

    def _next_to_read(self, first: FollowedFile) -> tuple[FollowedFile, int | None]:
        """:returns: the file to read for ``first`` (the oldest of its lineage with something to read),
        and how far it may be read (``None``: to its end).

        One writer's lines keep their order: an older file of the lineage goes
        first. The size of the file is taken before its elders are seen
        drained: what it held then was written before, so after every line the
        writer gave them first. What it holds beyond may have been written
        after more lines of theirs, and waits for another look at them.
        """
        followed = first
        walked = {followed.file}
        while True:
            elders = [other for other in self._files.lineage(followed.lineage) if other.older_than(followed)]
            if not elders:
                return followed, None
            until = None
            if self._following and followed.gz is None:
                try:
                    until = os.fstat(followed.fd).st_size
                except OSError:
                    pass
            older = self._oldest_unread(elders)
            if older is None:
                return followed, until
            if older.file in walked:
                # Ages that go round (creation times mixed with compression times
                # and unknown ones, after a restart): no file of the ring is older
                # than all the others. Read this one as far as it reached; the
                # loop that looked for an end went on for ever, deaf to SIGTERM.
                return followed, until
            walked.add(older.file)
            followed = older

    def _read_dirty(self) -> None:
        """Read the files with something to read, a few chunks each, oldest first within a lineage."""
        self._turn = None
        budget = _CHUNKS_PER_TURN
        while self._dirty and budget > 0 and not self.esc.is_paused(self):
            first = self._files.get(next(iter(self._dirty)))
            if first is None:
                del self._dirty[next(iter(self._dirty))]
                continue
            followed, until = self._next_to_read(first)
            self._dirty.pop(followed.file, None)
            final = self._lets_go_at_end(followed)
            chunks, at_end = self._read_file(followed, limit=budget, final=final, until=until)
            budget -= max(chunks, 1)
            if not at_end:
                if self._following and self._waiting_open and chunks and self._may_rotate_out(followed):
                    self._rotate_out(followed)  # others wait for a descriptor: its turn is over
                elif self._following:
                    self._dirty[followed.file] = None  # to the back: lineages take turns
                else:
                    self._dirty = {followed.file: None, **self._dirty}  # one file after the other
            elif not self._following:
                if followed.partial and not final:
                    log.info(
                        "%s: %d bytes of an unfinished last line (or event), written less than rotate_wait = %g s"
                        " ago, are left for the next run",
                        self._name_of(followed),
                        len(followed.partial),
                        self.rotate_wait,
                    )
                self._close(followed)
        if self._waiting_open:
            self._open_waiting()
        if not self._following and not len(self._files):
            self._stop_binding()
        self._schedule()

    def _lets_go_at_end(self, followed: FollowedFile) -> bool:
        """Whether reading ``followed`` to its end sends its unfinished last line (reading once, ``--once``).

        With a state file, a file written to within the last ``rotate_wait``
        seconds keeps its unfinished last line for the next run, which resumes
        before it: a line its writer is still writing is not cut in two across
        runs (the same wait a followed file gets before it is let go).
        """
        if self._following:
            return False
        if self._state is None or followed.gz is not None:
            return True
        try:
            written = os.fstat(followed.fd).st_mtime
        except OSError:
            return True
        return time.time() - written >= self.rotate_wait

    def _read_file(
        self, followed: FollowedFile, limit: int = 1 << 30, final: bool = False, until: int | None = None
    ) -> tuple[int, bool]:
        """Read ``followed`` towards its end (at most ``limit`` chunks); send each chunk on.

        Stops early while the train has paused this supply.

        :param final: the file is being let go: at its end, an unfinished last
            line is sent too.
        :param until: read no further than this offset (see :meth:`_next_to_read`);
            reached without reading anything, it counts as the end.
        :returns: chunks read, and whether the end of the file was reached.
        """
        if followed.state is FileState.NEW:
            try:
                size = os.fstat(followed.fd).st_size
            except OSError:
                size = 0
            verdict, original = self._copy_verdict(followed)
            if verdict == "wait":
                # What it held when asked; more, and it is asked again (see _unread).
                followed.at_end = True
                followed.end_seen = size
                return 0, True
            if verdict == "compressed":
                # Made by compressing a rotated file while we follow: its lines
                # were read from that file, still open (see ._gzip).
                log.info("%s: compressed; its lines are read from the file it was made of", followed.path)
                self._compressed[followed.file] = birth_time(followed.fd)
                self._known.pop(followed.file)
                self._close(followed)
                return 0, True
            if verdict == "copy":
                assert original is not None
                log.info(
                    "%s: starts as %s does: a copy, unless that is not truncated within %g s",
                    followed.path,
                    original.path,
                    self.rotate_wait + 1.0,
                )
                self._shadows[followed.file] = followed.path
                if followed.path is not None:
                    self._shadow_paths[followed.path] = followed.file
                self._shadow_of[followed.file] = (original, original.generation)
                self._shadow_timers[followed.file] = self.esc.after(
                    self.rotate_wait + 1.0, self._copy_due, followed.file, keeps_alive=False
                )
                self._known.pop(followed.file)
                self._close(followed)
                return 0, True
            followed.state = FileState.FOLLOWED
            if followed.path is not None and not self._matches(followed.path):
                followed.rotate(followed.path)
            if verdict == "copy-of-truncated":
                assert original is not None and original.truncated is not None
                self._continue_in_copy(followed, original, original.truncated[1])
        if followed.state is FileState.FOLLOWED:
            generation = followed.generation
            self._check_truncation(followed)
            if followed.generation != generation and self._older_unread(followed) is not None:
                # Truncated, and the copies of what it held are older files of its
                # lineage now: they are read first, then it, from its start.
                self._mark_dirty(followed)
                return 0, False
        bom = self._lines.bom(followed) if followed.read_pos == 0 else b""
        if bom:
            first = followed.pread(len(bom), 0)
            if first == bom:
                # Skipped as read: the first line's id and position start after it.
                followed.read_pos = followed.line_start = len(bom)
            elif first and bom.startswith(first):
                followed.at_end = True
                followed.end_seen = len(first)
                return 0, True  # a mark still being written: wait for the rest
        chunks = 0
        at_end = False
        while chunks < limit and not self.esc.is_paused(self):
            size = self.read_size
            if until is not None:
                size = min(size, until - followed.read_pos)
                if size <= 0:
                    # As far as it reached when its elders were seen drained; the
                    # rest is read after another look at them.
                    at_end = not chunks
                    followed.end_seen = max(until, followed.read_pos)
                    break
            try:
                chunk = followed.pread(size, followed.read_pos)
            except OSError as exc:
                if followed.gz is not None:
                    # Damaged compressed data: what follows cannot be read, so the run has failed.
                    self._cannot_read(self._name_of(followed), f"{exc.strerror} at offset {followed.read_pos}")
                else:
                    log.error(
                        "%s: read failed at offset %d: %s", self._name_of(followed), followed.read_pos, exc.strerror
                    )
                at_end = True
                try:
                    # Tried again when it grows (see _unread), not at every turn.
                    followed.end_seen = os.fstat(followed.fd).st_size
                except OSError:
                    pass  # nor can _unread look at it
                break
            if not chunk:
                at_end = True
                followed.end_seen = followed.read_pos
                break
            if (
                followed.state is FileState.FOLLOWED
                and followed.gz is None
                and followed.head
                and os.pread(followed.fd, len(followed.head), 0) != followed.head
            ):
                # Truncated and written again while we read: this chunk may hold
                # new content at old offsets. Drop it; the old content's end is
                # in the copy, if there is one, and the new one is read from 0.
                self._check_truncation(followed)
                continue
            if not chunks and self._rules is not None:
                self._complete_elders(followed)
            chunks += 1
            followed.read_pos += len(chunk)
            self._bytes_read += len(chunk)
            followed.last_data = time.monotonic()
            self._send_lines(followed, followed.partial + chunk)
        if at_end and final and followed.gz is not None and followed.gz.truncated:
            self._truncated_gzip(followed)
        if at_end and final and followed.partial:
            self._send_rest(followed)
        elif at_end and self._rules is not None and b"\n" in followed.partial:
            self._building[followed.file] = None
            self._schedule_flush()
        followed.at_end = at_end
        if at_end and followed.state is FileState.FOLLOWED and self._following:
            self._idle.pop(followed.file, None)
            self._idle[followed.file] = None  # to the back: idle the shortest
        if at_end and len(followed.head) < FINGERPRINT_BYTES and followed.read_pos > len(followed.head):
            followed.refresh_head()
        return chunks, at_end

    def _complete_elders(self, followed: FollowedFile) -> None:
        """Send the events still being built in the older files of ``followed``'s lineage, before its own.

        ``followed`` is read only once its elders were seen drained, after its
        size was taken (see :meth:`_next_to_read`): its writer wrote everything
        it gave them before what is read now. An event it was building in one
        of them (waiting for the next line, which says where an event ends) is
        therefore complete: the next line went to this file. Held until its
        file was let go (``rotate_wait``) or quiet for the ``timeout``, it went
        out after events of this file, out of the writer's order.
        """
        elders = [
            other
            for other in self._files.lineage(followed.lineage)
            if b"\n" in other.partial and other.older_than(followed)
        ]
        for other in sorted(elders, key=functools.cmp_to_key(_elder_first)):
            self._building.pop(other.file, None)
            self._send_lines(other, other.partial, force=True)

    def _truncated_gzip(self, followed: FollowedFile) -> None:
        """A compressed file let go that ends inside its compressed stream: damaged, so the run has failed.

        Its last line is cut where the data stop: it goes to the error output
        as the bytes it is, never down the train as if it were a whole line.
        """
        name = self._name_of(followed)
        self._cannot_read(
            name,
            f"damaged gzip data: the compressed stream ends early (the file is truncated) after"
            f" {followed.read_pos} bytes of content",
        )
        rest, followed.partial = followed.partial, b""
        if rest and not rest.endswith(b"\n"):
            tail = rest.rfind(b"\n") + 1
            if tail:
                # Whole lines (an event being built) before the cut go on as usual.
                self._send_lines(followed, rest[:tail], force=True)
            offset = followed.line_start
            self._reject(
                {"id": event_id(name, offset), "raw": rest[tail:], "file": name, "offset": offset},
                ValueError("a line cut short by the end of damaged gzip data"),
            )
        elif rest:
            followed.partial = rest

    def _send_rest(self, followed: FollowedFile) -> None:
        """The file is let go: send what is left, an event being built and an unfinished last line."""
        rest, followed.partial = followed.partial, b""
        if rest.endswith(b"\n"):
            self._send_lines(followed, rest, force=True)  # an event being built, and no unfinished line
        else:
            self._send_lines(followed, rest + self._lines.newline(followed), unfinished=True)

    def _schedule_flush(self) -> None:
        if self._flusher is None and self._rules is not None and not self._finished:
            self._flusher = self.esc.after(self._rules.timeout / 2, self._flush_quiet, keeps_alive=False)

    def _flush_quiet(self) -> None:
        """Send the event being built of each file that has been quiet for the multiline ``timeout``."""
        self._flusher = None
        assert self._rules is not None
        now = time.monotonic()
        for file in list(self._building):
            followed = self._files.get(file)
            if followed is None or b"\n" not in followed.partial:
                del self._building[file]
            elif file in self._dirty or self.esc.is_paused(self):
                continue  # more to read first (which may complete the event)
            elif now - followed.last_data >= self._rules.timeout:
                del self._building[file]
                self._send_lines(followed, followed.partial, force=True)
        if self._building:
            self._schedule_flush()

    def _send_lines(self, followed: FollowedFile, data: bytes, unfinished: bool = False, force: bool = False) -> None:
        """Send the complete lines (or events) of ``data`` (which starts at ``line_start``) as one Batch.

        :param force: the event being built is complete (multiline).
        """
        start = followed.line_start
        name = self._name_of(followed)
        if force and isinstance(self._lines, EventMaker):
            lines, event_ids = self._lines.cut(followed, name, data, unfinished, self._reject, force=True)
        else:
            lines, event_ids = self._lines.cut(followed, name, data, unfinished, self._reject)
        end = followed.line_start
        if end == start:
            return
        if self._metadata and lines:
            lines = self._with_metadata(lines, event_ids, name)
        if self._marks_unsaved:
            self._save_marks()
        self._seq += 1
        self._batches[self._seq] = Position(followed.file, followed.generation, end)
        self._unacknowledged[followed.file] = self._unacknowledged.get(followed.file, 0) + 1
        self.esc.send_from(self, movement.Batch(lines, batch_id=("fs.tail", id(self), self._seq), event_ids=event_ids))

    def _save_marks(self) -> None:
        """Save the marks of lineages first seen while running, before any line of theirs goes out.

        Saved at the next checkpoint only, a lineage whose first file was
        written out, the run killed before that save and the file rotated to a
        name no pattern matches, was unknown to the next start, which cut the
        output back and never found the rotated file. Between two sends, the
        positions and the output's offset set in the state are the
        acknowledged ones: saving them now is as consistent as a checkpoint.
        """
        self._marks_unsaved = False
        assert self._state is not None
        self._state.set(self._section, self._state_section())
        try:
            self._state.save(force=True, paced=False)
        except OSError as exc:
            # Said as the state's own saves say it; the next checkpoint tries again, and reading goes on.
            log.error("%s: could not save %s before reading a new file: %s", self, self._state.path, exc)

    def _with_metadata(self, data: list[Any], event_ids: Any, name: str) -> list[Any]:
        """Put the metadata fields asked for (path, host, offset) into each datum."""
        set_path, set_host, set_offset = self._metadata
        offsets = None
        if set_offset is not None and event_ids is not None:
            offsets = [int(eid.rpartition(":")[2]) for eid in event_ids()]
        made = []
        for index, datum in enumerate(data):
            if set_path is not None:
                datum = set_path(datum, name)
            if set_host is not None:
                datum = set_host(datum, self._host)
            if offsets is not None and set_offset is not None:
                datum = set_offset(datum, offsets[index])
            made.append(datum)
        return made

    def _close(self, followed: FollowedFile) -> None:
        log.debug("%s: closing %s (%s) at %d", self, self._name_of(followed), followed.file.key, followed.read_pos)
        # Taken while the descriptor is open: a file let go of may be forgotten below.
        mark = self._mark_of(followed.file, followed=followed) if followed.state is FileState.ROTATED else None
        born = birth_time(followed.fd) if followed.gz is not None else None
        self._files.remove(followed)
        self._dirty.pop(followed.file, None)
        self._idle.pop(followed.file, None)
        self._said_held.discard(followed.file)
        if followed.watch is not None:
            self.esc.inotify_rm(followed.watch)
            followed.watch = None
        try:
            os.close(followed.fd)
        except OSError:
            pass
        if followed.state is FileState.ROTATED:
            log.info("%s: let go of rotated file %s", self, self._name_of(followed))
            if followed.gz is not None:
                # Read to its end: never read again while we run, nor after a
                # restart, where its lineage's mark knows its content (born when
                # compressed, its age says nothing of what it holds).
                self._compressed[followed.file] = born
                self._forgetting[followed.file] = None if mark is None else (mark[0], None, None, mark[3])
                self._forget_if_done(followed.file)
            elif followed.path is None or not self._matches(followed.path):
                # Drained, and under no name the patterns match: nothing could
                # ever resume it, so it is forgotten once its last lines are
                # acknowledged (a file renamed back under a matching name after
                # that is read as a new one). Its lineage keeps a mark of it, so
                # that a restart does not take it for a file never seen.
                self._forgetting[followed.file] = mark
                self._forget_if_done(followed.file)

    def _forget_if_done(self, file: FileId, waiting: set[str] | None = None) -> None:
        """Forget ``file`` (let go of, drained) once none of its batches awaits acknowledgement.

        :param waiting: the lineages of the files waiting unknown (:meth:`_waiting_unknown`), if known already.
        """
        if file in self._forgetting and not self._unacknowledged.get(file) and file not in self._files:
            known = self._known.get(file)
            if not self._waiting_open:
                waiting = set()
            elif waiting is None:
                waiting = self._waiting_unknown()
            if known is not None and known.lineage in waiting:
                # A file of its lineage waits for a descriptor (max_open_files),
                # never opened, so in no entry: kept, so that a restart looks
                # for the lineage's files made after it, where that one is
                # found, renamed while we were stopped or not. Forgotten, the
                # lineage was left with nothing to look for them by (its mark
                # stays where it is while such a file waits; see below), and
                # the file, rotated away meanwhile, was never read.
                self._forget_later.add(file)
                return
            self._forget_later.discard(file)
            # Read and acknowledged to its end, let go: never opened again, from
            # its start, by a turn it was given before.
            self._unqueue_file(file)
            mark = self._forgetting.pop(file)
            self._unacknowledged.pop(file, None)
            if mark is not None and mark[0] not in waiting:
                # (A file of the lineage never opened and waiting for a
                # descriptor may be older: the mark moves at a later forget, not
                # past it. One the state knows, waiting for its next turn or
                # closed while idle, is read on from its own position and holds
                # nothing back: held back for it, as every file of a busy
                # lineage under the cap is in turn, the mark did not tell this
                # file, renamed again by the next rotation, from a new one, and
                # it was read again from its start.)
                self._known.mark_forgotten(*mark)
            self._known.pop(file)
            log.debug("%s: forgot %s, read and acknowledged to its end", self, file.key)

    def _waiting_unknown(self) -> set[str]:
        """The lineages of the files that no entry names and that wait for a descriptor."""
        return {how["lineage"] for file, how in self._waiting_open.values() if file not in self._known}

    def _forget_deferred(self) -> None:
        """Forget the files kept while a file of their lineage waited (see :meth:`_forget_if_done`)."""
        waiting = self._waiting_unknown()  # once, not once per file kept: thousands may wait
        for file in list(self._forget_later):
            if file in self._forgetting:
                self._forget_if_done(file, waiting)
            else:
                self._forget_later.discard(file)  # opened again meanwhile

    def status(self) -> dict[str, int]:
        """What the tailer holds now, for monitoring (and for tests of what it forgets).

        :returns: ``open``: files open; ``rotated``: of those, rotated or deleted
            and being drained (``deleted``: of those, deleted: their disk space is
            held until they are let go); ``known``: files whose position is
            remembered (what the state file keeps); ``unacknowledged``: batches
            sent and not acknowledged yet; ``copies``: copies of followed files
            left unread; ``closed_idle``: files closed while idle, opened again
            when they change; ``waiting_to_open``: files waiting for a
            descriptor (``max_open_files``).
        """
        return {
            "open": len(self._files),
            "rotated": len(self._files.rotated),
            "deleted": sum(1 for f in self._files.rotated.values() if f.path is None),
            "known": len(self._known),
            "unacknowledged": len(self._batches),
            "copies": len(self._shadows),
            "closed_idle": len(self._closed),
            "waiting_to_open": len(self._waiting_open),
        }

    def reload_hazard(self) -> str | None:
        """Why building this supply anew, as a reload on SIGHUP does, would lose or repeat lines; ``None`` if not.

        Positions pass from the running pipeline to the new one through the
        ``state_file`` alone: without one, ``deadbeat run`` keeps the running
        pipeline and says why.
        """
        if self.state_file:
            return None
        if not self.tail:
            return "it keeps no positions: the new pipeline would read the files again from their start"
        if self.start == "end":
            return "it has no state_file: the new pipeline would start at the files' ends, losing what came meanwhile"
        return "it has no state_file: the new pipeline would read the files again from their start"

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :returns: the counters ``bytes_read_total`` (bytes read from the files;
            of a compressed file, its content) and ``lines_read_total``
            (complete lines taken from them, those that went to the error output
            too; with ``multiline``, the lines the events were made of); the
            gauges ``files_open``, ``files_rotated`` (being drained),
            ``deleted_files_held``, ``files_known``, ``files_closed_idle``,
            ``files_waiting_to_open``, ``batches_unacknowledged`` and
            ``lag_bytes``: what the open files hold on disk beyond what was read
            (one ``fstat`` per open file, at each scrape; of a compressed file,
            the compressed bytes not read yet).
        """
        status = self.status()
        return {
            "bytes_read_total": self._bytes_read,
            "lines_read_total": self._lines.lines,
            "files_open": status["open"],
            "files_rotated": status["rotated"],
            "deleted_files_held": status["deleted"],
            "files_known": status["known"],
            "files_closed_idle": status["closed_idle"],
            "files_waiting_to_open": status["waiting_to_open"],
            "batches_unacknowledged": status["unacknowledged"],
            "lag_bytes": self._lag_bytes(),
        }

    def _lag_bytes(self) -> int:
        """What the open files hold on disk beyond what was read: one ``fstat`` each."""
        lag = 0
        for followed in self._files:
            try:
                size = os.fstat(followed.fd).st_size
            except OSError:
                continue
            read = followed.read_pos if followed.gz is None else followed.gz.raw_offset
            lag += max(0, size - read)
        return lag

    # -- acknowledgements and state ----------------------------------------------

    @movement.hook
    def batch_done(self, batch_id: Any) -> None:
        """A batch of ours has been handled: its file's position may move on."""
        if type(batch_id) is not tuple or len(batch_id) != 3 or batch_id[1] != id(self):
            return
        position = self._batches.pop(batch_id[2], None)
        if position is None:
            return
        left = self._unacknowledged.get(position.file, 1) - 1
        if left > 0:
            self._unacknowledged[position.file] = left
        else:
            self._unacknowledged.pop(position.file, None)
        try:
            self._acknowledge(position)
        finally:
            if not left and position.file in self._forgetting:
                self._forget_if_done(position.file)

    def _acknowledge(self, position: Position) -> None:
        known = self._known.get(position.file)
        followed = self._files.get(position.file)
        if known is None or (followed is not None and followed.generation != position.generation):
            return
        if position.offset > known.offset:
            if followed is not None:
                updated = followed.known(position.offset)
                updated.path = updated.path or known.path  # a deleted file keeps its last name
                self._known.set(position.file, updated)
            else:
                known.offset = position.offset
                self._known.touch(position.file)

    @movement.hook
    def checkpoint(self) -> None:
        """Save the acknowledged positions."""
        if self._state is not None:
            self._state.set(self._section, self._state_section())
            self._state.save_soon(self.esc)

    def _state_section(self) -> Any:
        return self._known.section()

    def finish(self) -> None:
        """Stop reading and release every binding; positions keep what was acknowledged."""
        self._finished = True
        self._stop_binding()
        for followed in self._files:
            if followed.watch is not None:
                self.esc.inotify_rm(followed.watch)
                followed.watch = None

    def _stop_binding(self) -> None:
        bindings = (
            self._turn,
            self._retry,
            self._sweeper,
            self._settling,
            self._rescanner,
            self._tidier,
            self._flusher,
            self._closer,
            self._overflow_rescan,
            self._pairing,
            self._lost_retry,
        )
        for binding in bindings:
            if binding is not None:
                self.esc.dequeue(binding)
        self._turn = self._retry = self._sweeper = self._settling = self._rescanner = self._flusher = None
        self._tidier = self._lost_retry = None
        self._closer = self._overflow_rescan = self._pairing = None
        for timer in self._shadow_timers.values():
            self.esc.dequeue(timer)
        self._shadow_timers.clear()
        for watch in self._dir_watches.values():
            self.esc.inotify_rm(watch)
        self._dir_watches.clear()
        self._dir_ids.clear()

    def done(self) -> None:
        """Close the files and save the state one last time."""
        for followed in self._files:
            try:
                os.close(followed.fd)
            except OSError:
                pass
        for followed in self._files:
            self._files.remove(followed)
        if self._state is not None:
            self._state.set(self._section, self._state_section())
            self._state.release()
            self._state = None


#: What may become of a line that does not decode (see ``encoding_errors``).
ENCODING_ERRORS = ("error", "replace", "bytes")


def _changed_at(directory: str) -> int | None:
    """:returns: when ``directory``'s names last changed (ns), or ``None`` if it cannot be looked at."""
    try:
        return os.stat(directory).st_mtime_ns
    except OSError:
        return None


def _elder_first(one: FollowedFile, other: FollowedFile) -> int:
    """Order files of one lineage oldest first (a comparison for :func:`functools.cmp_to_key`)."""
    return -1 if one.older_than(other) else 1 if other.older_than(one) else 0


def _head_and_size(fd: int, packed: bool) -> tuple[bytes, int] | None:
    """:returns: the first bytes of the content of the open file ``fd`` and its size (of a
    compressed file: as its trailer says, modulo 2**32; ``None`` while it is being made)."""
    if not packed:
        return os.pread(fd, FINGERPRINT_BYTES, 0), os.fstat(fd).st_size
    size = os.fstat(fd).st_size
    trailer = os.pread(fd, 4, size - 4) if size >= 4 else b""
    if len(trailer) < 4:
        return None
    return GzipReader(fd).head(FINGERPRINT_BYTES), int.from_bytes(trailer, "little")


def _read_whole(found: tuple[bytes, int] | None) -> ReadContent | None:
    """:returns: a mark's content for a file whose first bytes and size are ``found``: read to its end."""
    return None if found is None else (fingerprint(found[0]), len(found[0]), found[1])


def _reborn(fd: int, known: KnownFile) -> bool:
    """Whether the open file ``fd``, under an inode ``known`` remembers, is another file than the
    one remembered: its inode was created at another time (a new file given the number of ours,
    deleted). Only where both times are known; a compressed copy's own time is compared, not the
    ``born`` it took from the file it was made of (see :attr:`KnownFile.inode_born`)."""
    if known.inode_born is None:
        return False
    born = birth_time(fd)
    return born is not None and born != known.inode_born


def _starts_as(head: bytes, known: KnownFile) -> bool:
    """Whether content starting with ``head`` starts as the known file did."""
    length = known.fingerprint_length
    return bool(length) and len(head) >= length and fingerprint(head[:length]) == known.fingerprint


def _quiet_since_change(followed: FollowedFile, st: os.stat_result) -> None:
    """A file found rotated (after a restart, or unseen) has been quiet since its last change of any kind.

    Its status change time is no earlier than its rename, nor than its last
    write: a writer that has not reopened its file has had that long already,
    and a file renamed long ago and read to its end is let go without another
    ``rotate_wait`` (under restarts faster than that, files would otherwise be
    held, and remembered, for ever).
    """
    since = time.monotonic() - max(0.0, time.time() - st.st_ctime)
    followed.rotated_at = followed.last_data = min(followed.last_data, since)


def _check_encoding(encoding: str) -> str:
    """:returns: ``encoding``. :raises ValueError: for an unknown one, or one whose newline is not the byte 0x0A."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise ValueError(f"encoding: no such text encoding {encoding!r}") from None
    if not is_wide(encoding) and "\n".encode(encoding, "replace") != b"\n":
        raise ValueError(
            f"encoding {encoding!r} is not supported: lines are found by a newline that is the byte 0x0A"
            " (or a UTF-16 or UTF-32 code unit); convert the files (iconv)"
        )
    return encoding


def _descriptor_share() -> int:
    """:returns: the default ``max_open_files``: a share of the process's limit of descriptors.

    Three quarters of the limit, and never more than what is left of it with
    :data:`_DESCRIPTORS_KEPT` kept for the rest of the application: under a low
    limit the process's own descriptors (its loop, epoll, inotify, standard
    streams) are a large part of it, and an output built after this cog found
    none left to open its file.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 1 << 16
    try:
        in_use = len(os.listdir("/proc/self/fd")) - 1  # less the one listing them
    except OSError:
        in_use = 0
    return max(1, min(int(soft * _DESCRIPTOR_SHARE), soft - in_use - _DESCRIPTORS_KEPT))


def _user_ids(users: Sequence[str]) -> set[int]:
    """:returns: the uids of ``users`` (names or numbers).

    :raises ValueError: naming a user that does not exist.
    """
    import pwd

    ids = set()
    for user in users:
        if str(user).isdigit():
            ids.add(int(user))
            continue
        try:
            ids.add(pwd.getpwnam(user).pw_uid)
        except KeyError:
            raise ValueError(f"owners: no user {user!r}") from None
    return ids


class FileReaderSupply(FileWatcherSupply):
    """Read files once, from start to end, one datum per line, then stop.

    The one-shot form of ``fs.tail``, for batch jobs: each datum is a line,
    without its newline, and its event id ``FILE:OFFSET`` is known to the train.
    When the last file is read the supply unbinds and, if nothing else is bound,
    the run ends. A gzip-compressed file (``.gz``) is read as its content, and
    ids count offsets in that content. For example::

        [[cog]]
        use = "fs.read"
        filenames = ["/var/log/app/app.log.*.gz", "/var/log/app/app.log"]
        multiline = {mode = "python"}

    Its figures for ``/metrics`` and ``--stats`` (``metrics()``):
    ``bytes_read_total``, ``lines_read_total``, ``files_open``,
    ``files_waiting_to_open``, ``batches_unacknowledged`` and ``lag_bytes``,
    what the files still to read hold (0 once all is read).

    :param esc: the Escapement (a Train is taken too).
    :param filenames: files (or glob patterns) to read, in order.
    :param encoding: text encoding of the files.
    :param max_line: longest line in bytes; longer ones go to the error output.
    :param line_setter: where the line goes in a new mapping (callable or
        field path, such as ``"line"``); by default each datum is the line itself.
    :param id_setter: where the event id ``FILE:OFFSET`` goes in that mapping,
        or a function of the datum that sets an id of its own; by default the
        train knows the id without it being in the data.
    :param missing_ok: a file or pattern that matches nothing is skipped, and
        the run does not fail for it (exit status 0).
    :param follow_symlinks: read files that symbolic links lead to (see
        ``fs.tail``); by default a link matched by a pattern, or a directory
        below a pattern's first wildcard that is a link, is not followed, said
        once; a link named as the input fails the run.
    :param owners: users (names or uids) whose files may be read; a file
        someone else owns is refused, said once. Empty: anyone's. Example:
        ``owners = ["www-data"]``.
    :param read_size: bytes read per chunk (one Batch each; see ``fs.tail``).
    :param multiline: join lines into events (see ``fs.tail``). Example:
        ``multiline = {mode = "python"}``.
    :param path_field: where the file's path goes in each datum (see ``fs.tail``).
        Example: ``path_field = "file"``.
    :param host_field: where this machine's name goes (see ``fs.tail``).
    :param offset_field: where the line's byte offset goes (see ``fs.tail``).
    :param encoding_errors: ``"error"``, ``"replace"`` or ``"bytes"`` (see ``fs.tail``).
    """

    config_name = "read"

    #: The figures of fs.tail that mean something for a one-shot read.
    _FIGURES = (
        "bytes_read_total",
        "lines_read_total",
        "files_open",
        "files_waiting_to_open",
        "batches_unacknowledged",
        "lag_bytes",
    )

    def __init__(
        self,
        esc: movement.Escapement,
        filenames: conf.PathList,
        encoding: conf.Encoding = "utf-8",
        max_line: Annotated[int, conf.Range(1)] = 1 << 20,
        line_setter: movement.FieldSetter | None = None,
        id_setter: movement.IdSetter | None = None,
        missing_ok: bool = False,
        follow_symlinks: bool = False,
        owners: Sequence[str] = (),
        read_size: Annotated[int, conf.Range(1)] = 1 << 17,
        multiline: Mapping[str, Any] | None = None,
        path_field: str | None = None,
        host_field: str | None = None,
        offset_field: str | None = None,
        encoding_errors: Literal["error", "replace", "bytes"] = "error",
    ) -> None:
        super().__init__(
            esc,
            filenames,
            tail=False,
            encoding=encoding,
            max_line=max_line,
            line_setter=line_setter,
            id_setter=id_setter,
            missing_ok=missing_ok,
            follow_symlinks=follow_symlinks,
            owners=owners,
            read_size=read_size,
            multiline=multiline,
            path_field=path_field,
            host_field=host_field,
            offset_field=offset_field,
            encoding_errors=encoding_errors,
        )

    def metrics(self) -> dict[str, float]:
        """Figures for ``deadbeat run --metrics-port`` and ``--stats`` (see :mod:`deadbeat.metrics`).

        :returns: the counters ``bytes_read_total`` and ``lines_read_total`` (as
            ``fs.tail``'s: lines that went to the error output too), and the
            gauges ``files_open``, ``files_waiting_to_open`` (beyond the limit
            of descriptors), ``batches_unacknowledged`` and ``lag_bytes``: what
            the open files hold on disk beyond what was read (every file is
            opened at start unless there are more than ``ulimit -n`` allows;
            of a compressed file, the compressed bytes not read yet).
        """
        figures = super().metrics()
        return {name: figures[name] for name in self._FIGURES}
