"""Lightning modules, data modules, callbacks, evaluation and reports."""

from ._callbacks import FiniteLossGuard as FiniteLossGuard
from ._callbacks import PredictionPlot as PredictionPlot
from ._collocation import CollocationDataModule as CollocationDataModule
from ._compress import compress_trained as compress_trained
from ._compress import time_calls as time_calls
from ._compress import training_windows as training_windows
from ._compress import with_model as with_model
from ._datamodule import OperatorDataModule as OperatorDataModule
from ._datasets import BUILTIN_DATASETS as BUILTIN_DATASETS
from ._datasets import cache_dir as cache_dir
from ._datasets import resolve_dataset as resolve_dataset
from ._evaluate import evaluate as evaluate
from ._evaluate import evaluate_solution as evaluate_solution
from ._fit import fit as fit
from ._operator import OperatorModule as OperatorModule
from ._operator import rollout as rollout
from ._pinn import PINNModule as PINNModule
from ._prose import ProseDataModule as ProseDataModule
from ._prose import ProseModule as ProseModule
from ._prose import TrainedProse as TrainedProse
from ._prose import evaluate_prose as evaluate_prose
from ._prose import is_prose_checkpoint as is_prose_checkpoint
from ._prose import load_prose as load_prose
from ._suite import run_suite as run_suite
from ._trained import TrainedOperator as TrainedOperator
from ._trained import load as load
