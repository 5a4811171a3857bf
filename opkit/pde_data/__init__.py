"""PDE solvers, initial-condition samplers, the HDF5 store and torch Datasets."""

from ._base import AbstractPDE as AbstractPDE
from ._generate import DatasetExistsError as DatasetExistsError
from ._generate import NonFiniteSampleError as NonFiniteSampleError
from ._generate import generate as generate
from ._generate import merge as merge
from ._named import NAMED_DATASETS as NAMED_DATASETS
from ._named import DatasetRecipe as DatasetRecipe
from ._named import named_dataset as named_dataset
from ._named import sample_seed as sample_seed
from ._pdebench import convert_pdebench as convert_pdebench
from ._pdebench import read_pdebench as read_pdebench
from ._spec import DataSpec as DataSpec
from ._store import DatasetFileError as DatasetFileError
from ._store import dataset_info as dataset_info
from ._store import open_dataset as open_dataset
from ._torch_datasets import FrameWindows as FrameWindows
from ._torch_datasets import OperatorPairs as OperatorPairs
from ._torch_datasets import data_spec as data_spec
