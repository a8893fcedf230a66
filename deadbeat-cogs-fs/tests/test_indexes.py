"""The tailer's indexes answer as a look at every file would, whatever happened to the files.

The file table (by name, lineage, start, state) and the book of known files (the
state file's section kept by changes) replace scans of everything; these
properties check them against those scans, for any sequence of changes.
"""

from __future__ import annotations

import json
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from deadbeat.fs._followed import FileState, FollowedFile, KnownFile
from deadbeat.fs._identity import FileId, Likeness, starts_alike
from deadbeat.fs._known import KnownBook
from deadbeat.fs._table import HEAD_KEY, FileTable

PATHS = st.sampled_from(["/l/a.log", "/l/a.log.1", "/l/b.log", "/m/a.log", None])


def test_two_files_under_one_name_while_the_events_are_behind() -> None:
    """The new file takes the name; when it leaves, the old one is found there again."""
    table = FileTable()
    old = FollowedFile("/l/a.log", -1, FileId(0, 1), 0, "/l/a.log", 1)
    new = FollowedFile("/l/a.log", -1, FileId(0, 2), 0, "/l/a.log", 2)
    table.add(old)
    table.add(new)
    assert table.at("/l/a.log") is new
    new.path = "/l/a.log.1"
    assert table.at("/l/a.log") is old and table.at("/l/a.log.1") is new


HEADS = st.sampled_from([b"", b"x", b"2026-11-30", b"2026-11-30 " + b"y" * 40, b"2026-11-30 " + b"z" * 40, b"q" * 40])
OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["add", "path", "head", "lineage", "rotate", "truncate", "remove"]),
        st.integers(0, 5),
        PATHS,
        HEADS,
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(operations=OPERATIONS, directory=st.sampled_from(["/l", "/m"]), candidate=HEADS)
def test_the_file_table_answers_as_a_scan_would(
    operations: list[tuple[str, int, str | None, bytes]], directory: str, candidate: bytes
) -> None:
    """Name, lineage, rotated, truncated and the candidates for a copy: never one missing."""
    table = FileTable()
    files: dict[int, FollowedFile] = {}
    for action, n, path, head in operations:
        followed = files.get(n)
        if action == "add" and followed is None:
            followed = FollowedFile(path or "/l/new.log", -1, FileId(0, n), 0, path or "/l/new.log", n)
            files[n] = followed
            table.add(followed)
        elif followed is None:
            continue
        elif action == "path":
            followed.path = path
        elif action == "head":
            followed.head = head
        elif action == "lineage":
            followed.lineage = path or "/l/x.log"
        elif action == "rotate":
            followed.rotate(path)
        elif action == "truncate":
            followed.truncated = None if followed.truncated else (head, 0, 0.0)
        elif action == "remove":
            table.remove(followed)
            del files[n]
    everything = list(files.values())
    assert sorted(f.file for f in table) == sorted(f.file for f in everything)
    for followed in everything:
        if followed.path is not None:
            at = table.at(followed.path)
            assert at is not None and at.path == followed.path
            # The last to take the name, when two files have it.
            sharing = [f for f in everything if f.path == followed.path]
            assert at in sharing
        assert followed in list(table.lineage(followed.lineage))
    assert set(table.rotated) == {f.file for f in everything if f.state is FileState.ROTATED}
    assert set(table.truncated) == {f.file for f in everything if f.truncated is not None}
    # Every file a scan would find a copy candidate (same directory, starts alike) is among the candidates.
    found = {f.file for f in table.copy_candidates(directory, candidate)}
    for followed in everything:
        in_directory = os.path.dirname(followed.path or "") == directory
        if in_directory and starts_alike(candidate, followed.head) is not Likeness.OTHER:
            assert followed.file in found, (candidate, followed.head)
    if len(candidate) >= HEAD_KEY:
        # A long start is compared only with files that share its first bytes, or start shorter.
        assert all(
            f.head[:HEAD_KEY] == candidate[:HEAD_KEY] or len(f.head) < HEAD_KEY
            for f in table.copy_candidates(directory, candidate)
        )


