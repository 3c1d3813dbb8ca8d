"""Run the books' real chapter scripts (../shared/book1, ../shared/book2) in a temporary copy, three ways, and
compare what they print and plot.

Shared by ``tests/test_book_chapters.py`` and ``tools/run_book_script.py`` (which puts this directory on
``sys.path``). Nothing here copies the books' code into fastnn: each run works on a fresh copy of a whole book
directory, so the scripts' own ``sys.path.append(os.pardir)``, ``from common...`` and
``from dataset.mnist import load_mnist`` work as published.

The variants (``VARIANTS``):

``book``
    the script as published, on the book's own ``common/``.
``fastnn``
    every ``from common.<module> import ...`` line in the copy's chapter files (the scripts and the chapter-local
    modules such as ``ch05/two_layer_net.py``) reads ``from fastnn.<module> import ...`` where fastnn has that
    module. Nothing else changes: the data still come from the book's ``dataset/`` loaders.
``fastnn-nets``
    additionally the chapter's own code is replaced by fastnn's: ``from two_layer_net import TwoLayerNet`` imports
    ``fastnn.nets``' class (``TwoLayerNetCh4`` for chapter 4, ``TwoLayerNetBook2`` for the second book), and a
    function or class the script defines itself (chapter 3's ``sigmoid``, chapter 4's ``numerical_diff``,
    ``simpleNet``, ...) is imported from fastnn instead (the script's own definition is renamed ``_book_<name>``
    and left unused). In the second book: ``ch04.negative_sampling_layer`` is ``fastnn.negative_sampling_layer``,
    ``from dataset import ptb`` reads ``fastnn.ptb`` (``$FASTNN_PTB_DIR``: the copy's ``dataset/``), ``from dataset
    import sequence`` ``fastnn.sequence`` (``$FASTNN_SEQUENCE_DIR``, the same directory), and
    ``ch04/eval.py`` reads the book's pickle with ``fastnn.io.load_pickle``.

Every run: ``sys.executable`` in a subprocess, the working directory the script's chapter directory (as the book
expects), ``np.random.seed(seed)`` before the script runs (``runpy``; the scripts do not all seed),
``MPLBACKEND=Agg`` (``plt.show()`` returns), one BLAS thread, and the network blocked (``socket`` connections
raise), so the book's MNIST loader can only work from the Fashion-MNIST files copied into the copy's
``dataset/``, and the second book's PTB loader from the PTB-format King James Bible (Debian's bible-kjv, written by
fastnn.ptb.write_ptb_format) copied there. When the script ends, the data of every matplotlib figure it drew (line
x/y data, bar heights, scatter/quiver offsets and vectors, contour levels) is written to a JSON file and compared
like the printed numbers: a script that only plots is still checked.

Long scripts are shortened by text substitution on the copied script (``Script.reduce``; ``full=True`` skips
it); each substitution must apply (a stale one is an error, not a silent full-length run).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("book", "fastnn", "fastnn-nets")
MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")
DEFAULT_SEED = 0


def shared_dir():
    """The books' read-only code: $FASTNN_SHARED, else <repo>/../shared."""
    return Path(os.environ.get("FASTNN_SHARED") or REPO.parent / "shared")


def missing_books():
    """None when the books' directories (book1/ and book2/ in shared_dir()) are there, else a message saying where
    they were looked for."""
    root = shared_dir()
    if all((root / book).is_dir() for book in ("book1", "book2")):
        return None
    return f"the books' files are not at {root} (set FASTNN_SHARED to the directory holding book1/ and book2/)"


def fashion_mnist_dir():
    """Debian's dataset-fashion-mnist files (MNIST's file names): $FASTNN_FASHION_MNIST or the package's path."""
    return Path(os.environ.get("FASTNN_FASHION_MNIST") or "/usr/share/datasets/fashion-mnist")


def missing_fashion_mnist():
    """None when the four Fashion-MNIST .gz files are there, else a message saying what is missing."""
    d = fashion_mnist_dir()
    missing = [f for f in MNIST_FILES if not (d / f).is_file()]
    if missing:
        return (f"Fashion-MNIST not found: {', '.join(missing)} missing in {d} "
                "(apt-get install dataset-fashion-mnist, or set FASTNN_FASHION_MNIST)")
    return None


BIBLE = ("bible", "-f", "gen1:1-rev22:21")  # Debian's bible-kjv: the King James Bible, one verse a line


def missing_bible():
    """None when Debian's ``bible`` program (package bible-kjv) is on PATH, else a message saying how to get it."""
    if shutil.which(BIBLE[0]):
        return None
    return ("the bible program is not installed (apt-get install bible-kjv): the PTB-format corpus of the second "
            "book's PTB scripts is made from its King James Bible")


def build_ptb_corpus(out_dir):
    """The King James Bible (``bible -f gen1:1-rev22:21``, 31,102 verses) in PTB's format: ptb.train.txt,
    ptb.valid.txt and ptb.test.txt written into ``out_dir`` by fastnn.ptb.write_ptb_format with its defaults, the
    verse references (``Ge1:1``) dropped; returns write_ptb_format's summary."""
    from fastnn import ptb

    text = subprocess.run(BIBLE, capture_output=True, text=True, encoding="utf-8", check=True, timeout=120).stdout
    return ptb.write_ptb_format(text, out_dir, drop_first_word=True)


# --- the scripts ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Script:
    """One book script and how to run and compare it.

    ``reduce``: (old, new) substitutions on the copied script, applied in every variant unless ``full``. ``probe``:
    lines appended to the copied script in every variant (printing a value the script computes but does not print,
    so that it is compared too). ``nets``: what ``fastnn-nets`` changes beyond the import lines, as (old, new)
    substitutions per file of the copy (``{"ch04/gradient_2d.py": [(old, new), ...]}``); use ``override(name,
    module)`` for a definition the script makes itself. ``fixes``: substitutions per file applied in every variant,
    the book's run included, where the published code fails on today's NumPy. ``variants``: the fastnn variants that
    differ from the one before (``fastnn`` from the book text, ``fastnn-nets`` from ``fastnn``); the runner checks
    that each one really changes the text. ``rtol``/``atol``: for printed and plotted numbers; ``printed_atol``: an
    absolute tolerance for the printed ones only (numbers printed with few digits); ``tol_why`` says why when they
    are looser than float64 rounding.
    """
    path: str                      # e.g. "book1/ch05/train_neuralnet.py"
    variants: tuple = ("fastnn", "fastnn-nets")
    mnist: bool = False
    ptb: bool = False              # reads PTB (the second book's dataset/ptb.py): the King James Bible corpus
    reduce: tuple = ()
    reduce_why: str = ""
    probe: str = ""
    nets: dict = field(default_factory=dict)
    fixes: dict = field(default_factory=dict)  # {file: [(old, new)]}: the book's code on today's NumPy, every variant
    rtol: float = 1e-6
    atol: float = 1e-12
    printed_atol: float = 0.0
    tol_why: str = ""
    slow: bool = False
    timeout: float = 300.0

    @property
    def book(self):
        return self.path.split("/", 1)[0]

    @property
    def relpath(self):
        """The script's path inside its book directory, e.g. ``ch05/train_neuralnet.py``."""
        return self.path.split("/", 1)[1]


