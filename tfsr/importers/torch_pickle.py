"""Reading PyTorch ``.pt``/``.pth`` state dicts without PyTorch and without running code.

A PyTorch checkpoint is a pickle of a dict of tensors whose data sit in
separate storages: in a zip (``archive/data.pkl`` + ``archive/data/<key>``,
PyTorch >= 1.6) or, in the legacy format of the original EDSR releases,
after the pickle in the same file. Unpickling normally imports and calls
whatever the file names; here only an allow-list resolves (OrderedDict, the
tensor rebuild functions, storage types), every other global is refused, and
tensors come back as NumPy arrays.
"""
import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}


class UnsafeCheckpointError(ValueError):
    """The file asks for something other than tensors and dicts."""


class _StorageType:
    def __init__(self, name):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Tensor:
    """A strided view of a storage, read once the storage holds its data
    (in legacy files the data follow the pickle)."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def numpy(self):
        item = self.storage.itemsize
        view = np.lib.stride_tricks.as_strided(self.storage[self.offset:], shape=self.size,
                                               strides=tuple(s * item for s in self.stride))
        return np.array(view)


def _rebuild_tensor(storage, offset, size, stride, *_):
    """torch._utils._rebuild_tensor_v2."""
    return _Tensor(storage, offset, size, stride)


def _rebuild_parameter(data, *_):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, load_storage, source):
        super().__init__(file)
        self._load_storage, self._source = load_storage, source

    def find_class(self, module, name):
        try:
            return _ALLOWED[module, name]
        except KeyError:
            raise UnsafeCheckpointError(
                f"{self._source}: refused to load {module}.{name} (only tensors and dicts are allowed; "
                f"the file may contain code)") from None

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"{self._source}: unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if isinstance(storage_type, _StorageType):
            dtype = storage_type.dtype
        else:  # newer files: UntypedStorage + dtype given to the rebuild function; not used for weights
            raise UnsafeCheckpointError(f"{self._source}: unsupported storage type {storage_type!r}")
        storage = self._load_storage(key, dtype, numel)
        if len(pid) > 5 and pid[5] is not None:  # legacy view: (offset, size)
            view_offset, view_size = pid[5][0], pid[5][1]
            return storage[view_offset:view_offset + view_size]
        return storage


def load_state_dict(path):
    """The ``{name: numpy array}`` dict saved by ``torch.save(model.state_dict())``.

    Raises `UnsafeCheckpointError` if the pickle names anything outside the
    allow-list, ``ValueError`` if the file is not a PyTorch checkpoint.
    """
    path = Path(path)
    if zipfile.is_zipfile(path):
        state = _load_zip(path)
    else:
        state = _load_legacy(path)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, _Tensor) for v in state.values()):
        raise ValueError(f"{path}: not a state dict of tensors")
    return {name: tensor.numpy() for name, tensor in state.items()}


def _load_zip(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if not pickles:
            raise ValueError(f"{path}: a zip file but not a PyTorch checkpoint (no data.pkl)")
        prefix = pickles[0][:-len("data.pkl")]
        byteorder = zf.read(prefix + "byteorder").decode() if prefix + "byteorder" in names else "little"

        def load_storage(key, dtype, numel):
            data = zf.read(f"{prefix}data/{key}")
            return np.frombuffer(data, dtype.newbyteorder("<" if byteorder == "little" else ">"))[:numel]

        return _Unpickler(io.BytesIO(zf.read(pickles[0])), load_storage, path).load()


def _load_legacy(path):
    with open(path, "rb") as f:
        try:
            magic = _SafeScalars(f, path).load()
        except UnsafeCheckpointError:
            raise
        except Exception:  # not a pickle at all
            raise ValueError(f"{path}: not a PyTorch checkpoint") from None
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path}: not a PyTorch checkpoint (unknown header)")
        _SafeScalars(f, path).load()  # protocol version
        sys_info = _SafeScalars(f, path).load()
        little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
        storages = {}

        def load_storage(key, dtype, numel):
            storages[key] = np.empty(numel, dtype)  # filled after the pickle, below
            return storages[key]

        state = _Unpickler(f, load_storage, path).load()
        keys = _SafeScalars(f, path).load()
        for key in keys:
            (count,) = struct.unpack("<q", f.read(8))
            target = storages[str(key)]
            raw = np.frombuffer(f.read(count * target.itemsize), target.dtype.newbyteorder("<" if little else ">"))
            target[:] = raw
    return state


class _SafeScalars(pickle.Unpickler):
    """For the legacy header pickles: plain values only, no globals at all."""

    def __init__(self, file, source):
        super().__init__(file)
        self._source = source

    def find_class(self, module, name):
        raise UnsafeCheckpointError(f"{self._source}: refused to load {module}.{name} in the file header")
