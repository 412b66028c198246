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
``lightseg predict``.

Inputs and output names, images and videos end to end, bad input, and the same outputs as the
node for the same frame (the node as a real process over DDS).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import uuid

import cv2
from lightseg_ros.classes import CAMVID_CLASSES, CAMVID_COLORS
from lightseg_ros.cli import main
from lightseg_ros.inference import colorize, encode_image, overlay
from lightseg_ros.inference.predict import collect_inputs
from lightseg_ros.sources import FrameSourceError, read_image, road_scene
import numpy as np
import pytest
from ros_harness import start_node_and_probe
from sensor_msgs.msg import Image
import torch

H, W = 96, 128


def write_rgb(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def write_video(path: Path, frames: int, fps: float) -> list[np.ndarray]:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (W, H))
    images = [road_scene(W, H, t=i * 0.2)[0] for i in range(frames)]
    for rgb in images:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return images


def read_png(path: Path) -> np.ndarray:
    """As written: one channel stays one channel; colour comes back RGB."""
    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert data is not None, f'{path} missing or unreadable'
    return data if data.ndim == 2 else cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def test_inputs_keep_sub_folders_and_never_collide(tmp_path, monkeypatch):
    for name in (
        'data/a.png',
        'data/sub/b.png',
        'data/sub/b.jpg',
        'data/notes.txt',
        'other/a.png',
        'data/sub.mp4',
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b'x')  # names only: collect_inputs reads no pixels
    (tmp_path / 'empty').mkdir()
    monkeypatch.chdir(tmp_path)
    inputs, skipped = collect_inputs(
        [
            'data',
            'other/a.png',
            'data/sub/*.png',
            'data/sub.mp4',
            'missing.png',
            'nomatch/*.png',
            'empty',
        ]
    )
    assert [(i.path.relative_to(tmp_path).as_posix(), i.kind, i.name) for i in inputs] == [
        ('data/a.png', 'image', 'data/a'),
        ('data/sub/b.jpg', 'image', 'data/sub/b.jpg'),  # b.jpg and b.png would both be data/sub/b
        ('data/sub/b.png', 'image', 'data/sub/b.png'),  # named twice (folder, glob), taken once
        ('other/a.png', 'image', 'other/a'),
        (
            'data/sub.mp4',
            'video',
            'data/sub.mp4',
        ),  # its frame folders would be the folder data/sub
    ]
    assert [(s.input, s.problem) for s in skipped] == [
        ('missing.png', 'missing.png does not exist'),
        ('nomatch/*.png', 'nomatch/*.png matches no files'),
        ('empty', 'folder empty holds no images (.png, .jpg, .jpeg, .bmp, .tif, .tiff, .webp)'),
    ]
    # one folder: names relative to it; an output folder inside it is not an input
    inputs, _ = collect_inputs(['data'], exclude='data/sub')
    assert [i.name for i in inputs] == ['a']


def test_paths_that_are_not_files_say_what_they_are(tmp_path, monkeypatch):
    """A FIFO, a loop of links and a dangling link were all "does not exist"."""
    monkeypatch.chdir(tmp_path)
    os.mkfifo('pipe')
    os.symlink('loop_b', 'loop_a')
    os.symlink('loop_a', 'loop_b')
    os.symlink('gone.png', 'dangling.png')
    inputs, skipped = collect_inputs(['pipe', 'loop_a', 'dangling.png', '/dev/null'])
    assert inputs == []
    assert [(s.input, s.problem) for s in skipped] == [
        ('pipe', 'pipe is a named pipe (FIFO), not an image, video or folder'),
        ('loop_a', 'loop_a cannot be read (Too many levels of symbolic links)'),
        ('dangling.png', 'dangling.png is a link to gone.png, which does not exist'),
        ('/dev/null', '/dev/null is a device, not an image, video or folder'),
    ]


