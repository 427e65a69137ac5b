"""Names the PBXs give a meaning of their own, which validation therefore refuses as
element and queue names (they become dialplan extensions)."""

from __future__ import annotations

# Extensions Asterisk treats specially; an element or queue named so would misfire.
ASTERISK_RESERVED_EXTENSIONS = frozenset({"s", "i", "t", "h", "e", "o", "a", "T", "fax", "talk", "default"})
