"""Physics-informed networks: causal PINNs and Lagrangian PINNs.

Networks (plain ``nn.Module``s over coordinates ``(t, x)``), residuals as plain functions
of a network, problems (PDE + domain + initial condition + reference solution), the causal
loss, the Lagrangian two-branch network and its losses, and collocation samplers. Training
lives in :class:`opkit.trainers.PINNModule`.
"""

from ._causal import CausalSchedule as CausalSchedule
from ._causal import causal_loss as causal_loss
from ._causal import causal_weights as causal_weights
from ._causal import per_time_losses as per_time_losses
from ._derivatives import derivatives as derivatives
from ._derivatives import taylor_derivatives as taylor_derivatives
from ._lagrangian import LagrangianPINN as LagrangianPINN
from ._lagrangian import lagrangian_loss as lagrangian_loss
from ._lagrangian import lagrangian_residuals as lagrangian_residuals
from ._lagrangian import lagrangian_to_eulerian as lagrangian_to_eulerian
from ._networks import MLP as MLP
from ._networks import FourierFeatures as FourierFeatures
from ._networks import ModifiedMLP as ModifiedMLP
from ._networks import PeriodicEmbedding as PeriodicEmbedding
from ._problems import AbstractPINNProblem as AbstractPINNProblem
from ._problems import AllenCahn as AllenCahn
from ._problems import Burgers as Burgers
from ._problems import Convection as Convection
from ._problems import KuramotoSivashinsky as KuramotoSivashinsky
from ._residuals import allen_cahn_residual as allen_cahn_residual
from ._residuals import burgers_residual as burgers_residual
from ._residuals import convection_residual as convection_residual
from ._residuals import evaluate_field as evaluate_field
from ._residuals import kuramoto_sivashinsky_residual as kuramoto_sivashinsky_residual
from ._sampling import SAMPLERS as SAMPLERS
from ._sampling import collocation_points as collocation_points
from ._solution import field_on_grid as field_on_grid
from ._solution import relative_l2 as relative_l2
from ._solution import solution_on_grid as solution_on_grid