def test_folder_and_video_give_labels_colours_overlays_an_overlay_video_and_a_summary(tmp_path):
    scenes = {
        f'imgs/{n}.png': road_scene(W, H, t=t, seed=s)[0]
        for n, t, s in (('top', 0.0, 1), ('sub/one', 0.5, 2), ('sub/two', 1.0, 3))
    }
    for name, rgb in scenes.items():
        write_rgb(tmp_path / name, rgb)
    (tmp_path / 'imgs/sub/corrupt.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')
    write_video(tmp_path / 'clip.mp4', 5, fps=12.0)
    (tmp_path / 'broken.mp4').write_bytes(b'not a video')
    out = tmp_path / 'out'
    result = subprocess.run(
        [
            sys.executable,
            '-m',
            'lightseg_ros.cli',
            'predict',
            'imgs',
            'clip.mp4',
            'broken.mp4',
            'missing.jpg',
            '--out',
            str(out),
            '--alpha',
            '0.3',
            '--video-frames',
            '--cpu-threads',
            '1',
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Traceback' not in result.stderr
    # one line per bad input, naming it; nothing else on stderr (no progress bar off a terminal, no
    # FFmpeg noise)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 3, result.stderr
    for bad in ('missing.jpg does not exist', 'imgs/sub/corrupt.png', 'broken.mp4'):
        assert sum(bad in line for line in lines) == 1, result.stderr
    assert '8 frames (3 images, 1 videos, 3 inputs skipped)' in result.stdout
    assert 'wrote 8 in label/, 8 in color/, 4 in overlay/' in result.stdout

    palette = np.asarray(CAMVID_COLORS, np.uint8)  # the shipped default model's classes
    for name, rgb in scenes.items():
        stem = name.removesuffix('.png')
        label = read_png(out / 'label' / f'{stem}.png')
        assert label.dtype == np.uint8 and label.shape == (H, W)  # class ids, one channel
        assert label.max() < len(palette) and len(np.unique(label)) >= 2
        assert np.array_equal(read_png(out / 'color' / f'{stem}.png'), colorize(label, palette))
        assert np.array_equal(
            read_png(out / 'overlay' / f'{stem}.png'), overlay(rgb, label, palette, 0.3)
        )
    assert not (out / 'label/imgs/sub/corrupt.png').exists()

    video = cv2.VideoCapture(str(out / 'overlay/clip.mp4'))
    assert video.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    frames = 0
    while (frame := video.read())[0]:
        assert frame[1].shape == (H, W, 3)
        frames += 1
    assert frames == 5
    assert sorted(p.name for p in (out / 'label/clip').iterdir()) == [
        f'{i:06d}.png' for i in range(5)
    ]
    assert len(list((out / 'color/clip').iterdir())) == 5
    assert not (out / 'overlay/broken.mp4').exists()

    summary = json.loads((out / 'summary.json').read_text())
    assert (summary['frames'], summary['images']) == (8, 3)
    # 5 video frames, 1 video
    assert summary['files_written'] == {'label': 3 + 5, 'color': 3 + 5, 'overlay': 3 + 1}
    assert summary['videos'][0]['frames'] == 5 and summary['videos'][0]['fps'] == pytest.approx(
        12.0
    )
    assert sorted(Path(s['input']).name for s in summary['skipped']) == [
        'broken.mp4',
        'corrupt.png',
        'missing.jpg',
    ]
    assert 0 < summary['latency_ms']['p50'] <= summary['latency_ms']['max']
    assert summary['latency_ms']['p99'] is None  # a few frames hold no p99
    shares = summary['class_pixel_share']
    assert set(shares) == set(CAMVID_CLASSES)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-4) and shares['road'] > 0
    assert not summary['random_weights'] and summary['model'] == 'ghostnet_aspp_da'


def test_a_truncated_video_is_segmented_as_far_as_it_reads_with_one_warning(tmp_path):
    """No FFmpeg lines without the file's name: one line of ours, and the frames it has."""
    from hostile_inputs import short_video

    read = short_video(tmp_path / 'short.avi', 12, (W, H))
    out = tmp_path / 'out'
    result = subprocess.run(
        [sys.executable, '-m', 'lightseg_ros.cli', 'predict', 'short.avi', '--out', str(out)]
        + ['--outputs', 'label', '--video-frames', '--cpu-threads', '1'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith('OPENCV_')},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f'lightseg predict: warning: video {tmp_path / "short.avi"} ended after {read} of the 12 '
        'frames it '
        'declares (truncated or damaged); the frames read were used'
    ]
    assert f'{read} frames (0 images, 1 videos, 0 inputs skipped)' in result.stdout
    assert len(list((out / 'label' / 'short').iterdir())) == read
    (video,) = json.loads((out / 'summary.json').read_text())['videos']
    assert (video['frames'], video['declared_frames']) == (read, 12)
    assert video['problem'].startswith(f'video {tmp_path / "short.avi"} ended after')


def test_a_truncated_video_ends_the_progress_at_its_declared_count(tmp_path, one_torch_thread):
    from hostile_inputs import short_video
    from lightseg_ros.inference import Segmenter
    from lightseg_ros.inference.predict import count_frames, predict

    read = short_video(tmp_path / 'short.avi', 12, (64, 48))
    inputs, _ = collect_inputs([str(tmp_path / 'short.avi')])
    steps, warned = [], []
    segmenter = Segmenter(model='ghostnet_aspp_da', device='cpu', backend='torch')
    summary = predict(
        inputs,
        segmenter,
        tmp_path / 'out',
        outputs=['label'],
        progress=steps.append,
        warn=warned.append,
    )
    assert summary['frames'] == read and len(warned) == 1 and 'short.avi' in warned[0]
    assert sum(steps) == count_frames(inputs) == 12  # the bar reaches its total


def test_a_short_video_line_leaves_estimated_counts_alone():
    from lightseg_ros.sources import short_video_line

    assert short_video_line('a.mkv', 8, 10) is None  # an estimate two frames high
    assert short_video_line('a.mkv', 950, 1000) is None  # within 5% (a variable rate)
    assert short_video_line('a.mkv', 5, 0) is None  # no count declared
    assert short_video_line('a.mkv', 949, 1000) is not None
    assert short_video_line('a.mkv', 7, 10) == (
        'video a.mkv ended after 7 of the 10 frames it declares (truncated or damaged); '
        'the frames read were used'
    )


@pytest.mark.parametrize(
    'args, words',
    [
        (['--model', 'no_such_model'], 'ghostnet_aspp_da'),  # lists the accepted names
        (['--weights', 'missing.safetensors'], 'missing.safetensors'),
        (['--backend', 'torch', '--device', 'tpu'], 'accepted: auto, cpu, cuda'),
    ],
)
def test_bad_model_or_weights_exit_2_with_one_line(
    tmp_path, capsys, args, words, one_torch_thread
):
    image = write_rgb(tmp_path / 'a.png', road_scene(W, H)[0])
    assert (
        main(['predict', str(image), '--out', str(tmp_path / 'out'), '--cpu-threads', '1', *args])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('lightseg predict: error:') and words in err[0], err


def test_no_usable_input_exits_2_naming_each_file(tmp_path, capsys, one_torch_thread):
    (tmp_path / 'fake.jpg').write_bytes(b'no jpeg')
    assert main(['predict', str(tmp_path / 'missing'), '--out', str(tmp_path / 'out')]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f'lightseg predict: skipped: {tmp_path / "missing"} does not exist'
    assert (
        err[1].startswith('lightseg predict: error: no usable input; accepted: image files (.png')
        and len(err) == 2
    )
    # files that exist but hold no frame: found only when read; the run still ends with 2
    assert (
        main(
            [
                'predict',
                str(tmp_path / 'fake.jpg'),
                '--out',
                str(tmp_path / 'out'),
                '--cpu-threads',
                '1',
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f'lightseg predict: skipped: cannot read image {tmp_path / "fake.jpg"} '
        '(not an image OpenCV decodes, or corrupt)',
        err[1],
    ] and err[1].startswith('lightseg predict: error: no frame could be read')
    with pytest.raises(SystemExit) as exit_info:  # argparse: usage and one error line
        main(['predict', str(tmp_path / 'fake.jpg'), '--alpha', '1.5'])
    assert exit_info.value.code == 2 and 'a number in [0, 1]' in capsys.readouterr().err


def test_predict_writes_exactly_what_the_node_publishes_for_the_same_frame(
    tmp_path, one_torch_thread
):
    """
    Shipped default model and weights, default backend, on both sides.

    The file's pixels are the frame's.
    """
    rgb = road_scene(W, H, t=0.7, seed=5)[0]
    image = write_rgb(tmp_path / 'frame.png', rgb)
    assert np.array_equal(read_image(image), rgb)
    out = tmp_path / 'out'
    # first, so that its ONNX export is in the cache (conftest) when the node starts
    assert (
        main(['predict', str(image), '--out', str(out), '--alpha', '0.3', '--cpu-threads', '1'])
        == 0
    )
    topic = f'/p{uuid.uuid4().hex[:8]}/cam/image'
    out_ns = topic.rsplit('/', 1)[0] + '/segmentation'
    names = ('mask', 'color_mask', 'overlay')

    def prepare(probe):
        for name in names:
            probe.subscribe(Image, f'{out_ns}/{name}')  # RELIABLE
        probe.camera = probe.publisher(Image, topic)  # RELIABLE

    node, probe = start_node_and_probe(
        'lightseg_ros.ros.segment_node',
        [
            '-p',
            f'image_topics:=[{topic}]',
            '-p',
            'overlay_alpha:=0.3',
            '-p',
            f'outputs:=[{", ".join(names)}]',
        ],
        prepare=prepare,
        ready=lambda probe: (
            probe.camera.get_subscription_count() > 0
            and all(probe.node.count_publishers(f'{out_ns}/{n}') > 0 for n in names)
        ),
    )
    publisher = probe.camera
    try:
        msg = Image()
        msg.header.stamp.sec, msg.header.frame_id = 4242, 'cam'
        fields = encode_image(rgb, 'rgb8')
        msg.height, msg.width, msg.encoding = fields['height'], fields['width'], fields['encoding']
        msg.is_bigendian, msg.step, msg.data = (
            fields['is_bigendian'],
            fields['step'],
            fields['data'],
        )

        def send() -> int:
            publisher.publish(msg)  # the same frame each time: its outputs are the same
            return 4242

        got = {n: probe.send_until_answered(send, f'{out_ns}/{n}', 30) for n in names}
    finally:
        probe.close()
        node.stop()
    assert 'shipped' in node.output or 'ghostnet_aspp_da.safetensors' in node.output, node.output
    mask = np.frombuffer(got['mask'].data, np.uint8).reshape(H, W)
    assert len(np.unique(mask)) >= 2  # a real scene, not a one-class image
    label = read_png(out / 'label/frame.png')
    if not torch.cuda.is_available():
        assert np.array_equal(label, mask)
        for name, kind in (('color_mask', 'color'), ('overlay', 'overlay')):
            assert np.array_equal(
                read_png(out / f'{kind}/frame.png'),
                np.frombuffer(got[name].data, np.uint8).reshape(H, W, 3),
            ), name
    else:
        # two processes on CUDA: cuDNN may pick other fp16 kernels in each, and a pixel whose two
        # best classes are within rounding can flip (seen on an H100); the rest must agree
        agree = float((label == mask).mean())
        assert agree >= 0.995, agree
        colour = np.frombuffer(got['color_mask'].data, np.uint8).reshape(H, W, 3)
        assert np.array_equal(
            read_png(out / 'color/frame.png')[label == mask], colour[label == mask]
        )


def test_a_file_claiming_a_huge_image_is_refused_undecoded_and_the_rest_still_runs(
    tmp_path, capsys, one_torch_thread
):
    """The node's bound on input size holds for files too: the header is read, not the pixels."""
    from hostile_inputs import png_claiming

    folder = tmp_path / 'in'
    folder.mkdir()
    (folder / 'a_bomb.png').write_bytes(png_claiming(100_000, 100_000))  # over OpenCV's limit
    (folder / 'b_big.png').write_bytes(png_claiming(8000, 6000))  # 48 Mpix: above 33.2
    write_rgb(folder / 'c_good.png', road_scene(W, H)[0])
    argv = ['predict', str(folder), '--out', str(tmp_path / 'out'), '--cpu-threads', '1']
    assert main(argv + ['--outputs', 'label']) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f'lightseg predict: skipped: image {folder / "a_bomb.png"} declares 10000000000 '
        'pixels in its header, above the 33177600 accepted; not decoded',
        f'lightseg predict: skipped: image {folder / "b_big.png"} declares 8000x6000 = 48000000 '
        'pixels in its header, above the 33177600 accepted; not decoded',
    ]
    assert [p.name for p in (tmp_path / 'out' / 'label').iterdir()] == ['c_good.png']
    with pytest.raises(FrameSourceError, match='declares 8000x6000'):
        read_image(folder / 'b_big.png')
    assert read_image(folder / 'c_good.png', max_pixels=W * H).shape == (H, W, 3)
    with pytest.raises(FrameSourceError, match=f'above the {W * H - 1} accepted'):
        read_image(folder / 'c_good.png', max_pixels=W * H - 1)


def test_a_video_above_the_pixel_limit_is_refused_undecoded_naming_it(
    tmp_path, capsys, monkeypatch, one_torch_thread
):
    """
    A 6000x6000 MJPG was decoded frame by frame, each refused in words naming no file.

    The words also named a setting predict does not have. The size the video declares is
    checked first; the next input still runs.
    """
    import lightseg_ros.inference.predict as predict_module

    write_video(tmp_path / 'big.mp4', 3, 10.0)
    write_rgb(tmp_path / 'small.png', road_scene(W // 2, H // 2)[0])
    build = predict_module.build_segmenter
    monkeypatch.setattr(  # the limit just under the video's frames, as 33.2 Mpix is under 36
        predict_module,
        'build_segmenter',
        lambda *a, **k: build(*a, **k, max_input_pixels=W * H - 1),
    )
    monkeypatch.setattr(
        predict_module, 'video_frames', lambda *a, **k: pytest.fail('a frame was decoded')
    )
    argv = [str(tmp_path / 'big.mp4'), str(tmp_path / 'small.png'), '--out', str(tmp_path / 'out')]
    assert main(['predict', *argv, '--outputs', 'label', '--cpu-threads', '1']) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f'lightseg predict: skipped: video {tmp_path / "big.mp4"} is {W}x{H} = {W * H} pixels a '
        f'frame, above the {W * H - 1} accepted; not segmented'
    ]
    summary = json.loads((tmp_path / 'out' / 'summary.json').read_text())
    assert (summary['images'], summary['videos'], len(summary['skipped'])) == (1, [], 1)


def test_a_name_too_long_or_with_a_newline_is_one_line_naming_it(
    tmp_path, capsys, monkeypatch, one_torch_thread
):
    """
    A 300-character name ended in ``OSError: [Errno 36]``; a newline in a name forged a line.

    A name with a control character is shown quoted, with escapes; other names as they are.
    """
    monkeypatch.chdir(tmp_path)
    long = 'n' * 300
    inputs, skipped = collect_inputs([long, f'{long}/*.png'])
    assert inputs == [] and [(s.input, s.problem) for s in skipped] == [
        (long, f'{long} cannot be read (File name too long)'),
        (f'{long}/*.png', f'{long}/*.png cannot be read (File name too long)'),
    ]
    (tmp_path / 'in').mkdir()
    forged = 'in/a\nlightseg predict: error: forged.png'
    Path(forged).write_bytes(b'no png')
    os.symlink('gone\nlightseg predict: error: forged', 'in/link\nx')
    write_rgb(tmp_path / 'in' / 'b.png', road_scene(W, H)[0])
    argv = ['in', 'in/link\nx', '--out', 'out', '--outputs', 'label', '--cpu-threads', '1']
    assert main(['predict', *argv]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "lightseg predict: skipped: 'in/link\\nx' is a link to "
        "'gone\\nlightseg predict: error: forged', which does not exist",
        "lightseg predict: skipped: cannot read image '"
        + str(tmp_path / 'in' / 'a\\nlightseg predict: error: forged.png')
        + "' (not an image OpenCV decodes, or corrupt)",
    ]


def test_a_damaged_frame_in_a_video_is_passed_over_and_the_rest_read(tmp_path):
    """One frame's damage failed one read, and the video ended there (10 of 30 frames)."""
    from lightseg_ros.sources.frames import video_frames

    rng = np.random.default_rng(0)
    mjpg = cv2.VideoWriter_fourcc(*'MJPG')
    writer = cv2.VideoWriter(str(tmp_path / 'v.avi'), mjpg, 10, (64, 48))
    for _ in range(30):  # noise: large JPEGs, one a chunk of the file
        writer.write((rng.random((48, 64, 3)) * 255).astype(np.uint8))
    writer.release()
    data = (tmp_path / 'v.avi').read_bytes()
    for offset in range(2000, len(data) - 4000, 1500):  # a spot whose damage fails one read
        damaged = bytearray(data)
        damaged[offset:offset + 512] = bytes(512)
        (tmp_path / 'd.avi').write_bytes(bytes(damaged))
        capture = cv2.VideoCapture(str(tmp_path / 'd.avi'))
        reads = ''.join('1' if capture.read()[0] else '0' for _ in range(32))
        capture.release()
        if '01' in reads:
            break
    assert '01' in reads, 'no damage fails a single read: the test needs another spot'
    lines = []
    frames = list(video_frames(tmp_path / 'd.avi', on_short=lines.append))
    assert len(frames) == reads.count('1') > reads.index('0')
    assert lines == [
        f'video {tmp_path / "d.avi"}: 1 of its frames could not be decoded (damaged) and were '
        'passed over'
    ]


def test_a_video_declaring_an_absurd_frame_rate_is_written_at_the_fallback_rate(
    tmp_path, monkeypatch, one_torch_thread
):
    """A header saying 100000 fps ended the whole run: the writer refuses more than 65535."""
    from dataclasses import replace

    import lightseg_ros.inference.predict as predict

    real = predict.video_info
    monkeypatch.setattr(predict, 'video_info', lambda path: replace(real(path), fps=100000.0))
    write_video(tmp_path / 'fast.avi', 3, 25.0)
    out = tmp_path / 'out'
    assert main(['predict', str(tmp_path / 'fast.avi'), '--out', str(out)]) == 0
    (video,) = json.loads((out / 'summary.json').read_text())['videos']
    assert video['fps'] == predict.FALLBACK_FPS and (out / 'overlay' / 'fast.mp4').is_file()


def test_kept_suffixes_never_meet_another_inputs_name(tmp_path, monkeypatch):
    """
    Every input gets its own output names.

    x.png, x.jpg and x.png.jpg wrote two files for three images, and y.png.mp4's frame folder was
    y.png's label file.
    """
    files = ['x.png', 'x.jpg', 'x.png.jpg', 'y.png', 'y.png.mp4']
    for name in files:
        (tmp_path / name).write_bytes(b'x')
    monkeypatch.chdir(tmp_path)
    inputs, _ = collect_inputs(files)
    names = {i.path.name: i.name for i in inputs}
    assert names == {
        'x.jpg': 'x.jpg',
        'x.png': 'x.png',
        'x.png.jpg': 'x.png.jpg',
        'y.png': 'y',
        'y.png.mp4': 'y.png.mp4',
    }


def test_inputs_inside_the_output_folder_are_said_to_be_left_out(tmp_path, capsys):
    """``predict two --out two`` dropped every input in silence, then said "no usable input"."""
    write_rgb(tmp_path / 'two' / 'a.png', road_scene(W, H)[0])
    write_rgb(tmp_path / 'two' / 'b.png', road_scene(W, H)[0])
    argv = [str(tmp_path / 'two'), '--out', str(tmp_path / 'two'), '--cpu-threads', '1']
    assert main(['predict', *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == (
        f'lightseg predict: skipped: 2 input file(s) inside the output folder {tmp_path / "two"} '
        '(--out) left out'
    ), err
    assert err[1].startswith('lightseg predict: error: no usable input'), err


def test_an_output_that_cannot_be_written_says_why_and_leaves_no_stale_summary(
    tmp_path, capsys, one_torch_thread
):
    """cv2.imwrite said only "cannot write"; an earlier run's summary stood by the new files."""
    write_rgb(tmp_path / 'in' / 'a.png', road_scene(W, H)[0])
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'summary.json').write_text('{"frames": 99}')  # an earlier run's
    (out / 'color').write_text('not a folder')
    argv = [str(tmp_path / 'in'), '--out', str(out), '--outputs', 'label', 'color']
    assert main(['predict', *argv, '--cpu-threads', '1']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f'lightseg predict: error: cannot write {out / "color"}: File exists'], err
    assert not (out / 'summary.json').exists()
    assert sorted(p.name for p in out.rglob('*')) == ['a.png', 'color', 'label']


def test_a_stopped_run_leaves_no_cut_file_under_a_final_name(tmp_path, monkeypatch):
    """Ctrl-C mid-video left a playable overlay of the frames so far, named as the whole video."""
    import lightseg_ros.inference.predict as predict_module

    write_video(tmp_path / 'v.mp4', 6, 10.0)
    segment = predict_module._Run.segment
    calls = []

    def stop_at_the_fourth_frame(self, image):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return segment(self, image)

    monkeypatch.setattr(predict_module._Run, 'segment', stop_at_the_fourth_frame)
    out = tmp_path / 'out'
    argv = [str(tmp_path / 'v.mp4'), '--out', str(out), '--outputs', 'overlay']
    argv += ['--cpu-threads', '1']
    assert main(['predict', *argv]) == 130
    assert len(calls) == 4 and (out / 'overlay').is_dir()
    assert list(out.rglob('*.mp4')) == [] and list(out.rglob('.*')) == []
    monkeypatch.setattr(predict_module._Run, 'segment', segment)
    assert main(['predict', *argv]) == 0  # the whole run: the video under its name, no leftovers
    assert [p.name for p in out.rglob('*.mp4')] == ['v.mp4'] and list(out.rglob('.*')) == []
    assert json.loads((out / 'summary.json').read_text())['files_written']['overlay'] == 1


def test_a_write_that_fails_midway_names_the_file_asked_for_and_leaves_no_temporary(
    tmp_path, monkeypatch
):
    """A full disk fails in write or close, where Python's error names no file."""
    import lightseg_ros.inference.predict as predict_module

    class FullDisk:

        def __init__(self, path, mode):
            self.f = open(path, mode)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(28, 'No space left on device')

    monkeypatch.setattr(predict_module, 'open', FullDisk, raising=False)
    target = tmp_path / 'label' / 'a.png'
    target.parent.mkdir()
    with pytest.raises(OSError) as info:
        predict_module._write_whole(target, b'png bytes')
    assert (info.value.filename, info.value.strerror) == (str(target), 'No space left on device')
    assert list(target.parent.iterdir()) == []
