"""Reference chapter-7 helpers in the first book's NumPy idiom: ``conv_output_size``, ``im2col``, ``col2im``.

im2col pads the batch once and fills a (N, C, FH, FW, OH, OW) array one filter tap at a time from strided slices,
then transposes it to rows (n, oy, ox) by columns (c, ky, kx); col2im does the reverse with ``+=`` into a padded
image and crops it. One difference from the book: float input keeps its dtype (the book's im2col always makes
float64), integer input becomes float64.
"""
import numpy as np


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """The number of window positions along one axis, as the book computes it (a float in Python 3)."""
    return (input_size + 2 * pad - filter_size) / stride + 1


def _float_dtype(dtype):
    return np.result_type(dtype, np.float32)


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Returns the 2-D array (N*out_h*out_w, C*filter_h*filter_w) of the windows of input_data (N, C, H, W)."""
    n, c, h, w = input_data.shape
    out_h = (h + 2 * pad - filter_h) // stride + 1
    out_w = (w + 2 * pad - filter_w) // stride + 1
    padded = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.empty((n, c, filter_h, filter_w, out_h, out_w), dtype=_float_dtype(input_data.dtype))
    for ky in range(filter_h):
        y_end = ky + stride * out_h
        for kx in range(filter_w):
            x_end = kx + stride * out_w
            col[:, :, ky, kx] = padded[:, :, ky:y_end:stride, kx:x_end:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, -1)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """Returns the image of input_shape (N, C, H, W) whose pixels sum the col entries taken from them."""
    n, c, h, w = input_shape
    out_h = (h + 2 * pad - filter_h) // stride + 1
    out_w = (w + 2 * pad - filter_w) // stride + 1
    patches = col.reshape(n, out_h, out_w, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1), dtype=_float_dtype(col.dtype))
    for ky in range(filter_h):
        y_end = ky + stride * out_h
        for kx in range(filter_w):
            x_end = kx + stride * out_w
            img[:, :, ky:y_end:stride, kx:x_end:stride] += patches[:, :, ky, kx]
    return img[:, :, pad:h + pad, pad:w + pad]
