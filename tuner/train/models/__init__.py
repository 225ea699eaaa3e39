"""Models: ``forward(inputs) -> logits`` over a dict of batch tensors."""
