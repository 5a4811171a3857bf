"""Model order reduction of neural ODEs: POD, DEIM, and the pruning / low-rank baselines.

``compress(model, data, k, m)`` turns a trained one-layer `~opkit.models.NeuralODE` (dense
``A`` or convolution ``K``) into a `ReducedNeuralODE` (Lehtimäki, Paunonen & Linne, IEEE
TNNLS 2024); ``prune_neurons`` and ``truncate_svd`` are the paper's baselines for a dense
field, ``prune_channels`` and ``truncate_channels`` those for a convolution.
``deim_galerkin`` gives the reduced matrices of any one-layer field (used by ``compress``
and by models outside `NeuralODE`, such as the classifier of ``benchmarks/mor_node.py``).
"""

from ._channels import ChannelPrunedField as ChannelPrunedField
from ._channels import ChannelPrunedNeuralODE as ChannelPrunedNeuralODE
from ._channels import LowRankConvField as LowRankConvField
from ._channels import LowRankConvNeuralODE as LowRankConvNeuralODE
from ._channels import channel_importance as channel_importance
from ._channels import prune_channels as prune_channels
from ._channels import truncate_channels as truncate_channels
from ._compress import check_compressible as check_compressible
from ._compress import compress as compress
from ._compress import compress_many as compress_many
from ._compress import deim_galerkin as deim_galerkin
from ._deim import deim as deim
from ._deim import deim_interpolate as deim_interpolate
from ._pod import pod as pod
from ._pod import pod_spectrum as pod_spectrum
from ._prune import PrunedNeuralODE as PrunedNeuralODE
from ._prune import prune_neurons as prune_neurons
from ._reduced import DEIMVectorField as DEIMVectorField
from ._reduced import ReducedNeuralODE as ReducedNeuralODE
from ._reduced import check_reduced_sizes as check_reduced_sizes
from ._snapshots import snapshots as snapshots
from ._svd import LowRankNeuralODE as LowRankNeuralODE
from ._svd import truncate_svd as truncate_svd
