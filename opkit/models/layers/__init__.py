from ._attention import CrossAttentionLayer as CrossAttentionLayer
from ._attention import sinusoidal_positions as sinusoidal_positions
from ._embeddings import PeriodicEmbedding as PeriodicEmbedding
from ._lgm import LGMLayer as LGMLayer
from ._lgm import LocalGlobalMixing as LocalGlobalMixing
from ._lgm import ZeroSumConv as ZeroSumConv
from ._mlp import MLP as MLP
from ._mlp import activation_function as activation_function
