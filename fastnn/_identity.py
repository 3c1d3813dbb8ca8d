"""Identity checks for the per-call "is everything still the array we laid out?" tests of the engine and the
optimizers' flat plans: one flat list of ``(container, key, expected)`` triples checked in one plain loop, with
attributes read through the object's ``__dict__`` (a subscript, not a call: the Python work per step stays one
loop whatever the depth, and a plain loop is measured faster than map/operator chains at these sizes)."""
import weakref


class IdentityCheck:
    """``holds()`` is True while every ``getattr(obj, name) is expected`` of ``attributes`` (plain instance
    attributes) and every ``container[key] is expected`` of ``items``."""

    __slots__ = ("_items",)

    def __init__(self, attributes=(), items=()):
        self._items = tuple([(vars(obj), name, expected) for obj, name, expected in attributes] + list(items))

    def holds(self):
        """True when nothing was rebound or replaced (a missing attribute or key counts as replaced)."""
        try:
            for container, key, expected in self._items:
                if container[key] is not expected:
                    return False
        except (KeyError, IndexError, TypeError):
            return False
        return True


def entries_are(container, keys, expected):
    """True when ``container[key] is expected[i]`` for every key (a missing key counts as replaced)."""
    try:
        for key, value in zip(keys, expected):
            if container[key] is not value:
                return False
    except (KeyError, IndexError, TypeError):
        return False
    return True


class WeakAttributes:
    """``obj``'s instance attributes by subscript, through a weak reference: for an ``items`` entry of an
    IdentityCheck owned (through other objects) by ``obj`` itself, where ``vars(obj)`` would close a reference cycle
    that keeps large buffers alive until the cyclic garbage collector happens to run."""

    __slots__ = ("_ref",)

    def __init__(self, obj):
        self._ref = weakref.ref(obj)

    def __getitem__(self, name):
        obj = self._ref()
        if obj is None:
            raise KeyError(name)
        return vars(obj)[name]
