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

"""
Percentiles as the measuring tools report them: a tail percentile only where the samples hold one.

The 99th percentile of 30 samples is numpy's interpolation between the two slowest, 71% of the way
to the largest: a maximum under another name. A tail percentile ``q`` needs at least
``100 / (100 - q)`` samples (100 for p99) for one sample to lie above it; with fewer, the tools
report ``None`` for it beside the maximum, which they always give.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ['percentile', 'samples_for', 'shown']


def samples_for(q: float) -> int:
    """Return how many samples a percentile ``q`` needs: 1 up to the median, 100 for p99."""
    if q <= 50:
        return 1
    return math.inf if q >= 100 else math.ceil(100 / (100 - q) - 1e-9)


def percentile(values: Sequence[float], q: float, digits: int | None = None) -> float | None:
    """Return the ``q``-th percentile of ``values``, or None where they are too few to hold it."""
    if len(values) < samples_for(q) or not len(values):
        return None
    value = float(np.percentile(np.asarray(values, dtype=np.float64), q))
    return round(value, digits) if digits is not None else value


def shown(value: float | None, spec: str = '.1f') -> str:
    """Format a figure for a printed line: ``-`` where there is none."""
    return '-' if value is None else format(value, spec)
