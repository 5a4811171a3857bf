"""Neural operators and physics-informed networks (plain ``torch.nn.Module``s)."""
