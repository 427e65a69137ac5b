"""Read a site YAML file into plain Python data while remembering where each value stood.

Scalars are kept as strings (YAML 1.1 typing is unsafe for telephony data: `no` becomes
False, `0123` becomes octal, `8:30` becomes 510); the typed model converts them. Duplicate
keys are errors rather than "last one wins", because a duplicated queue or entry number
silently dropped is the kind of mistake that only shows on the day the PBX misroutes calls.

libyaml's C scanner, parser and composer build the node tree (PyYAML's pure-Python
composer took two thirds of a large site's load). The nodes stay alive as the source
map: a problem's line is looked up in them when a problem is reported, instead of
recording a line for every one of a few hundred thousand values up front.

The input is bounded (hostile or broken files must end in a clear error, never a hang, a
RecursionError or gigabytes of memory): libyaml refuses nesting beyond 1 000 levels, the
builder beyond MAX_DEPTH; aliases are counted and so are the values they expand to
(a "billion laughs" file is a few hundred bytes); an alias inside itself is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml
from yaml._yaml import CParser

from pbxctl.site.problems import Problem, format_path

Path_ = tuple[str | int, ...]

_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"

# The deepest a site file needs is about 8 levels (alerts.targets.X.webhook.headers.Y.file).
MAX_DEPTH = 64
# Anchors give shared defaults (a queue template merged into 1 000 queues is ~10 000
# values); far more is a bomb, not a site.
MAX_ALIASES = 20_000
MAX_ALIAS_VALUES = 100_000
# A whole file, comments included (tens of MB of comments scan in a fraction of a second)…
MAX_FILE_BYTES = 64 * 1024 * 1024
# …and the YAML outside comment lines: four times a 100 000-entry inline routing list.
MAX_CONTENT_BYTES = 16 * 1024 * 1024
_COMMENT_OR_BLANK_LINE = re.compile(r"^[ \t]*(?:#[^\n\r]*)?(?:\r\n|\n|\r)", re.M)


class _Parser(CParser):
    """libyaml with no implicit typing: every scalar is text (only `<<` means merge)."""

    def resolve(self, kind, value, implicit):
        # implicit is (plain, quoted) for scalars: only a plain `<<` merges
        if kind is yaml.ScalarNode and value == "<<" and implicit[0]:
            return _MERGE_TAG
        return _STR_TAG

    def descend_resolver(self, current_node, current_index):
        pass

    def ascend_resolver(self):
        pass


class SourceMap:
    """Line numbers (1-based) of values and keys, by key path, read off the node tree."""

    def __init__(self, file: str, root: yaml.Node | None = None):
        self.file = file
        self._root = root
        self._index: dict[int, dict[str, tuple[yaml.Node, yaml.Node]]] = {}

    def release(self) -> None:
        """Take the node tree apart one node at a time. Dropped whole, a large site's tree
        (a million nodes and marks) is freed in one C-level cascade that holds the GIL for
        50-150 ms; a service dropping a replaced site would stall its event loop that long.
        Only this map refers to the nodes, so taking them apart changes nothing else; the
        map then knows no lines."""
        stack = [self._root] if self._root is not None else []
        self._root = None
        self._index.clear()
        while stack:
            node = stack.pop()
            children = node.value
            if type(children) is not list:
                continue
            while children:
                child = children.pop()
                if type(child) is tuple:
                    stack.extend(child)
                elif type(child) is not yaml.ScalarNode:
                    stack.append(child)

    def line_of(self, path: Path_) -> int | None:
        """Line of the key (or list item) at `path`, or of its nearest known ancestor."""
        node = self._root
        if node is None:
            return None
        line = node.start_mark.line + 1
        for part in path:
            found = self._child(node, part, 0)
            if found is None:
                break
            where, node = found
            line = where.start_mark.line + 1
        return line

    def _child(self, node: yaml.Node, part: str | int, depth: int) -> tuple[yaml.Node, yaml.Node] | None:
        if isinstance(node, yaml.SequenceNode):
            if isinstance(part, int) and 0 <= part < len(node.value):
                item = node.value[part]
                return item, item
            return None
        if not isinstance(node, yaml.MappingNode) or not isinstance(part, str) or depth > MAX_DEPTH:
            return None
        index = self._index.get(id(node))
        if index is None:
            index = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _MERGE_TAG:
                    index.setdefault(key_node.value, (key_node, value_node))
            self._index[id(node)] = index
        if part in index:
            return index[part]
        for key_node, value_node in node.value:  # then what `<<` merged in, first source first
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for src in sources:
                    found = self._child(src, part, depth + 1)
                    if found is not None:
                        return found
        return None


@dataclass
class LoadedYaml:
    data: Any
    source: SourceMap
    problems: list[Problem]


def too_large(filename: str) -> Problem:
    return Problem(filename, None, "", f"file is larger than {MAX_FILE_BYTES // 2**20} MB; not a site file")


def check_size(text: str, filename: str) -> Problem | None:
    """A file too large to be a site, before libyaml spends seconds on it."""
    if len(text) > MAX_FILE_BYTES:
        return too_large(filename)
    if len(text) > MAX_CONTENT_BYTES:
        content = len(text) - sum(len(m.group()) for m in _COMMENT_OR_BLANK_LINE.finditer(text))
        if content > MAX_CONTENT_BYTES:
            return Problem(
                filename, None, "", f"more than {MAX_CONTENT_BYTES // 2**20} MB of YAML (comments apart); not a site file"
            )
    return None


def load_yaml_text(text: str, filename: str) -> LoadedYaml:
    source = SourceMap(filename)
    problems: list[Problem] = []
    too_big = check_size(text, filename)
    if too_big is not None:
        return LoadedYaml(None, source, [too_big])
    try:
        node = _Parser(text.encode("utf-8", "surrogatepass")).get_single_node()
    except yaml.MarkedYAMLError as exc:
        problems.append(_syntax_problem(exc, text, filename))
        return LoadedYaml(None, source, problems)
    except yaml.reader.ReaderError as exc:
        problems.append(_reader_problem(exc, text, filename))
        return LoadedYaml(None, source, problems)
    except yaml.YAMLError as exc:
        problems.append(Problem(filename, None, "", f"YAML error: {exc}"))
        return LoadedYaml(None, source, problems)
    if node is None:
        return LoadedYaml({}, source, problems)
    source = SourceMap(filename, node)
    builder = _Builder(filename, problems)
    try:
        data = builder.build(node, (), 0)
    except _Refused as exc:
        problems.append(exc.problem)
        return LoadedYaml(None, source, problems)
    return LoadedYaml(data, source, problems)


# --- node tree -> plain data ------------------------------------------------------------


class _Refused(Exception):
    """The file is a bomb or a loop: stop building, report this one problem."""

    def __init__(self, problem: Problem):
        self.problem = problem


class _Builder:
    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems
        # id(node) -> its data, for collections met again through an alias (shared, not copied)
        self.built: dict[int, Any] = {}
        # id(node) -> values in it, counting what its own aliases expand to
        self.sizes: dict[int, int] = {}
        self.seen: set[int] = set()
        self.values = 0
        self.aliases = 0
        self.alias_values = 0

    def refuse(self, line: int, path: Path_, message: str) -> None:
        raise _Refused(Problem(self.file, line, format_path(path), message))

    def build(self, node: yaml.Node, path: Path_, depth: int, owner: yaml.Node | None = None) -> Any:
        """`owner` is the key or list holding `node`: an alias has no mark of its own."""
        key = id(node)
        if key in self.seen:
            return self._again(node, path, owner or node)
        self.seen.add(key)
        self.values += 1
        if type(node) is yaml.ScalarNode:
            if not node.style and node.value in _NULLS:
                return None
            return node.value
        if depth >= MAX_DEPTH:
            self.refuse(node.start_mark.line + 1, path, f"nested more than {MAX_DEPTH} levels deep")
        start = self.values
        if type(node) is yaml.SequenceNode:
            result: Any = []
            self.built[key] = None  # in progress: met again before it is done = an alias inside itself
            seen = self.seen
            for i, item in enumerate(node.value):
                if type(item) is yaml.ScalarNode and id(item) not in seen:  # inline: most values
                    seen.add(id(item))
                    self.values += 1
                    result.append(None if not item.style and item.value in _NULLS else item.value)
                else:
                    result.append(self.build(item, path + (i,), depth + 1, node))
        else:
            result = self._mapping(node, path, depth)
        self.built[key] = result
        self.sizes[key] = self.values - start + 1
        return result

    def _again(self, node: yaml.Node, path: Path_, owner: yaml.Node) -> Any:
        key = id(node)
        line = owner.start_mark.line + 1
        if type(node) is yaml.ScalarNode:
            size, value = 1, (None if not node.style and node.value in _NULLS else node.value)
        else:
            value = self.built[key]
            if value is None:
                self.refuse(line, path, "an alias refers to a value that contains it (a loop)")
            size = self.sizes[key]
        self.aliases += 1
        self.alias_values += size
        self.values += size
        if self.aliases > MAX_ALIASES:
            self.refuse(line, path, f"more than {MAX_ALIASES} aliases")
        if self.alias_values > MAX_ALIAS_VALUES:
            self.refuse(line, path, f"aliases expand to more than {MAX_ALIAS_VALUES} values")
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        self.built[id(node)] = None
        seen = self.seen
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                sources = value_node.value if type(value_node) is yaml.SequenceNode else [value_node]
                for src in sources:
                    value = self.build(src, path, depth + 1, key_node)
                    if isinstance(value, dict):
                        for k, v in value.items():
                            merged.setdefault(k, v)
                continue
            if type(key_node) is not yaml.ScalarNode:
                line = key_node.start_mark.line + 1
                self.problems.append(Problem(self.file, line, format_path(path), "a key must be a plain value"))
                continue
            key = key_node.value
            if key in result:
                key_path = path + (key,)
                first = next(k.start_mark.line + 1 for k, _ in node.value if k.value == key)
                line = key_node.start_mark.line + 1
                self.problems.append(
                    Problem(self.file, line, format_path(key_path), f"duplicate key (first defined on line {first})")
                )
                continue
            if type(value_node) is yaml.ScalarNode and id(value_node) not in seen:  # inline: most values
                seen.add(id(value_node))
                self.values += 1
                result[key] = None if not value_node.style and value_node.value in _NULLS else value_node.value
            else:
                result[key] = self.build(value_node, path + (key,), depth + 1, key_node)
        for k, v in merged.items():
            result.setdefault(k, v)
        return result


# --- libyaml's errors in PyYAML's words -------------------------------------------------

# libyaml's problem texts and PyYAML's for the same mistake; {found} is the token there.
_PROBLEMS = {
    "did not find expected ',' or '}'": "expected ',' or '}}', but got {found}",
    "did not find expected ',' or ']'": "expected ',' or ']', but got {found}",
    "did not find expected key": "expected <block end>, but found {found}",
    "did not find expected '-' indicator": "expected <block end>, but found {found}",
    "did not find expected node content": "expected the node content, but found {found}",
    "did not find expected <document start>": "expected '<document start>', but found {found}",
    "found character that cannot start any token": "found character {char} that cannot start any token",
    "mapping values are not allowed in this context": "mapping values are not allowed here",
    "mapping keys are not allowed in this context": "mapping keys are not allowed here",
    "block sequence entries are not allowed in this context": "block sequence entries are not allowed here",
    "found unexpected document indicator": "found unexpected document separator",
    "did not find expected alphabetic or numeric character": "expected alphabetic or numeric character, but found {char}",
}
# A missing ',' or closing bracket belongs after the last good token, not at the next one
# (usually a line further down).
_MISSING_CLOSER = ("did not find expected ',' or '}'", "did not find expected ',' or ']'")


def _syntax_problem(exc: yaml.MarkedYAMLError, text: str, filename: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = exc.problem or ""
    wording = _PROBLEMS.get(problem)
    if wording is not None and mark is not None:
        found, previous_line = _token_at(text, mark.line, mark.column)
        char = repr(_char_at(text, mark.line, mark.column))
        problem = wording.format(found=repr(found), char=char)
        if exc.problem in _MISSING_CLOSER and previous_line is not None:
            line = previous_line + 1
    if exc.problem == "found undefined alias" and mark is not None:
        problem = f"found undefined alias {_word_at(text, mark.line, mark.column + 1)!r}"
    msg = " ".join(str(p) for p in (exc.context, problem) if p)
    return Problem(filename, line, "", f"YAML syntax error: {msg}")


def _reader_problem(exc: yaml.reader.ReaderError, text: str, filename: str) -> Problem:
    prefix = text.encode("utf-8", "surrogatepass")[: exc.position].decode("utf-8", "replace")
    line = prefix.count("\n") + 1
    what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
    return Problem(filename, line, "", f"YAML error: unacceptable character {what}: {exc.reason}")


def _token_at(text: str, line: int, column: int) -> tuple[str, int | None]:
    """The token libyaml stopped at, and the line where the token before it ended."""
    scanner = _Parser(text.encode("utf-8", "surrogatepass"))
    previous: int | None = None
    block_end: str | None = None  # a block end right there most likely closed an inner block
    try:
        while True:
            token = scanner.get_token()
            if token is None:
                break
            start = (token.start_mark.line, token.start_mark.column)
            if start == (line, column) and isinstance(token, yaml.BlockEndToken):
                block_end = token.id
            elif start >= (line, column):
                return (token.id if start == (line, column) or block_end is None else block_end), previous
            elif block_end is None:
                previous = token.end_mark.line
    except yaml.YAMLError:
        pass
    return block_end or "<stream end>", previous


def _line_text(text: str, line: int) -> str:
    lines = text.splitlines()
    return lines[line] if 0 <= line < len(lines) else ""


def _char_at(text: str, line: int, column: int) -> str:
    row = _line_text(text, line)
    return row[column] if 0 <= column < len(row) else "\0"


def _word_at(text: str, line: int, column: int) -> str:
    match = re.match(r"[^\s,\[\]{}]+", _line_text(text, line)[column:])
    return match.group() if match else ""
