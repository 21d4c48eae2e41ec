"""The int8 export graph: exact rewrites that keep 8-bit tensors from rounding what matters.

Three rewrites of the export graph (`tfsr.inference.graph.deployable`), all exact
in float, each removing or shrinking a rounding the int8 file would otherwise make:

* **Compensated residual stream** (Kahan summation with int8 ops). A residual
  network's stream x_{k+1} = x_k + f_k is requantized to 8 bits at every
  addition, and each rounding travels unchanged to the output; over WDSR-B's
  16 additions that cost 0.21 of the x2 file's 0.32 dB. Here the stream is
  carried as hi + lo. Every addition rounds hi_{k+1} = hi_k + f_k to one grid
  of step S, so the step hi_{k+1} − hi_k is an exact multiple of S and the
  rounding error e_k = f_k − (hi_{k+1} − hi_k) is (nearly) exact too; lo sums
  the e_k on a grid 16× finer. What reads the stream reads a view,
  round(hi + lo): that rounding only passes through one block's branch (or
  the tail), not down the whole stream. Where only convolutions read the
  stream (WDSR), a view is two dithered copies round(hi + lo + d_i) side by
  side (the dither of the output branches, below; lo + d_i adds a constant
  on lo's fine grid) and the reading convolution takes each with half its
  kernel: it sees hi + lo rounded on a grid twice as fine, for twice its
  input channels. In float every e_k and lo is zero and each view is the
  stream itself. The convolution that starts the stream
  (the head) is split into dithered copies as the output branches are (see
  below; one convolution whose channels are sliced) and they are added in
  like branches: the stream starts on a grid k times finer than the head's.
* **Integer input offset**: the mean subtraction subtracts one whole grey
  level c from all three channels, exact on a grid of one grey level (per-
  channel means are not: together the channels span 266 levels, more than
  256). What the per-channel means add, −Σ W·(mean − c), comes from a fourth
  channel holding a constant, so that the convolutions' zero padding drops
  it at the border as it drops the pixels. Those weights are stored already
  rounded to int8, the bias takes the difference: exact inside the image,
  within a rounding of a few hundredths of a grey level at its border.
* **Dithered output branches.** WDSR's output is the sum of two convolutions,
  tail and skip, that both carry image content: 8 bits round each at 1.2-1.5
  grey levels a step before the final rounding to whole levels. Each becomes
  k copies computing y/k + d_i (kernel and bias / k) with dithers
  d_i = (i − (k−1)/2)·g/k on one grid g shared by both branches. By Hermite's
  identity Σ_i round(y/k + d_i) is y rounded on the grid g, about k times
  finer than one tensor's. A 1x1 convolution with weights 1 (exact in int8,
  summed in int32) adds the copies after the pixel shuffle and makes the one
  rounding to whole grey levels.

`int8_graph` applies all three and returns the fixed ranges the new tensors need.
"""
import math

import keras
import numpy as np

from tfsr.compat import inbound_arguments, inbound_tensors, producer
from tfsr.layers import ChannelSlice, Offset, PixelShuffle


def _inputs(layer):
    return inbound_tensors(layer)


def _producer(tensor):
    return producer(tensor)


def _readers(graph, tensor):
    """The layers of ``graph`` that take ``tensor`` as an input."""
    return [layer for layer in graph.operations if any(t is tensor for t in _inputs(layer))]


def _ancestors(layer):
    seen, todo = set(), [layer]
    while todo:
        for tensor in _inputs(todo.pop()):
            parent = _producer(tensor)
            if id(parent) not in seen:
                seen.add(id(parent))
                todo.append(parent)
    return seen


def residual_chain(graph):
    """(stream start layer, [additions]) of the longest chain x_{k+1} = x_k + f_k in ``graph``.

    Each addition takes the previous one's output (or, for the first, a
    tensor its other input is computed from) plus a branch. (None, []) if
    the graph has no chain of two or more additions.
    """
    adds = [layer for layer in graph.operations if isinstance(layer, keras.layers.Add)]
    follows = {}
    for add in adds:
        parents = [_producer(t) for t in _inputs(add)]
        previous = [p for p in parents if isinstance(p, keras.layers.Add)]
        if len(parents) == 2 and len(previous) == 1:
            follows[id(previous[0])] = add
    best = []
    for add in adds:
        if any(follows.get(id(_producer(t))) is add for t in _inputs(add)):
            continue  # not the first of a chain
        chain = [add]
        while id(chain[-1]) in follows:
            chain.append(follows[id(chain[-1])])
        best = max(best, chain, key=len)
    if len(best) < 2:
        return None, []
    first = [_producer(t) for t in _inputs(best[0])]
    start = [p for p in first if id(p) in _ancestors(first[1 - first.index(p)])]
    return (start[0], best) if start else (None, [])