def override(name, module, alias=None):
    """A ``nets`` substitution: the script's own ``def name``/``class name`` is renamed ``_book_<name>`` and
    ``name`` is imported from ``module`` (as ``alias`` of fastnn's, when fastnn calls it differently)."""
    imported = f"{alias} as {name}" if alias else name
    return (re.compile(rf"^(def|class) {name}\b", re.M),
            f"from {module} import {imported}  # fastnn-nets: replaces the script's own {name}\n"
            rf"\1 _book_{name}")


NETS_CH4 = "from fastnn.nets import TwoLayerNetCh4 as TwoLayerNet"
NETS_CH5 = "from fastnn.nets import TwoLayerNet"
NETS_BOOK2 = "from fastnn.nets import TwoLayerNetBook2 as TwoLayerNet"
LOCAL_NET = "from two_layer_net import TwoLayerNet"
LOCAL_CONVNET, NETS_CONVNET = "from simple_convnet import SimpleConvNet", "from fastnn.nets import SimpleConvNet"
LOCAL_DEEPNET, NETS_DEEPNET = "from deep_convnet import DeepConvNet", "from fastnn.nets import DeepConvNet"
# the second book: its PTB loader and chapter 4's negative sampling, as fastnn-nets replaces them
BOOK_PTB = ("from dataset import ptb", "from fastnn import ptb")
BOOK_NEGSAMP = ("from ch04.negative_sampling_layer import", "from fastnn.negative_sampling_layer import")
BOOK_SEQUENCE = ("from dataset import sequence", "from fastnn import sequence")
BOOK_ATTENTION = ("from ch08.attention_layer import", "from fastnn.attention_layer import")
# the chapter-local seq2seq models, as fastnn-nets replaces them by fastnn.nets' own (fastnn/seq2seq_nets.py)
LOCAL_SEQ2SEQ, NETS_SEQ2SEQ = "from seq2seq import Seq2seq", "from fastnn.nets import Seq2seq"
LOCAL_PEEKY, NETS_PEEKY = "from peeky_seq2seq import PeekySeq2seq", "from fastnn.nets import PeekySeq2seq"
LOCAL_ATTENTION_SEQ2SEQ = "from attention_seq2seq import AttentionSeq2seq"
NETS_ATTENTION_SEQ2SEQ = "from fastnn.nets import AttentionSeq2seq"
BIBLE_SKIP_WORDS = ("skip_words = ['N', '<unk>', '$']", "skip_words = ['<unk>']  # 'N', '$': not Bible words")
BIBLE_SKIP_WHY = ("'N' and '$' are not in the Bible corpus's vocabulary (its numbers are words; PTB's formatter "
                  "drops punctuation)")
LR20_TOL = ("SGD at the published lr 20 on float32 weights amplifies rounding: the book's own run with its initial "
            "weights scaled by 1 + 1e-7 * noise prints perplexities 5.7% apart from its unperturbed run after 40 "
            "iterations (measured on this corpus); fastnn's sums in another order are such a perturbation. The "
            "first iterations agree to 1e-5 (tests/test_rnnlm_nets.py compares the models step by step)")
# the book's RnnlmGen calls int() on the one-element array np.random.choice(size=1) returns: NumPy 2 refuses
NUMPY2_INT = ("word_ids.append(int(x))", "word_ids.append(int(x[0]))  # tests/book_scripts.py: NumPy 2")
def nets_lm(script, *imports):
    """``nets`` for a script importing the book's chapter language models: each ``"module.Name"`` of ``imports``
    (the script's ``from module import Name``) is imported from fastnn.nets (fastnn.rnnlm_nets) instead."""
    pairs = [name.split(".") for name in imports]
    return {script: [(f"from {m} import {n}", f"from fastnn.nets import {n}") for m, n in pairs]}


RNN_TOL = ("float32 recurrent nets: fastnn sums a time loop's weight gradients in one product where the book adds "
           "per-step products, so the float32 values agree to rounding (about 1e-6 relative per step) and the "
           "perplexities and losses, after many updates, to about 1e-4")
VOCAB_LINE = "vocab_size = len(word_to_id)\n"
VOCAB_CUT = ("vocab_size = 2000  # cut by tests/book_scripts.py\ncorpus = corpus[corpus < vocab_size]\n"
             "id_to_word = {i: id_to_word[i] for i in range(vocab_size)}\n"
             "word_to_id = {w: i for i, w in id_to_word.items()}\n")
CONTEXTS_LINE = "contexts, target = create_contexts_target(corpus, window_size)\n"
GRADIENT_CHECK_TOL = ("the printed values are mean |backprop - numerical| gradients (1e-9..1e-7), differences of "
                      "nearly equal numbers: two correct implementations agree only to the numerical gradient's "
                      "rounding, about 1e-16 * loss / 2h = 1e-12 per element (measured: 1e-4 relative)")

