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
Models from other installed packages, found through the ``lightseg_ros.models`` entry points.

A researcher's package declares, in its ``pyproject.toml``::

    [project.entry-points."lightseg_ros.models"]
    my_models = "my_package.seg_models"

and ``my_package/seg_models.py`` decorates its builders with
:func:`lightseg_ros.models.register_model`. Once that package is installed in the same
environment, its models train, export, run in the node and are benchmarked and scored by name
like the built-in ones, with no change to lightseg_ros. Entry points are the standard library's
plugin mechanism (``importlib.metadata``), the one pip installs and colcon's Python packages
expose too.

A plugin that fails to import, or registers a name that is taken, is reported in one line that
names it (a warning, and again in the "unknown model" message); the built-in models and the other
plugins stay available. Plugins are loaded once, after the built-in models, in name order.
"""

from __future__ import annotations

from importlib import metadata
import logging

__all__ = ['ENTRY_POINT_GROUP', 'load_plugins', 'plugin_problems']

ENTRY_POINT_GROUP = 'lightseg_ros.models'

_problems: list[str] = []
_loaded = False


def _one_line(exc: BaseException) -> str:
    text = ' '.join(str(exc).split()) or 'no message'
    return f'{type(exc).__name__}: {text[:300]}'


def load_plugins() -> list[str]:
    """
    Import every ``lightseg_ros.models`` entry point once; return the problems (one line each).

    Importing a plugin registers its models (its module runs ``register_model``).
    """
    global _loaded
    if _loaded:
        return list(_problems)
    _loaded = True
    try:
        entry_points = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    except Exception as exc:  # noqa: BLE001 - a broken installed distribution's metadata
        entry_points = []
        _problems.append(f'model plugins could not be listed: {_one_line(exc)}')
    from .registry import _REGISTRY

    for ep in entry_points:
        before = dict(_REGISTRY)
        try:
            ep.load()
        except Exception as exc:  # noqa: BLE001 - third-party code: any error is that plugin's
            # all or nothing: models it registered before failing are taken out again, so that
            # "was not loaded" holds and no half-imported module's builder is ever called
            _REGISTRY.clear()
            _REGISTRY.update(before)
            dist = getattr(ep, 'dist', None)
            owner = f' from {dist.name} {dist.version}' if dist is not None else ''
            _problems.append(
                f'model plugin {ep.name!r} ({ep.value}{owner}) was not loaded: {_one_line(exc)}'
            )
    log = logging.getLogger('lightseg_ros')
    for line in _problems:
        log.warning('%s; the other models are available', line)
    return list(_problems)


def plugin_problems() -> list[str]:
    """Return the lines of the plugins that did not load (empty when every one did)."""
    return list(_problems)
