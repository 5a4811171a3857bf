"""The shared sizing contract of the models: ``from_spec == cls(**init_args_from_spec)``."""

from __future__ import annotations

import pytest
import torch

from opkit.models import FNO, DeepONet, DyMixOp, NeuralODE, PODDeepONet
from opkit.models._spec_args import check_not_contradicting
from opkit.pde_data import DataSpec

SPEC_1D = DataSpec(spatial_shape=(16,), lengths=(1.0,), in_frames=2)
SMALL = {
    FNO: dict(n_modes=4, hidden_channels=4, n_layers=1),
    DeepONet: dict(branch_hidden=(8,), trunk_hidden=(8,), latent=4),
    PODDeepONet: dict(n_modes=4, branch_hidden=(8,)),
    DyMixOp: dict(hidden_channels=4, n_layers=1, n_modes=4),
    NeuralODE: dict(latent_channels=1, width=4),
}


@pytest.mark.parametrize("model_cls", list(SMALL), ids=lambda c: c.__name__)
def test_from_spec_is_the_constructor_on_init_args_from_spec(model_cls):
    kwargs = SMALL[model_cls]
    torch.manual_seed(0)
    built = model_cls.from_spec(SPEC_1D, **kwargs)
    torch.manual_seed(0)
    direct = model_cls(**model_cls.init_args_from_spec(SPEC_1D, **kwargs))
    assert type(built) is model_cls
    assert built.state_dict().keys() == direct.state_dict().keys()
    for name, value in built.state_dict().items():
        torch.testing.assert_close(value, direct.state_dict()[name], rtol=0, atol=0, equal_nan=True)
    with pytest.raises(TypeError, match=r"`spec` must be an opkit.pde_data.DataSpec"):
        model_cls.init_args_from_spec((16,), **kwargs)


def test_fno_takes_sizes_from_the_data_and_passes_settings_through():
    args = FNO.init_args_from_spec(SPEC_1D, n_modes=32, hidden_channels=4, domain_padding=0.25)
    assert args == dict(
        in_channels=2, out_channels=1, n_dim=1, n_modes=[8], hidden_channels=4, domain_padding=0.25
    )
    # repeating a size the data fixes is accepted, contradicting it is not
    assert FNO.init_args_from_spec(SPEC_1D, in_channels=2)["in_channels"] == 2
    with pytest.raises(ValueError, match=r"FNO.from_spec: \{'n_dim': 2\} contradict the DataSpec"):
        FNO.from_spec(SPEC_1D, n_dim=2)


def test_check_not_contradicting_compares_sequences_by_their_entries():
    fixed = {"in_channels": 3, "grid_shape": (16, 8)}
    check_not_contradicting("M", fixed, {"grid_shape": [16, 8], "in_channels": 3, "width": 5})
    for bad in ({"grid_shape": (8, 16)}, {"grid_shape": None}, {"grid_shape": 16}):
        with pytest.raises(ValueError, match=r"M.from_spec: .* contradict the DataSpec"):
            check_not_contradicting("M", fixed, bad)
    with pytest.raises(ValueError, match=r"which fixes \{'in_channels': 3\}; drop them"):
        check_not_contradicting("M", fixed, {"in_channels": 4})
