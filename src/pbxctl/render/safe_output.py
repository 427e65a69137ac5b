"""The last step of every generator: each value written into a generated file is escaped
or refused, never passed through, and each finished file is checked before any is written.

The site model already refuses what cannot be written (pbxctl.site.values); this is the
second line, in each PBX's own quoting, so a gap in validation or a template change
cannot put text into a file that the PBX reads differently from what pbxctl meant.

- Asterisk reads its config line by line: a newline starts a new line (and `[x]` at its
  start a new context), a NUL ends the line where it stands, `;` starts a comment unless
  written `\\;`, and `;--` opens a comment that runs over the following lines.
- FreeSWITCH reads XML 1.0: `&<>"'` are escaped (Jinja's autoescape does that for plain
  values), and characters XML 1.0 forbids cannot be written at all, not even as `&#1;`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from markupsafe import Markup

from pbxctl.site.values import shown, unsafe_character


class UnsafeOutput(ValueError):
    """A generated file would carry text its PBX reads differently from what was meant."""


def _refuse(value: str) -> None:
    problem = unsafe_character(value)
    if problem is not None:
        raise UnsafeOutput(f"refused to write {shown(value)!r}: {problem.removeprefix('contains ')}")


def asterisk_value(value: object) -> Markup:
    """Jinja `finalize` of the Asterisk templates: every `{{ value }}` passes here, except
    the output of the templates' own macros (Markup), which was built from values that did."""
    if isinstance(value, Markup):
        return value
    text = str(value)
    _refuse(text)
    # Asterisk's config parser removes the backslash of `\;` and keeps the semicolon.
    return Markup(text.replace(";", "\\;"))


def xml_value(value: object) -> object:
    """Jinja `finalize` of the FreeSWITCH templates, before autoescape: refuse what XML 1.0
    cannot hold. Markup (comments, hand-escaped attributes) was escaped by its maker."""
    if isinstance(value, str):
        _refuse(value)
    return value


def comment_text(text: str) -> str:
    """Free text shown in a comment, where nothing can be refused any more and nothing is
    interpreted: anything not plainly visible written as \\xNN. In XML, FreeSWITCH's
    preprocessor also acts on `<X-PRE-PROCESS ...>`, `<!--#...-->` and `$${var}` inside
    comments, so the '<' or '$' that would start one is written escaped too."""
    return _PREPROCESSOR.sub(lambda m: shown(m.group(1), keep=m.group(1)) + m.group(2), shown(text, backslash=False))


# What FreeSWITCH's XML preprocessor acts on wherever it stands, comments included.
_PREPROCESSOR = re.compile(r"([<$])(X-PRE-PROCESS|!--#|\$\{)", re.IGNORECASE)


_UNESCAPED_BLOCK_COMMENT = re.compile(r"(?<!\\);--")
# Asterisk's config reader skips a line that does not fit its 8192-byte buffer.
ASTERISK_LINE_BYTES = 8191


def _visible_lines(name: str, text: str):
    """(number, line) of a generated file, each line holding only visible text."""
    for number, line in enumerate(text.split("\n"), 1):
        problem = unsafe_character(line)
        if problem is not None:
            raise UnsafeOutput(f"{name}:{number}: refused to write {shown(line)!r}: {problem.removeprefix('contains ')}")
        yield number, line


def check_asterisk_file(name: str, text: str) -> str:
    """Every line of a generated Asterisk file holds only visible text, fits Asterisk's
    line buffer, and none opens a comment that would swallow the lines after it."""
    for number, line in _visible_lines(name, text):
        if len(line.encode("utf-8")) >= ASTERISK_LINE_BYTES:
            raise UnsafeOutput(f"{name}:{number}: a line of {len(line.encode('utf-8'))} bytes, which Asterisk would skip")
        if _UNESCAPED_BLOCK_COMMENT.search(line):
            raise UnsafeOutput(f"{name}:{number}: refused to write {line!r}: ';--' would comment out the lines after it")
    return text


def check_xml_file(name: str, text: str) -> str:
    """A generated FreeSWITCH file is well-formed XML of visible text."""
    for _ in _visible_lines(name, text):
        pass
    try:
        ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise UnsafeOutput(f"{name}: the generated XML is not well-formed ({exc})") from None
    return text


def checked(loaded, renderers: dict, check) -> dict[str, str]:
    """Every file of one backend rendered and checked; nothing is returned (so nothing
    written) unless every one passes. A refusal names the file."""
    files = {}
    for name, render in renderers.items():
        try:
            text = render(loaded)
        except UnsafeOutput as exc:
            raise UnsafeOutput(f"{name}: {exc}") from None
        files[name] = check(name, text)
    return files
