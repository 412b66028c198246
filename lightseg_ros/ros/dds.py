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
DDS transport choices for the processes lightseg starts: the one place that knows them.

Pure, no rclpy.

Nothing in lightseg sets a DDS variable on itself: a participant configured differently from the
camera driver, rviz2 or the ros2 CLI may not see them at all (a Fast DDS participant with
``FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`` and one with the stock transports never match). A choice
here is applied on purpose, to every process a launch file or a lightseg command starts, and should
be applied the same way system-wide (README, "DDS transports"):

* ``default``: nothing set; the environment's own configuration (stock: UDP, plus shared memory for
  small samples). Interoperates with everything; camera-sized frames need reliable QoS.
* ``large_data``: Fast DDS's ``LARGE_DATA`` builtin transports (TCP and shared memory for data,
  UDP for discovery only). Fast for large frames, but only towards participants set the same way.
* ``shm``: the package's Fast DDS profile (``config/fastdds_shm.xml``): the stock UDP transport
  plus shared memory with segments large enough for a camera frame. Participants without the
  profile still match (over UDP); those with it exchange frames through shared memory.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
import sys

__all__ = [
    'DDS_TRANSPORTS',
    'DDS_VARIABLES',
    'dds_environment',
    'shm_profile_path',
    'use_dds_transport',
]

DDS_TRANSPORTS: tuple[str, ...] = ('default', 'large_data', 'shm')
#: every variable a choice may set; a process started for another choice gets none of them from us
DDS_VARIABLES: tuple[str, ...] = (
    'FASTDDS_BUILTIN_TRANSPORTS',
    'FASTDDS_DEFAULT_PROFILES_FILE',
    'FASTRTPS_DEFAULT_PROFILES_FILE',
)
_PROFILE = 'fastdds_shm.xml'


def shm_profile_path() -> Path:
    """
    Return the Fast DDS XML profile of the ``shm`` choice.

    It is in the installed share folder, else in the checkout.
    """
    here = Path(__file__).resolve()
    candidates = [
        here.parents[1] / 'config' / _PROFILE,  # inside the package
        # a pip install (wheel or not editable) puts the data files under the prefix's share/
        Path(sys.prefix) / 'share' / 'lightseg_ros' / 'config' / _PROFILE,
        here.parents[2] / 'config' / _PROFILE,  # the source checkout
    ]
    try:  # a colcon install keeps config/ in share/lightseg_ros
        from ament_index_python.packages import get_package_share_directory

        candidates.insert(
            0, Path(get_package_share_directory('lightseg_ros')) / 'config' / _PROFILE
        )
    # not in an ament index: fall back to the files beside the code
    except Exception:  # noqa: BLE001
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f'Fast DDS profile {_PROFILE} not found (looked in {", ".join(map(str, candidates))})'
    )


def dds_environment(choice: str) -> dict[str, str]:
    """
    Return the environment variables a DDS transport choice sets (empty for ``default``).

    Raises ValueError naming the accepted choices.
    """
    if choice == 'default':
        return {}
    if choice == 'large_data':
        return {'FASTDDS_BUILTIN_TRANSPORTS': 'LARGE_DATA'}
    if choice == 'shm':
        path = str(shm_profile_path())
        # Fast DDS 3 reads FASTDDS_DEFAULT_PROFILES_FILE; Fast DDS 2 (Humble, Jazzy) the older name
        return {'FASTDDS_DEFAULT_PROFILES_FILE': path, 'FASTRTPS_DEFAULT_PROFILES_FILE': path}
    raise ValueError(f'unknown DDS transport {choice!r}; accepted: {", ".join(DDS_TRANSPORTS)}')


def use_dds_transport(choice: str | None, environ: MutableMapping[str, str]) -> None:
    """
    Make ``environ`` use ``choice``: our variables removed, the choice's set.

    ``environ`` is a child's environment, or ``os.environ`` before ``rclpy.init``. None leaves
    ``environ`` as it is (the system's settings).
    """
    if choice is None:
        return
    settings = dds_environment(choice)  # ValueError before anything changes
    for name in DDS_VARIABLES:
        environ.pop(name, None)
    environ.update(settings)
