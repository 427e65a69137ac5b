"""The services' log format: structlog key=value lines on stderr, snake_case event names.

Libraries that log through the standard library (aiohttp, panoramisk) come out in the
same key=value shape, at WARNING and above; their chatter at INFO is not the service's.
"""

from __future__ import annotations

import logging

import structlog

_SHARED = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_RENDER = structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"], sort_keys=True)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, _RENDER],
            foreign_pre_chain=[*_SHARED, structlog.stdlib.ExtraAdder()],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("pbxctl").setLevel(logging.INFO)
    structlog.configure(
        processors=[*_SHARED, structlog.processors.format_exc_info, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
