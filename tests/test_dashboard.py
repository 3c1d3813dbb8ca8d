"""tools/dashboard.py: its PNG reader against PNGs written here with every scanline filter, the blank-screenshot
measure, the choice of commits, the offline rewrite of asv's page (on asv's own template, when asv is installed),
the count of published results, and, where a dashboard has been published (.asv/html) and Chromium is installed,
the full check of that dashboard (not in CI: it needs an asv run first)."""
import importlib.util
import json
import pathlib
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("dashboard", ROOT / "tools" / "dashboard.py")
dashboard = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(dashboard)


# --- a PNG writer with explicit filters (the oracle for read_png) -------------------------------------------------
def _filter(kind, line, prev, bpp):
    """PNG filter ``kind`` applied to one scanline (ints), from the specification's definitions."""
    out = []
    for i, x in enumerate(line):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        predictor = [0, a, b, (a + b) // 2, dashboard._paeth(a, b, c)][kind]
        out.append((x - predictor) % 256)
    return out


def _write_png(path, pixels, filters):
    """pixels: uint8 array (height, width, 3 or 4); filters: the filter type of each row."""
    height, width, channels = pixels.shape
    raw, prev = bytearray(), [0] * (width * channels)
    for row, kind in zip(pixels, filters):
        line = [int(v) for v in row.reshape(-1)]
        raw += bytes([kind] + _filter(kind, line, prev, channels))
        prev = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 6, 0, 0, 0)
    idat = zlib.compress(bytes(raw))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat[:7]) +
                     chunk(b"IDAT", idat[7:]) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_read_png_undoes_every_filter(tmp_path, channels):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(10, 7, channels), dtype=np.uint8)
    path = tmp_path / "image.png"
    _write_png(path, pixels, filters=[0, 1, 2, 3, 4, 4, 3, 2, 1, 0])
    width, height, got_channels, data = dashboard.read_png(path)
    assert (width, height, got_channels) == (7, 10, channels)
    np.testing.assert_array_equal(np.frombuffer(data, dtype=np.uint8).reshape(pixels.shape), pixels)


def test_read_png_refuses_what_it_cannot_read(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match="not a PNG"):
        dashboard.read_png(path)


def test_image_stats_tells_blank_from_plotted(tmp_path):
    white = np.full((40, 60, 3), 255, dtype=np.uint8)
    _write_png(tmp_path / "blank.png", white, filters=[1] * 40)
    assert dashboard.image_stats(tmp_path / "blank.png") == (1.0, 0)

    plotted = white.copy()
    plotted[10:20, 30:35] = (31, 119, 180)  # a blue series: 50 coloured pixels
    plotted[0:5, 0:60] = (40, 40, 40)  # dark grey text: not coloured
    _write_png(tmp_path / "plot.png", plotted, filters=[4] * 40)
    dominant, coloured = dashboard.image_stats(tmp_path / "plot.png")
    assert dominant == pytest.approx((2400 - 50 - 300) / 2400)
    assert coloured == 50
    assert dashboard.image_stats(tmp_path / "plot.png", plot_box=(0, 0, 32, 40))[1] == 20  # 2 columns x 10 rows


# --- commits and published results --------------------------------------------------------------------------------
def test_suite_commits_are_those_with_the_suite_oldest_first():
    commits = dashboard.suite_commits("HEAD", 1000)
    assert commits, "HEAD has the suite"
    assert commits[-1] == dashboard.git("rev-parse", "HEAD")
    for commit in commits:
        assert dashboard._has_suite(commit)
    parents = dashboard.git("rev-list", "--parents", "-n", "1", commits[0]).split()[1:]
    assert all(not dashboard._has_suite(parent) for parent in parents)  # the suite starts at the oldest one
    assert dashboard.suite_commits("HEAD", 1) == commits[-1:]


def test_results_are_counted_per_benchmark(tmp_path):
    graphs = tmp_path / "graphs" / "machine-vm"
    graphs.mkdir(parents=True)
    (graphs / "a.track_speedup.json").write_text(json.dumps([[1, None], [2, [None, 1.5]], [3, 2.0]]))
    (graphs / "b.track_speedup.json").write_text(json.dumps([[1, [None, None]]]))
    (graphs / "summary.json").write_text(json.dumps([{"name": "a.track_speedup"}]))
    (tmp_path / "graphs" / "summary").mkdir()
    (tmp_path / "graphs" / "summary" / "a.track_speedup.json").write_text(json.dumps([[3, 2.0]]))
    assert dashboard.results_per_benchmark(tmp_path) == {"a.track_speedup": 2, "b.track_speedup": 0}


def test_bad_commit_count_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        dashboard.main(["--commits", "0"])
    assert exc.value.code == 2
    assert "--commits" in capsys.readouterr().err


# --- the offline page ---------------------------------------------------------------------------------------------
def test_local_assets_replace_every_cdn_load_of_asvs_page(tmp_path, monkeypatch):
    asv = pytest.importorskip("asv")  # the bench extra; the template is asv's own
    template = pathlib.Path(asv.__file__).parent / "www" / "index.html"
    debian = tmp_path / "javascript"  # stand-ins for Debian's libjs packages
    for path in [p for p in dashboard.LOCAL_ASSETS.values() if p and p != "offline.js"]:
        (debian / path).parent.mkdir(parents=True, exist_ok=True)
        (debian / path).write_text(f"/* {path} */")
    (debian / dashboard.BOOTSTRAP_FONTS).mkdir(parents=True)
    (debian / dashboard.BOOTSTRAP_FONTS / "glyphicons.woff").write_text("font")
    monkeypatch.setattr(dashboard, "DEBIAN_JS", debian)
    assert dashboard.local_assets_available()

    html = tmp_path / "html"
    html.mkdir()
    (html / "index.html").write_text(template.read_text())
    dashboard.use_local_assets(html)
    page = (html / "index.html").read_text()
    assert "https://cdn" not in page and "code.jquery.com" not in page
    assert dashboard.ASV_AXISLABELS_TAG not in page
    for src in ("vendor/jquery/jquery.min.js", "vendor/jquery-flot/jquery.flot.min.js", "vendor/offline.js",
                "vendor/bootstrap/css/bootstrap.min.css", "vendor/offline.css"):
        assert src in page
        assert (html / src).is_file()
    assert (html / "vendor" / dashboard.BOOTSTRAP_FONTS / "glyphicons.woff").is_file()
    assert page.index("vendor/jquery/jquery.min.js") < page.index("vendor/jquery-flot/jquery.flot.min.js")


def test_offline_md5_stand_in_is_a_stable_hash():
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the stand-in is plain JavaScript)")
    script = dashboard.OFFLINE_JS + "console.log(md5('a'), md5('a'), md5('b'));"
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1] == "e40c292c" and out[2] != out[0]  # FNV-1a of "a"


# --- the published dashboard --------------------------------------------------------------------------------------
def test_published_dashboard_renders(tmp_path):
    binary = dashboard.find_chromium()
    if not (dashboard.HTML_DIR / "index.json").is_file() or binary is None:
        pytest.skip("no published dashboard (python tools/dashboard.py) or no Chromium (apt-get install chromium)")
    html = shutil.copytree(dashboard.HTML_DIR, tmp_path / "html")
    if dashboard.local_assets_available() and "vendor/" not in (html / "index.html").read_text():
        dashboard.use_local_assets(html)  # published by plain `asv publish`: its CDN links need the internet
    assert dashboard.check(binary, tmp_path / "dashboard.png", html_dir=html) == []
