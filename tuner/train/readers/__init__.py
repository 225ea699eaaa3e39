"""Dataset readers: turn data files into tensors, padded once, plus a vocabulary."""
