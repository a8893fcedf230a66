"""Configuration: one definition gives config files (JSON, TOML) and command-line switches.

An application describes its settings once, as a tree of :func:`cfg_item` leaves in
:func:`cfg_section` branches under a :func:`cfg_root`. :func:`gather` then reads, in
rising priority, the defaults, the config files (``--config``) and the switches
(``--section-item``), casts every value and returns a :class:`Config` whose
sections star-expand into the functions they configure::

    cfg = conf.gather(
        typedef=conf.cfg_root((conf.cfg_base_config, log.log_base_config, daemon.daemon_base_config)),
        name="myapp", description="What myapp does")
    log.configure(**cfg.log)
    daemon.detach(**cfg.daemon)

A cog needs no such tree: its signature and its ``:param:`` docs are its
declaration, and :func:`section_of` derives its config insert from them (see
:mod:`deadbeat.conf._declared` for how annotations become casts).

Every error names where the value came from (file or switch), the key and what
was expected.
"""

from ._casts import (
    Cast,
    cast_any,
    cast_boolean,
    cast_choice,
    cast_encoding,
    cast_file_pattern,
    cast_file_pattern_list,
    cast_float,
    cast_int,
    cast_list,
    cast_loglevel,
    cast_mapping,
    cast_octal,
    cast_optional,
    cast_path,
    cast_path_list,
    cast_range,
    cast_str,
    cast_str_list,
    cast_union,
    expected_of,
    expects,
    rebase,
    require_encoding,
    type_name_of,
)
from ._declared import (
    INJECTED,
    Declared,
    Encoding,
    FilePatternList,
    Mode,
    Path,
    PathList,
    Range,
    cast_for,
    declared_parameters,
    section_of,
    split_params,
)
from ._gather import check, gather, load_file
from ._tree import REQUIRED, Config, ConfigError, Item, Section, cfg_base_config, cfg_item, cfg_root, cfg_section

__all__ = [
    "INJECTED",
    "REQUIRED",
    "Cast",
    "Config",
    "ConfigError",
    "Declared",
    "Encoding",
    "Mode",
    "Item",
    "Path",
    "FilePatternList",
    "PathList",
    "Range",
    "Section",
    "cast_any",
    "cast_boolean",
    "cast_choice",
    "cast_encoding",
    "cast_file_pattern",
    "cast_file_pattern_list",
    "cast_float",
    "cast_for",
    "cast_int",
    "cast_list",
    "cast_loglevel",
    "cast_mapping",
    "cast_octal",
    "cast_optional",
    "cast_path",
    "cast_path_list",
    "cast_range",
    "cast_str",
    "cast_str_list",
    "cast_union",
    "cfg_base_config",
    "cfg_item",
    "cfg_root",
    "cfg_section",
    "check",
    "declared_parameters",
    "expected_of",
    "expects",
    "gather",
    "load_file",
    "rebase",
    "require_encoding",
    "section_of",
    "split_params",
    "type_name_of",
]
