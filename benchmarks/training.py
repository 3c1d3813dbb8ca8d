"""Network and training paths (the cases, and exactly what each times, are described in benchmarks/cases.py).

Epoch benchmarks take a fraction of a second per call and their setup loads the data set, so they take fewer
samples than asv's default.
"""
from ._paired import _Paired, best_time

DTYPES = ("float32", "float64")
THREADS = (1, 2)


class TrainStep(_Paired):
    """One SGD step of TwoLayerNet(784, width, 10): net.gradient + SGD.update."""
    case = "train_step"
    params = ((100, 1000), (100,), DTYPES, THREADS)
    param_names = ("batch", "width", "dtype", "threads")


class TrainStepBook(_Paired):
    """train_step plus the first book's Trainer's loss after the update."""
    case = "train_step_book"
    params = ((100,), (100,), DTYPES)


class _Epoch(_Paired):
    number = 1
    repeat = (1, 5, 20.0)
    params = ((100,), (100,), DTYPES)


class EpochDigits(_Epoch):
    """One epoch of the book's Trainer on the bundled optdigits (14 steps of 100)."""
    case = "epoch_digits"
    params = ((100,), (100,), DTYPES, THREADS)
    param_names = ("batch", "width", "dtype", "threads")

    def peakmem_fastnn(self, *params):
        self.fastnn()

    def peakmem_reference(self, *params):
        self.reference()


class EpochDigitsNoAfterLoss(_Epoch):
    """The digits epoch without the after-update forward pass (fastnn Trainer(loss_after_update=False))."""
    case = "epoch_digits_no_after_loss"


class EpochFashionMNIST(_Epoch):
    """One epoch of the book's Trainer on Fashion-MNIST (600 steps of 100); skipped where it is not installed."""
    case = "epoch_fashion_mnist"


class EpochFashionMNISTNoAfterLoss(_Epoch):
    case = "epoch_fashion_mnist_no_after_loss"


class Predict(_Paired):
    """TwoLayerNet(784, width, 10).predict on rows x 784."""
    case = "predict"
    params = ((10000, 100000), (100,), DTYPES)
    param_names = ("rows", "width", "dtype")


class Accuracy(_Paired):
    case = "accuracy"
    params = ((10000, 100000), (100,), DTYPES)
    param_names = ("rows", "width", "dtype")


class NumericalGradientNet(_Paired):
    """fastnn.netgrad.numerical_gradient vs the book's net.numerical_gradient, TwoLayerNet(784, 50, 10), batch
    100. time_reference times the book's loop on a slice of W1 only (it would take ~15 s for all parameters);
    track_speedup scales that time to all parameters. Skipped before fastnn.netgrad existed."""
    case = "numerical_gradient_net"
    params = ((100,), (50,), ("float64",))
    number = 1
    repeat = (1, 5, 20.0)


class NumericalGradientTraining(_Paired):
    """One iteration of chapter 4's training with numerical gradients (TwoLayerNetCh4(784, 50, 10), batch 100:
    the net's numerical gradient and the SGD update); time_reference is the book's numerical gradient on a slice
    of W1, scaled by track_speedup. track_projected_minutes: fastnn's whole 10,000-iteration run."""
    case = "numerical_gradient_training"
    params = ((100,), (50,), ("float64",))
    number = 1
    repeat = (1, 5, 20.0)

    def track_projected_minutes(self, *params):
        return best_time(self.fastnn, repeat=3) * self.fastnn.iterations / 60

    track_projected_minutes.unit = "min"


class SimpleConvNetStep(_Paired):
    """One Adam step of chapter 7's SimpleConvNet on 28x28 images: net.gradient + Adam(lr=0.001).update."""
    case = "simple_convnet_step"
    params = ((100,), (100,), DTYPES)
    number = 1
    repeat = (1, 5, 20.0)


class DeepConvNetStep(_Paired):
    """One Adam step of chapter 8's DeepConvNet on 28x28 images (dropout on)."""
    case = "deep_convnet_step"
    params = ((100,), (50,), DTYPES)
    number = 1
    repeat = (1, 3, 30.0)


class SklearnMLPDigits(_Paired):
    """fastnn.sklearn.MLPClassifier((50,), batch_size=32) fit, 10 epochs of the digits; reference: scikit-learn's
    (skipped without scikit-learn)."""
    case = "sklearn_mlp_digits"
    params = ((32,), (50,), DTYPES)
    number = 1
    repeat = (1, 5, 20.0)


class SklearnMLPFashionMNIST(_Paired):
    """The same fit on Fashion-MNIST ((100,), batch_size 200, float64; skipped without the data). A pair of fits
    takes ~30 s here, so track_speedup takes three pairs (seven timed out asv's 300 s in CI)."""
    case = "sklearn_mlp_fashion_mnist"
    params = ((200,), (100,), ("float64",))
    number = 1
    repeat = (1, 2, 120.0)
    pairs = 3


class SklearnMLPSparse(_Paired):
    """The same fit on a generated 20,000 x 50,000 TF-IDF-like CSR matrix (density 0.1%; fastnn.bench_sklearn's
    tfidf_like), (100,), batch_size 200, 2 epochs; a pair of float64 fits takes ~20 s here, so three pairs as
    above."""
    case = "sklearn_mlp_sparse"
    params = ((200,), (100,), DTYPES)
    number = 1
    repeat = (1, 2, 120.0)
    pairs = 3
