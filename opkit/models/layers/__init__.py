from ._lgm import LGMLayer as LGMLayer
from ._lgm import LocalGlobalMixing as LocalGlobalMixing
from ._lgm import ZeroSumConv as ZeroSumConv
