"""Keras models that train an SR network under ``fit``.

A trainer wraps the network (``trainer.net``): the network is what gets
saved and exported, the trainer owns the optimizer and the training step.

Both trainers work under ``MultiWorkerMirroredStrategy``, where Keras 3's
own ``fit`` breaks (keras-team/keras#20585), with two small fixes:

* Keras builds the model symbolically from the first batch and, for that,
  averages the per-replica batches with a cross-worker ``reduce`` that
  fails on per-replica data. A replica's local batch has the right shapes,
  so the trainer builds from it instead. (Without a strategy nothing is
  taken: Keras then starts the data over, and a reshuffling dataset would
  train on its second order instead of its first, unlike the distributed
  run, whose iterator starts from a fresh copy of the dataset.)
* Keras reduces the step's logs across workers with
  ``strategy.reduce("MEAN", value, axis=0)``, which fails for scalars. The
  trainer returns each log as a 1-element vector, which reduces to the
  scalar mean across workers.
"""
import keras
import tensorflow as tf
from keras import tree

from tfsr.compat import distribute_strategy
from tfsr.models.mdsr import branch_scales, select_scale


class Trainer(keras.Model):
    """Trains a single-output network with the standard Keras step."""

    def __init__(self, net, **kwargs):
        super().__init__(name=f"{net.name}_trainer", **kwargs)
        self.net = net
        self.built = net.built  # all weights live in the (built) network

    def call(self, inputs, training=False):
        return self.net(inputs, training=training)

    def sr_step(self, data):
        return super().train_step(data)

    def train_step(self, data):
        logs = self.sr_step(data)
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if distribute_strategy(self) is None:
            return  # Keras builds on the first step; taking a batch here would start the data over
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(self._local_value, next(batches))
                break
        return super()._maybe_symbolic_build(data_batch=data_batch)

    def _local_value(self, value):
        if isinstance(value, tf.distribute.DistributedValues):
            return self.distribute_strategy.experimental_local_results(value)[0]
        return value


class MultiScaleTrainer(Trainer):
    """Trains a multi-scale network (MDSR) on batches of one scale each.

    The scale of a batch is read from its LR/HR shapes. Only the variables
    used at that scale (shared head, body and tail, and that scale's
    branches) are updated, as when PyTorch leaves unused parameters
    without a gradient.
    """

    def __init__(self, net, **kwargs):
        super().__init__(net, **kwargs)
        self.scales = branch_scales(net)
        self.branches = [select_scale(net, s) for s in self.scales]
        self.loss_tracker = keras.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.loss_tracker]

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        self.optimizer.build(self.trainable_variables)  # each step updates only a subset

    def sr_step(self, data):
        # Every branch is traced; forget static H×W so the other scales' branches trace too.
        lr, hr = (tf.compat.v1.placeholder_with_default(t, [None, None, None, 3]) for t in data)

        def step_at(branch):
            def step():
                with tf.GradientTape() as tape:
                    loss = self.compute_loss(x=lr, y=hr, y_pred=branch(lr, training=True))
                    scaled = self.optimizer.scale_loss(loss)  # float16: apply() unscales the gradients
                variables = branch.trainable_variables
                self.optimizer.apply(tape.gradient(scaled, variables), variables)
                return loss
            return step

        ratio = tf.shape(hr)[1] // tf.shape(lr)[1]
        matches = tf.equal(tf.constant(self.scales), ratio)
        check = tf.debugging.Assert(tf.reduce_any(matches), ["a batch at a scale with no branch: x", ratio,
                                                              "; the branches are", tf.constant(self.scales)])
        with tf.control_dependencies([check]):  # before any branch runs (and fails on the shapes instead)
            index = tf.argmax(tf.cast(matches, tf.int32), output_type=tf.int32)
        loss = tf.switch_case(index, [step_at(branch) for branch in self.branches])
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}
