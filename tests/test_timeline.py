"""The timeline picture: self-contained SVG/HTML, rendered by a real browser."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from difftest.frontends.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEAN = ROOT / "corpus/known/prepatch-two-vcpu-window.json"
WARN = ROOT / "corpus/regressions/broken-no-recheck-warn.json"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _write(tmp_path: Path, repro: Path, *extra: str) -> tuple[str, str]:
    html, svg = tmp_path / "t.html", tmp_path / "t.svg"
    assert main(["replay", str(repro), "--html", str(html), "--svg", str(svg), *extra]) == 1
    return html.read_text(), svg.read_text()


def test_timeline_is_self_contained(tmp_path, capsys) -> None:
    html, svg = _write(tmp_path, SEAN)
    capsys.readouterr()
    for text in (html, svg):
        assert "<script" not in text
        # no fetch of anything: the only URLs are XML namespaces
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"')]*", text))
        assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert html.count('class="lane"') == 3 and 'id="divergence"' in html
    assert "lock-hold" in svg and "preemption" in svg
    assert "digest:" in html  # the text report under the picture


def test_full_timeline_shows_every_step(tmp_path, capsys) -> None:
    _, brief = _write(tmp_path, SEAN)
    _, full = _write(tmp_path, SEAN, "--full")
    capsys.readouterr()
    assert brief.count('class="step"') == 6  # the digest's steps
    assert full.count('class="step"') == 97 and 'class="request"' in full


def test_picture_never_overwrites_the_reproducer(tmp_path, capsys) -> None:
    copy = tmp_path / "r.json"
    copy.write_text(SEAN.read_text())
    assert main(["replay", str(copy), "--html", str(copy)]) == 2
    assert copy.read_text() == SEAN.read_text()
    assert "would overwrite" in capsys.readouterr().err


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB(A) PNG (what Chromium writes) into rows of pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w = 8, b"", 0
    h = depth = ctype = 0
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6)
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = w * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, bpp, rows


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it)")
def test_html_renders_in_headless_chromium(tmp_path, capsys) -> None:
    html_path = tmp_path / "t.html"
    assert main(["replay", str(SEAN), "--html", str(html_path)]) == 1
    capsys.readouterr()
    profile = tmp_path / "profile"
    run = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*run, "--dump-dom", html_path.as_uri()], capture_output=True, text=True, timeout=120
    ).stdout
    assert dom.count('class="lane"') == 3 and 'id="divergence"' in dom
    for lane in ("vcpu0", "vcpu1", "ioctl0"):
        assert f'data-thread="{lane}"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*run, f"--screenshot={shot}", "--window-size=2000,600", html_path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    w, bpp, rows = _png_pixels(shot.read_bytes())
    colours = {row[i : i + 3] for row in rows for i in range(0, w * bpp, bpp)}
    assert len(colours) > 20, "the screenshot is blank"
    red = bytes((0xE1, 0x57, 0x59))  # the divergence line
    assert any(red in row for row in rows), "no divergence marker on screen"
    grey = bytes((0xBB, 0xBB, 0xBB))  # lane lines
    assert sum(1 for row in rows if row.count(grey) > 100) >= 3, "lanes not drawn"
