"""Physics-informed networks: causal PINNs and Lagrangian PINNs.

Networks (plain ``nn.Module``s over coordinates ``(t, x)``), problems (a PDE of
:mod:`opkit.pde_data` whose ``residual`` is the PINN's residual and whose ``solve`` is the
reference, a domain and an initial condition), the losses (plain, causal, Lagrangian) as
objects, the Lagrangian two-branch network, derivatives and collocation samplers. Training
lives in :class:`opkit.trainers.PINNModule`.
"""

from ..layers import PeriodicEmbedding as PeriodicEmbedding
from ._causal import CausalSchedule as CausalSchedule
from ._causal import causal_loss as causal_loss
from ._causal import causal_weights as causal_weights
from ._causal import per_time_losses as per_time_losses
from ._derivatives import FieldDerivatives as FieldDerivatives
from ._derivatives import derivatives as derivatives
from ._derivatives import evaluate_field as evaluate_field
from ._derivatives import taylor_derivatives as taylor_derivatives
from ._initial_conditions import AbstractInitialCondition as AbstractInitialCondition
from ._initial_conditions import MonomialCosine as MonomialCosine
from ._initial_conditions import PeriodicBump as PeriodicBump
from ._initial_conditions import SineWave as SineWave
from ._lagrangian import LagrangianPINN as LagrangianPINN
from ._lagrangian import lagrangian_loss as lagrangian_loss
from ._lagrangian import lagrangian_residuals as lagrangian_residuals
from ._lagrangian import lagrangian_to_eulerian as lagrangian_to_eulerian
from ._losses import AbstractPINNLoss as AbstractPINNLoss
from ._losses import CausalLoss as CausalLoss
from ._losses import CollocationPoints as CollocationPoints
from ._losses import LagrangianLoss as LagrangianLoss
from ._losses import LossTerms as LossTerms
from ._losses import PlainLoss as PlainLoss
from ._networks import MLP as MLP
from ._networks import SMOOTH_ACTIVATIONS as SMOOTH_ACTIVATIONS
from ._networks import FourierFeatures as FourierFeatures
from ._networks import ModifiedMLP as ModifiedMLP
from ._problems import AllenCahn as AllenCahn
from ._problems import Burgers as Burgers
from ._problems import Convection as Convection
from ._problems import KuramotoSivashinsky as KuramotoSivashinsky
from ._problems import PINNProblem as PINNProblem
from ._sampling import SAMPLERS as SAMPLERS
from ._sampling import collocation_points as collocation_points
from ._solution import field_on_grid as field_on_grid
from ._solution import solution_on_grid as solution_on_grid
