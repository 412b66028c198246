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
The linters of ament_lint_common, as ament's generated test files run them.

flake8 with ament's configuration, pep257 in ament's convention, the Apache-2.0 header that
ament_copyright expects, and well-formed XML (ament_xmllint). Each runs from the package root, so
that ``make test`` and ``colcon test`` check the same files. Folders starting with ``.`` or ``_``
(``.venv`` among them) are skipped, as ament skips them, and so are the outputs of builds and runs.
"""

import os
from pathlib import Path
import re
import xml.etree.ElementTree as ElementTree

from ament_flake8.main import main_with_errors
from ament_pep257.main import main as pep257_main
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: top-level folders that hold no source: colcon's and pip's build trees, training runs, outputs
OUTPUT_DIRS = ('build', 'install', 'log', 'runs', 'outputs')

#: the Apache-2.0 header of ament_copyright's ``apache2`` licence, after a copyright line
COPYRIGHT_LINE = re.compile(r'# Copyright \d{4}(-\d{4})?(, \d{4}(-\d{4})?)* \S.*')
LICENSE_LINES = [
    '#',
    '# Licensed under the Apache License, Version 2.0 (the "License");',
    '# you may not use this file except in compliance with the License.',
    '# You may obtain a copy of the License at',
    '#',
    '#     http://www.apache.org/licenses/LICENSE-2.0',
    '#',
    '# Unless required by applicable law or agreed to in writing, software',
    '# distributed under the License is distributed on an "AS IS" BASIS,',
    '# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.',
    '# See the License for the specific language governing permissions and',
    '# limitations under the License.',
]


@pytest.fixture
def at_root(monkeypatch):
    """Run the test from the package root, as ``colcon test`` does."""
    monkeypatch.chdir(ROOT)


def source_files(suffix: str) -> list[Path]:
    """Return the package's files ending in ``suffix``, skipping what ament and its tests skip."""
    found = []
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = sorted(
            d
            for d in subfolders
            if d[0] not in '._' and not (Path(folder) == ROOT and d in OUTPUT_DIRS)
        )
        found += [Path(folder, f) for f in sorted(files) if f.endswith(suffix)]
    return found


def has_copyright_header(text: str) -> bool:
    """Tell whether ``text`` starts with a copyright line and the Apache-2.0 licence header."""
    lines = text.splitlines()
    while (
        lines
        and lines[0].startswith('#')
        and (lines[0].startswith('#!') or 'coding:' in lines[0] or 'coding=' in lines[0])
    ):
        lines.pop(0)
    head = lines[: 1 + len(LICENSE_LINES)]
    return (
        bool(head) and COPYRIGHT_LINE.fullmatch(head[0]) is not None and head[1:] == LICENSE_LINES
    )


@pytest.mark.linter
@pytest.mark.flake8
def test_flake8(at_root):
    excludes = [f'./{d}' for d in OUTPUT_DIRS]
    rc, errors = main_with_errors(argv=['--exclude', *excludes])
    assert rc == 0, f'Found {len(errors)} code style errors / warnings:\n' + '\n'.join(errors)


@pytest.mark.linter
@pytest.mark.pep257
def test_pep257(at_root, capsys):
    rc = pep257_main(argv=['.', 'test', '--exclude', *OUTPUT_DIRS])
    problems = capsys.readouterr().err  # one line per finding, then their count
    assert rc == 0, 'Found code style errors / warnings:\n' + problems


@pytest.mark.linter
@pytest.mark.copyright
def test_copyright():
    files = source_files('.py')
    assert len(files) > 50, files  # the walk found the package, not an empty folder
    lacking = [
        str(path.relative_to(ROOT))
        for path in files
        if not has_copyright_header(path.read_text(encoding='utf-8'))
    ]
    assert not lacking, (
        'Files without the Apache-2.0 copyright header (see test/test_lint.py):\n'
        + '\n'.join(lacking)
    )


@pytest.mark.linter
@pytest.mark.xmllint
def test_xmllint():
    files = source_files('.xml')
    assert ROOT / 'package.xml' in files
    malformed = []
    for path in files:
        try:
            ElementTree.parse(path)
        except ElementTree.ParseError as exc:
            malformed.append(f'{path.relative_to(ROOT)}: {exc}')
    assert not malformed, 'Malformed XML:\n' + '\n'.join(malformed)