SCRIPTS = (
    # --- chapter 3: functions on the book's trained weights (sample_weight.pkl) and on a number line -----------
    Script("book1/ch03/step_function.py", variants=("fastnn-nets",),
           nets={"ch03/step_function.py": [override("step_function", "fastnn.functions")]}),
    Script("book1/ch03/sigmoid.py", variants=("fastnn-nets",),
           nets={"ch03/sigmoid.py": [override("sigmoid", "fastnn.functions")]}),
    Script("book1/ch03/relu.py", variants=("fastnn-nets",),
           nets={"ch03/relu.py": [override("relu", "fastnn.functions")]}),
    Script("book1/ch03/sig_step_compare.py", variants=("fastnn-nets",),
           nets={"ch03/sig_step_compare.py": [override("sigmoid", "fastnn.functions"),
                                              override("step_function", "fastnn.functions")]}),
    # the test images of Fashion-MNIST through the book's MNIST weights: the accuracy means nothing, the
    # predictions must be the book's (float32 weights and images: float32 arithmetic in every variant)
    # (slow: 2 s compiled, 18 s with NUMBA_DISABLE_JIT=1, like the training runs below)
    Script("book1/ch03/neuralnet_mnist.py", variants=("fastnn",), mnist=True, slow=True),
    Script("book1/ch03/neuralnet_mnist_batch.py", variants=("fastnn",), mnist=True, slow=True),
    # --- chapter 4 ----------------------------------------------------------------------------------------------
    Script("book1/ch04/gradient_1d.py", variants=("fastnn-nets",),
           nets={"ch04/gradient_1d.py": [override("numerical_diff", "fastnn.gradient")]}),
    # gradient_2d's numerical_gradient (row by row for a 2-D x) is the book's common.gradient.numerical_gradient_2d
    Script("book1/ch04/gradient_2d.py", variants=("fastnn-nets",),
           nets={"ch04/gradient_2d.py": [override("numerical_gradient", "fastnn.gradient", "numerical_gradient_2d")]}),
    # gradient_method imports numerical_gradient from gradient_2d, switched as above; its own gradient_descent
    # returns (x, history), fastnn's the book text's x only: not switched
    Script("book1/ch04/gradient_method.py", variants=("fastnn-nets",),
           nets={"ch04/gradient_2d.py": [override("numerical_gradient", "fastnn.gradient", "numerical_gradient_2d")]}),
    Script("book1/ch04/gradient_simplenet.py",
           nets={"ch04/gradient_simplenet.py": [override("simpleNet", "fastnn.nets")]}),
    Script("book1/ch04/train_neuralnet.py", mnist=True, slow=True,
           reduce=(("iters_num = 10000", "iters_num = 1201"),),
           reduce_why="10000 -> 1201 iterations: the accuracy lines at iterations 0, 600 and 1200 (of 17)",
           nets={"ch04/train_neuralnet.py": [(LOCAL_NET, NETS_CH4)]}),
    # --- chapter 5 ----------------------------------------------------------------------------------------------
    Script("book1/ch05/gradient_check.py", mnist=True, slow=True, rtol=1e-3, tol_why=GRADIENT_CHECK_TOL,
           nets={"ch05/gradient_check.py": [(LOCAL_NET, NETS_CH5)]}),
    Script("book1/ch05/train_neuralnet.py", mnist=True, slow=True,
           reduce=(("iters_num = 10000", "iters_num = 1201"),),
           reduce_why="10000 -> 1201 iterations: the accuracy lines at iterations 0, 600 and 1200 (of 17)",
           nets={"ch05/train_neuralnet.py": [(LOCAL_NET, NETS_CH5)]}),
    # --- chapter 6 ----------------------------------------------------------------------------------------------
    Script("book1/ch06/optimizer_compare_naive.py", variants=("fastnn",)),
    Script("book1/ch06/optimizer_compare_mnist.py", variants=("fastnn",), mnist=True, slow=True,
           reduce=(("max_iterations = 2000", "max_iterations = 201"),),
           reduce_why="2000 -> 201 iterations of the four networks: the loss reports at 0, 100, 200 and the "
                      "smoothed loss curves (201 points each, every loss after every update)"),
    Script("book1/ch06/weight_init_compare.py", variants=("fastnn",), mnist=True, slow=True,
           reduce=(("max_iterations = 2000", "max_iterations = 201"),),
           reduce_why="2000 -> 201 iterations of the three networks: the loss reports at 0, 100, 200 and the "
                      "smoothed loss curves"),
    Script("book1/ch06/overfit_weight_decay.py", variants=("fastnn",), mnist=True, slow=True,
           reduce=(("max_epochs = 201", "max_epochs = 21"),),
           reduce_why="201 -> 21 epochs (3 iterations each on the script's own 300 training images; the test "
                      "accuracy on all 10,000 test images at each)"),
    Script("book1/ch06/overfit_dropout.py", variants=("fastnn",), mnist=True, slow=True,
           reduce=(("epochs=301", "epochs=21"),),
           reduce_why="301 -> 21 epochs of the Trainer (63 iterations on 300 images, each printing its loss)"),
    Script("book1/ch06/hyperparameter_optimization.py", variants=("fastnn",), mnist=True, slow=True,
           reduce=(("optimization_trial = 100", "optimization_trial = 4"),),
           reduce_why="100 -> 4 random (lr, weight decay) trials (50 epochs each, as published)"),
    Script("book1/ch06/batch_norm_test.py", variants=("fastnn",), mnist=True, slow=True,
           reduce=(("max_epochs = 20", "max_epochs = 4"),),
           reduce_why="20 -> 4 epochs for each of the 16 weight scales (31 iterations of both networks)"),
    # the probe prints the key order of gradient() (the script prints numerical_gradient()'s order)
    Script("book1/ch06/batch_norm_gradient_check.py", variants=("fastnn",), mnist=True, slow=True,
           rtol=1e-3, tol_why=GRADIENT_CHECK_TOL,
           reduce=(("hidden_size_list=[100, 100]", "hidden_size_list=[10, 10]"),),
           reduce_why="hidden layers 100, 100 -> 10, 10: the book's numerical gradient of 89,000 parameters takes "
                      "47 s, of 8,200 about 4 s",
           probe="print('gradient keys:', ' '.join(grad_backprop.keys()))\n"
                 "print('numerical_gradient keys:', ' '.join(grad_numerical.keys()))"),
    Script("book1/ch06/weight_init_activation_histogram.py", variants=("fastnn-nets",),
           nets={"ch06/weight_init_activation_histogram.py": [override("sigmoid", "fastnn.functions")]}),
    # --- chapter 7 (the chapter-local simple_convnet.py; fastnn-nets: fastnn.nets.SimpleConvNet) --------------
    Script("book1/ch07/train_convnet.py", mnist=True, slow=True,
           reduce=(("#x_train, t_train = x_train[:5000], t_train[:5000]",
                    "x_train, t_train = x_train[:5000], t_train[:5000]"),
                   ("#x_test, t_test = x_test[:1000], t_test[:1000]", "x_test, t_test = x_test[:1000], t_test[:1000]"),
                   ("max_epochs = 20", "max_epochs = 1")),
           reduce_why="the script's own commented-out reduction to 5000/1000 images, 20 -> 1 epoch: the first 50 "
                      "iterations (their losses, the epoch and final accuracies)",
           nets={"ch07/train_convnet.py": [(LOCAL_CONVNET, NETS_CONVNET)]}),
    Script("book1/ch07/gradient_check.py", rtol=1e-3, tol_why=GRADIENT_CHECK_TOL,
           nets={"ch07/gradient_check.py": [(LOCAL_CONVNET, NETS_CONVNET)]}),
    # the book's trained filters (params.pkl, read by pickle in the chapter's net, by fastnn's restricted
    # unpickler in fastnn-nets), drawn with imshow: the images are compared
    Script("book1/ch07/visualize_filter.py", nets={"ch07/visualize_filter.py": [(LOCAL_CONVNET, NETS_CONVNET)]}),
    Script("book1/ch07/apply_filter.py", slow=True,
           nets={"ch07/apply_filter.py": [(LOCAL_CONVNET, NETS_CONVNET)]}),
    # --- chapter 8 (the chapter-local deep_convnet.py; fastnn-nets: fastnn.nets.DeepConvNet) --------------------
    Script("book1/ch08/train_deepnet.py", mnist=True, slow=True, timeout=600.0,
           reduce=(("network = DeepConvNet()", "x_train, t_train = x_train[:5000], t_train[:5000]\n"
                                               "x_test, t_test = x_test[:1000], t_test[:1000]\n"
                                               "network = DeepConvNet()"),
                   ("epochs=20", "epochs=1")),
           reduce_why="5000 training / 1000 test images, 20 -> 1 epoch: the first 50 iterations (dropout draws "
                      "included) and the accuracies",
           nets={"ch08/train_deepnet.py": [(LOCAL_DEEPNET, NETS_DEEPNET)]}),
    # the book's trained DeepConvNet (deep_convnet_params.pkl) on Fashion-MNIST test images: predictions compared
    Script("book1/ch08/misclassified_mnist.py", mnist=True, slow=True,
           reduce=(("#sampled = 1000\n#x_test = x_test[:sampled]\n#t_test = t_test[:sampled]",
                    "sampled = 1000\nx_test = x_test[:sampled]\nt_test = t_test[:sampled]"),),
           reduce_why="the script's own commented-out reduction to 1000 test images",
           nets={"ch08/misclassified_mnist.py": [(LOCAL_DEEPNET, NETS_DEEPNET)]}),
    Script("book1/ch08/half_float_network.py", mnist=True, slow=True,
           reduce=(("sampled = 10000", "sampled = 1000"),),
           reduce_why="10000 -> 1000 test images, in float64 and rounded to float16",
           nets={"ch08/half_float_network.py": [(LOCAL_DEEPNET, NETS_DEEPNET)]}),
    # --- the second book, chapter 1 -----------------------------------------------------------------------------
    Script("book2/ch01/forward_net.py", variants=("fastnn-nets",),
           nets={"ch01/forward_net.py": [override("Sigmoid", "fastnn.layers"), override("Affine", "fastnn.layers")]}),
    # the Trainer prints the average loss with %.2f: one unit of the last digit where a value sits on a rounding
    # boundary. Run as published (300 epochs: 5 s); slow: 30 s with NUMBA_DISABLE_JIT=1
    Script("book2/ch01/train.py", slow=True, printed_atol=0.0100001, tol_why="losses printed with %.2f",
           nets={"ch01/train.py": [(LOCAL_NET, NETS_BOOK2)]}),
    Script("book2/ch01/train_custom_loop.py", slow=True, printed_atol=0.0100001, tol_why="losses printed with %.2f",
           reduce=(("h = 0.001", "h = 0.01"),),
           reduce_why="the decision-region grid step 0.001 -> 0.01 (about 60,000 points instead of 6 million)",
           probe="print('predicted classes on the grid:', np.bincount(predict_cls, minlength=3))",
           nets={"ch01/train_custom_loop.py": [(LOCAL_NET, NETS_BOOK2)]}),
    # --- the second book, chapter 2: counting methods on the book's sentence and on the PTB-format corpus -------
    Script("book2/ch02/similarity.py", variants=("fastnn",)),
    Script("book2/ch02/most_similar.py", variants=("fastnn",)),
    Script("book2/ch02/ppmi.py", variants=("fastnn",)),
    Script("book2/ch02/count_method_small.py", variants=("fastnn",)),
    # the book's PPMI loop over 10,000 x 10,000 cells alone takes 100-150 s
    Script("book2/ch02/count_method_big.py", ptb=True, slow=True, reduce=((VOCAB_LINE, VOCAB_CUT),),
           reduce_why="the vocabulary cut to the first 2,000 words (ids in order of first appearance) and the "
                      "corpus to their occurrences: PPMI and SVD of 2,000 x 2,000 instead of 10,000 x 10,000",
           nets={"ch02/count_method_big.py": [BOOK_PTB]}),
    # --- chapter 3: the simple CBOW (and, by a probe, the simple skip-gram) on the book's sentence --------------
    Script("book2/ch03/cbow_predict.py", variants=("fastnn",)),
    Script("book2/ch03/train.py", variants=("fastnn",), printed_atol=0.0100001,
           tol_why="losses printed with %.2f (the float32 word vectors after 2,000 Adam steps agree to about 1e-6: "
                   "float32 sums in another order)",
           probe="from simple_skip_gram import SimpleSkipGram  # train.py's chapter trains it the same way\n"
                 "model = SimpleSkipGram(vocab_size, hidden_size)\n"
                 "Trainer(model, Adam()).fit(contexts, target, max_epoch, batch_size)\n"
                 "for word_id, word in id_to_word.items():\n"
                 "    print('skip-gram', word, model.word_vecs[word_id])"),
    # --- chapter 4: word2vec with negative sampling on the PTB-format corpus; the book's trained vectors --------
    Script("book2/ch04/train.py", ptb=True, slow=True, printed_atol=0.0100001, tol_why="losses printed with %.2f",
           reduce=(("max_epoch = 10", "max_epoch = 1"),
                   (CONTEXTS_LINE, CONTEXTS_LINE + "contexts, target = contexts[:20000], target[:20000]  # cut\n")),
           reduce_why="10 epochs of all ~650,000 contexts -> 1 epoch of the first 20,000: 200 iterations (the book's "
                      "code: about 90 minutes -> 15 s)",
           probe="model = SkipGram(vocab_size, hidden_size, window_size, corpus)  # train.py imports it\n"
                 "Trainer(model, Adam()).fit(contexts[:2000], target[:2000], 1, batch_size)",
           nets={"ch04/train.py": [BOOK_PTB], "ch04/cbow.py": [BOOK_NEGSAMP], "ch04/skip_gram.py": [BOOK_NEGSAMP]}),
    Script("book2/ch04/eval.py", nets={"ch04/eval.py": [
        ("import pickle", "import pickle\nfrom fastnn.io import load_pickle"),
        ("params = pickle.load(f)", "params = load_pickle(pkl_file)  # fastnn-nets: the restricted unpickler")]}),
    # --- chapter 5: the simple RNN language model on the first 1,000 words of the PTB-format corpus (as published)
    # (chapters 5-8 are all slow: a few seconds compiled, minutes with NUMBA_DISABLE_JIT=1's Python time loops)
    Script("book2/ch05/train.py", slow=True, ptb=True, variants=("fastnn", "fastnn-nets"),
           nets=nets_lm("ch05/train.py", "simple_rnnlm.SimpleRnnlm"), printed_atol=0.0100001, rtol=1e-4,
           tol_why=RNN_TOL),
    Script("book2/ch05/train_custom_loop.py", slow=True, ptb=True, variants=("fastnn", "fastnn-nets"),
           nets=nets_lm("ch05/train_custom_loop.py", "simple_rnnlm.SimpleRnnlm"), printed_atol=0.0100001,
           rtol=1e-4, tol_why=RNN_TOL),
    # --- chapter 6: LSTM language models ------------------------------------------------------------------------
    Script("book2/ch06/train_rnnlm.py", ptb=True, slow=True, variants=("fastnn", "fastnn-nets"),
           nets=nets_lm("ch06/train_rnnlm.py", "rnnlm.Rnnlm"), rtol=0.15, tol_why=LR20_TOL,
           reduce=(("max_epoch = 4", "max_epoch = 1"),
                   ("corpus_test, _, _ = ptb.load_data('test')",
                    "corpus_test, _, _ = ptb.load_data('test')\n"
                    "corpus, corpus_test = corpus[:28701], corpus_test[:3501]  # cut by tests/book_scripts.py")),
           reduce_why="4 epochs of the whole corpus -> 1 epoch of its first 28,700 words (41 iterations of 20 x 35 "
                      "words: perplexity lines at 1, 21, 41), the test perplexity on the first 3,500 test words "
                      "(10 batches of 10 x 35)"),
    Script("book2/ch06/train_better_rnnlm.py", ptb=True, slow=True, variants=("fastnn", "fastnn-nets"),
           nets=nets_lm("ch06/train_better_rnnlm.py", "better_rnnlm.BetterRnnlm"), rtol=0.15, tol_why=LR20_TOL,
           timeout=900.0,
           reduce=(("max_epoch = 40", "max_epoch = 2"),
                   ("corpus_test, _, _ = ptb.load_data('test')",
                    "corpus_test, _, _ = ptb.load_data('test')\n"
                    "corpus, corpus_val, corpus_test = corpus[:4201], corpus_val[:3501], corpus_test[:3501]  # cut")),
           reduce_why="40 epochs of the whole corpus -> 2 epochs of its first 4,200 words (6 iterations each, "
                      "with the learning-rate decay branch), validation and test perplexities on 3,500 words: "
                      "the book's code takes 1.3 s per iteration"),
    # the book's trained Rnnlm (Rnnlm.pkl, PTB's vocabulary) on the PTB-format test words: the same perplexity
    Script("book2/ch06/eval.py", ptb=True, slow=True, variants=("fastnn", "fastnn-nets"),
           nets=nets_lm("ch06/eval.py", "rnnlm.Rnnlm", "better_rnnlm.BetterRnnlm"), rtol=1e-4, tol_why=RNN_TOL,
           reduce=(("    corpus, _, _ = ptb.load_data('test')",
                    "    corpus, _, _ = ptb.load_data('test')\n"
                    "    corpus = corpus[:7001]  # cut by tests/book_scripts.py"),),
           reduce_why="the test perplexity on the first 7,000 test words (20 batches of 10 x 35)"),
    # --- chapter 7: text generation and seq2seq -----------------------------------------------------------------
    # the book's Rnnlm.pkl generating 100 words from 'you' (np.random.choice under the run's seed)
    Script("book2/ch07/generate_text.py", slow=True, ptb=True, variants=("fastnn", "fastnn-nets"),
           nets=nets_lm("ch07/generate_text.py", "rnnlm_gen.RnnlmGen"), rtol=1e-4, tol_why=RNN_TOL,
           fixes={"ch07/rnnlm_gen.py": [NUMPY2_INT]},
           reduce=(BIBLE_SKIP_WORDS,), reduce_why=BIBLE_SKIP_WHY),
    # no BetterRnnlm.pkl ships with the book: the seeded random weights of BetterRnnlmGen generate instead
    Script("book2/ch07/generate_better_text.py", ptb=True, slow=True, variants=("fastnn", "fastnn-nets"),
           nets=nets_lm("ch07/generate_better_text.py", "rnnlm_gen.BetterRnnlmGen"), rtol=1e-4,
           tol_why=RNN_TOL,
           fixes={"ch07/rnnlm_gen.py": [NUMPY2_INT]},
           reduce=(("model.load_params('../ch06/BetterRnnlm.pkl')",
                    "pass  # tests/book_scripts.py: no BetterRnnlm.pkl ships with the book (seeded weights)"),
                   BIBLE_SKIP_WORDS),
           reduce_why="the book ships no BetterRnnlm.pkl (train_better_rnnlm.py's 13-16 hour result): the model "
                      "generates with its seeded initial weights; " + BIBLE_SKIP_WHY),
    Script("book2/ch07/show_addition_dataset.py", variants=("fastnn-nets",),
           nets={"ch07/show_addition_dataset.py": [BOOK_SEQUENCE]}),
    Script("book2/ch07/train_seq2seq.py", slow=True, variants=("fastnn", "fastnn-nets"), rtol=1e-4, tol_why=RNN_TOL,
           reduce=(("max_epoch = 25", "max_epoch = 1"),
                   ("char_to_id, id_to_char = sequence.get_vocab()",
                    "char_to_id, id_to_char = sequence.get_vocab()\n"
                    "x_train, t_train, x_test, t_test = x_train[:6400], t_train[:6400], x_test[:500], t_test[:500]")),
           reduce_why="25 epochs of 45,000 questions -> 1 epoch of the first 6,400 (50 iterations), 500 test "
                      "questions; the probe trains the imported PeekySeq2seq the same way",
           probe="model = PeekySeq2seq(vocab_size, wordvec_size, hidden_size)\n"
                 "Trainer(model, Adam()).fit(x_train[:1280], t_train[:1280], 1, batch_size, max_grad=max_grad)\n"
                 "print('peeky', sum(eval_seq2seq(model, x_test[[i]], t_test[[i]], id_to_char) "
                 "for i in range(100)))",
           nets={"ch07/train_seq2seq.py": [(LOCAL_SEQ2SEQ, NETS_SEQ2SEQ), (LOCAL_PEEKY, NETS_PEEKY)]}),
    # --- chapter 8: attention (ch08/train.py needs ../ch07 on sys.path: a known bug of the book's repository) ----
    Script("book2/ch08/train.py", slow=True, variants=("fastnn", "fastnn-nets"), rtol=1e-4, tol_why=RNN_TOL,
           reduce=(("sys.path.append('..')", "sys.path.append('..')\nsys.path.append('../ch07')  # the book's bug"),
                   ("max_epoch = 10", "max_epoch = 1"),
                   ("x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]",
                    "x_train, x_test = x_train[:, ::-1], x_test[:, ::-1]\n"
                    "x_train, t_train, x_test, t_test = x_train[:3200], t_train[:3200], x_test[:200], t_test[:200]")),
           reduce_why="10 epochs of 45,000 dates -> 1 epoch of the first 3,200 (25 iterations), 200 test questions",
           nets={"ch08/train.py": [(LOCAL_ATTENTION_SEQ2SEQ, NETS_ATTENTION_SEQ2SEQ),
                                   ("from ch07." + LOCAL_SEQ2SEQ[5:], NETS_SEQ2SEQ),
                                   ("from ch07." + LOCAL_PEEKY[5:], NETS_PEEKY)]}),
    # the book's trained AttentionSeq2seq.pkl: the attention maps of five random test dates (printed by the probe
    # line before each is drawn, as pcolor's data is not in the figure record)
    Script("book2/ch08/visualize_attention.py", slow=True, variants=("fastnn", "fastnn-nets"), rtol=1e-4,
           tol_why=RNN_TOL,
           reduce=(("    visualize(attention_map, row_labels, column_labels)",
                    "    print(np.array2string(attention_map, precision=4))\n"
                    "    visualize(attention_map, row_labels, column_labels)"),),
           reduce_why="prints each attention map before it is drawn",
           nets={"ch08/visualize_attention.py": [(LOCAL_ATTENTION_SEQ2SEQ, NETS_ATTENTION_SEQ2SEQ)]}),
)

