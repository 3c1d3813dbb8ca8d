"""The second book's ``common/np.py`` on the CPU: ``from fastnn.np import *`` gives what ``from common.np import *``
gives there, the names ``np`` (NumPy itself) and ``GPU`` (``fastnn.config.GPU``, False).

The book switches ``np`` to CuPy when ``config.GPU`` is True; fastnn has no GPU path, so that import fails with an
ImportError that says so. (A module named ``np`` inside the package shadows nothing: imports are absolute, and
``import numpy as np`` everywhere in fastnn binds NumPy.)
"""
from fastnn.config import GPU

if GPU:
    raise ImportError("fastnn.config.GPU is True, but fastnn has no GPU path (the book's common.np would import "
                      "CuPy here); leave fastnn.config.GPU = False")

import numpy as np  # noqa: E402

__all__ = ["GPU", "np"]
