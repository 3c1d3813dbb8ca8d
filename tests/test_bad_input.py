"""Bad input to every public function of fastnn.functions and fastnn.gradient: one table row per case, each with
the exception type and the argument name its message must contain. A numba error is never an acceptable answer:
user data must be refused before it reaches a kernel."""
import re

import numpy as np
import pytest
from numba.core.errors import NumbaError

import naive
from fastnn import functions as F
from fastnn import gradient as G


def _read_only(shape=(3,)):
    x = np.ones(shape)
    x.flags.writeable = False
    return x


def f2(x):
    return float(np.sum(x ** 2))


P = np.full((2, 3), 1 / 3)  # a valid batch of probabilities / scores
COMPLEX = np.ones(3, complex)
OBJECT = np.array([1.0, None], dtype=object)
STRINGS = np.array(["1", "2"])
RAGGED = [[1.0, 2.0], [3.0]]
WHOLE = np.array([0, 2])

CASES = []


def case(label, fn_name, args, exc, name, **kwargs):
    """One row: fn_name(*args, **kwargs) must raise exc with a message naming the argument ``name``."""
    fn = getattr(F, fn_name, None) or getattr(G, fn_name)
    CASES.append(pytest.param(fn, args, kwargs, exc, name, id=f"{fn_name}: {label}"))


# elementwise functions: any shape is valid, only the content can be wrong
for fn in ("sigmoid", "sigmoid_grad", "relu", "relu_grad", "step_function"):
    case("complex", fn, (COMPLEX,), TypeError, "x")
    case("object", fn, (OBJECT,), TypeError, "x")
    case("str", fn, ("0.5",), TypeError, "x")
    case("str array", fn, (STRINGS,), TypeError, "x")
    case("None", fn, (None,), TypeError, "x")
    case("ragged", fn, (RAGGED,), ValueError, "x")
    case("datetime", fn, (np.array(["2020-01-01"], dtype="datetime64[D]"),), TypeError, "x")

# softmax: over the last axis, which must exist and not be empty
case("0-d", "softmax", (1.0,), ValueError, "x")
case("empty last axis", "softmax", (np.zeros((3, 0)),), ValueError, "x")
case("empty vector", "softmax", ([],), ValueError, "x")
case("complex", "softmax", (COMPLEX,), TypeError, "x")
case("object", "softmax", (OBJECT,), TypeError, "x")
case("str", "softmax", (STRINGS,), TypeError, "x")
case("ragged", "softmax", (RAGGED,), ValueError, "x")

# squared error
for fn in ("sum_squared_error", "mean_squared_error"):
    case("shape mismatch", fn, (np.ones(3), np.ones(4)), ValueError, "t")
    case("transposed", fn, (np.ones((2, 3)), np.ones((3, 2))), ValueError, "y")
    case("y complex", fn, (COMPLEX, np.ones(3)), TypeError, "y")
    case("t object", fn, (np.ones(2), OBJECT), TypeError, "t")
    case("t str", fn, (np.ones(2), STRINGS), TypeError, "t")
    case("y ragged", fn, (RAGGED, np.ones(2)), ValueError, "y")

# cross-entropy and the fused softmax + cross-entropy: y is 1-D or 2-D, t labels or one-hot
for fn, y_name in (("cross_entropy_error", "y"), ("softmax_loss", "X")):
    case("3-D scores", fn, (np.ones((2, 2, 2)), WHOLE), ValueError, y_name)
    case("0-d scores", fn, (0.5, 0), ValueError, y_name)
    case("empty batch", fn, (np.zeros((0, 3)), np.zeros(0, int)), ValueError, y_name)
    case("no classes", fn, (np.zeros((2, 0)), WHOLE), ValueError, y_name)
    case("empty vector", fn, ([], []), ValueError, y_name)
    case("complex scores", fn, (P.astype(complex), WHOLE), TypeError, y_name)
    case("object scores", fn, (P.astype(object), WHOLE), TypeError, y_name)
    case("ragged scores", fn, (RAGGED, WHOLE), ValueError, y_name)
    case("label too large", fn, (P, np.array([0, 3])), ValueError, "t")
    case("negative label", fn, (P, np.array([-1, 0])), ValueError, "t")
    case("label of a 1-D y too large", fn, (P[0], 3), ValueError, "t")
    case("non-integer float label", fn, (P, np.array([0.0, 1.5])), ValueError, "t")
    case("NaN label", fn, (P, np.array([0.0, np.nan])), ValueError, "t")
    case("too many labels", fn, (P, np.array([0, 1, 2])), ValueError, "t")
    case("too few labels", fn, (P, np.array([0])), ValueError, "t")
    case("one-hot of the wrong shape", fn, (P, np.eye(2)), ValueError, "t")
    case("bool labels", fn, (P, np.array([True, False])), TypeError, "t")
    case("str labels", fn, (P, STRINGS), TypeError, "t")
    case("object labels", fn, (P, np.array([0, None], dtype=object)), TypeError, "t")
    case("complex one-hot", fn, (P, np.ones((2, 3), complex)), TypeError, "t")
    case("ragged labels", fn, (P, [[0], [1, 2]]), ValueError, "t")
    case("None labels", fn, (P, None), ValueError, "t")