# Files of the covered chapters that are not run, and why (the test checks that this table and SCRIPTS cover them).
NOT_RUN = {
    "book1/ch03/mnist_show.py": "uses no common module (nothing to switch) and pil_img.show() starts an external "
                                "image viewer",
    "book1/ch04/two_layer_net.py": "chapter-local module: run by ch04/train_neuralnet.py",
    "book1/ch05/two_layer_net.py": "chapter-local module: run by ch05/gradient_check.py and ch05/train_neuralnet.py",
    "book1/ch05/layer_naive.py": "chapter-local module of buy_apple*.py",
    "book1/ch05/buy_apple.py": "uses only ch05/layer_naive.py (MulLayer, AddLayer), which fastnn has no counterpart "
                               "of: the three variants would be the same text",
    "book1/ch05/buy_apple_orange.py": "as buy_apple.py",
    "book1/ch07/simple_convnet.py": "chapter-local module: run by every other ch07 script",
    "book1/ch08/deep_convnet.py": "chapter-local module: run by ch08/train_deepnet.py, misclassified_mnist.py and "
                                  "half_float_network.py",
    "book1/ch08/awesome_net.py": "one comment line, no code",
    "book2/ch01/two_layer_net.py": "chapter-local module: run by ch01/train.py and ch01/train_custom_loop.py",
    "book2/ch01/show_spiral_dataset.py": "uses no common module and no fastnn counterpart: it prints and plots the "
                                         "book's own dataset/spiral.py data",
    "book2/ch02/show_ptb.py": "prints PTB's own words (word_to_id['car'], 'happy', 'lexus': a KeyError on any other "
                              "corpus), so it runs on the real PTB only; what it calls, the book's PTB loader, is "
                              "compared with fastnn.ptb on the PTB-format corpus in tests/test_ptb.py",
    "book2/ch03/simple_cbow.py": "chapter-local module: run by ch03/train.py",
    "book2/ch03/simple_skip_gram.py": "chapter-local module: run by ch03/train.py's probe",
    "book2/ch04/cbow.py": "chapter-local module: run by ch04/train.py",
    "book2/ch04/skip_gram.py": "chapter-local module: run by ch04/train.py's probe",
    "book2/ch04/negative_sampling_layer.py": "chapter-local module: run by ch04/train.py (through cbow.py and "
                                             "skip_gram.py); fastnn-nets imports fastnn.negative_sampling_layer",
    "book2/ch05/simple_rnnlm.py": "chapter-local module: run by ch05/train.py and ch05/train_custom_loop.py",
    "book2/ch06/rnnlm.py": "chapter-local module: run by ch06/train_rnnlm.py, ch06/eval.py and ch07's generators",
    "book2/ch06/better_rnnlm.py": "chapter-local module: run by ch06/train_better_rnnlm.py and "
                                  "ch07/generate_better_text.py",
    "book2/ch06/clip_grads.py": "uses no common module: it defines and prints its own clip_grads (fastnn.util's is "
                                "tested against the book's in tests/test_util.py)",
    "book2/ch06/rnn_gradient_graph.py": "uses no common module and nothing fastnn has: NumPy products of a random "
                                        "matrix, plotted",
    "book2/ch07/seq2seq.py": "chapter-local module: run by ch07/train_seq2seq.py and chapter 8's scripts",
    "book2/ch07/peeky_seq2seq.py": "chapter-local module: run by ch07/train_seq2seq.py's probe",
    "book2/ch07/rnnlm_gen.py": "chapter-local module: run by ch07/generate_text.py and generate_better_text.py",
    "book2/ch08/attention_seq2seq.py": "chapter-local module: run by ch08/train.py and visualize_attention.py",
    "book2/ch08/attention_layer.py": "chapter-local module: run by ch08's scripts; fastnn-nets imports "
                                     "fastnn.attention_layer",
}
CHAPTERS = ("book1/ch03", "book1/ch04", "book1/ch05", "book1/ch06", "book1/ch07", "book1/ch08", "book2/ch01",
            "book2/ch02", "book2/ch03", "book2/ch04", "book2/ch05", "book2/ch06", "book2/ch07", "book2/ch08")


