"""The services' log format: structlog key=value lines on stderr, snake_case event names.

Libraries that log through the standard library (aiohttp, panoramisk) come out in the
same key=value shape, at WARNING and above; their chatter at INFO is not the service's.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

import structlog

from pbxctl.site.secrets import redact

_SHARED = [
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
_RENDERERS = {
    "text": structlog.processors.KeyValueRenderer(key_order=["timestamp", "level", "event"], sort_keys=True),
    # For log shippers: one JSON object per line.
    "json": structlog.processors.JSONRenderer(sort_keys=True),
}
LOG_FORMATS = tuple(_RENDERERS)
ENV_VAR = "PBXCTL_LOG_FORMAT"


def redact_secrets(_logger, _name, event_dict: dict) -> dict:
    """Every string field (and strings in list fields) scrubbed of the secrets resolved so
    far: the last processor before the renderer, for pbxctl's and the libraries' lines."""
    def clean(value):
        if isinstance(value, str):
            return redact(value)
        if isinstance(value, (list, tuple)):
            return type(value)(clean(v) for v in value)
        return value

    return {key: clean(value) for key, value in event_dict.items()}


class UnknownLogFormat(ValueError):
    pass


def choose_log_format(option: str | None, site_setting: str | None, environ: Mapping[str, str] = os.environ) -> str:
    """The command-line option wins, then PBXCTL_LOG_FORMAT, then `service.log_format`."""
    for source, value in (("--log-format", option), (ENV_VAR, environ.get(ENV_VAR)), ("service.log_format", site_setting)):
        if value:
            if value not in LOG_FORMATS:
                raise UnknownLogFormat(f"{source}: {value!r} is not a log format (one of: {', '.join(LOG_FORMATS)})")
            return value
    return "text"


def configure_logging(log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, redact_secrets,
                        _RENDERERS[log_format]],
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
