"""What a site names on the PBX: prompts and voicemail mailboxes, each with the place in
the YAML that names it (so a FAIL line says what to fix)."""

from __future__ import annotations

from collections.abc import Iterator

from pbxctl.site import model as m

PROMPT_KEYS = ("prompt", "invalid_prompt", "confirm_prompt")


def _walk(value: object, path: str) -> Iterator[tuple[str, str, object]]:
    """(key path, key, value) of every scalar in the dumped site."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
    else:
        yield path, path.rsplit(".", 1)[-1], value


def prompts(site: m.Site) -> dict[str, list[str]]:
    """Prompt name -> the key paths naming it (IVR elements, queue announcements)."""
    found: dict[str, list[str]] = {}
    for path, key, value in _walk(site.model_dump(), ""):
        if key in PROMPT_KEYS and isinstance(value, str) and value:
            found.setdefault(value, []).append(path)
    return found


def mailboxes(site: m.Site) -> dict[str, list[str]]:
    """Mailbox -> the key paths naming it: voicemail elements and `voicemail:BOX`
    destinations (fallbacks, overflows, menu options, ...)."""
    found: dict[str, list[str]] = {}
    for path, key, value in _walk(site.model_dump(), ""):
        if not isinstance(value, str):
            continue
        if value.startswith("voicemail:"):
            found.setdefault(value.removeprefix("voicemail:"), []).append(path)
        elif key == "mailbox" and ".elements." in path:
            found.setdefault(value, []).append(path)
    return found