def find_script(name):
    """The Script for "ch05/train_neuralnet.py" or "book1/ch05/train_neuralnet.py" (without the book: the one
    script of SCRIPTS with that path, else the first book's, ch01's the second's); a script not in SCRIPTS gets the
    defaults (no reduction, both variants)."""
    if not name.startswith(("book1/", "book2/")):
        listed = [s.path for s in SCRIPTS if s.relpath == name]
        name = listed[0] if len(listed) == 1 else ("book2/" if name.startswith("ch01/") else "book1/") + name
    for s in SCRIPTS:
        if s.path == name:
            return s
    return Script(name)


# --- preparing a copy -------------------------------------------------------------------------------------------
def _make_writable(root):
    for dirpath, _dirs, files in os.walk(root):
        os.chmod(dirpath, 0o755)
        for f in files:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                os.chmod(p, 0o644)


def build_template(book, dest, *, with_mnist=True, ptb_dir=None, python=sys.executable):
    """A writable copy of the book directory at ``dest``. For the first book with ``with_mnist``, the
    Fashion-MNIST .gz files are copied into its dataset/ and the book's own loader converts them once
    (``dataset/mnist.pkl``), with the network blocked; returns what the loader printed. For the second book with
    ``ptb_dir`` (see build_ptb_corpus), the PTB-format files are copied into its dataset/, where the book's PTB
    loader reads them (and writes its caches, in each run's own copy)."""
    src = shared_dir() / book
    if not src.is_dir():
        raise FileNotFoundError(f"{src} not found (set FASTNN_SHARED to the directory holding book1/ and book2/)")
    shutil.copytree(src, dest)
    _make_writable(dest)
    if book == "book2" and ptb_dir is not None:
        for name in ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"):
            shutil.copyfile(Path(ptb_dir) / name, dest / "dataset" / name)
    printed = ""
    if book == "book1" and with_mnist:
        reason = missing_fashion_mnist()
        if reason:
            raise FileNotFoundError(reason)
        for f in MNIST_FILES:
            shutil.copyfile(fashion_mnist_dir() / f, dest / "dataset" / f)
        code = NO_NETWORK + "from dataset.mnist import load_mnist\nload_mnist()\n"
        proc = subprocess.run([python, "-c", code], cwd=dest, env=run_env(), capture_output=True, text=True,
                              timeout=300)
        printed = proc.stdout
        if proc.returncode != 0 or "Downloading" in proc.stdout or not (dest / "dataset" / "mnist.pkl").is_file():
            raise RuntimeError(f"the book's loader did not convert the local files:\n{proc.stdout}\n{proc.stderr}")
    return printed


