"""The error for a model file that cannot be used, shared by loading (Keras) and running (LiteRT).

It lives at the bottom so that the TensorFlow-free runtime and the Keras
loader raise the same thing, and the command lines report it as one line.
"""


class ModelError(ValueError):
    """A model file that cannot be used; the message names the file."""
