"""A video of a credential's QR code for Chromium's fake camera, and a reader to check it.

Chromium started with ``--use-fake-device-for-media-stream --use-fake-ui-for-media-stream
--use-file-for-fake-video-capture=FILE`` shows FILE (a ``.y4m`` or ``.mjpeg``) as the camera, in
a loop. :func:`write_qr_y4m` writes the QR of a payload as a YUV4MPEG2 file (4:2:0, grey: chroma
128), the code centred on a light background with its quiet zone, as a phone held up to a
wristband would see it. :func:`read_y4m` and :func:`modules_from_frame` read a frame back and
recover the QR's modules from the pixels (locating the symbol by its dark modules, the module
size from the top-left finder pattern), so a test can check that the video shows exactly the
symbol of the payload.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import segno

from evacops.registry.credentials import QR_ERROR

DARK, LIGHT = 16, 235  # video-range luma: black and white as a camera delivers them


def qr_modules(payload: str) -> np.ndarray:
    """The QR symbol of ``payload`` as the credential labels print it (no quiet zone), True for a
    dark module."""
    qr = segno.make(payload, error=QR_ERROR, micro=False)
    return np.array(list(qr.matrix_iter(scale=1, border=0)), dtype=bool)


def qr_frame(payload: str, width: int = 640, height: int = 480, quiet: int = 4) -> np.ndarray:
    """A luma frame (uint8, height x width) with the QR of ``payload`` centred, its quiet zone
    included, as large as fits in 90% of the shorter side with whole pixels per module."""
    m = qr_modules(payload)
    n = m.shape[0] + 2 * quiet
    px = int(min(width, height) * 0.9) // n
    if px < 2:
        raise ValueError(f"a {m.shape[0]}-module QR code does not fit in {width}x{height}")
    frame = np.full((height, width), LIGHT, dtype=np.uint8)
    side = m.shape[0] * px
    top, left = (height - side) // 2, (width - side) // 2
    block = np.kron(m, np.ones((px, px), dtype=bool))
    frame[top : top + side, left : left + side][block] = DARK
    return frame


def write_qr_y4m(
    path: str | Path, payload: str, *, width: int = 640, height: int = 480, frames: int = 5
) -> Path:
    """Write ``frames`` identical frames of the QR of ``payload`` as a Y4M file (30 fps)."""
    if width % 2 or height % 2:
        raise ValueError("4:2:0 needs an even width and height")
    luma = qr_frame(payload, width, height).tobytes()
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    path = Path(path)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + luma + chroma + chroma)
    return path


def read_y4m(path: str | Path) -> tuple[dict[str, str], list[np.ndarray]]:
    """The header's fields and the luma plane of each frame of a 4:2:0 Y4M file."""
    data = Path(path).read_bytes()
    head, _, rest = data.partition(b"\n")
    words = head.decode("ascii").split()
    if words[0] != "YUV4MPEG2":
        raise ValueError(f"{path}: not a YUV4MPEG2 file")
    fields = {w[0]: w[1:] for w in words[1:]}
    w, h = int(fields["W"]), int(fields["H"])
    size = w * h + 2 * (w // 2) * (h // 2)
    frames = []
    while rest:
        marker, _, rest = rest.partition(b"\n")
        if not marker.startswith(b"FRAME"):
            raise ValueError(f"{path}: frame {len(frames)} has no FRAME marker")
        if len(rest) < size:
            raise ValueError(f"{path}: frame {len(frames)} is short")
        frames.append(np.frombuffer(rest[: w * h], dtype=np.uint8).reshape(h, w))
        rest = rest[size:]
    return fields, frames


def modules_from_frame(luma: np.ndarray) -> np.ndarray:
    """The QR modules seen in a luma frame: the symbol is the bounding box of the dark pixels,
    the module size the width of the top-left finder pattern's first row divided by 7; each
    module is read at its centre."""
    dark = luma < (int(luma.min()) + int(luma.max())) // 2
    rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
    if rows.size == 0:
        raise ValueError("no dark pixels: no QR code in this frame")
    top, left = rows[0], cols[0]
    run = int(np.argmin(dark[top, left:])) if not dark[top, left:].all() else dark.shape[1]
    px = run / 7
    n = round((cols[-1] - left + 1) / px)
    centres = (np.arange(n) * px + px / 2).astype(int)
    return dark[np.ix_(top + centres, left + centres)]
