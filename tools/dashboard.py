"""Benchmark the newest commits that hold the asv suite, publish the asv dashboard, and check that it renders.

    python tools/dashboard.py [--commits N] [--quick] [--current] [--bench REGEX] [--no-run]
                              [--assets auto|local|cdn] [--no-check] [--screenshot PATH] [--chromium PATH]

1. run: ``asv run --skip-existing-successful [--quick] HASHFILE:.asv/dashboard-commits.txt`` in asv's managed
   virtualenvs (asv.conf.json's matrix), over the newest N commits of the configured branch whose tree has
   asv.conf.json and benchmarks/__init__.py (older commits have no suite and are never run). Cases that a commit's
   fastnn.bench does not have yet are skipped by the suite itself. ``--current`` also benchmarks the working tree
   in this Python: ``asv run -E existing --set-commit-hash HEAD`` (a separate series on the graphs, labelled HEAD).
2. publish: ``asv publish`` writes .asv/html. asv's pages load jQuery, Flot, Bootstrap and three small plugins
   from CDNs; with ``--assets local`` (the default, ``auto``, whenever Debian's copies are installed:
   ``apt-get install libjs-jquery libjs-jquery-flot libjs-bootstrap libjs-jquery-stupidtable``) the published
   index.html loads local copies instead, so the dashboard also works offline and from a file URL.
3. check: headless Chromium (Debian package ``chromium``) opens .asv/html/index.html as a file URL, without a
   server. The check fails unless: index.json lists every track_speedup benchmark of the suite and the graph
   files hold results for each; the rendered benchmark grid lists them all; the graph page of a track_speedup
   benchmarks draw their Flot canvas (the one with the longest history, and training.TrainStep.track_speedup); and
   their screenshots are not blank (no colour covers 97% of the pixels, and the plot area holds coloured pixels:
   the plotted series). The screenshots are kept (``--screenshot``, and beside it) for a look.

Exit status 0 when every step succeeded. Nothing here changes the git repository (asv checks commits out into
its own clones under .asv/env).
"""
import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASV_DIR = ROOT / ".asv"
HTML_DIR = ASV_DIR / "html"
SUITE_FILES = ("asv.conf.json", "benchmarks/__init__.py")
DEFAULT_SCREENSHOT = ASV_DIR / "dashboard.png"
WINDOW = (1280, 900)
PREFERRED_GRAPH = "training.TrainStep.track_speedup"


# --- 1. which commits, and running asv ----------------------------------------------------------------------------
def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def _has_suite(commit):
    return all(subprocess.run(["git", "cat-file", "-e", f"{commit}:{path}"], cwd=ROOT, check=False,
                              capture_output=True).returncode == 0 for path in SUITE_FILES)


def suite_commits(branch, n):
    """The newest ``n`` first-parent commits of ``branch`` that contain the suite, oldest first."""
    found = []
    for commit in git("rev-list", "--first-parent", branch).split():
        if not _has_suite(commit):
            break  # the suite was added once: every older commit lacks it too
        found.append(commit)
        if len(found) == n:
            break
    return found[::-1]


def asv_config():
    from asv import util  # asv's reader accepts the // comments of asv.conf.json
    return util.load_json(str(ROOT / "asv.conf.json"), js_comments=True)


def asv(*args):
    """Run ``python -m asv ARGS`` in the repository; True when it succeeded."""
    print("$ asv " + " ".join(args), flush=True)
    return subprocess.run([sys.executable, "-m", "asv", *args], cwd=ROOT, check=False).returncode == 0


def run_benchmarks(commits, quick, bench, current):
    ASV_DIR.mkdir(exist_ok=True)
    hashfile = ASV_DIR / "dashboard-commits.txt"
    hashfile.write_text("\n".join(commits) + "\n")
    options = (["--quick"] if quick else []) + (["--bench", bench] if bench else [])
    ok = asv("machine", "--yes")
    ok = asv("run", "--skip-existing-successful", "--show-stderr", *options, f"HASHFILE:{hashfile}") and ok
    if current:
        ok = asv("run", "-E", "existing", "--set-commit-hash", git("rev-parse", "HEAD"), "--show-stderr",
                 *options) and ok
    return ok


