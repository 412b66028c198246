"""``lightseg export``: a weights file to ONNX (dynamic height and width), checked with onnxruntime."""
from __future__ import annotations

import argparse

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    from ..export import check_onnx, export_onnx
    from ..models import load_model

    model, meta = load_model(args.weights)
    size = (args.height, args.width) if args.height and args.width else tuple(meta.input_size or (512, 512))
    path = export_onnx(model, args.onnx, input_size=size, opset=args.opset, dynamic=not args.static)
    sizes = [size] if args.static else [size, (size[0] // 2 + 8, size[1] // 2 + 24), (size[1], size[0])]
    diff = check_onnx(model, path, sizes=sizes, tolerance=args.tolerance)
    print(f"wrote {path} ({meta.model}, {meta.num_classes} classes, opset {args.opset}, "
          f"{'static ' + 'x'.join(map(str, size)) if args.static else 'dynamic height/width'})")
    print(f"onnxruntime vs PyTorch at {', '.join(f'{h}x{w}' for h, w in sizes)}: max abs diff {diff:.3g} "
          f"(tolerance {args.tolerance:g})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a weights file to ONNX and check it with onnxruntime")
    p.add_argument("--weights", required=True)
    p.add_argument("--onnx", required=True, help="output .onnx path")
    p.add_argument("--height", type=int, help="export/check height (default: the weights' input size)")
    p.add_argument("--width", type=int)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--static", action="store_true", help="fixed input size instead of dynamic height/width")
    p.add_argument("--tolerance", type=float, default=1e-3, help="largest accepted |onnxruntime - PyTorch|")
    p.set_defaults(func=run)
