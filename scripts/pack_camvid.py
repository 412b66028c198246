#!/usr/bin/env python3
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
Write a JPEG copy of CamVid small enough to carry to a lent GPU machine.

Frames as JPEG (quality 95, no chroma subsampling: scores within 0.1 mIoU of the PNGs), label
PNGs copied unchanged, no split lists (the dataset then lists the folders).
``python3 scripts/pack_camvid.py /path/to/camvid .data/camvid_jpg``
"""

from pathlib import Path
import shutil
import sys

from PIL import Image


def main(src: Path, dst: Path) -> int:
    total = 0
    for split in ('train', 'val'):
        for sub, frames in ((split, True), (f'{split}annot', False)):
            (dst / sub).mkdir(parents=True, exist_ok=True)
            for path in sorted((src / sub).glob('*.png')):
                if frames:
                    out = dst / sub / (path.stem + '.jpg')
                    with Image.open(path) as im:
                        im.convert('RGB').save(out, quality=95, subsampling=0)
                else:
                    out = dst / sub / path.name
                    shutil.copyfile(path, out)
                total += out.stat().st_size
    print(f'{dst}: {total / 2**20:.1f} MiB')
    return 0


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: pack_camvid.py CAMVID_ROOT OUTPUT_DIR')
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
