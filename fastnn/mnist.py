"""The book's ``dataset/mnist.py`` import line: ``from fastnn.mnist import load_mnist`` (reads local files only)."""
from .datasets import load_mnist  # noqa: F401