# numerical differentiation
case("f not callable", "numerical_diff", ("f", 1.0), TypeError, "f")
case("f None", "numerical_diff", (None, 1.0), TypeError, "f")
for fn, x_name in (("numerical_gradient", "x"), ("numerical_gradient_2d", "X"), ("gradient_descent", "init_x")):
    case("f not callable", fn, (3, np.ones(2)), TypeError, "f")
    case("f an array", fn, (np.ones(2), np.ones(2)), TypeError, "f")
    case("read-only", fn, (f2, _read_only()), ValueError, x_name)
    case("broadcast view", fn, (f2, np.broadcast_to(np.ones(1), (3,))), ValueError, x_name)
    case("list", fn, (f2, [1.0, 2.0]), TypeError, x_name)
    case("Python float", fn, (f2, 1.0), TypeError, x_name)
    case("int array", fn, (f2, np.ones(2, int)), TypeError, x_name)
    case("float16 array", fn, (f2, np.ones(2, np.float16)), TypeError, x_name)
    case("complex array", fn, (f2, np.ones(2, complex)), TypeError, x_name)
    case("object array", fn, (f2, OBJECT), TypeError, x_name)
case("3-D X", "numerical_gradient_2d", (f2, np.ones((2, 2, 2))), ValueError, "X")

# gradient descent's hyper-parameters
for label, lr, exc in (("0", 0, ValueError), ("negative", -0.1, ValueError), ("NaN", np.nan, ValueError),
                       ("inf", np.inf, ValueError), ("str", "0.1", TypeError), ("bool", True, TypeError),
                       ("None", None, TypeError), ("array", np.array([0.1]), TypeError)):
    case(f"lr {label}", "gradient_descent", (f2, np.ones(2)), exc, "lr", lr=lr)
for label, step_num, exc in (("negative", -1, ValueError), ("float", 10.0, TypeError), ("str", "10", TypeError),
                             ("bool", True, TypeError), ("None", None, TypeError)):
    case(f"step_num {label}", "gradient_descent", (f2, np.ones(2)), exc, "step_num", step_num=step_num)


def test_the_table_covers_every_public_function():
    covered = {p.id.split(":")[0] for p in CASES}
    public = (set(F.__all__) - {"identity_function"}) | set(G.__all__)  # identity returns anything as it is
    assert public <= covered
    assert len(CASES) >= 60


@pytest.mark.parametrize("fn, args, kwargs, exc, name", CASES)
def test_bad_input_is_refused_with_a_message_naming_the_argument(fn, args, kwargs, exc, name):
    with pytest.raises(Exception) as info:
        fn(*args, **kwargs)
    error = info.value
    assert not isinstance(error, NumbaError), f"a numba error escaped: {error!r}"
    assert type(error) is exc, f"expected {exc.__name__}, got {type(error).__name__}: {error}"
    assert re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", str(error)), f"{name!r} not named in: {error}"


@pytest.mark.parametrize("fn", [G.numerical_gradient, G.gradient_descent])
def test_in_place_refusals_leave_x_alone(fn):
    x = np.arange(3.0)
    x.flags.writeable = False
    with pytest.raises(ValueError):
        fn(naive.sum_of_squares, x)
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])


def test_bad_hyper_parameters_are_refused_before_any_step():
    x = np.array([1.0, 2.0])
    calls = []
    with pytest.raises(ValueError, match="lr"):
        G.gradient_descent(lambda v: calls.append(1) or f2(v), x, lr=-1)
    assert calls == [] and list(x) == [1.0, 2.0]