def copy_template(template, dest):
    """A fresh copy of a template for one run: the data files of dataset/ (the .gz files and mnist.pkl, read only
    by the loader once mnist.pkl exists) are symlinks to the template's, everything else is copied."""
    def copy(src, dst):
        if Path(src).parent.name == "dataset" and src.endswith((".gz", ".pkl")):
            os.symlink(os.path.abspath(src), dst)
        else:
            shutil.copy2(src, dst)
    shutil.copytree(template, dest, copy_function=copy)


def _fastnn_has(module):
    return find_spec(f"fastnn.{module}") is not None


IMPORT_LINE = re.compile(r"^(\s*from\s+)common\.(\w+)(\s+import\b)", re.M)
IMPORT_MODULE_LINE = re.compile(r"^(\s*from\s+)common(\s+import\s+)(\w+)[ \t]*$", re.M)  # from common import config


def switch_imports(text):
    """``from common.X import ...`` -> ``from fastnn.X import ...``, and ``from common import X`` -> ``from fastnn
    import X``, for every X fastnn has."""
    text = IMPORT_LINE.sub(lambda m: f"{m[1]}fastnn.{m[2]}{m[3]}" if _fastnn_has(m[2]) else m[0], text)
    return IMPORT_MODULE_LINE.sub(lambda m: f"{m[1]}fastnn{m[2]}{m[3]}" if _fastnn_has(m[3]) else m[0], text)


