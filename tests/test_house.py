"""The house rules as tests (DESIGN.md, README "Under the hood"): every compiled function goes through
fastnn._jit.kernel, parallel kernels are not disk-cached, the NumPy reference imports nothing from fastnn, every
public function and method of the public modules has a docstring that says what it returns, and no file of the
package is over 600 lines of code. Each rule is a function over files or objects, run on the package and on a
planted violation (so a rule that can no longer fail is itself a failing test)."""
import ast
import importlib
import inspect
import json
import os
import pkgutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest

import fastnn
from fastnn import _jit

PACKAGE = Path(fastnn.__file__).resolve().parent
compiled_only = pytest.mark.skipif(numba.config.DISABLE_JIT, reason="with NUMBA_DISABLE_JIT=1 there are no dispatchers")
MAX_CODE_LINES = 600
NUMBA_COMPILERS = {"njit", "jit", "vectorize", "guvectorize", "cfunc", "generated_jit", "stencil"}
# words a docstring uses to say what comes back (or that nothing does)
RETURN_WORDS = ("return", "->", "yield", "true when", "true if", "whether", "nothing", "in place", "none")


def package_files():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def public_modules():
    """fastnn's public modules: not private (no leading underscore), not the compiled kernels."""
    names = []
    for info in pkgutil.walk_packages([str(PACKAGE)], "fastnn."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or parts[1] == "kernels":
            continue
        names.append(info.name)
    return sorted(names)


# --- the rules ---------------------------------------------------------------------------------------------------
def numba_compilers_outside_jit(files, jit_file):
    """(file, line, name) of every use of numba's compiling decorators/functions outside ``jit_file``."""
    found = []
    for path in files:
        if Path(path).resolve() == Path(jit_file).resolve():
            continue
        tree = ast.parse(Path(path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "numba":
                found += [(str(path), node.lineno, a.name) for a in node.names if a.name in NUMBA_COMPILERS]
            elif (isinstance(node, ast.Attribute) and node.attr in NUMBA_COMPILERS
                  and isinstance(node.value, ast.Name) and node.value.id == "numba"):
                found.append((str(path), node.lineno, "numba." + node.attr))
    return found


def _decorator_name(node):
    target = node.func if isinstance(node, ast.Call) else node
    return target.id if isinstance(target, ast.Name) else getattr(target, "attr", None)


def kernels_not_compiled_through_kernel(files):
    """(file, function) of every top-level function of the kernels modules that is neither a ``@kernel`` nor
    an ``@overload`` (numba's hook for a pure-Python function that kernels call)."""
    found = []
    for path in files:
        tree = ast.parse(Path(path).read_text())
        overloaded = {d.args[0].id for node in tree.body if isinstance(node, ast.FunctionDef)
                      for d in node.decorator_list
                      if isinstance(d, ast.Call) and _decorator_name(d) == "overload" and d.args
                      and isinstance(d.args[0], ast.Name)}
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            names = {_decorator_name(d) for d in node.decorator_list}
            if not names & {"kernel", "overload"} and node.name not in overloaded:
                found.append((str(path), node.name))
    return found


def cached_parallel_dispatchers(dispatchers):
    """The names of parallel numba dispatchers that would write their machine code to the disk cache."""
    return [d.__name__ for d in dispatchers
            if d.targetoptions.get("parallel") and type(d._cache).__name__ != "NullCache"]


def package_dispatchers():
    found = []
    for info in pkgutil.iter_modules([str(PACKAGE / "kernels")], "fastnn.kernels."):
        module = importlib.import_module(info.name)
        found += [obj for obj in vars(module).values() if isinstance(obj, numba.core.registry.CPUDispatcher)]
    return found


def literal_signatures(dispatchers):
    """(name, signature) of every compiled signature holding a literal type (``Literal[int](0)``): a kernel compiled
    once per constant value passed to it, beside its plain version."""
    return [(d.__name__, str(sig)) for d in dispatchers for sig in d.signatures
            if any(isinstance(t, numba.core.types.Literal) for t in sig)]


def extra_signatures(signatures, key):
    """The signatures beyond the first one of each ``key(signature)``: compiles that a kernel should not need."""
    seen, extra = set(), []
    for sig in signatures:
        if key(sig) in seen:
            extra.append(str(sig))
        seen.add(key(sig))
    return extra


def fastnn_imports(files, package_dir):
    """(file, line, module) of every import of fastnn, or of a module above ``package_dir`` by relative import."""
    found = []
    for path in files:
        tree = ast.parse(Path(path).read_text())
        depth = len(Path(path).resolve().relative_to(Path(package_dir).resolve()).parts) - 1  # subpackages
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(str(path), node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "fastnn"]
            elif isinstance(node, ast.ImportFrom):
                if node.level == 0 and node.module and node.module.split(".")[0] == "fastnn":
                    found.append((str(path), node.lineno, node.module))
                elif node.level > depth + 1:
                    found.append((str(path), node.lineno, "." * node.level + (node.module or "")))
    return found


def _module_names(package_dir, package):
    """{dotted module name: file} of every module in the package directory."""
    names = {}
    for path in sorted(Path(package_dir).rglob("*.py")):
        parts = (package,) + path.relative_to(package_dir).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imported(module, path, node, names):
    """The package's modules that one import statement of ``module`` (file ``path``) brings in."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in names]
    base = node.module or ""
    if node.level:  # relative: up from the module's own package
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in names else base for a in node.names
            if f"{base}.{a.name}" in names or base in names]


def import_graph(package_dir, package="fastnn"):
    """{module: set of the package's modules it imports}: module-level and function-level imports, absolute and
    relative, and the lazy ones (``lazy_kernels("name")``, ``lazy_module("package.name")``)."""
    names = _module_names(package_dir, package)
    graph = {}
    for module, path in names.items():
        source = path.read_text()
        edges = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_imported(module, path, node, names))
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("lazy_kernels", "lazy_module"):
                arg = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                target = f"{package}.kernels.{arg}" if node.func.id == "lazy_kernels" else arg
                if target in names:
                    edges.add(target)
        graph[module] = edges - {module}
    return graph


def import_cycle(graph):
    """One cycle of the graph as [m1, m2, ..., m1], or None (a depth-first search keeping the current path)."""
    done, path, on_path = set(), [], set()

    def visit(module):
        path.append(module)
        on_path.add(module)
        for target in sorted(graph[module]):
            if target in on_path:
                return path[path.index(target):] + [target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        on_path.discard(path.pop())
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle:
                return cycle
    return None


def says_what_it_returns(doc, returns_value):
    """A docstring exists and, for a function that returns a value, says what (one of RETURN_WORDS, or a noun
    phrase naming the result: 'The ...', 'A ...', '(x, y): ...')."""
    if not doc or not doc.strip():
        return False
    if not returns_value:
        return True
    text = doc.strip().lower()
    return any(w in text for w in RETURN_WORDS) or text.startswith(("the ", "a ", "an ", "(", "one ", "every "))


def _returns_value(fn):
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False
    body = tree.body[0]
    for node in ast.walk(body):
        if isinstance(node, ast.Return) and node.value is not None:
            if not (isinstance(node.value, ast.Constant) and node.value.value is None):
                return True
    return False


def undocumented(module):
    """The public functions, classes and methods defined in ``module`` whose docstring is missing or does not say
    what they return."""
    found = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(obj):
            if not says_what_it_returns(obj.__doc__, _returns_value(obj)):
                found.append(f"{module.__name__}.{name}")
        elif inspect.isclass(obj):
            if not (obj.__doc__ or "").strip():
                found.append(f"{module.__name__}.{name} (class)")
            for attr, member in vars(obj).items():
                fn = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                if attr.startswith("_") or not inspect.isfunction(fn):
                    continue
                if not says_what_it_returns(fn.__doc__, _returns_value(fn)):
                    found.append(f"{module.__name__}.{name}.{attr}")
    return found


def code_lines(path):
    """Non-blank lines that are not comments (docstrings count: they are part of the file to read)."""
    return sum(1 for line in Path(path).read_text().splitlines() if line.strip() and not line.strip().startswith("#"))


def oversized(files, limit=MAX_CODE_LINES):
    return [(str(p), code_lines(p)) for p in files if code_lines(p) > limit]


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reaches(path):
    """(line, text) of every use in ``path`` of another object's private attribute (a leading underscore, not a
    dunder): ``x._a`` and ``getattr(x, "_a")`` (hasattr, setattr too) where x is not ``self``/``cls`` nor a module
    the file imports (fastnn's private helper modules are the module's own tools)."""
    tree = ast.parse(Path(path).read_text())
    modules = {"self", "cls"}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules |= {(a.asname or a.name).split(".")[0] for a in node.names}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in modules):
                found.append((node.lineno, ast.unparse(node)))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _private(node.args[1].value)):
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


# --- the package keeps them ----------------------------------------------------------------------------------------
def test_numba_compiles_only_through_fastnn_jit():
    assert numba_compilers_outside_jit(package_files(), PACKAGE / "_jit.py") == []


def test_every_kernel_is_compiled_through_kernel():
    assert kernels_not_compiled_through_kernel(sorted((PACKAGE / "kernels").glob("*.py"))) == []


@compiled_only
def test_parallel_kernels_are_not_disk_cached():
    dispatchers = package_dispatchers()
    assert any(d.targetoptions.get("parallel") for d in dispatchers), "no parallel kernel found to check"
    assert cached_parallel_dispatchers(dispatchers) == []


@compiled_only
def test_kernels_compile_for_argument_types_not_constant_values():
    def scaled(a, mode, flag):
        return a[0] * mode if flag else a[0]

    def caller_of(callee):
        def caller(a):  # constants, as a kernel passes a mode to another
            return callee(a, 1, False) + callee(a, 2, True) + callee(a, a.size, a.size > 2)
        return caller

    ours = _jit.kernel(cache=False)(scaled)
    _jit.kernel(cache=False)(caller_of(ours))(np.ones(3))
    assert len(ours.signatures) == 1 and literal_signatures([ours]) == []
    # the rule on numba's own dispatcher, which compiles the callee once per constant value
    plain = numba.njit(scaled)
    numba.njit(caller_of(plain))(np.ones(3))
    assert len(literal_signatures([plain])) == 2


# A Trainer's net in both dtypes, then one-hot targets, in a fresh interpreter on an empty cache (a kernel loaded
# from the cache compiles none of its callees, so their signatures would not show); then a planted extra compile:
# run called by hand with non-contiguous input, which the engine never passes.
ENGINE_WORKLOAD = """
import json, numpy as np, numba
from fastnn.nets import TwoLayerNet
from fastnn.optimizer import SGD
from fastnn.trainer import Trainer
from fastnn.kernels import network as nk
x, t = np.random.default_rng(0).random((12, 20)), np.arange(12) % 4
nets = [TwoLayerNet(20, 8, 4, dtype=dtype) for dtype in (np.float64, np.float32)]
for net in nets:
    SGD().update(net.params, net.gradient(x, t))
    net.predict(x), net.accuracy(x, t), net.loss(x, t)
    Trainer(net, x, t, x, t, epochs=1, mini_batch_size=4, verbose=False).train()
nets[0].gradient(x, np.eye(4)[t]), nets[0].accuracy(x, np.eye(4)[t])
def signatures():
    return {name: [[str(a) for a in sig] for sig in getattr(nk, name).signatures]
            for name in ("run", "forward", "backward", "train_steps", "update")}
before = signatures()
plan = nets[0]._engine.plan(12)
nk.run(plan.net, np.asfortranarray(x), plan.labels, None, plan.no_rand, nk.PREDICT, False, 0.0, 1.0, False, plan.res)
print(json.dumps({"before": before, "after": signatures()}))
"""
# one compile per dtype of x (its argument 1) and per target form (labels None or not, argument 2)
ENGINE_KEYS = {"run": lambda s: (s[1].split(",")[0], s[2] == "none"), "forward": lambda s: s[1].split(",")[0],
               "backward": lambda s: s[1].split(",")[0], "train_steps": lambda s: s[2].split(",")[0],
               "update": lambda s: s[1]}


def _on_an_empty_cache(workload, cache_dir):
    """The JSON a workload prints last, run in a fresh interpreter whose numba cache is the empty ``cache_dir`` (a
    kernel loaded from the cache compiles none of its callees, so their compiles would not show)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    out = subprocess.run([sys.executable, "-c", workload], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.slow
@compiled_only
def test_the_engine_compiles_once_per_dtype_and_target_form(tmp_path):
    found = _on_an_empty_cache(ENGINE_WORKLOAD, tmp_path)
    before, after = found["before"], found["after"]
    assert {name: len(sigs) for name, sigs in before.items()} == {"run": 3, "forward": 2, "backward": 2,
                                                                  "train_steps": 2, "update": 2}
    assert all(extra_signatures(sigs, ENGINE_KEYS[name]) == [] for name, sigs in before.items())
    assert not any("Literal" in a for sigs in before.values() for sig in sigs for a in sig)
    # the rule finds the planted compiles (Fortran-ordered x: run and the forward and backward it calls)
    assert [name for name, sigs in after.items() if extra_signatures(sigs, ENGINE_KEYS[name])] == ["run", "forward",
                                                                                                  "backward"]


# The recurrent layers, attention, the seq2seq generators and the scikit-learn kernels compiled in a fresh interpreter
# on an empty cache, with numba's compile events recorded; then a planted kernel that assigns an array to a slice.
STRING_FREE_WORKLOAD = """
import json, numpy as np, fastnn
from numba.core import event
from fastnn import _jit
compiled = []
class Names(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Names())
def string_code():
    return sorted({name for name in compiled if "raise_with_shape_context" in name})
fastnn._warm_recurrent(np.float32)
from fastnn.sklearn import MLPClassifier
X, y = np.random.default_rng(0).random((20, 4)), np.arange(20) % 3
MLPClassifier(hidden_layer_sizes=(3,), max_iter=2).fit(X, y).predict(X)
workload = string_code()
def planted(dst, src):
    dst[:] = src
_jit.kernel(cache=False)(planted)(np.zeros(3), np.ones(3))
print(json.dumps({"workload": workload, "planted": string_code()}))
"""


@pytest.mark.slow
@compiled_only
def test_kernels_assign_arrays_without_numbas_shape_message_code(tmp_path):
    """numba compiles ``dst[:] = src`` from an array with an error message formatting both shapes, which pulls in its
    string code: ~1.3 s of a cold first step (fastnn.kernels.arrays has the loops that copy without it)."""
    pytest.importorskip("sklearn")
    found = _on_an_empty_cache(STRING_FREE_WORKLOAD, tmp_path)
    assert found["workload"] == []
    assert found["planted"] != []  # the rule sees the planted slice assignment


def test_reference_imports_nothing_from_fastnn():
    reference = PACKAGE / "reference"
    assert fastnn_imports(sorted(reference.rglob("*.py")), reference) == []
    code = ("import sys, fastnn.reference.nets, fastnn.reference.trainer, fastnn.reference.layers; "
            "print(sorted(m for m in sys.modules if m.startswith('fastnn') and m != 'fastnn' "
            "and not m.startswith('fastnn.reference')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


@compiled_only
def test_the_parallel_rule_catches_a_cached_parallel_kernel():
    def total(a):
        return a.sum()
    cached = numba.njit(parallel=True, cache=True)(total)
    ours = _jit.kernel(parallel=True)(total)
    assert cached_parallel_dispatchers([cached, ours]) == ["total"]


@pytest.mark.parametrize("name", public_modules())
def test_public_functions_and_methods_say_what_they_return(name):
    assert undocumented(importlib.import_module(name)) == []


def test_the_import_graph_has_no_cycle():
    """Issue #28: no module imports (at module level or inside a function, or lazily) one that imports it back."""
    assert import_cycle(import_graph(PACKAGE)) is None


def test_no_file_over_600_lines_of_code():
    assert oversized(package_files()) == []


def test_the_trainer_reaches_no_private_attribute_of_a_net_engine_or_optimizer():
    """Issue #28's seams: the Trainer drives the fused loop through the net's training_engine(), the optimizer's
    flat_plan(), step_coefficients() and unstep(), and the callbacks through their hooks and state dicts."""
    assert private_reaches(PACKAGE / "trainer.py") == []


# --- each rule fails on a planted violation ----------------------------------------------------------------------
def _plant(tmp_path, name, source):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def test_rules_catch_planted_violations(tmp_path):
    jit_file = _plant(tmp_path, "_jit.py", "from numba import njit\n")
    planted = _plant(tmp_path, "bench.py", """
        import numba
        from numba import njit as compile_it
        f = numba.njit(lambda x: x)
        """)
    assert {name for _, _, name in numba_compilers_outside_jit([jit_file, planted], jit_file)} == {"njit",
                                                                                               "numba.njit"}
    kernels = _plant(tmp_path, "kernels/k.py", """
        from numba.extending import overload
        def helper(x):
            return x
        @kernel
        def fine(x):
            return x
        def pure(x):
            return x
        @overload(pure)
        def _pure_jit(x):
            return lambda x: x
        """)
    assert kernels_not_compiled_through_kernel([kernels]) == [(str(kernels), "helper")]

    ref = tmp_path / "reference"
    bad = [_plant(tmp_path, "reference/a.py", "from fastnn import _constants\n"),
           _plant(tmp_path, "reference/b.py", "from .. import layers\n"),
           _plant(tmp_path, "reference/c.py", "import fastnn.functions\n"),
           _plant(tmp_path, "reference/d.py", "from . import functions\nimport numpy as np\n")]
    assert [Path(f).name for f, _, _ in fastnn_imports(bad, ref)] == ["a.py", "b.py", "c.py"]

    _plant(tmp_path, "planted.py", '''
        def documented(x):
            """The square of x."""
            return x * x
        def silent(x):
            return x
        def vague(x):
            """Squares."""
            return x * x
        class Layer:
            """A layer."""
            def forward(self, x):
                return x
            def backward(self, d):
                """Returns dx."""
                return d
        ''')
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("planted")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("planted", None)
    assert sorted(undocumented(module)) == ["planted.Layer.forward", "planted.silent", "planted.vague"]

    big = _plant(tmp_path, "big.py", "x = 1\n" * (MAX_CODE_LINES + 1) + "# comment\n\n" * 50)
    small = _plant(tmp_path, "small.py", "x = 1\n" * MAX_CODE_LINES + "# comment\n" * 50)
    assert oversized([big, small]) == [(str(big), MAX_CODE_LINES + 1)]


def test_the_private_attribute_rule_catches_a_planted_line(tmp_path):
    source = (PACKAGE / "trainer.py").read_text()
    copy = _plant(tmp_path, "trainer.py", source + textwrap.dedent("""
        def planted(self, network, optimizer):
            self._fine, _checks._fine_too, type(network).__name__
            engine = network._engine
            optimizer._coefficients()
            return getattr(network, "_decay")()
        """))
    assert [text for _, text in private_reaches(copy)] == ["network._engine", "optimizer._coefficients",
                                                            "getattr(network, '_decay')"]


def test_the_import_graph_rule_catches_a_planted_cycle(tmp_path):
    package = tmp_path / "pkg"
    _plant(package, "__init__.py", "")
    _plant(package, "a.py", "from . import b\n")
    _plant(package, "b.py", "from .kernels import c\n")
    _plant(package, "kernels/__init__.py", "")
    _plant(package, "kernels/c.py", "def f():\n    from ..a import name\n")  # function-level, relative, back to a
    _plant(package, "d.py", "x = lazy_kernels('c')\n")
    graph = import_graph(package, "pkg")
    assert graph["pkg.d"] == {"pkg.kernels.c"}  # the lazy import counts
    assert import_cycle(graph) == ["pkg.a", "pkg.b", "pkg.kernels.c", "pkg.a"]
    _plant(package, "kernels/c.py", "def f():\n    return 1\n")
    assert import_cycle(import_graph(package, "pkg")) is None