# --- 2. publishing, with local copies of the JavaScript asv takes from CDNs ---------------------------------------
DEBIAN_JS = Path("/usr/share/javascript")
# a fragment of a CDN URL in asv's index.html -> the Debian file that replaces it (None: drop the tag, because
# Debian's Flot 4 bundles the time, selection and categories plugins, and the bars' order plugin only orders bars)
LOCAL_ASSETS = {
    "jquery-3.3.1.min.js": "jquery/jquery.min.js",
    "/jquery.flot.min.js": "jquery-flot/jquery.flot.min.js",
    "/jquery.flot.time.min.js": None,
    "/jquery.flot.selection.min.js": None,
    "/jquery.flot.categories.min.js": None,
    "/jquery.flot.orderBars.js": None,
    "stupidtable.min.js": "jquery-stupidtable/stupidtable.min.js",
    "bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "md5.min.js": "offline.js",  # written below
}
BOOTSTRAP_FONTS = "bootstrap/fonts"
# asv's own axis-label plugin for Flot 0.8; Flot 4 has axis labels built in (both would draw each label)
ASV_AXISLABELS_TAG = '<script language="javascript" type="text/javascript" src="jquery.flot.axislabels.js"></script>'
OFFLINE_JS = """\
/* Written by fastnn's tools/dashboard.py for the offline dashboard. asv takes md5() from a CDN and uses it only to
   key the regressions a user hides (in localStorage); any stable string hash serves, so this is FNV-1a. */
function md5(text) {
    var hash = 0x811c9dc5;
    for (var i = 0; i < text.length; i++) {
        hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
    }
    return ("0000000" + hash.toString(16)).slice(-8);
}
"""
OFFLINE_CSS = """\
/* Flot 4 draws the legend as SVG and leaves its background to the page's CSS (black otherwise). */
.legendLayer .background { fill: rgba(255, 255, 255, 0.85); stroke: rgba(0, 0, 0, 0.85); stroke-width: 1; }
"""


def local_assets_available():
    return all((DEBIAN_JS / path).is_file() for path in LOCAL_ASSETS.values() if path and path != "offline.js")


def _local_tag(tag, url):
    """The replacement of one CDN tag: a tag for the local copy, '' to drop it, or the tag itself if unknown."""
    for fragment, path in LOCAL_ASSETS.items():
        if fragment in url:
            if path is None:
                return ""
            src = "vendor/" + path
            if url.endswith(".css"):
                return f'<link rel="stylesheet" href="{src}">\n    <link rel="stylesheet" href="vendor/offline.css">'
            return f'<script src="{src}"></script>'
    return tag


