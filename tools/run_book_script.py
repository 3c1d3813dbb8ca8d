"""Run ONE of the books' scripts the book's way and the fastnn way, in a temporary copy, and compare.

    python tools/run_book_script.py ch05/train_neuralnet.py                      # book vs fastnn imports
    python tools/run_book_script.py ch05/train_neuralnet.py --variant fastnn-nets --full
    python tools/run_book_script.py book2/ch01/train.py --variant all --keep

The same code as tests/test_book_chapters.py (tests/book_scripts.py): the whole book directory copied, Fashion-MNIST
copied into the copy's dataset/ for the book's own loader (for the second book's PTB scripts the King James Bible in
PTB's format, from Debian's bible-kjv), the network blocked, MPLBACKEND=Agg, np.random.seed
before the script; the test's shortening of long scripts unless --full (the published iteration counts). Prints
each run's wall time (subprocess start to exit: Python, imports and, for fastnn, compilation included) and the
differences from the book's run; exits 1 when there are any. Runs one process at a time unless --jobs 2, so the
times are not disturbed by each other.
"""
import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import book_scripts as bs  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("script", help="e.g. ch05/train_neuralnet.py, book1/ch06/batch_norm_test.py, book2/ch01/train.py")
    p.add_argument("--variant", default="fastnn", choices=["fastnn", "fastnn-nets", "all", "declared"],
                   help="fastnn: common imports switched; fastnn-nets: also the chapter's own nets/functions; "
                        "all: both; declared: those the test runs for this script (default: fastnn)")
    p.add_argument("--full", action="store_true", help="run as published (no shortening of iteration counts)")
    p.add_argument("--no-book", action="store_true", help="skip the book's run (timing fastnn only; no compare)")
    p.add_argument("--seed", type=int, default=bs.DEFAULT_SEED)
    p.add_argument("--jobs", type=int, default=1, help="runs at once (default 1: undisturbed timings)")
    p.add_argument("--keep", action="store_true", help="keep the temporary copies (their paths are printed)")
    p.add_argument("--show", action="store_true", help="print each run's output")
    args = p.parse_args(argv)

    script = bs.find_script(args.script)
    if not (bs.shared_dir() / script.path).is_file():
        p.error(f"{bs.shared_dir() / script.path} not found (FASTNN_SHARED={bs.shared_dir()})")
    variants = {"all": ["fastnn", "fastnn-nets"], "declared": list(script.variants)}.get(args.variant,
                                                                                        [args.variant])
    if not args.no_book:
        variants = ["book"] + variants
    if script.reduce and not args.full:
        print(f"shortened (--full runs it as published): {script.reduce_why}")

    root = Path(tempfile.mkdtemp(prefix="book-script-"))
    try:
        text = (bs.shared_dir() / script.path).read_text(encoding="utf-8")
        needs_mnist = script.mnist or "load_mnist" in text
        ptb_dir = None
        if script.ptb or "ptb.load_data" in text:  # the King James Bible in PTB's format (Debian's bible-kjv)
            if bs.missing_bible():
                p.error(bs.missing_bible())
            ptb_dir = root / "ptb"
            ptb_dir.mkdir()
            bs.build_ptb_corpus(ptb_dir)
        bs.build_template(script.book, root / "template", with_mnist=needs_mnist, ptb_dir=ptb_dir)
        results = bs.run_variants(script, variants, root / "template", root / "runs", jobs=args.jobs,
                                  full=args.full, seed=args.seed)
        failed = False
        for v, r in results.items():
            print(f"{r.describe()}: exit {r.returncode}, {r.seconds:.2f} s, {len(r.stdout.splitlines())} lines")
            if args.show or r.returncode:
                print(r.stdout.rstrip())
                print(r.stderr.rstrip(), file=sys.stderr)
        if "book" in results:
            for v in variants[1:]:
                problems = bs.compare(results["book"], results[v])
                failed |= bool(problems)
                print(f"[{v}] " + ("same output as the book's run" if not problems else
                                   "differs from the book's run:\n  " + "\n  ".join(problems)))
        else:
            failed = any(r.returncode for r in results.values())
        if args.keep:
            print(f"copies kept in {root / 'runs'}")
        return 1 if failed else 0
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
