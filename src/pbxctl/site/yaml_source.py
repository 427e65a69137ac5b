"""Read a site YAML file into plain Python data while remembering where each value stood.

Scalars are kept as strings (YAML 1.1 typing is unsafe for telephony data: `no` becomes
False, `0123` becomes octal, `8:30` becomes 510); the typed model converts them. Duplicate
keys are errors rather than "last one wins", because a duplicated queue or entry number
silently dropped is the kind of mistake that only shows on the day the PBX misroutes calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pbxctl.site.problems import Problem, format_path

Path_ = tuple[str | int, ...]

_NULLS = {"", "~", "null", "Null", "NULL"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class SourceMap:
    """Line numbers (1-based) of values and keys, by key path."""

    file: str
    value_lines: dict[Path_, int] = field(default_factory=dict)
    key_lines: dict[Path_, int] = field(default_factory=dict)

    def line_of(self, path: Path_) -> int | None:
        """Line of the value at `path`, or of its nearest known ancestor."""
        p = tuple(path)
        while True:
            if p in self.key_lines:
                return self.key_lines[p]
            if p in self.value_lines:
                return self.value_lines[p]
            if not p:
                return None
            p = p[:-1]


@dataclass
class LoadedYaml:
    data: Any
    source: SourceMap
    problems: list[Problem]


def load_yaml_file(path: Path) -> LoadedYaml:
    text = path.read_text(encoding="utf-8")
    return load_yaml_text(text, str(path))


def load_yaml_text(text: str, filename: str) -> LoadedYaml:
    source = SourceMap(filename)
    problems: list[Problem] = []
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        msg = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        problems.append(Problem(filename, line, "", f"YAML syntax error: {msg}"))
        return LoadedYaml(None, source, problems)
    except yaml.YAMLError as exc:
        problems.append(Problem(filename, None, "", f"YAML error: {exc}"))
        return LoadedYaml(None, source, problems)
    if node is None:
        return LoadedYaml({}, source, problems)
    data = _build(node, (), source, problems)
    return LoadedYaml(data, source, problems)


def _build(node: yaml.Node, path: Path_, source: SourceMap, problems: list[Problem]) -> Any:
    source.value_lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.ScalarNode):
        if node.style is None and node.value in _NULLS:
            return None
        return node.value
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), source, problems) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for src in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
                    value = _build(src, path, source, problems)
                    if isinstance(value, dict):
                        for k, v in value.items():
                            merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(
                    Problem(source.file, key_node.start_mark.line + 1, format_path(path), "a key must be a plain value")
                )
                continue
            key = key_node.value
            key_path = path + (key,)
            if key in result:
                first = source.key_lines.get(key_path)
                problems.append(
                    Problem(
                        source.file,
                        key_node.start_mark.line + 1,
                        format_path(key_path),
                        f"duplicate key (first defined on line {first})",
                    )
                )
                continue
            source.key_lines[key_path] = key_node.start_mark.line + 1
            result[key] = _build(value_node, key_path, source, problems)
        for k, v in merged.items():
            result.setdefault(k, v)
        return result
    return None