def use_local_assets(html_dir):
    """Copy Debian's JavaScript libraries into html_dir/vendor and point index.html at them."""
    import re

    vendor = html_dir / "vendor"
    for path in LOCAL_ASSETS.values():
        if path and path != "offline.js":
            (vendor / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(DEBIAN_JS / path, vendor / path)
    shutil.copytree(DEBIAN_JS / BOOTSTRAP_FONTS, vendor / BOOTSTRAP_FONTS, dirs_exist_ok=True)
    (vendor / "offline.js").write_text(OFFLINE_JS)
    (vendor / "offline.css").write_text(OFFLINE_CSS)

    index = html_dir / "index.html"
    page = index.read_text()
    page = re.sub(r'<(?:script|link)[^>]*(?:src|href)="(https://[^"]+)"[^>]*>(?:</script>)?',
                  lambda m: _local_tag(m.group(0), m.group(1)), page)
    page = page.replace(ASV_AXISLABELS_TAG, "")
    index.write_text(page)
    remaining = re.findall(r'(?:src|href)="(https://[^"]+\.(?:js|css))"', page)
    if remaining:
        raise RuntimeError(f"index.html still loads {remaining} from the internet: asv's page changed; "
                           f"update LOCAL_ASSETS in {__file__}")


def publish(assets):
    if not asv("publish"):
        return False
    if assets == "auto":
        assets = "local" if local_assets_available() else "cdn"
    if assets == "local":
        use_local_assets(HTML_DIR)
        print("dashboard: index.html loads local copies of its JavaScript (works offline)")
    else:
        print("dashboard: index.html loads jQuery/Flot/Bootstrap from CDNs (needs the internet to render)")
    return True


# --- 3. checking the published dashboard -------------------------------------------------------------------------
def _has_value(value):
    if isinstance(value, list):
        return any(_has_value(v) for v in value)
    return value is not None


def results_per_benchmark(html_dir):
    """{benchmark name: number of (graph, commit) points with a result} over the published graph files."""
    counts = {}
    for path in (html_dir / "graphs").rglob("*.json"):
        if path.parent.name == "summary" or path.name == "summary.json":  # geometric means and summary tables
            continue
        points = json.loads(path.read_text())
        counts[path.stem] = counts.get(path.stem, 0) + sum(_has_value(point[1]) for point in points)
    return counts


def suite_track_speedups():
    """The track_speedup benchmarks asv discovered in the suite (the latest run's .asv/results/benchmarks.json)."""
    names = json.loads((ASV_DIR / "results" / "benchmarks.json").read_text())
    return sorted(name for name in names if name.endswith(".track_speedup"))


def find_chromium(explicit=None):
    for name in ([explicit] if explicit else ["chromium", "chromium-browser", "google-chrome"]):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(binary, url, *, screenshot=None, window=WINDOW):
    """Render ``url`` headless: the DOM after scripts ran (str), or write a PNG to ``screenshot``."""
    with tempfile.TemporaryDirectory(prefix="fastnn-chromium-") as profile:
        action = [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        proc = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
             "--allow-file-access-from-files", f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
             "--virtual-time-budget=10000", *action, url],
            check=False, capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"{binary} exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _unfilter(kind, line, prev, bpp):
    """Undo one scanline's PNG filter in place (``prev``: the previous, already unfiltered, line)."""
    if kind == 1:
        for i in range(bpp, len(line)):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        for i in range(len(line)):
            line[i] = (line[i] + prev[i]) & 0xFF
    elif kind == 3:
        for i in range(len(line)):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(len(line)):
            left, up_left = (line[i - bpp], prev[i - bpp]) if i >= bpp else (0, 0)
            line[i] = (line[i] + _paeth(left, prev[i], up_left)) & 0xFF
    elif kind != 0:
        raise ValueError(f"unknown PNG filter type {kind}")


def read_png(path):
    """(width, height, channels, pixels) of a non-interlaced 8-bit RGB or RGBA PNG (what Chromium writes);
    ``pixels`` holds the rows top to bottom, each width * channels bytes."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, chunks, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length  # length, type, body, CRC
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"{path}: only 8-bit, non-interlaced RGB/RGBA PNGs are read here "
                         f"(depth {depth}, colour type {colour}, interlace {interlace})")
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * channels
    pixels, prev = bytearray(), bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1:start + 1 + stride])
        _unfilter(raw[start], line, prev, channels)
        pixels += line
        prev = line
    return width, height, channels, bytes(pixels)


def image_stats(path, plot_box=None):
    """(share of the most common colour, coloured pixels inside ``plot_box`` (x0, y0, x1, y1)). Coloured: the
    channels differ by more than 60, as plotted series do; greys, black text and white do not."""
    import numpy as np

    width, height, channels, pixels = read_png(path)
    rgb = np.frombuffer(pixels, dtype=np.uint8).reshape(height, width, channels)[..., :3].astype(np.int32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    dominant = np.unique(packed, return_counts=True)[1].max() / packed.size
    x0, y0, x1, y1 = plot_box or (0, 0, width, height)
    box = rgb[y0:y1, x0:x1]
    coloured = int(np.count_nonzero(box.max(axis=-1) - box.min(axis=-1) > 60))
    return float(dominant), coloured


PLOT_BOX = (220, 60, WINDOW[0], WINDOW[1])  # right of asv's side bar and below its navigation bar
MAX_DOMINANT = 0.97
MIN_COLOURED = 200


def check(binary, screenshot, html_dir=HTML_DIR):
    """The checks of step 3: a list of problems (empty: the dashboard renders with results)."""
    problems = []
    index = json.loads((html_dir / "index.json").read_text())
    expected = suite_track_speedups()
    listed = sorted(name for name in index["benchmarks"] if name.endswith(".track_speedup"))
    problems += [f"index.json does not list {name}" for name in sorted(set(expected) - set(listed))]
    counts = results_per_benchmark(html_dir)
    print("track_speedup benchmarks (points with results):")
    for name in listed:
        print(f"  {name:60} {counts.get(name, 0)}")
    problems += [f"no results published for {name}" for name in listed if not counts.get(name)]

    url = (html_dir / "index.html").resolve().as_uri()
    grid = chromium(binary, url)
    if "Can not determine continental origin of swallow" in grid:
        problems.append("the page could not load its JavaScript (asv's error page): use --assets local")
    problems += [f"the rendered benchmark grid does not list {name}" for name in listed if name not in grid]

    for graph, path in _graph_pages(listed, counts, screenshot):
        problems += _check_graph_page(binary, url, graph, path)
    return problems


def _graph_pages(listed, counts, screenshot):
    """[(benchmark, screenshot path)]: the track_speedup benchmark with the longest history, and
    PREFERRED_GRAPH (a training benchmark) when it has results."""
    with_results = sorted((name for name in listed if counts.get(name)), key=lambda name: -counts[name])
    pages = with_results[:1]
    if PREFERRED_GRAPH in with_results and PREFERRED_GRAPH not in pages:
        pages.append(PREFERRED_GRAPH)
    paths = [screenshot] + [screenshot.with_name(f"{screenshot.stem}-{name}{screenshot.suffix}")
                            for name in pages[1:]]
    return list(zip(pages, paths))


def _check_graph_page(binary, url, graph, screenshot):
    problems = []
    dom = chromium(binary, f"{url}#{graph}")
    if 'class="flot-base"' not in dom:
        problems.append(f"the graph page of {graph} drew no Flot canvas")
    chromium(binary, f"{url}#{graph}", screenshot=screenshot)
    dominant, coloured = image_stats(screenshot, PLOT_BOX)
    print(f"graph page of {graph}: screenshot {screenshot}, most common colour {100 * dominant:.1f}% of the "
          f"pixels, {coloured} coloured pixels in the plot area")
    if dominant > MAX_DOMINANT:
        problems.append(f"the screenshot of {graph} is nearly blank ({100 * dominant:.1f}% one colour)")
    if coloured < MIN_COLOURED:
        problems.append(f"the screenshot of {graph} shows no plotted series ({coloured} coloured pixels)")
    return problems


# --- command line -------------------------------------------------------------------------------------------------
def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--commits", type=int, default=5, help="benchmark the newest N commits with the suite (default 5)")
    p.add_argument("--quick", action="store_true", help="asv run --quick: each benchmark once (rough figures)")
    p.add_argument("--current", action="store_true",
                   help="also benchmark the working tree in this Python, recorded under HEAD")
    p.add_argument("--bench", metavar="REGEX", help="only benchmarks matching REGEX (asv run --bench)")
    p.add_argument("--no-run", action="store_true", help="publish and check the results already in .asv/results")
    p.add_argument("--assets", choices=("auto", "local", "cdn"), default="auto",
                   help="where the published page loads jQuery/Flot/Bootstrap from (default: local when Debian's "
                        "libjs packages are installed)")
    p.add_argument("--no-check", action="store_true", help="do not open the dashboard in Chromium")
    p.add_argument("--screenshot", type=Path, default=DEFAULT_SCREENSHOT, help="where to keep the screenshot")
    p.add_argument("--chromium", metavar="PATH", help="the Chromium binary (default: chromium on PATH)")
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    if args.commits < 1:
        _parser().error(f"--commits must be >= 1; got {args.commits}")
    ok = True
    if not args.no_run:
        branch = asv_config().get("branches", ["main"])[0]
        commits = suite_commits(branch, args.commits)
        if not commits:
            print(f"dashboard: no commit of {branch} contains {' and '.join(SUITE_FILES)}", file=sys.stderr)
            return 1
        print(f"dashboard: benchmarking {len(commits)} commit(s) of {branch}: "
              + " ".join(c[:8] for c in commits), flush=True)
        ok = run_benchmarks(commits, args.quick, args.bench, args.current)
        if not ok:
            print("dashboard: asv run reported failures (see above); publishing what there is", file=sys.stderr)
    if not publish(args.assets):
        return 1
    print(f"dashboard: {HTML_DIR / 'index.html'}")
    if args.no_check:
        return 0 if ok else 1
    binary = find_chromium(args.chromium)
    if binary is None:
        print("dashboard: no Chromium found (apt-get install chromium) to check the page", file=sys.stderr)
        return 1
    problems = check(binary, args.screenshot)
    for problem in problems:
        print(f"dashboard: FAIL: {problem}", file=sys.stderr)
    if not problems:
        print("dashboard: the dashboard renders, with results for every track_speedup benchmark")
    return 0 if ok and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
