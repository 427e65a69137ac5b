"""AMI wire format: CRLF-separated 'Key: Value' lines, a blank line ends a message."""

from __future__ import annotations


def encode_action(fields: dict[str, str]) -> bytes:
    lines = []
    for key, value in fields.items():
        text = str(value)
        if "\r" in text or "\n" in text:
            raise ValueError(f"AMI field {key} contains a line break")
        lines.append(f"{key}: {text}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def parse_message(block: bytes) -> dict[str, str]:
    """One message; repeated keys (Output:) are joined with newlines."""
    message: dict[str, str] = {}
    for raw in block.decode("utf-8", "replace").split("\r\n"):
        if not raw:
            continue
        key, sep, value = raw.partition(":")
        if not sep:
            key, value = "Output", raw
        value = value[1:] if value.startswith(" ") else value
        if key in message:
            message[key] += "\n" + value
        else:
            message[key] = value
    return message