def grid(step, low, high):
    """An 8-bit range of exactly ``step`` per level with an integer zero point, covering [low, high] (or None)."""
    first = math.floor(low / step + 1e-9)
    if (first + 255) * step < high - 1e-9 * step:
        return None
    return first * step, (first + 255) * step


def _dithered_grid(low, high):
    """(step, 8-bit range) for values in [low, high] plus a step of room either side for a dither."""
    step = (high - low) / 252
    return step, grid(step, low - step, high + step)


def _finest(step, low, high, most=64):
    """The largest integer n ≤ ``most`` whose grid ``step``/n covers [low, high] (at least 1)."""
    n = most
    while n > 1 and grid(step / n, low, high) is None:
        n -= 1
    return n


def int8_rounded(kernel):
    """``kernel`` as an int8 file holds it: per output channel, symmetric, 127 levels a side."""
    step = np.abs(kernel).max(axis=(0, 1, 2)) / 127
    step[step == 0] = 1.0
    return np.round(kernel / step) * step


def _symmetric(limit):
    """A zero-centred 8-bit range (integer zero point) reaching ``limit``."""
    step = limit / 127
    return -128 * step, 127 * step


def _rebuild(graph, replace):
    """``graph`` re-run on fresh copies of its layers (same weights); ``replace(layer, args)`` may take a layer over.

    ``replace`` returns the new output tensor, or None to copy the layer.
    """
    new = {}
    for layer in graph.operations:
        if isinstance(layer, keras.layers.InputLayer):
            new[id(layer.output)] = keras.Input(batch_shape=layer.batch_shape, name=layer.name)
            continue
        args = keras.tree.map_structure(lambda t: new[id(t)], inbound_arguments(layer))
        output = replace(layer, args)
        if output is None:
            copy = layer.__class__.from_config(layer.get_config())
            output = copy(*args)
            if layer.weights:
                copy.set_weights(layer.get_weights())
        new[id(layer.output)] = output
    return keras.Model(new[id(graph.inputs[0])], new[id(graph.outputs[0])], name=graph.name)


def _conv(layer, x, kernel, bias):
    """A copy of the convolution ``layer`` with new weights, called on ``x``."""
    config = layer.get_config() | {"filters": kernel.shape[-1]}
    copy = keras.layers.Conv2D.from_config(config)
    output = copy(x)
    copy.set_weights([kernel.astype("float32"), bias.astype("float32")])
    return output


def integer_input_offset(graph):
    """(graph with an exact int8 mean subtraction, {layer name: fixed range}); see the module doc.

    Graphs without a 1x1 identity mean subtraction on the input come back as they are.
    """
    first = [layer for layer in graph.operations if isinstance(layer, keras.layers.Conv2D)
             and isinstance(_producer(_inputs(layer)[0]), keras.layers.InputLayer)]
    if len(first) != 1 or tuple(first[0].kernel.shape) != (1, 1, 3, 3):
        return graph, {}
    normalize = first[0]
    kernel, bias = normalize.get_weights()
    consumers = _readers(graph, normalize.output)
    if not np.array_equal(kernel.reshape(3, 3), np.eye(3)) or not all(
            isinstance(layer, keras.layers.Conv2D) for layer in consumers):
        return graph, {}  # only convolutions can take the means back through their weights
    mean = -bias
    offset = float(np.round(mean.mean()))
    constant = 16.0  # small: each int8 rounding of a mean weight errs by `constant` times its share
    readers = {id(layer) for layer in consumers}

    def replace(layer, args):
        if layer is normalize:  # x − c, and a fourth channel constant + ε·x (int8 needs a non-zero weight)
            constant_channel = np.zeros((1, 1, 3, 1))
            constant_channel[0, 0, 0, 0] = constant * 254 / 2**31  # the smallest ε whose int32 bias fits
            return _conv(layer, *args, np.concatenate([kernel, constant_channel], axis=-1),
                         np.append(np.full(3, -offset), constant))
        if id(layer) in readers:
            k, b = layer.get_weights()
            from_mean = -np.einsum("hwio,i->hwo", k, mean - offset)[:, :, None, :] / constant
            # The mean weights as int8 holds them; the bias takes what that rounds off (exact away from the border).
            held = int8_rounded(np.concatenate([k, from_mean], axis=2))[:, :, 3:]
            rounding = (from_mean - held).sum(axis=(0, 1, 2)) * constant
            return _conv(layer, *args, np.concatenate([k, held], axis=2), b + rounding)
        return None

    return _rebuild(graph, replace), {normalize.name: (-offset, 255.0 - offset)}


