"""Configuration: one definition, files (JSON, TOML) and switches, with precise errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deadbeat import conf, daemon, log

TYPEDEF = conf.cfg_root(
    (
        conf.cfg_base_config,
        log.log_base_config,
        daemon.daemon_base_config,
        conf.cfg_item("input_files", conf.cast_path_list, "Files to read", default=[]),
        conf.cfg_item("workers", conf.cast_int, "How many", default=2),
        conf.cfg_section("output", (conf.cfg_item("path", conf.cast_path, "Where to write"),), "Output"),
    )
)


def gather(argv: list[str]) -> conf.Config:
    return conf.gather(TYPEDEF, name="app", description="test app", argv=argv)


class TestSources:
    def test_defaults_fill_what_is_not_given(self) -> None:
        """Without files or switches, each item has its default."""
        cfg = gather(["--output-path", "/tmp/out"])
        assert cfg.workers == 2
        assert cfg.log.level == "info"
        assert cfg.daemon == {
            "detach": False,
            "pid_file": None,
            "work_dir": "/",
            "umask": None,
            "user": None,
            "group": None,
        }
        assert cfg.output.path == "/tmp/out"

    def test_json_and_toml_files_then_switches_win(self, tmp_path: Path) -> None:
        """Later files override earlier ones and switches override files."""
        first = tmp_path / "a.json"
        first.write_text(json.dumps({"workers": 4, "log": {"level": "debug"}, "output": {"path": "/x"}}))
        second = tmp_path / "b.toml"
        second.write_text('workers = 8\ninput_files = ["~/in.log"]\n[daemon]\numask = "027"\n')
        cfg = gather(["--config", f"{first},{second}", "--log-level", "error"])
        assert cfg.workers == 8
        assert cfg.log.level == "error"
        assert cfg.daemon.umask == 0o027
        assert cfg.input_files[0].endswith("/in.log") and not cfg.input_files[0].startswith("~")
        assert cfg.config == [str(first), str(second)]

    def test_sections_star_expand_into_their_functions(self, tmp_path: Path) -> None:
        """log.configure(**cfg.log) accepts the gathered section as it is."""
        cfg = gather(["--output-path", "/o", "--log-file", str(tmp_path / "app.log"), "--no-log-stderr"])
        log.configure(**cfg.log)
        log.configure()

    def test_boolean_switches(self) -> None:
        """Boolean items get --name and --no-name switches."""
        assert gather(["--output-path", "/o", "--daemon-detach"]).daemon.detach is True
        assert gather(["--output-path", "/o", "--no-daemon-detach"]).daemon.detach is False


class TestErrors:
    def test_wrong_type_in_a_file_names_file_key_and_type(self, tmp_path: Path) -> None:
        """A value of the wrong type names the file, the dotted key and the expected type."""
        path = tmp_path / "bad.toml"
        path.write_text('[log]\nlevel = "loud"\n')
        with pytest.raises(conf.ConfigError) as err:
            gather(["--config", str(path), "--output-path", "/o"])
        assert str(err.value).startswith(f"{path}: log.level: expected a log level")
        assert "'loud'" in str(err.value)

    def test_unknown_key_suggests_the_near_one(self, tmp_path: Path) -> None:
        """An unknown key is refused with the closest known key."""
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({"workerz": 3}))
        with pytest.raises(conf.ConfigError, match=r"bad.json: workerz: unknown setting; did you mean 'workers'\?"):
            gather(["--config", str(path)])

    def test_wrong_switch_value_names_the_switch(self) -> None:
        """A bad switch value names the switch."""
        with pytest.raises(conf.ConfigError, match="command line: --workers: expected an integer, got 'many'"):
            gather(["--workers", "many", "--output-path", "/o"])

    def test_missing_required_value(self) -> None:
        """A required item left out is named."""
        with pytest.raises(conf.ConfigError, match="output.path: required setting missing"):
            gather([])

    def test_syntax_errors_name_the_line(self, tmp_path: Path) -> None:
        """Broken JSON names its line and column; broken TOML its position."""
        path = tmp_path / "broken.json"
        path.write_text('{\n  "workers": 3,\n}')
        with pytest.raises(conf.ConfigError, match="broken.json: invalid JSON at line 3"):
            conf.load_file(str(path))
        toml_path = tmp_path / "broken.toml"
        toml_path.write_text("workers = = 3\n")
        with pytest.raises(conf.ConfigError, match="broken.toml: invalid TOML"):
            conf.load_file(str(toml_path))

    def test_unreadable_file(self, tmp_path: Path) -> None:
        """A config file that cannot be read is named with the reason."""
        with pytest.raises(conf.ConfigError, match="missing.toml: cannot read"):
            conf.load_file(str(tmp_path / "missing.toml"))

    def test_duplicate_definition_is_refused(self) -> None:
        """Two items of the same name in one section are a definition error."""
        with pytest.raises(ValueError, match="defined twice"):
            conf.cfg_root((conf.cfg_item("a", conf.cast_int, ""), conf.cfg_item("a", conf.cast_int, "")))


class TestCasts:
    @given(st.integers())
    def test_int_accepts_numbers_and_their_text(self, number: int) -> None:
        """cast_int gives back the same integer from an int or its text."""
        assert conf.cast_int(number) == number
        assert conf.cast_int(str(number)) == number

    @given(st.booleans())
    def test_boolean_words(self, flag: bool) -> None:
        """cast_boolean takes booleans and their usual words."""
        assert conf.cast_boolean(flag) is flag
        assert conf.cast_boolean("yes" if flag else "no") is flag

    def test_refusals(self) -> None:
        """Casts refuse values of the wrong kind rather than guessing."""
        for cast, value in [
            (conf.cast_int, True),
            (conf.cast_int, "1.5"),
            (conf.cast_str, 5),
            (conf.cast_boolean, "maybe"),
            (conf.cast_path_list, 3),
            (conf.cast_choice("a", "b"), "c"),
        ]:
            with pytest.raises(ValueError):
                cast(value)

    def test_path_list_from_text_and_lists(self) -> None:
        """cast_path_list takes a list or comma-separated text."""
        assert conf.cast_path_list("/a, /b") == ["/a", "/b"]
        assert conf.cast_path_list(["/c"]) == ["/c"]


class TestRanges:
    @given(st.integers(min_value=-100, max_value=100))
    def test_a_declared_range_takes_exactly_the_numbers_within(self, number: int) -> None:
        """Annotated[int, Range(0, 32)] takes 0..32 and refuses the rest; above=True leaves out the low end."""
        closed = conf.cast_for(Annotated[int, conf.Range(0, 32)])
        opened = conf.cast_for(Annotated[float, conf.Range(0, above=True)])
        if 0 <= number <= 32:
            assert closed(number) == number
        else:
            with pytest.raises(ValueError):
                closed(number)
        if number > 0:
            assert opened(number) == number
        else:
            with pytest.raises(ValueError):
                opened(number)

    def test_bounds_in_words_and_optional_values(self) -> None:
        """Messages and reference tables say the bounds; ``X | None`` still takes false for none."""
        assert conf.expected_of(conf.cast_for(Annotated[int, conf.Range(0, 32)])) == "an integer from 0 to 32"
        assert conf.type_name_of(conf.cast_for(Annotated[int, conf.Range(1)])) == "integer of at least 1"
        seconds = conf.cast_for(Annotated[float, conf.Range(0, above=True)] | None)
        assert conf.expected_of(seconds) == "a number above 0 or nothing (false)"
        assert seconds(False) is None
        assert conf.type_name_of(conf.cast_for(Annotated[float, conf.Range(high=1)])) == "number at most 1"
        with pytest.raises(ValueError):
            conf.cast_for(Annotated[int, conf.Range(0, 32)])(True)  # a boolean is no number here

    def test_a_cog_declares_its_bounds_once_and_a_pipeline_file_is_checked_against_them(self, tmp_path: Path) -> None:
        """A value out of bounds is refused when the file is loaded, naming the file, the cog and the key."""
        from deadbeat import pipeline

        (tmp_path / "window.py").write_text(
            "from typing import Annotated\n"
            "from deadbeat import conf\n"
            "class Window:\n"
            "    def __init__(self, bits: Annotated[int, conf.Range(0, 32)] = 24) -> None:\n"
            "        self.bits = bits\n"
            "    def __call__(self, datum):\n"
            "        return (datum,)\n"
        )
        (tmp_path / "p.toml").write_text('[[cog]]\nuse = "window:Window"\nbits = 33\n')
        with pytest.raises(pipeline.PipelineError) as caught:
            pipeline.load(str(tmp_path / "p.toml"))
        assert "cog[0] (window:Window): bits: expected an integer from 0 to 32, got 33" in str(caught.value)


class TestInsert:
    def test_toml_insert_shows_defaults_and_descriptions(self) -> None:
        """A section renders as a commented TOML insert a user can paste."""
        text = daemon.daemon_base_config.to_toml()
        assert text.splitlines()[1] == "[daemon]"
        assert "detach = false" in text and "# umask = false  (none)" in text and "# pid_file =" in text


class TestFilePatterns:
    def test_only_patterns_with_a_slash_are_paths(self) -> None:
        """A name pattern matches in any directory; a path pattern is relative to the pipeline file's directory."""
        cast = conf.cast_file_pattern_list
        value = cast(["*.gz", "logs/debug-*", "/var/log/x-*"])
        assert conf.rebase(cast, value, "/etc/pipelines") == ["*.gz", "/etc/pipelines/logs/debug-*", "/var/log/x-*"]

    def test_a_declared_file_pattern_list_is_rebased_by_the_pipeline(self, tmp_path: Path) -> None:
        """A cog declaring conf.FilePatternList gets its path patterns resolved against the pipeline file."""
        from deadbeat import pipeline

        (tmp_path / "patterned.py").write_text(
            "from deadbeat import conf\n"
            "class Patterned:\n"
            "    def __init__(self, exclude: conf.FilePatternList = ()) -> None:\n"
            "        self.exclude = list(exclude)\n"
            "    def __call__(self, datum):\n"
            "        return (datum,)\n"
        )
        (tmp_path / "p.toml").write_text('[[cog]]\nuse = "patterned:Patterned"\nexclude = ["*.gz", "logs/*"]\n')
        spec = pipeline.load(str(tmp_path / "p.toml"))
        assert spec.cogs[0].params["exclude"] == ["*.gz", f"{tmp_path}/logs/*"]


def test_a_bad_value_on_the_programs_own_command_line_is_a_usage_error(tmp_path: Path) -> None:
    """conf.gather() reading sys.argv: a wrong value ends the program as argparse would, not in a traceback."""
    import subprocess
    import sys

    script = tmp_path / "app.py"
    script.write_text(
        "from deadbeat import conf\n"
        "typedef = conf.cfg_root((conf.cfg_item('bits', conf.cast_int, 'Bits', default=24),))\n"
        "conf.gather(typedef, name='app', description='an app')\n"
    )
    result = subprocess.run([sys.executable, str(script), "--bits", "many"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "usage: app" in result.stderr and "error:" in result.stderr and "bits" in result.stderr
    assert "Traceback" not in result.stderr