def _substitute(text, old, new, where):
    if isinstance(old, re.Pattern):
        out, n = old.subn(new, text, count=1)
    else:
        n = text.count(old)
        out = text.replace(old, new)
    if n == 0:
        raise ValueError(f"{where}: {getattr(old, 'pattern', old)!r} not found (the book's text changed?)")
    return out


# import lines that may name a chapter module: ``from two_layer_net import``, ``import x``, ``from ch04.cbow import``
LOCAL_IMPORT = re.compile(r"^\s*(?:from\s+(?:(ch\d\d)\.)?(\w+)\s+import|import\s+(\w+))", re.M)


def script_files(copy_dir, script):
    """The script and the chapter modules it (or its probe) imports, directly or through each other (a script runs
    in its chapter directory, so ``from two_layer_net import ...`` is ``<chapter>/two_layer_net.py``; ``from
    ch04.negative_sampling_layer import ...`` names the chapter), as paths relative to the copy, the script
    first."""
    chapter = script.relpath.split("/")[0]
    todo, seen = [script.relpath], []
    while todo:
        rel = todo.pop(0)
        if rel in seen:
            continue
        seen.append(rel)
        text = (copy_dir / rel).read_text(encoding="utf-8") + ("\n" + script.probe if rel == script.relpath else "")
        for m in LOCAL_IMPORT.finditer(text):
            where, name = m[1] or chapter, m[2] or m[3]
            if (copy_dir / where / f"{name}.py").is_file():
                todo.append(f"{where}/{name}.py")
    return seen


