"""Strict path and query parameters: integers written plainly, so ``1_0``, ``+1``, `` 1`` or ``01`` are refused."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}", re.ASCII)
_SECONDS = re.compile(r"(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,6})?", re.ASCII)
MAX_INDEX = 2**63 - 1  # the largest index a BIGINT column holds


def _plain_integer(value: Any) -> Any:
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError("must be a plain decimal integer (digits only, no sign, spaces, underscores or leading "
                         "zeros)")
    return value


def _plain_seconds(value: Any) -> Any:
    if isinstance(value, str) and not _SECONDS.fullmatch(value):
        raise ValueError("must be a plain decimal number of seconds like 2 or 0.5")
    return value


PlainInt = Annotated[int, BeforeValidator(_plain_integer)]
PlainSeconds = Annotated[float, BeforeValidator(_plain_seconds)]
