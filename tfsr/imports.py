"""Running code around a module's first import, without importing it now.

tfsr uses it twice: ``import tfsr`` registers its Keras layers as soon as
Keras is imported (by anyone), so saved models load in safe mode while a
command that never needs Keras starts without it; and the command lines
import TensorFlow with its C++ start-up lines hidden.
"""
import contextlib
import importlib
import importlib.abc
import importlib.util
import sys


class _Loader(importlib.abc.Loader):
    """Wraps a module's loader: ``exec_module`` runs inside ``around()``, then ``after()``."""

    def __init__(self, loader, around, after):
        self.loader, self.around, self.after = loader, around, after

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        with self.around():
            self.loader.exec_module(module)
        self.after()

    def __getattr__(self, name):  # resource readers and the like: the real loader's
        return getattr(self.loader, name)


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, name, around, after):
        self.name, self.around, self.after = name, around, after

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)  # once, and let the real finders find it
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, self.around, self.after)
        return spec


def on_import(name, after=lambda: None, around=contextlib.nullcontext):
    """Call ``after()`` once module ``name`` is imported (now if it already is);
    its import itself runs inside the context manager ``around()``."""
    if name in sys.modules:
        after()
    elif not any(isinstance(f, _Finder) and f.name == name for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder(name, around, after))


def lazy_attributes(package, where):
    """A module ``__getattr__`` for ``package`` that imports a name's submodule on first use.

    ``where`` maps submodule names to the names they provide; a package's
    public names then cost nothing until used (``import tfsr.inference``
    does not import TensorFlow).
    """
    module_of = {name: module for module, names in where.items() for name in names}

    def __getattr__(name):
        if name not in module_of:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module_of[name]}"), name)

    return __getattr__
