"""PDE solvers, initial-condition samplers, the HDF5 store and torch Datasets."""

from ._base import AbstractPDE as AbstractPDE
from ._spec import DataSpec as DataSpec
