"""Read a scenario file (YAML or JSON), validate it once, and name every problem's place.

Errors come back as :class:`~evacops.errors.ScenarioError` whose ``problems`` are lines such as::

    kabul.yaml:57: fleets[2].count: must be >= 0, got -5 (give a whole number of aircraft)

Schema errors come from pydantic (the typed model, :mod:`evacops.scenario.model`); the checks
across components (:mod:`evacops.scenario.checks`) follow: unknown sites and legs, cohorts with no
route to any destination, fleets with no leg they may fly, air legs that do not join two airfields.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from evacops.errors import ScenarioError
from evacops.scenario.checks import Loc, cross_check
from evacops.scenario.model import Scenario


def _loc_text(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


class _Lines:
    """Maps a location path to its line in a YAML file (from the composed node tree, composed
    on the first error that needs a line: PyYAML composes nodes in Python only, 0.18 s for the
    Kabul scenario, which a valid scenario never needs)."""

    def __init__(self, text: str):
        self.text = text
        self._root: Any = False

    @property
    def root(self) -> Any:
        if self._root is False:
            try:
                self._root = yaml.compose(self.text, Loader=yaml.SafeLoader)
            except yaml.YAMLError:
                self._root = None
        return self._root

    def line(self, loc: Loc) -> int | None:
        node = self.root
        found = None
        for part in loc:
            if node is None:
                break
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                nxt = None
                for key, value in node.value:
                    if key.value == part:
                        found, nxt = key.start_mark.line + 1, value
                        break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    node = node.value[part]
                    found = node.start_mark.line + 1
                else:
                    node = None
            else:
                break
        return found


_HINTS = {
    "greater_than": "must be > {gt}, got {input}",
    "greater_than_equal": "must be >= {ge}, got {input}",
    "less_than_equal": "must be <= {le}, got {input}",
    "missing": "is required",
    "extra_forbidden": "is not a known field (check the spelling; see docs/scenario.md)",
    "int_parsing": "must be a whole number, got {input!r}",
    "int_from_float": "must be a whole number, got {input!r}",
    "float_parsing": "must be a number, got {input!r}",
    "bool_parsing": "must be true or false, got {input!r}",
    "string_type": "must be text, got {input!r}",
    "list_type": "must be a list, got {input!r}",
    "dict_type": "must be a mapping, got {input!r}",
    "model_type": "must be a mapping of fields, got {input!r}",
    "too_short": "must have at least {min_length} entr{ies}",
    "literal_error": "must be one of {expected}, got {input!r}",
}


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    ctx = dict(err.get("ctx") or {})
    ctx["input"] = err.get("input")
    if kind == "too_short":
        ctx.setdefault("min_length", 1)
        ctx["ies"] = "y" if ctx["min_length"] == 1 else "ies"
    template = _HINTS.get(kind)
    if template:
        try:
            return template.format(**ctx)
        except (KeyError, IndexError, ValueError):
            pass
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return msg


def _clean_loc(loc: Loc) -> Loc:
    # pydantic adds the member of a union it tried (e.g. 'datetime', 'str', 'float'); drop those
    # so the place reads like the user's file.
    noise = {"datetime", "str", "float", "int", "dict[str,float]", "function-after[check_time()]"}
    return tuple(p for p in loc if not (isinstance(p, str) and (p in noise or "[" in p)))


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML was built with it (the same documents, ten times faster:
0.01 s for the Kabul scenario against 0.11 s), else PyYAML's own."""


def parse_text(text: str, source: str = "<scenario>") -> Scenario:
    """Validate scenario text (YAML, of which JSON is a subset)."""
    try:
        data = yaml.load(text, Loader=_LOADER)  # (a safe loader: no Python objects)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise ScenarioError(
            [f"{where}: not valid YAML ({problem}); check indentation and quoting there"]
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            [
                f"{source}: a scenario is a mapping with name, time, sites, legs, ... (see "
                "docs/scenario.md)"
            ]
        )
    lines = _Lines(text)
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        seen = set()
        for err in exc.errors():
            loc = _clean_loc(tuple(err["loc"]))
            text_loc = _loc_text(loc)
            msg = _message(dict(err))
            if (text_loc, msg) in seen:
                continue
            seen.add((text_loc, msg))
            line = lines.line(loc)
            where = f"{source}:{line}" if line else source
            problems.append(f"{where}: {text_loc}: {msg}")
        raise ScenarioError(problems) from None
    crossed = cross_check(scenario)
    if crossed:
        raise ScenarioError(
            [f"{source}:{lines.line(loc) or '?'}: {_loc_text(loc)}: {msg}" for loc, msg in crossed]
        )
    return scenario


def load(path: str | Path) -> Scenario:
    """Load and validate a scenario file; raise ScenarioError naming the place of each problem."""
    p = Path(path)
    if not p.exists():
        raise ScenarioError([f"{p}: no such file; give the path of a scenario YAML or JSON file"])
    if p.is_dir():
        raise ScenarioError([f"{p}: is a folder; give the path of a scenario YAML or JSON file"])
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScenarioError([f"{p}: not a text file; a scenario is YAML or JSON text"]) from None
    if p.suffix.lower() == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(
                [f"{p}:{exc.lineno}: not valid JSON ({exc.msg}); fix the syntax there"]
            ) from None
    return parse_text(text, source=str(p))
