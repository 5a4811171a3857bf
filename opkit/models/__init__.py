"""Neural operators and physics-informed networks (plain ``torch.nn.Module``s)."""

from ._dymixop import DyMixOp as DyMixOp
