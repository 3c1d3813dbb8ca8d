"""The second book's ``common/config.py``: ``GPU = False``. fastnn computes on the CPU only, so ``GPU`` stays False
(``from common import config`` migrates as ``from fastnn import config``); setting it True before ``fastnn.np`` is
first imported makes that import fail with a message saying so."""

GPU = False
