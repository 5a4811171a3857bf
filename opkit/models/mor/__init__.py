"""Model order reduction of neural ODEs: POD, DEIM, and the pruning / SVD baselines.

``compress(model, data, k, m)`` turns a trained one-layer `~opkit.models.NeuralODE` into
a `ReducedNeuralODE` (Lehtimäki, Paunonen & Linne, IEEE TNNLS 2024); ``prune_neurons``
and ``truncate_svd`` are the paper's baselines at a chosen cost.
"""

from ._compress import check_compressible as check_compressible
from ._compress import compress as compress
from ._deim import deim as deim
from ._deim import deim_interpolate as deim_interpolate
from ._pod import pod as pod
from ._prune import PrunedNeuralODE as PrunedNeuralODE
from ._prune import prune_neurons as prune_neurons
from ._reduced import DEIMVectorField as DEIMVectorField
from ._reduced import ReducedNeuralODE as ReducedNeuralODE
from ._reduced import check_reduced_sizes as check_reduced_sizes
from ._snapshots import snapshots as snapshots
from ._svd import LowRankNeuralODE as LowRankNeuralODE
from ._svd import truncate_svd as truncate_svd
