"""``kinkcheck config [PATH]``: the effective configuration and where each value came from.

One line per setting, in ``[tool.kinkcheck]`` spelling, each with its origin: the config
file that set it, ``command line``, or ``default``. The rules a run would report follow, so
"why is KC505 not reported here?" has an answer without reading the code.
"""

from __future__ import annotations

import json

import click

from kinkcheck.commands._common import analyzer_options, emit, output_options, selection_options


@click.command("config")
@click.argument("path", required=False, type=click.Path(path_type=str))
@output_options(["text", "json"], "text", help="text (TOML-like, with origins) or json.")
@selection_options
@analyzer_options
def config(path, output_format, output_file, select, ignore, extend_select, scope, all_scope, no_cache, config_file):
    """Print the configuration `kinkcheck check PATH` (default: .) would use, and where each value came from."""
    from kinkcheck.commands._common import fail
    from kinkcheck.config import KEYS, load_config

    if all_scope:
        if scope not in (None, "all"):
            fail(f"--all conflicts with --scope {scope}")
        scope = "all"
    overrides = {"select": select, "ignore": ignore, "extend_select": extend_select, "scope": scope}
    cfg = load_config(path or ".", overrides, config_file=config_file)
    tables = ("per_file_ignores", "severity")  # empty: {} rather than []
    settings = [(key, _plain(getattr(cfg, name)) or ({} if name in tables else []), cfg.origin(name))
                if name in tables else (key, _plain(getattr(cfg, name)), cfg.origin(name)) for key, name in KEYS.items()]
    rules = sorted(cfg.enabled_codes())
    severities = {code: cfg.severity_of(code) for code in rules}
    source = str(cfg.source) if cfg.source is not None else None
    if output_format == "json":
        doc = {"source": source, "root": str(cfg.root),
               "settings": {key: {"value": value, "origin": origin} for key, value, origin in settings},
               "rules": rules, "severities": severities, "no_cache": no_cache}
        emit(json.dumps(doc, indent=2) + "\n", output_file=output_file)
        return
    lines = [f"# configuration: {source or 'none found (defaults)'}", f"# project root: {cfg.root}", ""]
    shown = [(key, _toml(value)) for key, value, _ in settings]
    width = max(len(f"{k} = {v}") for k, v in shown if len(f"{k} = {v}") <= 60)
    for (key, text), (_, _, origin) in zip(shown, settings):
        line = f"{key} = {text}"
        lines.append(f"{line:<{width}}  # {origin}")
    lines += ["", f"# rules reported ({len(rules)}), by severity:"]
    from kinkcheck.catalog import SEVERITIES

    for level in SEVERITIES:
        codes = [code for code in rules if severities[code] == level]
        if codes:
            lines.append(f"#   {level + ':':<8} {' '.join(codes)}")
    emit("\n".join(lines) + "\n", output_file=output_file)


def _plain(value):
    """A Config value as JSON/TOML data: tuples as lists, pairs as tables, None as absent."""
    if isinstance(value, tuple) and value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
        return {str(k): _plain(v) for k, v in value}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _toml(value) -> str:
    if value is None:
        return '"(the catalog\'s defaults)"'
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value) if isinstance(value, str) else str(value)