def _dither(copies, step):
    """Offsets (i − (copies−1)/2)·step/copies: copies of y/copies rounded on ``step`` then sum to y rounded on it."""
    return (np.arange(copies) - (copies - 1) / 2) * step / copies


def _dithered_copies(kernel, bias, copies, step):
    """Kernel and bias of ``copies`` convolutions computing y/copies + d_i (`_dither`), stacked copy after copy."""
    dither = np.repeat(_dither(copies, step), kernel.shape[-1])
    return np.tile(kernel / copies, copies), np.tile(bias / copies, copies) + dither


def compensated_stream(graph, ranges, head_copies=4, view_copies=2):
    """(graph with its residual stream carried as hi + lo, {layer name: fixed range}); see the module doc.

    ``ranges`` are the calibrated ranges of ``graph``'s quantized outputs.
    The new tensors of addition ``<block>_add`` are ``<block>_step``
    (hi_{k+1} − hi_k), ``<block>_error`` (e_k), ``<block>_carry`` (lo) and
    ``<block>_view`` (what reads the stream after it: ``view_copies``
    dithered copies ``<block>_view_copy{i}`` of lo shifted by
    ``<block>_view_copy{i}_offset`` added to hi, or one plain addition
    where not only convolutions read the stream). A convolution that
    starts the stream computes ``head_copies`` dithered copies, which are
    added into it the same way (``<start>_copy{i}_add``, …).
    """
    start, chain = residual_chain(graph)
    streams = [start.output] + [add.output for add in chain[:-1]] if chain else []
    position = {id(add): k for k, add in enumerate(chain)}
    branches = [next(t for t in _inputs(add) if t is not stream) for add, stream in zip(chain, streams)]
    if not chain or any(_producer(branch).name not in ranges for branch in branches):
        return graph, {}  # no chain, or a branch whose int8 range is not known (e.g. EDSR's residual scaling)
    spans = [ranges[start.name]] + [ranges[add.name] for add in chain]
    low, high = min(s[0] for s in spans), max(s[1] for s in spans)
    step = (high - low) / 254  # a level to spare: the grid's zero point is a whole level
    copies = head_copies if isinstance(start, keras.layers.Conv2D) else 1
    margin = step / 2 if copies > 1 else 0.0  # room for a copy's dither
    start_low, start_high = ranges[start.name][0] / copies - margin, ranges[start.name][1] / copies + margin
    # hi_0 on step/n: the first step hi_1 − hi_0 is then a multiple of step/n
    first = _producer(branches[0]).name if copies == 1 else start.name
    first_reach = max(map(abs, ranges[first])) / copies + step
    start_grid = step / min(_finest(step, start_low, start_high), _finest(step, -first_reach, first_reach))
    fixed = {}
    carried = {}  # the stream's hi and lo so far

    def accumulate(f, f_range, base, moved_grid):
        """hi + f as int8 keeps it: hi rounded on the stream's grid, its rounding error summed into lo."""
        hi = carried["hi"]
        reach = max(map(abs, f_range)) + step / 2
        hi_next = keras.layers.Add(name=f"{base}_add")([hi, f])
        moved = keras.layers.Subtract(name=f"{base}_step")([hi_next, hi])
        error = keras.layers.Subtract(name=f"{base}_error")([f, moved])
        carry = "lo" in carried
        lo = keras.layers.Add(name=f"{base}_carry")([carried["lo"], error]) if carry else error
        carried.update(hi=hi_next, lo=lo)
        fixed[f"{base}_add"] = grid(step, low, high)
        fixed[f"{base}_step"] = grid(moved_grid / _finest(moved_grid, -reach, reach), -reach, reach)
        fixed[f"{base}_error"] = _symmetric(0.51 * step)
        if carry:
            fixed[f"{base}_carry"] = _symmetric(8 * step)

    readers = [r for t in streams + [chain[-1].output] for r in _readers(graph, t) if id(r) not in position]
    side_by_side = view_copies if all(isinstance(r, keras.layers.Conv2D) for r in readers) else 1
    views = set()  # ids of the views that hold dithered copies side by side

    def view(base, span):
        """round(hi + lo) on a grid for the stream's ``span``, or dithered copies of it side by side."""
        hi, lo = carried["hi"], carried["lo"]
        if side_by_side == 1:
            return keras.layers.Add(name=f"{base}_view")([hi, lo])
        view_step, view_range = _dithered_grid(*span)  # the step of room also holds the carry
        reach = max(map(abs, fixed[_producer(lo).name])) + view_step / 2
        copies = []
        for i, offset in enumerate(_dither(side_by_side, view_step)):
            shifted = Offset(offset, name=f"{base}_view_copy{i}_offset")(lo)
            copies.append(keras.layers.Add(name=f"{base}_view_copy{i}")([hi, shifted]))
            fixed[f"{base}_view_copy{i}_offset"] = _symmetric(reach)
            fixed[f"{base}_view_copy{i}"] = view_range
        stacked = keras.layers.Concatenate(name=f"{base}_view")(copies)
        views.add(id(stacked))
        return stacked

    def replace(layer, args):
        if layer is start and copies > 1:  # one convolution computes the copies (apart, a converter merges them)
            kernel, bias = layer.get_weights()
            width = kernel.shape[-1]
            stacked = _conv(layer, *args, *_dithered_copies(kernel, bias, copies, start_grid))
            fixed[layer.name] = grid(start_grid, start_low, start_high)
            for i in range(copies):
                copy = ChannelSlice(i * width, (i + 1) * width, name=f"{layer.name}_copy{i}")(stacked)
                if i == 0:
                    carried["hi"] = copy
                else:
                    accumulate(copy, (start_low, start_high), f"{layer.name}_copy{i}", start_grid if i == 1 else step)
            return view(layer.name, ranges[start.name])
        if isinstance(layer, keras.layers.Conv2D) and id(args[0]) in views:  # reads the mean of the copies
            kernel, bias = layer.get_weights()
            return _conv(layer, *args, np.tile(kernel / side_by_side, (1, 1, side_by_side, 1)), bias)
        if id(layer) not in position:
            return None
        k = position[id(layer)]
        index = [t is branches[k] for t in _inputs(layer)].index(True)
        carried.setdefault("hi", args[0][1 - index])
        if k == 0 and copies == 1:
            fixed[start.name] = grid(start_grid, *ranges[start.name])
        base = layer.name.removesuffix("_add")
        accumulate(args[0][index], ranges[_producer(branches[k]).name], base,
                   start_grid if k == 0 and copies == 1 else step)
        return view(base, ranges[layer.name])

    rebuilt = _rebuild(graph, replace)
    if any(span is None for span in fixed.values()):
        return graph, {}  # a branch wider than the whole stream: no exact grid for its step
    return rebuilt, fixed


