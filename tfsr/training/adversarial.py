"""Adversarial training under ``fit``: the SR network (generator) against a discriminator.

`GANTrainer` is one Keras model holding both networks and two optimizers.
Each step first updates the generator on the weighted ``--loss`` terms
(content terms and the GAN term, the discriminator fixed), then the
discriminator on HR (real) against that step's SR (fake), as Real-ESRGAN
does. The generator's optimizer is the run's (its step is the run's step;
``--ema`` averages the generator only); the discriminator has its own Adam.
Both networks and both optimizers are saved in the run's checkpoint, so
``--resume`` continues both exactly. Both losses follow Keras' loss-scaling
contract (``optimizer.scale_loss`` before the gradient, ``apply``
unscales), so float16 mixed precision works.
"""
import keras
import tensorflow as tf

from tfsr.training.losses import content_losses, discriminator_loss, generator_gan_loss
from tfsr.training.trainers import Trainer


class GANTrainer(Trainer):
    """Trains ``net`` (of ``scale``) on ``terms`` ({name: weight}, with ``gan``) against ``discriminator``."""

    def __init__(self, net, discriminator, terms, d_optimizer, scale, **kwargs):
        super().__init__(net, **kwargs)
        self.discriminator = discriminator
        self.d_optimizer = d_optimizer
        self.weights_by_term = dict(terms)
        self._content = tuple(content_losses(terms, scale).items())
        names = [name for name, _ in self._content] + ["gan", "d_loss", "d_real", "d_fake", "loss"]
        self.trackers = [keras.metrics.Mean(name=name) for name in names]

    @property
    def metrics(self):
        return self.trackers

    def compile(self, optimizer, jit_compile=False):
        super().compile(optimizer=optimizer, jit_compile=jit_compile)
        self.optimizer.build(self.net.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    def sr_step(self, data):
        lr, hr = data
        hr01 = tf.cast(hr, tf.float32) / 255.0
        with tf.GradientTape() as tape:
            sr = self.net(lr, training=True)
            sr01 = tf.cast(sr, tf.float32) / 255.0
            values = {name: fn(hr01, sr01) for name, fn in self._content}
            values["gan"] = generator_gan_loss(tf.cast(self.discriminator(sr, training=False), tf.float32))
            loss = tf.add_n([self.weights_by_term[name] * value for name, value in values.items()])
            scaled = self.optimizer.scale_loss(loss)
        variables = self.net.trainable_variables
        self.optimizer.apply(tape.gradient(scaled, variables), variables)

        fake = tf.stop_gradient(sr)
        with tf.GradientTape() as tape:
            real_logits = tf.cast(self.discriminator(hr, training=True), tf.float32)
            fake_logits = tf.cast(self.discriminator(fake, training=True), tf.float32)
            d_loss = discriminator_loss(real_logits, fake_logits)
            scaled = self.d_optimizer.scale_loss(d_loss)
        variables = self.discriminator.trainable_variables
        self.d_optimizer.apply(tape.gradient(scaled, variables), variables)

        values.update(d_loss=d_loss, d_real=tf.reduce_mean(tf.sigmoid(real_logits)),
                      d_fake=tf.reduce_mean(tf.sigmoid(fake_logits)), loss=loss)
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}