@settings(max_examples=150, deadline=None)
@given(
    changes=st.lists(
        st.tuples(
            st.sampled_from(["set", "touch", "pop", "mark", "unmark", "section"]),
            st.integers(0, 6),
            st.integers(0, 10**6),
        ),
        max_size=50,
    )
)
def test_the_known_book_writes_what_a_full_encoding_would(changes: list[tuple[str, int, int]]) -> None:
    """After any changes, the section's text is the JSON of every entry and lineage mark, as it was at the
    last checkpoint; a mark only ever moves forward."""
    book = KnownBook()
    entries: dict[FileId, KnownFile] = {}
    marks: dict[str, dict[str, object]] = {}
    section = book.section()
    expected: dict[str, object] = {"files": {}, "lineages": {}}
    for action, n, offset in changes:
        file = FileId(1, n)
        if action == "set":
            entries[file] = KnownFile("f" * 32, 256, offset, f"/l/{n}.log", f"/l/{n}.log", n)
            book.set(file, entries[file])
        elif action == "touch" and file in entries:
            entries[file].offset = offset
            book.touch(file)
        elif action == "pop":
            entries.pop(file, None)
            book.pop(file)
        elif action == "mark":
            # Odd n: a file system without creation times.
            born = None if n % 2 else offset
            content = (f"{offset % 3:032x}", offset % 4, offset)  # covering 0 bytes: not kept
            book.mark_forgotten(f"/l/{n}.log", born, offset // 2, content)
            old = marks.get(f"/l/{n}.log", {"born": None, "mtime": -1, "contents": []})
            old_born = old["born"]
            contents = list(old["contents"])
            if content[1] and list(content) not in contents:  # the same again changes nothing
                contents = [c for c in contents if c[:2] != list(content[:2])] + [list(content)]
            marks[f"/l/{n}.log"] = {
                "born": born if old_born is None or (born is not None and born > old_born) else old_born,
                "mtime": max(int(old["mtime"]), offset // 2),
                "contents": contents if content[1] else old["contents"],
            }
        elif action == "unmark":
            marks.pop(f"/l/{n}.log", None)
            book.drop_mark(f"/l/{n}.log")
        elif action == "section":
            section = book.section()
            expected = {"files": {f.key: known.to_json() for f, known in entries.items()}, "lineages": dict(marks)}
    assert json.loads(section.json_text()) == expected
    assert json.loads(book.section().json_text()) == {
        "files": {f.key: k.to_json() for f, k in entries.items()},
        "lineages": marks,
    }
    again = KnownBook()
    again.load(json.loads(book.section().json_text()))
    assert {lineage: mark.to_json() for lineage, mark in again.marks().items()} == marks


@settings(max_examples=100, deadline=None)
@given(
    heads=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=8, unique=True),
    offsets=st.lists(st.integers(0, 10**9), min_size=8, max_size=8),
)
def test_a_mark_tells_the_contents_it_keeps_by_their_first_bytes(heads: list[bytes], offsets: list[int]) -> None:
    """A content kept (fingerprint of up to 256 first bytes, how far read) is found again from a copy's first
    bytes, whatever follows them; one never kept is not; keep_only drops exactly the contents no head starts as."""
    from deadbeat.fs._identity import FINGERPRINT_BYTES, fingerprint
    from deadbeat.fs._known import LineageMark

    mark = LineageMark()
    kept = heads[: len(heads) // 2 + 1]
    for head, offset in zip(kept, offsets, strict=False):
        start = head[:FINGERPRINT_BYTES]
        mark.raise_to(None, None, (fingerprint(start), len(start), offset))
    assert not mark.timed
    for head, offset in zip(kept, offsets, strict=False):
        found = mark.read_to(head[:FINGERPRINT_BYTES] + b"and more")
        # Another kept content may start the same way (a shorter head that is a prefix of this one).
        assert found == offset or any(h != head and head.startswith(h[:FINGERPRINT_BYTES]) for h in kept)
    for head in heads[len(kept) :]:
        if not any(head[:FINGERPRINT_BYTES].startswith(h[:FINGERPRINT_BYTES]) for h in kept):
            assert mark.read_to(head[:FINGERPRINT_BYTES]) is None
    mark.keep_only([kept[0][:FINGERPRINT_BYTES]])
    assert mark.read_to(kept[0][:FINGERPRINT_BYTES]) is not None
    first = kept[0][:FINGERPRINT_BYTES]
    starts = [k[:FINGERPRINT_BYTES] for k in kept if first.startswith(k[:FINGERPRINT_BYTES])]  # still kept
    for head in kept:
        start = head[:FINGERPRINT_BYTES]
        assert (mark.read_to(start) is not None) == any(start.startswith(k) for k in starts)