def dithered_output(graph, ranges, copies=4):
    """(graph whose output branches are summed from dithered copies, {layer name: fixed range}); see the module doc.

    Applies where the output clip reads an addition of pixel-shuffled
    convolutions (WDSR's tail and skip); other graphs come back as they are.
    """
    clip = graph.operations[-1]
    add = _producer(_inputs(clip)[0])
    shuffles = [_producer(t) for t in _inputs(add)] if isinstance(add, keras.layers.Add) else []
    convs = [_producer(_inputs(s)[0]) for s in shuffles if isinstance(s, PixelShuffle)]
    if not shuffles or len(convs) != len(shuffles) or not all(
            isinstance(c, keras.layers.Conv2D) and c.name in ranges for c in convs):
        return graph, {}
    low = min(ranges[c.name][0] for c in convs) / copies
    high = max(ranges[c.name][1] for c in convs) / copies
    step, span = _dithered_grid(low, high)
    branch_convs = {id(c) for c in convs}

    def replace(layer, args):
        if id(layer) in branch_convs:
            kernel, bias = layer.get_weights()
            channels = kernel.shape[-1]  # (r, r, 3) sub-pixels; copy i goes to colour 3i + c after the shuffle
            order = np.array([(o // 3) * 3 * copies + i * 3 + o % 3 for i in range(copies) for o in range(channels)])
            new_kernel, new_bias = np.empty(kernel.shape[:3] + (channels * copies,)), np.empty(channels * copies)
            new_kernel[..., order], new_bias[order] = _dithered_copies(kernel, bias, copies, step)
            return _conv(layer, *args, new_kernel, new_bias)
        if layer is add:
            stacked = keras.layers.Concatenate(name=f"{add.name}_copies")(args[0])
            total = keras.layers.Conv2D(3, 1, name=add.name, trainable=False)
            output = total(stacked)
            n = stacked.shape[-1]
            total.set_weights([(np.arange(n)[:, None] % 3 == np.arange(3)).astype("float32")[None, None],
                               np.zeros(3, "float32")])
            return output
        return None

    return _rebuild(graph, replace), {c.name: span for c in convs}


def int8_graph(graph, ranges):
    """(the export graph rewritten for int8, {layer name: fixed range}): the rewrites of the module doc.

    ``ranges`` are ``graph``'s calibrated ranges; the rewrites keep every
    layer name, so they hold for the rewritten graph's other tensors too.
    """
    graph, stream = compensated_stream(graph, ranges)
    graph, offset = integer_input_offset(graph)
    graph, output = dithered_output(graph, ranges)
    return graph, {**stream, **offset, **output}
