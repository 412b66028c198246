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

"""ament_python package: installable by colcon on a ROS 2 distro and by pip in a plain venv."""

from glob import glob
from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = 'lightseg_ros'


def recipe_folders() -> list[tuple[str, list[str]]]:
    """
    Return every folder of training recipes under config/train, with its files.

    Installed at the same place under share/ (recipes name their _base_ by relative path, so the
    tree must stay as it is).
    """
    folders = sorted({p.parent for p in Path('config/train').rglob('*.yaml')})
    return [
        (f'share/{PACKAGE}/{d.as_posix()}', sorted(glob(f'{d.as_posix()}/*.yaml')))
        for d in folders
    ]


setup(
    name=PACKAGE,
    version='0.2.0',
    packages=find_packages(exclude=['test', 'test.*']),
    package_data={PACKAGE: ['weights/*.safetensors']},
    data_files=[
        ('share/ament_index/resource_index/packages', [f'resource/{PACKAGE}']),
        (f'share/{PACKAGE}', ['package.xml']),
        (f'share/{PACKAGE}/launch', glob('launch/*.launch.py')),
        (
            f'share/{PACKAGE}/config',
            glob('config/*.yaml') + glob('config/*.rviz') + glob('config/*.xml'),
        ),
        *recipe_folders(),
    ],
    python_requires='>=3.10',
    install_requires=[
        'numpy>=1.24',
        'torch>=2.1',
        'torchvision>=0.16',
        'timm>=0.9',
        'safetensors>=0.4',
        'pyyaml>=6',
        'opencv-python-headless>=4.8',
        'pillow>=9',
        'tqdm>=4.60',
        'rosbags>=0.10',
    ],
    extras_require={
        # ROS 2 Kilted client libraries from PyPI, for machines without a ROS 2 install
        'ros': [
            'ros-rclpy',
            'ros-sensor-msgs',
            'ros-std-msgs',
            'ros-diagnostic-msgs',
            'ros-builtin-interfaces',
            'ros-rcl-interfaces',
            'ros-lifecycle-msgs',
            'ros-rmw-fastrtps-cpp',
        ],
        'train': ['tensorboard>=2.12', 'matplotlib>=3.7'],
        'export': ['onnx>=1.15', 'onnxruntime>=1.17'],
        'test': [
            'pytest>=7',
            'pytest-timeout>=2',
            'colcon-common-extensions',
            'setuptools<80',
            # test/test_lint.py: ament's flake8 and pep257 front ends with the flake8 plugins
            # ament_lint_common uses, pinned: a new plugin release may add checks
            'ros-ament-flake8==0.19.2',
            'ros-ament-pep257==0.19.2',
            'flake8==7.5.0',
            'flake8-blind-except==0.2.1',
            'flake8-builtins==3.1.0',
            'flake8-class-newline==1.6.0',
            'flake8-comprehensions==3.17.0',
            'flake8-deprecated==2.4.0',
            'flake8-docstrings==1.7.0',
            'flake8-import-order==0.19.2',
            'flake8-quotes==3.4.0',
            'pydocstyle==6.3.0',
        ],
    },
    zip_safe=True,
    maintainer='lightseg_ros maintainers',
    maintainer_email='lightseg-ros@users.noreply.github.com',
    description='Lightweight semantic segmentation ROS 2 node, training and evaluation tools.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'lightseg = lightseg_ros.cli:main',
            'segment_node = lightseg_ros.ros.entry:segment_node',
            'segment_lifecycle_node = lightseg_ros.ros.entry:segment_lifecycle_node',
            'image_source = lightseg_ros.ros.entry:image_source',
        ],
    },
)