def apply_variant(copy_dir, script, variant, *, full=False):
    """Edit the copy in place for ``variant`` (the script and the chapter-local modules it imports); returns
    {relative path: text} of those files (the script itself, as it runs, and every module that differs from the
    book's text)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    changed = {}
    nets_files = set(script.nets) if variant == "fastnn-nets" else set()
    files = script_files(copy_dir, script)
    for rel in files + sorted(nets_files - set(files)):
        path = copy_dir / rel
        text = original = path.read_text(encoding="utf-8")
        if rel == script.relpath:
            if not full:
                for old, new in script.reduce:
                    text = _substitute(text, old, new, f"{script.path} reduction")
            if script.probe:
                text = f"{text.rstrip()}\n\n# --- probe appended by tests/book_scripts.py ---\n{script.probe}\n"
        for old, new in script.fixes.get(rel, ()):
            text = _substitute(text, old, new, f"{script.path} fix of {rel}")
        if variant != "book":
            text = switch_imports(text)
        if rel in nets_files:
            for old, new in script.nets[rel]:
                text = _substitute(text, old, new, f"{script.path} fastnn-nets, {rel}")
        if text != original:
            path.write_text(text, encoding="utf-8")
        if text != original or rel == script.relpath:
            changed[rel] = text
    return changed


# --- running ----------------------------------------------------------------------------------------------------
NO_NETWORK = textwrap.dedent("""\
    import socket as _socket
    def _no_network(*args, **kwargs):
        raise OSError("tests/book_scripts.py: network access is blocked in book-script runs")
    _socket.socket.connect = _socket.socket.connect_ex = _no_network
    _socket.create_connection = _socket.getaddrinfo = _no_network
    """)

PRELUDE = NO_NETWORK + textwrap.dedent("""\
    import json, os, runpy, sys
    import numpy as np

    def _array(a):
        a = np.ma.filled(np.ma.asarray(a, dtype=float), np.nan)
        return a.tolist()

    def _figures():
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is None:
            return []
        figures = []
        for num in plt.get_fignums():
            axes = []
            for ax in plt.figure(num).axes:
                items = [["line", _array(l.get_xdata()), _array(l.get_ydata())] for l in ax.get_lines()]
                items += [["image", _array(im.get_array())] for im in ax.images]  # imshow: filters, feature maps
                items += [["bar", [p.get_x(), p.get_width(), p.get_height()]] for p in ax.patches
                          if hasattr(p, "get_height")]
                for c in ax.collections:
                    kind = type(c).__name__
                    if hasattr(c, "levels"):  # contour sets
                        items.append([kind, _array(c.levels)])
                    elif kind == "Quiver":
                        items.append([kind, _array(c.X), _array(c.Y), _array(c.U), _array(c.V)])
                    else:
                        items.append([kind, _array(c.get_offsets())])
                axes.append({"title": ax.get_title(), "items": items})
            figures.append(axes)
        return figures

    np.random.seed(int(os.environ["BOOK_SCRIPT_SEED"]))
    script = os.environ["BOOK_SCRIPT"]
    sys.argv = [script]
    try:
        runpy.run_path(script, run_name="__main__")
    finally:
        sys.stdout.flush()
        with open(os.environ["BOOK_SCRIPT_FIGURES"], "w") as f:
            json.dump(_figures(), f)
    """)


def run_env(extra=None):
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONHASHSEED"] = "0"
    env["PYTHONIOENCODING"] = "utf-8"
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")  # results do not depend on it; two runs at once share the two cores
    # the fastnn these tests import, whether installed or not
    import fastnn
    root = str(Path(fastnn.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


@dataclass
class Result:
    script: Script
    variant: str
    returncode: int
    stdout: str
    stderr: str
    figures: list
    seconds: float
    changed: dict  # relative path -> text of the files that differ from the book's

    def describe(self):
        return f"{self.script.path} [{self.variant}]"


def run_script(script, variant, template, workdir, *, full=False, seed=DEFAULT_SEED, timeout=None,
               python=sys.executable):
    """Copy ``template`` to ``workdir``, apply ``variant`` and run the script there."""
    copy_template(template, workdir)
    changed = apply_variant(workdir, script, variant, full=full)
    figures_file = workdir / "figures.json"
    env = run_env({"BOOK_SCRIPT": script.relpath.split("/", 1)[1], "BOOK_SCRIPT_SEED": str(seed),
                   "BOOK_SCRIPT_FIGURES": str(figures_file),
                   # where fastnn.ptb and fastnn.sequence read (fastnn-nets)
                   "FASTNN_PTB_DIR": str(workdir / "dataset"), "FASTNN_SEQUENCE_DIR": str(workdir / "dataset")})
    start = time.perf_counter()
    try:
        proc = subprocess.run([python, "-c", PRELUDE], cwd=workdir / script.relpath.split("/")[0], env=env,
                              capture_output=True, text=True, encoding="utf-8",
                              timeout=timeout or (None if full else script.timeout))
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out, err = -9, exc.stdout or "", (exc.stderr or "") + f"\n[timed out after {exc.timeout} s]"
        out = out.decode() if isinstance(out, bytes) else out
        err = err.decode() if isinstance(err, bytes) else err
    seconds = time.perf_counter() - start
    try:
        figures = json.loads(figures_file.read_text())
    except (OSError, ValueError):
        figures = None
    return Result(script, variant, rc, out, err, figures, seconds, changed)


def run_variants(script, variants, template, workdir, *, jobs=None, **kwargs):
    """Run ``script`` in each variant (concurrently, ``jobs`` at a time: default $FASTNN_BOOK_JOBS or 2);
    returns {variant: Result}."""
    jobs = jobs or int(os.environ.get("FASTNN_BOOK_JOBS") or min(2, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {v: pool.submit(run_script, script, v, template, Path(workdir) / v, **kwargs) for v in variants}
        return {v: f.result() for v, f in futures.items()}


# --- comparing --------------------------------------------------------------------------------------------------
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|\bnan\b|\binf\b")
WALL_CLOCK = re.compile(r"time \d+\[s\]")  # the second book's Trainer prints elapsed seconds
WARNING = re.compile(r"^.*?:\d+: (\w*Warning): (.*)$", re.M)


def split_numbers(text):
    """(the text with every number replaced by '#', the numbers)."""
    text = WALL_CLOCK.sub("time _[s]", text)
    return NUMBER.sub("#", text), [float(v) for v in NUMBER.findall(text)]


def warnings_of(stderr):
    """The set of (category, message) of the warnings printed on stderr (where they come from is not compared:
    fastnn's code is elsewhere than the book's)."""
    return set(WARNING.findall(stderr))


def _close(a, b, rtol, atol):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and bool(np.all(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)))


def compare_stdout(expected, got, rtol, atol):
    """Problems (a list of strings, empty when the outputs agree): same lines and words, numbers to tolerance.
    White space is not compared (NumPy pads a printed array's columns to the widest number)."""
    problems = []
    exp_lines, got_lines = expected.splitlines(), got.splitlines()
    if len(exp_lines) != len(got_lines):
        problems.append(f"{len(got_lines)} lines printed, the book's run printed {len(exp_lines)}")
    for i, (e, g) in enumerate(zip(exp_lines, got_lines), 1):
        (et, en), (gt, gn) = split_numbers(e), split_numbers(g)
        if "".join(et.split()) != "".join(gt.split()) or len(en) != len(gn):
            problems.append(f"line {i}: expected {e!r}, got {g!r}")
        elif not _close(gn, en, rtol, atol):
            worst = max(range(len(en)), key=lambda k: abs(gn[k] - en[k]) - atol - rtol * abs(en[k]))
            problems.append(f"line {i}: expected {e!r}, got {g!r} (number {worst + 1}: {en[worst]!r} vs "
                            f"{gn[worst]!r}, rtol={rtol}, atol={atol})")
        if len(problems) >= 8:
            problems.append("...")
            break
    return problems


def compare_figures(expected, got, rtol, atol):
    if expected is None or got is None:
        return [] if expected == got else [f"figure data missing: book {expected is None}, fastnn {got is None}"]
    problems = []
    if len(expected) != len(got):
        return [f"{len(got)} figures drawn, the book's run drew {len(expected)}"]
    for f, (ef, gf) in enumerate(zip(expected, got), 1):
        if len(ef) != len(gf):
            problems.append(f"figure {f}: {len(gf)} axes, the book's {len(ef)}")
            continue
        for a, (ea, ga) in enumerate(zip(ef, gf), 1):
            where = f"figure {f}, axes {a}"
            if ea["title"] != ga["title"]:
                problems.append(f"{where}: title {ga['title']!r}, the book's {ea['title']!r}")
            if [i[0] for i in ea["items"]] != [i[0] for i in ga["items"]]:
                problems.append(f"{where}: drew {[i[0] for i in ga['items']]}, the book {[i[0] for i in ea['items']]}")
                continue
            for n, (ei, gi) in enumerate(zip(ea["items"], ga["items"]), 1):
                for ev, gv in zip(ei[1:], gi[1:]):
                    if not _close(gv, ev, rtol, atol):
                        e, g = np.asarray(ev, dtype=float), np.asarray(gv, dtype=float)
                        detail = (f"shape {g.shape} vs the book's {e.shape}" if e.shape != g.shape else
                                  f"max |diff| {np.nanmax(np.abs(e - g)):.3g} (book's values up to "
                                  f"{np.nanmax(np.abs(e)):.3g})")
                        problems.append(f"{where}, {ei[0]} {n}: data differ: {detail}")
                        break
            if len(problems) >= 8:
                return problems + ["..."]
    return problems


def compare(book, other):
    """Problems of ``other`` (a fastnn variant's Result) against ``book`` (the book's run of the same script)."""
    s = book.script
    if book.returncode != 0:
        return [f"the book's own run failed (exit {book.returncode}):\n{book.stderr[-3000:]}"]
    problems = []
    if other.returncode != 0:
        problems.append(f"exit status {other.returncode}:\n{other.stderr[-3000:]}")
    problems += compare_stdout(book.stdout, other.stdout, s.rtol, max(s.atol, s.printed_atol))
    if other.returncode == 0:
        problems += compare_figures(book.figures, other.figures, s.rtol, s.atol)
    # warnings: the same categories (a RuntimeWarning where the book's NumPy code warns of overflow or NaN, none
    # where it does not); the messages may differ, as compiled code cannot say which NumPy operation it was
    we, wg = warnings_of(book.stderr), warnings_of(other.stderr)
    if {c for c, _ in we} != {c for c, _ in wg}:
        problems.append(f"warnings differ: the book's run warned {sorted(we) or 'nothing'}, this run "
                        f"{sorted(wg) or 'nothing'}")
    return problems


def variant_text_problem(results):
    """A problem when a declared variant did not change anything (the SCRIPTS table went stale), else None."""
    order = ["book"] + [v for v in VARIANTS[1:] if v in results]
    for prev, cur in zip(order, order[1:]):
        if prev in results and results[prev].changed == results[cur].changed:
            return f"variant {cur!r} runs the same text as {prev!r}: nothing to switch"
    return None
