"""Neural operators and physics-informed networks (plain ``torch.nn.Module``s)."""

from . import mor as mor
from . import pinns as pinns
from ._deeponet import DeepONet as DeepONet
from ._dymixop import DyMixOp as DyMixOp
from ._fno import FNO as FNO
from ._neural_ode import NeuralODE as NeuralODE
from ._pod_deeponet import PODDeepONet as PODDeepONet
from ._prose import PROSE as PROSE
from ._vector_fields import AbstractVectorField as AbstractVectorField
from ._vector_fields import ConvVectorField as ConvVectorField
from ._vector_fields import LayerVectorField as LayerVectorField
from .pinns import LagrangianPINN as LagrangianPINN
from .pinns import ModifiedMLP as ModifiedMLP
