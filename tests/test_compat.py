"""Every private Keras and keras-tuner hook tfsr relies on (tfsr.compat) still exists, with its arguments."""
import keras
import pytest

from tfsr import compat

HOOKS = list(compat._hooks())


@pytest.mark.parametrize("hook", HOOKS)
def test_the_private_hook_is_still_there(hook):
    assert hook not in compat.check_hooks(), f"{hook}: {compat.check_hooks().get(hook)} in keras {keras.__version__}"


def test_the_check_names_a_hook_that_is_gone_or_changed(monkeypatch):
    class Old:
        def _maybe_symbolic_build(self, data_batch=None):
            pass
    hooks = compat._hooks()
    monkeypatch.setattr(compat, "_hooks", lambda: {
        **hooks, "keras.Model._maybe_symbolic_build (overridden)": (Old, "_maybe_symbolic_build",
                                                                   ["self", "iterator", "data_batch"]),
        "keras.Operation._inbound_nodes (read)": (object(), "_inbound_nodes", None)})
    assert compat.check_hooks() == {
        "keras.Model._maybe_symbolic_build (overridden)": "takes (self, data_batch), not (self, iterator, data_batch)",
        "keras.Operation._inbound_nodes (read)": "gone"}


def test_the_accessors_read_what_tfsr_needs():
    inputs = keras.Input((4, 4, 3))
    conv = keras.layers.Conv2D(2, 1)
    outputs = keras.layers.ReLU()(conv(inputs))
    model = keras.Model(inputs, outputs)
    relu = model.layers[-1]
    assert compat.producer(compat.inbound_tensors(relu)[0]) is conv
    assert compat.inbound_arguments(relu)[0] is compat.inbound_tensors(relu)[0]
    assert compat.distribute_strategy(model) is None
    optimizer = keras.optimizers.Adam(use_ema=True)
    optimizer.build(model.trainable_variables)
    averages = compat.moving_averages(optimizer)
    assert [tuple(a.shape) for a in averages] == [tuple(v.shape) for v in model.trainable_variables]
