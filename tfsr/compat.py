"""Every place tfsr reaches into Keras' or keras-tuner's private API, in one list, each checked.

Keras changes its internals between minor versions. requirements.txt pins
``keras`` and ``keras-tuner`` to the ranges tested here, and
tests/test_compat.py checks every entry of `HOOKS` (that it exists, with the
arguments tfsr passes or overrides with) and `check_hooks` fails loudly,
naming the hook, when one is gone. The accessors below are the only reads of
private attributes; the overrides live with what they fix:

- `tfsr.training.trainers.Trainer._maybe_symbolic_build`: builds from a
  replica's local batch under multi-worker training (keras-team/keras#20585);
- `tfsr.training.optimization.AveragingAdam._update_model_variables_moving_average`:
  the weight average warmed up as ``tf.train.ExponentialMovingAverage`` does;
- `tfsr.training.optimization.CountingLossScaleOptimizer._stateful_handle_non_finite_grads`:
  a float16 step skipped for overflow still counts as a step.
"""
import inspect

import keras


def _hooks():
    import keras_tuner.src.config
    return {
        "keras.Model._maybe_symbolic_build (overridden)": (keras.Model, "_maybe_symbolic_build",
                                                           ["self", "iterator", "data_batch"]),
        "keras.Model._distribute_strategy (read)": (keras.Model(), "_distribute_strategy", None),
        "keras.optimizers.Optimizer._update_model_variables_moving_average (overridden)": (
            keras.optimizers.Optimizer, "_update_model_variables_moving_average", ["self", "trainable_variables"]),
        "keras.optimizers.Optimizer._model_variables_moving_average (read)": (
            _built_averaging_optimizer(), "_model_variables_moving_average", None),
        "keras.optimizers.LossScaleOptimizer._stateful_handle_non_finite_grads (overridden)": (
            keras.optimizers.LossScaleOptimizer, "_stateful_handle_non_finite_grads", ["self"]),
        "keras.Operation._inbound_nodes (read)": (keras.layers.Identity(), "_inbound_nodes", None),
        "keras.KerasTensor._keras_history (read)": (keras.layers.Identity()(keras.Input((2,))), "_keras_history",
                                                    None),
        "keras_tuner.src.config.DEBUG (set)": (keras_tuner.src.config, "DEBUG", None),
    }


def _built_averaging_optimizer():
    optimizer = keras.optimizers.Adam(use_ema=True)
    optimizer.build([keras.Variable(0.0)])
    return optimizer


def check_hooks():
    """{hook: what is wrong} for every private hook that is gone or takes other arguments; {} when all hold."""
    wrong = {}
    for name, (owner, attribute, arguments) in _hooks().items():
        if not hasattr(owner, attribute):
            wrong[name] = "gone"
        elif arguments is not None:
            found = list(inspect.signature(getattr(owner, attribute)).parameters)
            if found != arguments:
                wrong[name] = f"takes ({', '.join(found)}), not ({', '.join(arguments)})"
    return wrong


def distribute_strategy(model):
    """The strategy a model was built under, None outside one (Keras keeps it private)."""
    return model._distribute_strategy


def moving_averages(optimizer):
    """An optimizer's moving averages of the weights (``use_ema``), one per trainable variable."""
    return optimizer._model_variables_moving_average


def inbound_tensors(layer):
    """The tensors a functional model's layer was first called on."""
    return list(layer._inbound_nodes[0].input_tensors)


def inbound_arguments(layer):
    """The positional arguments a functional model's layer was first called with."""
    return layer._inbound_nodes[0].arguments.args


def producer(tensor):
    """The layer (operation) that made a symbolic tensor."""
    return tensor._keras_history.operation


def quiet_keras_tuner():
    """keras-tuner reports a failed trial in one line, not with a traceback."""
    import keras_tuner.src.config
    keras_tuner.src.config.DEBUG = False
