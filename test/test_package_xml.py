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
What a robot install needs from the package's metadata.

Rosdep keys that resolve, a licence, a changelog.
"""

from pathlib import Path
import re

from catkin_pkg.package import parse_package
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_every_dependency_is_a_known_rosdep_key_on_kilted():
    known = {
        key: source
        for source, keys in yaml.safe_load(
            (ROOT / 'test' / 'rosdep_keys.yaml').read_text()
        ).items()
        for key in keys
    }
    package = parse_package(str(ROOT / 'package.xml'))
    package.validate()  # format 3, well-formed, required fields
    keys = {
        d.name
        for group in (
            package.build_depends,
            package.buildtool_depends,
            package.exec_depends,
            package.test_depends,
        )
        for d in group
    }
    unknown = sorted(keys - set(known))
    assert not unknown, f'package.xml keys that rosdep cannot resolve on Kilted: {unknown}'
    # what the code imports when present must be declared, so robots get it
    assert {'vision_msgs', 'lifecycle_msgs', 'python3-onnxruntime-pip', 'ros2bag'} <= keys
    assert 'python3-safetensors-pip' not in keys and 'ament_python' not in keys


def test_versions_licence_and_changelog_agree():
    package = parse_package(str(ROOT / 'package.xml'))
    setup_py = (ROOT / 'setup.py').read_text()
    assert f"version='{package.version}'" in setup_py
    from lightseg_ros import __version__

    assert __version__ == package.version  # it said 0.1.0 beside 0.2.0
    assert package.licenses == ['Apache-2.0'] and "license='Apache-2.0'" in setup_py
    licence = (ROOT / 'LICENSE').read_text()
    assert 'Apache License' in licence and 'Version 2.0, January 2004' in licence
    changelog = (ROOT / 'CHANGELOG.rst').read_text()
    assert re.search(rf'^{re.escape(package.version)} \(\d{{4}}-\d\d-\d\d\)\n-+$', changelog, re.M)
    maintainer = package.maintainers[0]
    assert maintainer.email and maintainer.email in setup_py and maintainer.name in setup_py
