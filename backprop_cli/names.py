"""The names of the built-in activations: what a user may write besides a formula in x.

A leaf module, so that the formula parser (which suggests the closest name) and the model (which
lists them) share one list without importing each other.
"""

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "identity", "softmax", "log_softmax")

ROW_WISE = ("softmax", "log_softmax")
"""Activations of a whole layer (row by row): only an output layer ends with one."""
