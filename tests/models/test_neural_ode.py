"""NeuralODE: the latent ODE's mathematics (exact linear solutions, adjoint gradients),
the encode/decode structure, from_spec, and clear errors."""

import math

import pytest
import torch

from opkit.models import NeuralODE
from opkit.pde_data import DataSpec


def _tiny(**kwargs):
    settings = dict(in_channels=2, out_channels=1, grid_shape=(8,), width=4, latent_channels=1)
    settings.update(kwargs)
    return NeuralODE(**settings)


def _set_linear_field(model, A, b):
    layer = model.vector_field.layers[0]
    with torch.no_grad():
        layer.weight.copy_(A)
        layer.bias.copy_(b)


def _linear_exact(A, b, x0, t):
    """x' = A x + b: x(t) = e^{At} x0 + A^{-1} (e^{At} - I) b, A invertible."""
    E = torch.linalg.matrix_exp(A * t)
    return x0 @ E.T + torch.linalg.solve(A, (E - torch.eye(len(b), dtype=A.dtype)) @ b)


def test_shapes_and_solver_evaluations():
    model = _tiny()
    y = model(torch.randn(3, 2, 8))
    assert y.shape == (3, 1, 8)
    assert model.state_size == 8
    assert model.nfe == 16  # rk4 (4 evaluations per step) x 4 steps of 0.25 per frame
    two = _tiny(out_channels=2, in_channels=4, n_fields=2, latent_channels=2)
    assert two(torch.randn(2, 4, 8)).shape == (2, 2, 8)


def test_linear_vector_field_matches_matrix_exponential():
    """f = identity: x' = A x + b has the closed form; dopri5 at tight tolerances meets it,
    and rk4 converges to it at fourth order."""
    torch.manual_seed(0)
    model = _tiny(activation="identity", method="dopri5", rtol=1e-11, atol=1e-12).double()
    n = model.state_size
    A = 0.5 * torch.randn(n, n, dtype=torch.float64) - 0.3 * torch.eye(n, dtype=torch.float64)
    b = torch.randn(n, dtype=torch.float64)
    _set_linear_field(model, A, b)
    x = torch.randn(4, 2, 8, dtype=torch.float64)
    t = torch.tensor([0.0, 0.4, 1.3], dtype=torch.float64)
    with torch.no_grad():
        states = model.latent_trajectory(x, t)
        x0 = model.encoder(x)
    for i, ti in enumerate(t.tolist()):
        torch.testing.assert_close(states[i], _linear_exact(A, b, x0, ti), rtol=1e-8, atol=1e-9)

    errors, steps = [], [0.5, 0.25, 0.125]
    model.method = "rk4"
    for h in steps:
        model.step_size = h
        with torch.no_grad():
            end = model.latent_trajectory(x, t[[0, 2]])[-1]
        errors.append(float((end - _linear_exact(A, b, x0, 1.3)).abs().max()))
    slope = math.log(errors[0] / errors[-1]) / math.log(steps[0] / steps[-1])
    assert 3.6 < slope < 4.4, (errors, slope)


def test_prediction_is_last_frame_plus_decoded_change():
    """u_j = u_last + D(x(t_j)) - D(x(0)): a zero vector field predicts persistence; a
    constant one x' = Z u moves the state to x0 + t Z u exactly."""
    torch.manual_seed(1)
    model = _tiny(activation="identity", n_inputs=3, out_channels=2).double()
    _set_linear_field(model, torch.zeros(8, 8), torch.zeros(8))
    x = torch.randn(5, 2, 8, dtype=torch.float64)
    u = torch.randn(5, 3, dtype=torch.float64)
    with torch.no_grad():
        model.vector_field.input_map.weight.zero_()
        y = model(x, u)
    torch.testing.assert_close(y, x[:, -1:].expand(5, 2, 8))

    with torch.no_grad():
        model.vector_field.input_map.weight.normal_()
        y = model(x, u)
        x0 = model.encoder(x)
        drift = u @ model.vector_field.input_map.weight.T
        d0 = model.decoder(x0, (8,))
        expected = [x[:, -1:] + model.decoder(x0 + j * drift, (8,)) - d0 for j in (1, 2)]
    torch.testing.assert_close(y, torch.cat(expected, 1), rtol=1e-12, atol=1e-12)
    assert (y - x[:, -1:]).abs().max() > 1e-3  # the input term does move the prediction


