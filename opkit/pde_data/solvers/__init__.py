"""The PDE solvers: the `AbstractPDE` contract, one module per equation, and the
pseudo-spectral building blocks (`_spectral`) they share."""

from ._advection import Advection1D as Advection1D
from ._allen_cahn import AllenCahn1D as AllenCahn1D
from ._base import DERIVATIVE_KEYS as DERIVATIVE_KEYS
from ._base import AbstractPDE as AbstractPDE
from ._base import AbstractPDE1D as AbstractPDE1D
from ._burgers import Burgers1D as Burgers1D
from ._kuramoto_sivashinsky import KuramotoSivashinsky1D as KuramotoSivashinsky1D
from ._navier_stokes import NavierStokes2D as NavierStokes2D
