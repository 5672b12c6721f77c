"""paddle.jit.save with each layer class's ``forward`` converted once, not once per layer instance.

``paddle.jit.save`` traces a layer through dy2static, which rewrites the source of every
``forward`` it meets into a static-graph function: ``inspect.getsource``, an AST pass, the
rewritten source written to a temporary file and imported. paddle 3.3.1 caches the result
in ``program_translator._FUNCTION_CACHE``, a ``WeakKeyDictionary`` keyed by the function it
was given. For a layer's forward that is a bound method, made afresh by each attribute
access and dropped at once, so the entry dies as soon as it is written and every layer
instance is converted again: ResNet-50's 16 bottlenecks, its stages and its stem one by
one, although the converted function is the same for all of them. It is a plain function
of ``self`` (``convert_call`` binds the instance with ``functools.partial`` afterwards), and
what the conversion reads (the source, the function's globals and closure) belongs to the
function, not to the instance; only the temporary file's name carries the class name.

Inside ``methods_converted_once()`` a bound method is looked up by its underlying function
(``__func__``): one conversion per distinct forward. The saved program is byte-identical
(``tests/test_dy2static_cache.py`` compares the files, and runs a model whose instances of
one class take different branches on their own attributes). Measured on 2026-12-07 on the
2-core machine, one ``paddle.jit.save`` of the zoo's float32 model at its parity size:
ResNet-50 2D 4.97 -> 1.36 s (8 conversions), EfficientNet-B3 2D 13.17 -> 3.91 s (9). It was
most of each ONNX check (ResNet-50 2D: 8.2 of 11.1 s, DenseNet-121 2D: 21.3 of 23.0 s); with
it, ``python -m parity all``'s float32 parity cases, where the ONNX check runs, took 1,320 s
summed instead of 1,844 (two full runs that day, README "Full parity runs").

Like ``parity/noinit.py`` this reaches into paddle for the harness's own exports only
(``parity.onnx_check.export_paddle`` and ``parity.deploy``), and puts paddle's method back on
leaving, however the block ends. A paddle whose cache has another shape is left as it is.
"""
from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable, Iterator


def _function_cache() -> Any | None:
    """paddle's dy2static function cache, or None where this paddle has none of that shape."""
    try:
        from paddle.jit.dy2static import program_translator
    except ImportError:
        return None
    cache = getattr(program_translator, "_FUNCTION_CACHE", None)
    return cache if callable(getattr(cache, "convert_with_cache", None)) else None


@contextlib.contextmanager
def methods_converted_once() -> Iterator[list[int]]:
    """dy2static converts each bound method's function once while this is open (see the module
    docstring). Yields a one-element list that counts the conversions made in the block."""
    cache = _function_cache()
    conversions = [0]
    if cache is None:
        yield conversions
        return
    convert: Callable[[Any], Any] = cache.convert_with_cache
    converted: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def convert_with_cache(func: Any) -> Any:
        function = getattr(func, "__func__", None)
        if function is None:  # a plain function: paddle's own cache holds it
            return convert(func)
        static = converted.get(function)
        if static is None:
            static = converted[function] = convert(func)
            conversions[0] += 1
        return static

    # An attribute of the instance shadows the class's method. None of the harness's exports
    # nests one block in another, but one that did would find the outer block's put back.
    outer = cache.__dict__.get("convert_with_cache")
    cache.convert_with_cache = convert_with_cache
    try:
        yield conversions
    finally:
        if outer is None:
            del cache.convert_with_cache
        else:
            cache.convert_with_cache = outer
