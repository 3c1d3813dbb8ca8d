"""The engine's kind table (fastnn._layer_kinds): one kind per code, the books' layer classes mapped to their kinds,
and a clear error for a layer the engine cannot run."""
import numpy as np
import pytest

from fastnn import _layer_kinds as kinds
from fastnn import layers
from fastnn.kernels import codes


def test_every_kind_is_filed_under_its_own_code():
    assert all(code == kind.code for code, kind in kinds.KINDS.items())
    assert {codes.AFFINE, codes.RELU, codes.SIGMOID, codes.BATCHNORM, codes.DROPOUT, codes.SIGMOID_CH4,
            codes.TANH} == set(kinds.KINDS)


@pytest.mark.parametrize("layer, code", [
    (layers.Affine(np.zeros((2, 3)), np.zeros(3)), codes.AFFINE),
    (layers.BatchNormalization(np.ones(3), np.zeros(3)), codes.BATCHNORM),
    (layers.Relu(), codes.RELU),
    (layers.Sigmoid(), codes.SIGMOID),
    (layers.Dropout(0.5), codes.DROPOUT),
])
def test_books_layers_map_to_their_kinds(layer, code):
    assert kinds.of_layer(layer).code == code


def test_a_layer_without_a_kind_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match="SoftmaxWithLoss"):
        kinds.of_layer(layers.SoftmaxWithLoss())


def test_keys_number_the_books_parameters():
    assert kinds.KINDS[codes.AFFINE].keys(2) == ("W2", "b2")
    assert kinds.KINDS[codes.BATCHNORM].keys(1) == ("gamma1", "beta1")
    assert kinds.KINDS[codes.TANH].keys(3) == ()
