"""fastnn's numeric constants, in one place: the values the books write inline (h, delta, eps).

The reference (fastnn.reference) writes its own literals as the books do, so it stays an independent oracle;
a test that checks one of these constants writes the book's literal value.
"""
H = 1e-4  # finite-difference step of the central differences (the books' h)
CE_DELTA = 1e-7  # guard inside log() in the cross-entropy error (the books' delta)
OPT_EPS = 1e-7  # guard in AdaGrad/RMSprop/Adam: grad / (sqrt(h) + eps)
BN_EPS = 10e-7  # batch-normalisation guard under the square root; the book writes 10e-7 (= 1e-6)
