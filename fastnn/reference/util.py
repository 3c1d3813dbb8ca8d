"""Reference helpers in the books' NumPy idiom: the first book's chapter-7 ``conv_output_size``, ``im2col``,
``col2im``, and the second book's text utilities (chapters 2-3, at the end).

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


# --- the second book's text utilities (chapters 2-3) ------------------------------------------------------------
def preprocess(text):
    """(corpus, word_to_id, id_to_word) of a text lower-cased, with '.' a word of its own, split at spaces."""
    words = text.lower().replace(".", " .").split(" ")
    word_to_id = {}
    for word in words:
        word_to_id.setdefault(word, len(word_to_id))
    id_to_word = {word_id: word for word, word_id in word_to_id.items()}
    return np.array([word_to_id[word] for word in words]), word_to_id, id_to_word


def create_co_matrix(corpus, vocab_size, window_size=1):
    """The int32 (vocab_size, vocab_size) counts of word pairs at most window_size apart, one np.add.at a side."""
    co_matrix = np.zeros((vocab_size, vocab_size), dtype=np.int32)
    for distance in range(1, window_size + 1):
        left, right = corpus[:-distance], corpus[distance:]
        np.add.at(co_matrix, (right, left), 1)  # each word and its left neighbour at this distance
        np.add.at(co_matrix, (left, right), 1)  # and its right one
    return co_matrix


def ppmi(C, eps=1e-8):
    """The float32 positive PMI of the counts C, the whole matrix at once in the dtype of C's arithmetic."""
    N = np.sum(C)
    S = np.sum(C, axis=0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        pmi = np.log2(C * N / np.outer(S, S) + eps)
    return np.where(pmi > 0, pmi, 0).astype(np.float32)


def create_contexts_target(corpus, window_size=1):
    """(contexts, target): each window of 2 * window_size + 1 words without its centre, and the centres."""
    windows = np.lib.stride_tricks.sliding_window_view(corpus, 2 * window_size + 1)
    return np.delete(windows, window_size, axis=1), corpus[window_size:-window_size].copy()


def convert_one_hot(corpus, vocab_size):
    """The int32 one-hot array of shape corpus.shape + (vocab_size,)."""
    return (corpus[..., np.newaxis] == np.arange(vocab_size)).astype(np.int32)


def cos_similarity(x, y, eps=1e-8):
    """The cosine similarity dot(x / (||x|| + eps), y / (||y|| + eps))."""
    nx = x / (np.sqrt(np.sum(x ** 2)) + eps)
    ny = y / (np.sqrt(np.sum(y ** 2)) + eps)
    return np.dot(nx, ny)


def normalize(x):
    """A new array: x scaled to unit length (1-D) or each row of it (2-D)."""
    return x / np.sqrt((x * x).sum(axis=-1, keepdims=True))
