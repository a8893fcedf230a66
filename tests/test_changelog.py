"""Changelog fragments are well-formed, and scripts/changelog.py folds them into CHANGELOG.md at release."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "changelog.py"


def changelog(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True)


class TestFragments:
    def test_every_fragment_is_well_formed(self) -> None:
        """Each file in changes/ is named <issue>.<type>[.<n>].md with a known type and holds paragraphs only."""
        result = changelog("--check")
        assert result.returncode == 0, result.stderr

    def test_a_misnamed_fragment_is_named(self, tmp_path: Path) -> None:
        """A fragment with an unknown type or a heading is refused, naming the file and the rule."""
        (tmp_path / "7.feature.md").write_text("Fine.\n")
        (tmp_path / "8.improvement.md").write_text("Not a type.\n")
        (tmp_path / "9.bugfix.md").write_text("## A heading\n")
        result = changelog("--check", "--fragments", tmp_path)
        assert result.returncode == 1
        assert "8.improvement.md: type 'improvement' is not one of feature, bugfix, doc" in result.stderr
        assert "9.bugfix.md: a heading in a fragment" in result.stderr


class TestRelease:
    def test_folds_fragments_into_the_changelog(self, tmp_path: Path) -> None:
        """At release the fragments become a dated section, by type and issue, and leave changes/."""
        fragments = tmp_path / "changes"
        fragments.mkdir()
        (fragments / "12.bugfix.md").write_text("`fs.write` no longer\nloses a line.\n")
        (fragments / "3.feature.2.md").write_text("Second of issue 3.\n\nWith a second paragraph.\n")
        (fragments / "3.feature.md").write_text("First of issue 3.\n")
        (fragments / "4.doc.md").write_text("A tutorial.\n")
        log = tmp_path / "CHANGELOG.md"
        log.write_text("# Changelog\n\nFor users.\n\n## 0.1.0 (2026-01-01)\n\n- The start.\n")
        result = changelog("0.2.0", "--date", "2026-12-01", "--fragments", fragments, "--changelog", log)
        assert result.returncode == 0, result.stderr
        assert log.read_text() == (
            "# Changelog\n\nFor users.\n\n"
            "## 0.2.0 (2026-12-01)\n\n"
            "### Features\n\n- First of issue 3. (#3)\n- Second of issue 3.\n\n  With a second paragraph. (#3)\n\n"
            "### Fixes\n\n- `fs.write` no longer loses a line. (#12)\n\n"
            "### Documentation\n\n- A tutorial. (#4)\n\n"
            "## 0.1.0 (2026-01-01)\n\n- The start.\n"
        )
        assert list(fragments.iterdir()) == []

    def test_an_unreleased_section_takes_the_date(self, tmp_path: Path) -> None:
        """A hand-written "VERSION (unreleased)" section gets the fragments at its top and the release date."""
        (tmp_path / "changes").mkdir()
        (tmp_path / "changes" / "5.feature.md").write_text("Something new.\n")
        log = tmp_path / "CHANGELOG.md"
        log.write_text("# Changelog\n\n## 0.2.0 (unreleased)\n\n### By hand\n\n- Written earlier.\n")
        args = ("--date", "2026-12-01", "--fragments", tmp_path / "changes", "--changelog", log)
        draft = changelog("--draft", *args[2:]).stdout
        assert changelog("0.2.0", *args).returncode == 0
        text = log.read_text()
        assert text.startswith("# Changelog\n\n## 0.2.0 (2026-12-01)\n\n" + draft)
        assert text.endswith("\n### By hand\n\n- Written earlier.\n") and "unreleased" not in text
