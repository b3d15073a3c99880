"""backprop-cli: backpropagation worked out line by line, for any small network."""

__version__ = "0.1.0"
