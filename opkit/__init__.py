"""opkit: learn solution operators of PDEs.

Public API (explicit re-exports)::

    opkit.generate, opkit.open_dataset      # data layer
    opkit.fit, opkit.evaluate, opkit.load   # training layer
    opkit.models, opkit.pde_data, opkit.symbolic, opkit.trainers
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

try:
    __version__ = _version("opkit-pde")  # the distribution name
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from . import models as models
from . import pde_data as pde_data
from . import symbolic as symbolic
from ._api import evaluate as evaluate
from ._api import fit as fit
from ._api import load as load
from .pde_data import generate as generate
from .pde_data import open_dataset as open_dataset
