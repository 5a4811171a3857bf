"""PDE solvers, initial-condition samplers, the HDF5 store and torch Datasets."""

from ._advection import Advection1D as Advection1D
from ._allen_cahn import AllenCahn1D as AllenCahn1D
from ._base import AbstractPDE as AbstractPDE
from ._burgers import Burgers1D as Burgers1D
from ._generate import DatasetExistsError as DatasetExistsError
from ._generate import NonFiniteSampleError as NonFiniteSampleError
from ._generate import generate as generate
from ._generate import merge as merge
from ._initial_conditions import GRF1D as GRF1D
from ._initial_conditions import GRF2D as GRF2D
from ._initial_conditions import RandomFourierSeries as RandomFourierSeries
from ._kuramoto_sivashinsky import KuramotoSivashinsky1D as KuramotoSivashinsky1D
from ._named import NAMED_DATASETS as NAMED_DATASETS
from ._named import DatasetRecipe as DatasetRecipe
from ._named import named_dataset as named_dataset
from ._named import sample_seed as sample_seed
from ._navier_stokes import NavierStokes2D as NavierStokes2D
from ._pdebench import convert_pdebench as convert_pdebench
from ._pdebench import read_pdebench as read_pdebench
from ._spec import DataSpec as DataSpec
from ._store import DatasetFileError as DatasetFileError
from ._store import dataset_info as dataset_info
from ._store import open_dataset as open_dataset
from ._torch_datasets import FrameWindows as FrameWindows
from ._torch_datasets import OperatorPairs as OperatorPairs
from ._torch_datasets import data_spec as data_spec
