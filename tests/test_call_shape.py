"""core/call_shape.py against inspect: the same parameters, and a call binds exactly when inspect binds it."""
import functools
import inspect
import itertools

import pytest

from flowimg.core.call_shape import NO_ANNOTATION, call_shape


def f0(): pass
def f1(a): pass
def f2(a, b=1): pass
def f3(a, b, c=3, *, d, e=5): pass
def f4(a, *rest): pass
def f5(a, **extra): pass
def f6(a=1, *rest, k, **extra): pass
def f7(*, only): pass
def f8(*args, **kwargs): pass
def f9(x, y=2, *, z=None) -> int: pass


class Holder:
    def run(self, a, b=2, *, c=3): pass
    def loose(self, *args): pass


FUNCTIONS = [f0, f1, f2, f3, f4, f5, f6, f7, f8, f9, Holder().run, Holder().loose]
NAMES = ["a", "b", "c", "d", "e", "k", "z", "x", "y", "only", "rest", "extra", "args", "kwargs", "self"]


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__qualname__)
def test_the_shape_is_inspects(fn):
    shape = call_shape(fn)
    signature = inspect.signature(fn)
    assert shape is not None and list(shape.names) == list(signature.parameters)
    expected = signature.return_annotation
    assert shape.return_annotation == (NO_ANNOTATION if expected is inspect.Signature.empty else expected)


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__qualname__)
def test_a_call_binds_exactly_when_inspect_binds_it(fn):
    shape = call_shape(fn)
    signature = inspect.signature(fn)
    for count in range(5):
        for size in range(4):
            for keywords in itertools.combinations(NAMES, size):
                try:
                    signature.bind(*range(count), **dict.fromkeys(keywords))
                    binds = True
                except TypeError:
                    binds = False
                assert shape.binds(count, keywords) == binds, (fn.__qualname__, count, keywords)


def test_what_inspect_must_read_is_left_to_it():
    def plain(a): pass

    @functools.wraps(plain)
    def wrapped(*args, **kwargs): pass

    def positional_only(a, /, b): pass

    signed = lambda a: None  # noqa: E731
    signed.__signature__ = inspect.signature(plain)
    for fn in (wrapped, positional_only, signed, functools.partial(plain, 1), len, Holder, staticmethod(plain)):
        assert call_shape(fn) is None