def test_adjoint_gradients_equal_backpropagated_ones():
    torch.manual_seed(2)
    settings = dict(method="dopri5", rtol=1e-10, atol=1e-10, n_inputs=2)
    direct = _tiny(**settings).double()
    adjoint = _tiny(adjoint=True, **settings).double()
    adjoint.load_state_dict(direct.state_dict())
    x = torch.randn(3, 2, 8, dtype=torch.float64)
    u = torch.randn(3, 2, dtype=torch.float64)
    target = torch.randn(3, 1, 8, dtype=torch.float64)
    grads = []
    for model in (direct, adjoint):
        loss = (model(x, u) - target).pow(2).sum()
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    for name, (g1, g2) in zip([n for n, _ in direct.named_parameters()], zip(*grads)):
        assert g1.abs().max() > 0, name
        torch.testing.assert_close(g2, g1, rtol=1e-6, atol=1e-8, msg=name)


def test_gradcheck_through_the_solver():
    torch.manual_seed(3)
    model = _tiny(step_size=0.5).double()
    x = torch.randn(2, 2, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(model, (x,), eps=1e-6, atol=1e-6)


def test_every_parameter_gets_a_gradient():
    model = _tiny(n_layers=2, n_inputs=1)
    model(torch.randn(2, 2, 8), torch.randn(2, 1)).pow(2).sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_from_spec_is_constructor_of_init_args():
    spec = DataSpec(spatial_shape=(16,), lengths=(1.0,), in_frames=3, out_frames=2)
    args = NeuralODE.init_args_from_spec(spec, width=6)
    assert args["in_channels"] == 3 and args["out_channels"] == 2
    assert args["grid_shape"] == [16] and args["width"] == 6
    model = NeuralODE.from_spec(spec, width=6)
    assert model.config == NeuralODE(**args).config
    assert model(torch.randn(2, 3, 16)).shape == (2, 2, 16)
    with pytest.raises(ValueError, match="contradict the DataSpec"):
        NeuralODE.init_args_from_spec(spec, in_channels=4)
    with pytest.raises(TypeError, match="DataSpec"):
        NeuralODE.init_args_from_spec({"spatial_shape": (16,)})


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(kernel_size=4), ValueError, "odd"),
        (dict(method="rk45"), ValueError, "torchdiffeq method"),
        (dict(activation="cube"), ValueError, "activation"),
        (dict(step_size=0.0), ValueError, "step_size"),
        (dict(width=2.5), TypeError, "width"),
        (dict(out_channels=3, n_fields=2, in_channels=2), ValueError, "whole frames"),
        (dict(field="attention"), ValueError, "`field` must be one of"),
        (dict(field="conv", field_kernel=4), ValueError, "field_kernel"),
        (dict(field="conv", n_layers=2), ValueError, "n_layers"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        _tiny(**kwargs)


def test_bad_inputs_are_named():
    model = _tiny()
    with pytest.raises(ValueError, match=r"\(batch, 2, 8\)"):
        model(torch.randn(2, 2, 16))
    with pytest.raises(ValueError, match="n_inputs=0"):
        model(torch.randn(2, 2, 8), torch.randn(2, 1))
    with pytest.raises(ValueError, match="n_inputs"):
        _tiny(n_inputs=2)(torch.randn(2, 2, 8))


def test_layer_vector_field_is_f_of_affine_plus_input_term_and_counts_calls():
    from opkit.models._neural_ode import LayerVectorField

    torch.manual_seed(0)
    field = LayerVectorField(5, n_inputs=2).double()
    x, u = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    layer = field.layers[0]
    expected = torch.tanh(x @ layer.weight.T + layer.bias) + u @ field.input_map.weight.T
    torch.testing.assert_close(field(torch.tensor(0.0), x, u), expected, rtol=0, atol=1e-15)
    assert field.Z is field.input_map.weight and field.nfe == 1
    no_input = LayerVectorField(5)
    assert no_input.Z is None
    torch.testing.assert_close(no_input(0.0, x.float()), no_input.nonlinearity(x.float()))
    assert no_input.nfe == 1


def test_conv_field_model_is_shift_equivariant_and_from_spec_builds_it():
    """With field="conv" every part (encoder, K, decoder) is a periodic convolution: rolling
    the input rolls the prediction. The dense field is not equivariant."""
    spec = DataSpec(spatial_shape=(16,), lengths=(1.0,), in_frames=2, out_frames=1)
    torch.manual_seed(0)
    model = NeuralODE.from_spec(spec, width=4, latent_channels=3, field="conv", field_kernel=3)
    model = model.double()
    assert model.state_size == 48 and model.cost() == {"macs": 48 * 3 * 3, "f_evals": 48}
    x = torch.randn(2, 2, 16, dtype=torch.float64)
    with torch.no_grad():
        y, y_rolled = model(x), model(torch.roll(x, 5, dims=-1))
        assert (y - x[:, -1:]).abs().max() > 1e-3  # the field moves the state
        torch.testing.assert_close(y_rolled, torch.roll(y, 5, dims=-1), rtol=0, atol=1e-12)
        dense = _tiny(in_channels=2, grid_shape=(16,)).double()
        assert (dense(torch.roll(x, 5, -1)) - torch.roll(dense(x), 5, -1)).abs().max() > 1e-4
    again = NeuralODE(**model.config).double()
    again.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(again(x), y)


def test_conv_vector_field_is_f_of_periodic_convolution_plus_input_term():
    from opkit.models import ConvVectorField

    torch.manual_seed(1)
    field = ConvVectorField(2, (6,), kernel_size=3, n_inputs=1).double()
    x, u = torch.randn(4, 12, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    W, b = field.conv.weight.detach(), field.conv.bias.detach()
    fields = x.reshape(4, 2, 6)
    z = torch.zeros(4, 2, 6, dtype=torch.float64)
    for o in range(2):
        for i in range(6):
            for c in range(2):
                for s in range(3):
                    z[:, o, i] += W[o, c, s] * fields[:, c, (i + s - 1) % 6]
            z[:, o, i] += b[o]
    expected = torch.tanh(z).flatten(1) + u @ field.input_map.weight.T
    torch.testing.assert_close(field(0.0, x, u), expected, rtol=0, atol=1e-14)
    assert field.nfe == 1
    with pytest.raises(ValueError, match="padding"):
        ConvVectorField(2, (6,), padding="reflect")
    with pytest.raises(ValueError, match="odd"):
        ConvVectorField(2, (6,), kernel_size=2)


def test_latent_rollout_continues_the_solve_without_re_encoding():
    """latent_rollout(x, 1) is the forward pass; over 3 frames, frame 1 is unchanged (the
    fixed-step solver takes the same steps) and frames 2-3 differ from re-encoding."""
    torch.manual_seed(0)
    model = _tiny(field="conv", latent_channels=2).double()
    x = torch.randn(3, 2, 8, dtype=torch.float64)
    with torch.no_grad():
        one = model(x)
        torch.testing.assert_close(model.latent_rollout(x, 1), one, rtol=0, atol=1e-14)
        three = model.latent_rollout(x, 3)
        assert three.shape == (3, 3, 8) and model.nfe == 3 * 16
        torch.testing.assert_close(three[:, :1], one, rtol=0, atol=1e-13)
        refed = model(torch.cat([x[:, 1:], one], dim=1))
        assert (three[:, 1:2] - refed).abs().max() > 1e-6
    with pytest.raises(ValueError, match="n_frames"):
        model.latent_rollout(x, 0)
