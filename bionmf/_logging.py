"""The package logger. Everything in bionmf logs through ``logging.getLogger("bionmf")``; nothing prints."""

from __future__ import annotations

import logging

logger = logging.getLogger("bionmf")
