"""The fake camera the gate tests scan with: a Y4M video of a real, signed credential QR, checked
frame by frame, then shown to a page through Chromium's fake camera and read back from it."""

from __future__ import annotations

import http.server
import json
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from evacops.registry import credentials as creds
from tests.browser.conftest import fake_camera_args
from tests.browser.qrvideo import modules_from_frame, qr_modules, read_y4m, write_qr_y4m

OPERATION = "kabul-2021"


@pytest.fixture(scope="module")
def signed():
    """A credential payload signed with a fresh operation key, and its public key."""
    private, public = creds.new_signing_key()
    cid = creds.new_credential_id()
    expires = datetime.now(UTC) + timedelta(days=30)
    return creds.encode(cid, OPERATION, expires, private), public, cid


def test_qr_video_holds_the_signed_credential(signed, tmp_path):
    payload, public, cid = signed
    path = write_qr_y4m(tmp_path / "qr.y4m", payload, frames=3)
    fields, frames = read_y4m(path)
    assert (fields["W"], fields["H"], fields["C"]) == ("640", "480", "420jpeg")
    assert len(frames) == 3
    # the file is exactly header + 3 x (FRAME marker + 4:2:0 frame)
    header = len(path.read_bytes().partition(b"\n")[0]) + 1
    assert path.stat().st_size == header + 3 * (6 + 640 * 480 * 3 // 2)
    expected = qr_modules(payload)
    for luma in frames:
        assert np.array_equal(modules_from_frame(luma), expected)
    # a QR of another payload is told apart (the reader is not just returning any symbol)
    other = creds.encode(creds.new_credential_id(), OPERATION, datetime.now(UTC), b"\x01" * 32)
    assert not np.array_equal(modules_from_frame(frames[0]), qr_modules(other))
    claim = creds.verify(payload, public, operation=OPERATION)
    assert claim.credential_id == cid


CAMERA_PAGE = b"""<!doctype html><html><body><video id=v autoplay muted playsinline></video>
<canvas id=c width=640 height=480></canvas><script>
window.grab = async () => {
  const s = await navigator.mediaDevices.getUserMedia({video: {width: 640, height: 480}});
  const v = document.getElementById('v'); v.srcObject = s;
  await new Promise(r => v.onplaying = r);
  await new Promise(r => setTimeout(r, 300));
  const c = document.getElementById('c'), g = c.getContext('2d');
  g.drawImage(v, 0, 0, 640, 480);
  const d = g.getImageData(0, 0, 640, 480).data, y = new Array(640 * 480);
  for (let i = 0; i < y.length; i++)
    y[i] = Math.round(0.299 * d[4*i] + 0.587 * d[4*i+1] + 0.114 * d[4*i+2]);
  return JSON.stringify({w: v.videoWidth, h: v.videoHeight,
                         label: s.getVideoTracks()[0].label, y: y});
};
</script></body></html>"""


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(CAMERA_PAGE)

    def log_message(self, *args):
        pass


def test_fake_camera_shows_the_credential_qr_to_a_page(signed, tmp_path, launch_chromium, shot):
    payload, _, _ = signed
    video = write_qr_y4m(tmp_path / "qr.y4m", payload)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser = launch_chromium(fake_camera_args(video))
        page = browser.new_page()
        # localhost is a secure context: the camera is allowed there without TLS
        page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
        got = json.loads(page.evaluate("window.grab()"))
        shot(page, "fake-camera-qr")
        page.close()
    finally:
        server.shutdown()
    assert (got["w"], got["h"]) == (640, 480)
    luma = np.asarray(got["y"], dtype=np.uint8).reshape(480, 640)
    assert np.array_equal(modules_from_frame(luma), qr_modules(payload))
