# Copyright 2026 lightseg_ros contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Values quoted in one-line messages about input that came from outside."""

from __future__ import annotations

import reprlib
from typing import Any

__all__ = ['shown_value']

# reprlib stops at a few levels and a few items per container, so the cost of rendering is bounded
# whatever the value: ``repr`` of a YAML alias bomb (a few hundred bytes that expand to billions of
# items) took 49 s and 9 GB before the message cut it short
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxlist, _REPR.maxtuple, _REPR.maxdict, _REPR.maxset = 3, 6, 6, 6, 6
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = 80


def shown_value(value: Any, width: int = 60) -> str:
    """Return a short rendering of ``value`` (at most ``width`` characters) for a message."""
    text = _REPR.repr(value)
    return text if len(text) <= width else text[: width - 3] + '...'
