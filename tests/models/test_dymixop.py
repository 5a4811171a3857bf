"""DyMixOp: published sizes, the gate and the aggregation against a plain-torch reference,
resolution, ablations, errors, and a small learning problem with an exact solution."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from opkit.models import DyMixOp
from opkit.models.layers import _lgm
from opkit.pde_data import DataSpec


@pytest.fixture(autouse=True)
def _one_thread():
    # These problems are tiny: one intra-op thread is faster, and on a shared CPU two
    # threads per test process oversubscribe the cores (10x slower training measured).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ------------------------------------------------------- independent reference forward pass
# A frozen re-implementation of the DyMixOp forward pass, written from the paper (Lai, Chen
# & Xu 2025, eqs. of the LGM layer and DyIA) and the behaviour of the published code
# (Lain-PY/DyMixOp): channels first, plain float64 tensors, no opkit module is called.
# Self-contained on purpose: test modules do not import each other.


def pointwise_ref(w: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """A 1x1 convolution: ``(out, in, 1[, 1])`` weight, ``(out,)`` bias."""
    w = w.reshape(w.shape[0], w.shape[1])
    return torch.einsum("oi,bi...->bo...", w, c) + b.view(1, -1, *[1] * (c.ndim - 2))


def fd_conv_ref(raw: torch.Tensor, c: torch.Tensor, width: float) -> torch.Tensor:
    """The published FiniteDifferenceConv: the centre tap minus the sum of all taps, a
    periodic 3-tap cross-correlation, divided by the grid width."""
    n_dim = c.ndim - 2
    fused = raw.clone()
    centre = (slice(None), slice(None), *[1] * n_dim)
    fused[centre] -= raw.sum(dim=tuple(range(2, 2 + n_dim)))
    out = torch.zeros(c.shape[0], raw.shape[0], *c.shape[2:], dtype=c.dtype)
    if n_dim == 1:
        for j in range(3):
            out += torch.einsum("oi,bin->bon", fused[..., j], torch.roll(c, 1 - j, dims=-1))
    else:
        for j in range(3):
            for k in range(3):
                shifted = torch.roll(c, (1 - j, 1 - k), dims=(-2, -1))
                out += torch.einsum("oi,bixy->boxy", fused[..., j, k], shifted)
    return out / width


def global_ref(c: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor | None, m: int):
    """The published GlobalTransformation: modes 0..m-1 (1-D); rows 0..m-1 with ``w1`` and
    rows -m..-1 with ``w2``, columns 0..m-1 (2-D)."""
    if c.ndim == 3:
        coeffs = torch.fft.rfft(c)
        out = torch.einsum("bix,iox->box", coeffs[:, :, :m], w1)
        return torch.fft.irfft(out, n=c.shape[-1])
    coeffs = torch.fft.rfft2(c)
    out = torch.zeros(c.shape[0], w1.shape[1], c.shape[-2], c.shape[-1] // 2 + 1)
    out = out.to(torch.complex128)
    out[:, :, :m, :m] = torch.einsum("bixy,ioxy->boxy", coeffs[:, :, :m, :m], w1)
    out[:, :, -m:, :m] = torch.einsum("bixy,ioxy->boxy", coeffs[:, :, -m:, :m], w2)
    return torch.fft.irfft2(out, s=c.shape[-2:])


def kappa_ref(frames: torch.Tensor) -> torch.Tensor:
    """mean_t (1 - cos(u_{t+1}, u_t)) with |a||b| + 1e-8 below; frames (batch, T, -1)."""
    new, old = frames[:, 1:], frames[:, :-1]
    cos = (new * old).sum(-1) / (new.norm(dim=-1) * old.norm(dim=-1) + 1e-8)
    return (1 - cos).mean(-1)


def weights_of(model: DyMixOp) -> dict:
    """Every weight as a detached float64 / complex128 tensor, in the published layout."""
    d = lambda t: t.detach().clone()  # noqa: E731
    m = model.n_modes
    layers = []
    for layer in model.layers:
        w = d(layer.mixing.global_transform.weight).to(torch.complex128)
        w1, w2 = (w, None) if model.n_dim == 1 else (w[:, :, m:], w[:, :, :m])
        layers.append(
            {
                "gt": (w1, w2),
                "lt": (
                    d(layer.mixing.local_transform.weight),
                    d(layer.mixing.local_transform.bias),
                ),
                "conv": (d(layer.linear.weight), d(layer.linear.bias)),
                "fd": d(layer.derivative.stencil),
                "a1": (d(layer.residual[0].weight), d(layer.residual[0].bias)),
                "a2": (d(layer.residual[1].weight), d(layer.residual[1].bias)),
            }
        )
    return {
        "lift": (d(model.lifting.weight), d(model.lifting.bias)),
        "reduce": (d(model.reduction.weight), d(model.reduction.bias)),
        "layers": layers,
        "lambda": d(model.gate_rate),
        "evo": (d(model.layer_weights), d(model.layer_bias)),
        "inv_reduce": (d(model.expansion.weight), d(model.expansion.bias)),
        "inv_lift": (d(model.projection.weight), d(model.projection.bias)),
        "kappa_dataset": d(model.structure_change_coefficient),
    }


def reference_forward(
    w: dict, x: torch.Tensor, *, in_frames: int, m: int, gate: str, width: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """DyMixOp's forward pass; returns (output, gate). ``gate``: "released" -> sigmoid(lambda)
    (the published argument order), "dataset" -> sigmoid(lambda * kappa_D), "sample" ->
    sigmoid(lambda * kappa(x)). ``width`` divides the derivative (1 in the published code)."""
    batch, spatial = x.shape[0], x.shape[2:]
    if gate == "released":
        g = torch.sigmoid(w["lambda"]).expand(batch)
    elif gate == "dataset":
        g = torch.sigmoid(w["lambda"] * w["kappa_dataset"]).expand(batch)
    else:
        kappa = kappa_ref(x.reshape(batch, in_frames, -1)) if in_frames > 1 else 1.0
        g = torch.sigmoid(w["lambda"] * kappa)
    axes = [torch.linspace(0, 1, n + 1, dtype=x.dtype)[:-1] for n in spatial]
    coor = torch.stack(torch.meshgrid(*axes, indexing="ij")).expand(batch, -1, *spatial)
    c = pointwise_ref(*w["reduce"], pointwise_ref(*w["lift"], torch.cat([x, coor], 1)))

    c_init, outputs, n_layers = c, [], len(w["layers"])
    g = g.view(-1, *[1] * (1 + len(spatial)))
    for i, lw in enumerate(w["layers"]):
        nonlin = global_ref(c, *lw["gt"], m) * pointwise_ref(*lw["lt"], c)
        lin = pointwise_ref(*lw["conv"], c) + fd_conv_ref(lw["fd"], c, width)
        f = F.gelu(lin + pointwise_ref(*lw["a2"], pointwise_ref(*lw["a1"], nonlin)))
        if i < n_layers - 1:
            c = c + f * g
        outputs.append(f)
    evo_w, evo_b = w["evo"]
    stacked = torch.stack(outputs, dim=1)  # (batch, L, h, *spatial)
    c = c_init + (evo_w.view(1, -1, *[1] * (stacked.ndim - 2)) * stacked).sum(1) + evo_b
    out = pointwise_ref(*w["inv_lift"], pointwise_ref(*w["inv_reduce"], c))
    return out, g.flatten()


def smooth_window(batch: int, frames: int, fields: int, spatial: tuple[int, ...], seed: int):
    """Travelling low-mode waves, so consecutive frames are similar but not equal."""
    gen = torch.Generator().manual_seed(seed)
    axes = [torch.arange(n, dtype=torch.float64) * 2 * math.pi / n for n in spatial]
    mesh = torch.meshgrid(*axes, indexing="ij")
    speed = 0.5 + torch.rand(batch, generator=gen, dtype=torch.float64)  # per-sample kappa
    out = torch.zeros(batch, frames * fields, *spatial, dtype=torch.float64)
    for t in range(frames):
        for f in range(fields):
            phase = sum((d + 1 + f) * m for d, m in enumerate(mesh))
            shift = speed.view(-1, *[1] * len(spatial)) * t
            out[:, t * fields + f] = torch.sin(phase - shift) + 0.3 * torch.cos(2 * phase)
    return out


# ------------------------------------------------------------------ published configurations


def test_defaults_are_the_published_1d_ks_configuration():
    model = DyMixOp()
    assert (model.hidden_channels, model.n_layers, model.n_modes) == (48, 8, 12)
    assert (model.in_channels, model.out_channels, model.n_dim) == (10, 1, 1)
    n_elements = sum(p.numel() for p in model.parameters())
    n_real = sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
    # lift 1,152 + reduce 4,656 + 8 x (G 27,648 + Lc 2,352 + W 2,352 + D 6,912 + A 9,360)
    # + lambda 1 + aggregation 9 + expand 4,704 + project 97
    assert n_elements == 399_611
    assert n_real == 399_611 + 8 * 27_648
    assert abs(n_elements - 400_000) / 400_000 < 0.01  # the paper's "about 0.4 M"


def test_navier_stokes_2d_configuration():
    model = DyMixOp.navier_stokes_2d()
    assert (model.hidden_channels, model.n_layers, model.n_modes, model.n_dim) == (96, 4, 12, 2)
    spectral = 96 * 96 * 24 * 12  # frequencies -12..11 x 0..11 per channel pair
    assert sum(p.numel() for p in model.parameters() if p.is_complex()) == 4 * spectral
    assert sum(p.numel() for p in model.parameters()) == 11_211_559


# ------------------------------------------------------------------ the mathematics


@pytest.mark.parametrize("n_dim", [1, 2])
@pytest.mark.parametrize("gate", ["released", "dataset", "sample"])
@pytest.mark.parametrize("init", ["neuralop", "authors"])
def test_forward_matches_the_reference_forward_to_1e_10_in_float64(n_dim, gate, init):
    torch.manual_seed(0)
    spatial = (24,) if n_dim == 1 else (12, 16)
    grid = (12,) if n_dim == 1 else (8, 8)  # the input is finer: D is rescaled
    model = DyMixOp(
        in_channels=6,
        out_channels=2,
        n_dim=n_dim,
        n_fields=2,
        hidden_channels=5,
        n_layers=3,
        n_modes=4,
        grid_shape=grid,
        gate=gate,
        init=init,
    ).double()
    x = smooth_window(3, 3, 2, spatial, seed=n_dim)
    with torch.no_grad():
        model.gate_rate.fill_(2.5)  # gates well inside (0, 1), different per sample
        if init == "authors":  # the authors' spectral weights are 1/h^2 small: make G count
            for layer in model.layers:
                layer.mixing.global_transform.weight.mul_(25.0)
    model.fit_data_statistics(smooth_window(4, 3, 2, spatial, seed=7))
    width = math.prod(n0 / n for n0, n in zip(grid, spatial)) ** (1 / n_dim)

    expected, g = reference_forward(weights_of(model), x, in_frames=3, m=4, gate=gate, width=width)
    out = model(x)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)
    assert expected.abs().max() > 0.1
    if gate == "sample":
        assert g.max() - g.min() > 0.05, g  # the gate differs per sample
    # the derivative matters: with the published width 1 the outputs differ
    other, _ = reference_forward(weights_of(model), x, in_frames=3, m=4, gate=gate)
    assert (other - expected).abs().max() > 1e-4


def test_gates_are_what_the_options_say():
    torch.manual_seed(0)
    x = smooth_window(3, 4, 1, (32,), seed=1)
    kw = dict(in_channels=4, hidden_channels=4, n_layers=2, n_modes=4)
    released = DyMixOp(gate="released", **kw).double()
    sample = DyMixOp(gate="sample", **kw).double()
    dataset = DyMixOp(gate="dataset", **kw).double()
    lam = released.gate_rate.item()
    assert lam == 4.0  # initialised to h
    torch.testing.assert_close(released.gate_value(x), torch.sigmoid(torch.tensor(lam)).double())
    torch.testing.assert_close(
        sample.gate_value(x), torch.sigmoid(lam * sample.structure_change(x))
    )
    with pytest.raises(RuntimeError, match="fit_data_statistics"):
        dataset(x)
    dataset.fit_data_statistics(x)
    kappa_d = dataset.structure_change_coefficient
    torch.testing.assert_close(dataset.gate_value(x), torch.sigmoid(lam * kappa_d))


def test_dataset_kappa_is_the_raw_data_value_and_ignores_normalisation():
    # zero-mean fields (as KS and NS vorticity): kappa_D equals the statistic of the raw
    # frames, and a per-field affine normalisation (min-max, standard) does not change it
    x = smooth_window(5, 4, 1, (32,), seed=2)
    x = x - x.mean(-1, keepdim=True)
    model = DyMixOp(in_channels=4, hidden_channels=4, n_layers=1, n_modes=4, gate="dataset")
    raw = kappa_ref(x.reshape(5, 4, -1)).mean()
    model.fit_data_statistics(x)
    torch.testing.assert_close(model.structure_change_coefficient.double(), raw.float().double())
    normalised = (x - x.min()) / (x.max() - x.min())
    model.fit_data_statistics(normalised)
    torch.testing.assert_close(model.structure_change_coefficient.double(), raw.float().double())
    # ... while the per-sample statistic of the normalised window is far smaller
    assert model.structure_change(normalised).mean() < 0.5 * raw
    # kappa_D travels with the state dict
    clone = DyMixOp(in_channels=4, hidden_channels=4, n_layers=1, n_modes=4, gate="dataset")
    clone.load_state_dict(model.state_dict())
    assert clone.structure_change_coefficient == model.structure_change_coefficient
    torch.testing.assert_close(clone(x.float()), model(x.float()))


@pytest.mark.parametrize("h", [8, 24])
def test_initialisations_follow_their_recipes(h):
    torch.manual_seed(0)
    kw = dict(in_channels=2, hidden_channels=h, n_layers=2, n_modes=6)
    ours, authors = DyMixOp(init="neuralop", **kw), DyMixOp(init="authors", **kw)
    wo = torch.cat([layer.mixing.global_transform.weight.flatten() for layer in ours.layers])
    wa = torch.cat([layer.mixing.global_transform.weight.flatten() for layer in authors.layers])
    # neuraloperator: complex normal, E|w|^2 = 2 / (h + h)
    assert abs(wo.abs().square().mean().item() * h - 1) < 0.1
    assert abs(wo.real.mean().item()) < 0.1 / math.sqrt(h)
    # authors: real and imaginary parts uniform on [0, 1/h^2)
    for part in (wa.real, wa.imag):
        assert part.min() >= 0 and part.max() < 1 / h**2
        assert abs(part.mean().item() * h**2 - 0.5) < 0.05
        assert abs(part.var().item() * h**4 - 1 / 12) < 0.01
    ratio = (wo.abs().square().mean() / wa.abs().square().mean()).sqrt().item()
    assert ratio == pytest.approx(math.sqrt(1 / h) / math.sqrt(2 / 3) * h**2, rel=0.1)
    # the authors' derivative: torch's default weights, the centre tap minus their sum; so
    # the off-centre taps keep the default (uniform, bound 1 / sqrt(3h)) distribution
    stencil = authors.layers[0].derivative.stencil
    assert stencil.sum(-1).abs().max() < 1e-6
    off = stencil[..., [0, 2]]
    bound = 1 / math.sqrt(3 * h)
    assert off.abs().max() <= bound and off.abs().max() > 0.8 * bound
    # ours: the mean over taps is removed, so the off-centre taps are not the raw weights
    assert ours.layers[0].derivative.stencil[..., 0].abs().max() < 1.5 * bound


def test_structure_change_statistic_exact_values():
    n = 32
    x = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    s, c = torch.sin(x), torch.cos(x)
    model = DyMixOp(in_channels=3, hidden_channels=2, n_layers=1, n_modes=2)

    def kappa(*frames):
        return model.structure_change(torch.stack(frames).unsqueeze(0)).item()

    assert kappa(s, c, -s) == pytest.approx(1.0, abs=1e-8)  # orthogonal steps
    assert kappa(s, s, 2 * s) == pytest.approx(0.0, abs=1e-8)  # frozen (eps 1e-8)
    assert kappa(s, -s, s) == pytest.approx(2.0, abs=1e-8)  # sign flips
    assert kappa(s, s, c) == pytest.approx(0.5, abs=1e-8)  # mean over the two steps
    # fields of one frame are compared together: (s, c) -> (c, -s) is orthogonal as a pair
    two_fields = DyMixOp(in_channels=4, n_fields=2, hidden_channels=2, n_layers=1, n_modes=2)
    pair = torch.stack([s, c, c, -s]).unsqueeze(0)
    assert two_fields.structure_change(pair).item() == pytest.approx(1.0, abs=1e-12)
    # a single frame has no time scale: kappa = 1, gate = sigmoid(lambda)
    single = DyMixOp(in_channels=1, hidden_channels=2, n_layers=1, n_modes=2)
    assert single.structure_change(s.view(1, 1, n)).item() == 1.0


@pytest.mark.parametrize("n_dim", [1, 2])
def test_every_parameter_gets_a_gradient(n_dim):
    torch.manual_seed(1)
    spatial = (32,) if n_dim == 1 else (16, 16)
    model = DyMixOp(
        in_channels=3, out_channels=1, n_dim=n_dim, hidden_channels=6, n_layers=3, n_modes=4
    )
    x = smooth_window(2, 3, 1, spatial, seed=3).float()
    model(x).square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().max() > 0, name


def _small_model(n_dim: int) -> tuple[DyMixOp, tuple[int, ...]]:
    """A two-layer DyMixOp of width 8 on a 32-point (1-D) or 16 x 16 (2-D) training grid."""
    spatial = (32,) if n_dim == 1 else (16, 16)
    model = DyMixOp(
        in_channels=2,
        out_channels=1,
        n_dim=n_dim,
        hidden_channels=8,
        n_layers=2,
        n_modes=4,
        grid_shape=spatial,
    )
    return model, spatial


@pytest.mark.parametrize("n_dim", [1, 2])
def test_forward_traces_as_one_graph_for_torch_compile(n_dim):
    # torch.compile gets the whole model only if its forward has no graph break (a break,
    # e.g. a generator in the grid-spacing arithmetic, made it fall back to compiling each
    # layer alone); benchmarks/dymixop_cost.py --compile measures what that whole graph buys
    model, spatial = _small_model(n_dim)
    explained = torch._dynamo.explain(model)(torch.randn(2, 2, *spatial))
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.mark.parametrize("n_dim", [1, 2])
def test_compiled_forward_and_backward_give_the_eager_gradients(n_dim, monkeypatch):
    # AOT autograd traces the custom stencil Functions' forward and backward (what
    # torch.compile does before code generation); the batch in chunks of one sample
    monkeypatch.setattr(_lgm, "_CHUNK_BYTES", 1)
    torch.manual_seed(0)
    model, spatial = _small_model(n_dim)
    x = torch.randn(3, 2, *spatial)
    model(x).square().mean().backward()
    eager = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch.compile(model, backend="aot_eager")(x).square().mean().backward()
    for p, g in zip(model.parameters(), eager):
        torch.testing.assert_close(p.grad, g)


def test_output_grid_follows_input_grid():
    torch.manual_seed(2)
    model = DyMixOp(in_channels=4, out_channels=2, hidden_channels=6, n_layers=2, n_modes=6)
    for n in (64, 128, 20):
        assert model(torch.randn(2, 4, n)).shape == (2, 2, n)
    model2d = DyMixOp.navier_stokes_2d(hidden_channels=6, n_layers=2, n_modes=4)
    for shape in ((32, 32), (24, 40)):
        assert model2d(torch.randn(2, 10, *shape)).shape == (2, 1, *shape)


@pytest.mark.parametrize("kernel", [1, 3])
def test_local_ablation_has_finite_receptive_field_and_global_does_not(kernel):
    # one layer's D (3 taps) and Lc (`kernel` taps) see one neighbour on each side at most,
    # so after L layers the local-only model is exactly blind beyond L points; a single
    # input frame keeps the gate statistic (a global quantity) fixed.
    torch.manual_seed(3)
    n, n_layers, j = 48, 3, 20
    x = torch.randn(1, 1, n, dtype=torch.float64)
    bumped = x.clone()
    bumped[..., j] += 1.0
    for mixing in ("local", "product", "sum", "global"):
        model = DyMixOp(
            in_channels=1,
            hidden_channels=4,
            n_layers=n_layers,
            n_modes=5,
            local_kernel_size=kernel,
            mixing=mixing,
        ).double()
        with torch.no_grad():
            change = (model(bumped) - model(x)).abs().view(n)
        far = torch.cat([change[: j - n_layers], change[j + n_layers + 1 :]])
        if mixing == "local":
            assert far.max() == 0.0
            assert change[j - n_layers : j + n_layers + 1].min() > 0
        else:
            assert far.min() > 1e-8, mixing


def test_ablations_differ_in_parameters_as_claimed():
    sizes = {
        mixing: {
            "complex": sum(
                p.numel() for p in DyMixOp(mixing=mixing, n_layers=1).parameters() if p.is_complex()
            ),
            "real": sum(
                p.numel()
                for p in DyMixOp(mixing=mixing, n_layers=1).parameters()
                if not p.is_complex()
            ),
        }
        for mixing in ("product", "sum", "local", "global")
    }
    assert sizes["product"] == sizes["sum"]
    assert sizes["local"]["complex"] == 0
    assert sizes["global"]["complex"] == sizes["product"]["complex"] == 48 * 48 * 12
    assert sizes["product"]["real"] - sizes["global"]["real"] == 48 * 48 + 48  # Lc


def test_rollout_slides_the_window():
    torch.manual_seed(4)
    model = DyMixOp(
        in_channels=6, out_channels=4, n_fields=2, hidden_channels=4, n_layers=2, n_modes=3
    )
    x = torch.randn(2, 6, 16)
    with torch.no_grad():
        out = model.rollout(x, 3)
        y1 = model(x)
        y2 = model(torch.cat([x, y1], 1)[:, -6:])
        y3 = model(torch.cat([x, y1, y2], 1)[:, -6:])
    assert out.shape == (2, 12, 16)
    torch.testing.assert_close(out, torch.cat([y1, y2, y3], 1))


# ------------------------------------------------------------------ DataSpec


def test_from_spec_sizes_the_model_from_the_data():
    spec = DataSpec(spatial_shape=(64,), lengths=(22 * math.pi,), in_frames=10, out_frames=2)
    model = DyMixOp.from_spec(spec)
    assert (model.in_channels, model.out_channels, model.n_dim) == (10, 2, 1)
    assert (model.hidden_channels, model.n_layers, model.n_modes) == (48, 8, 12)
    assert model.grid_shape == (64,)
    assert model(torch.randn(2, 10, 64)).shape == (2, 2, 64)

    spec2d = DataSpec(spatial_shape=(16, 16), lengths=(1.0, 1.0), n_fields=2, in_frames=3)
    model2d = DyMixOp.from_spec(spec2d, mixing="sum", n_layers=1)
    assert (model2d.in_channels, model2d.n_fields, model2d.n_dim) == (6, 2, 2)
    # the published 2-D width, with the modes capped by the coarse grid
    assert (model2d.hidden_channels, model2d.n_modes, model2d.mixing) == (96, 8, "sum")
    assert model2d(torch.randn(1, 6, 16, 16)).shape == (1, 2, 16, 16)

    with pytest.raises(ValueError, match=r"'in_channels': 3.*'in_channels': 10"):
        DyMixOp.from_spec(spec, in_channels=3)
    # restating what the data fixes (as a config file may) is accepted
    same = DyMixOp.from_spec(spec, in_channels=10, grid_shape=[64], n_layers=1)
    assert (same.in_channels, same.grid_shape, same.n_layers) == (10, (64,), 1)
    with pytest.raises(TypeError, match="DataSpec"):
        DyMixOp.from_spec({"spatial_shape": (64,)})


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"n_layers": 0}, ValueError, ["n_layers", ">= 1", "0"]),
        ({"hidden_channels": 4.5}, TypeError, ["hidden_channels", "4.5"]),
        ({"n_dim": 3}, ValueError, ["n_dim", "3"]),
        ({"mixing": "mix"}, ValueError, ["mixing", "mix", "product"]),
        ({"in_channels": 5, "n_fields": 2}, ValueError, ["in_channels", "5", "n_fields"]),
        ({"grid_shape": (64, 64)}, ValueError, ["grid_shape", "1 int"]),
        ({"grid_shape": (16,)}, ValueError, ["n_modes", "12", "<= 8"]),
        ({"local_kernel_size": 2}, ValueError, ["local_kernel_size", "odd"]),
    ],
)
def test_bad_constructor_arguments_are_named(kwargs, error, words):
    with pytest.raises(error) as info:
        DyMixOp(**kwargs)
    for word in words:
        assert word in str(info.value)


def test_bad_inputs_are_named_before_any_work():
    model = DyMixOp(in_channels=4, hidden_channels=4, n_layers=1, n_modes=3)
    with pytest.raises(ValueError, match=r"in_channels=4, n_x\).*\(2, 3, 32\)"):
        model(torch.zeros(2, 3, 32))
    with pytest.raises(ValueError, match=r"1-D DyMixOp.*\(2, 4, 32, 32\)"):
        model(torch.zeros(2, 4, 32, 32))
    with pytest.raises(TypeError, match="floating-point.*int64"):
        model(torch.zeros(2, 4, 32, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor.*ndarray"):
        model(torch.zeros(2, 4, 32).numpy())
    with pytest.raises(ValueError, match="n_steps"):
        model.rollout(torch.zeros(2, 4, 32), 0)
    odd = DyMixOp(
        in_channels=4, out_channels=3, n_fields=2, hidden_channels=4, n_layers=1, n_modes=3
    )
    with pytest.raises(ValueError, match="whole frames.*out_channels.*3"):
        odd.rollout(torch.zeros(2, 4, 32), 2)


# ------------------------------------------------------------------ learning


def advection_windows(n_samples: int, n: int, gen: torch.Generator):
    """u_t + u_x = 0 on [0, 1): frames u(t0), u(t0 + s) -> u(t0 + 2s), exact in Fourier."""
    k = torch.arange(1, 5)
    a = torch.randn(n_samples, 4, generator=gen) / k
    b = torch.randn(n_samples, 4, generator=gen) / k
    x = torch.arange(n) / n

    def u(t: float) -> torch.Tensor:
        phase = 2 * math.pi * k[None, :, None] * (x - t)
        return (a[..., None] * torch.cos(phase) + b[..., None] * torch.sin(phase)).sum(1)

    return torch.stack([u(0.0), u(0.05)], 1), u(0.1)[:, None]


def rel_l2(prediction: torch.Tensor, target: torch.Tensor) -> float:
    return ((prediction - target).norm(dim=-1) / target.norm(dim=-1)).mean().item()


def test_learns_the_one_step_map_of_linear_advection():
    gen = torch.Generator().manual_seed(0)
    x_train, y_train = advection_windows(512, 64, gen)
    x_test, y_test = advection_windows(128, 64, gen)
    baseline = rel_l2(x_test[:, 1:], y_test)  # persistence: predict the last frame
    assert baseline > 0.5

    torch.manual_seed(0)
    model = DyMixOp(
        in_channels=2,
        out_channels=1,
        hidden_channels=16,
        n_layers=2,
        n_modes=8,
        grid_shape=(64,),
    )
    steps = 200
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        idx = torch.randint(0, 512, (32,), generator=gen)
        loss = (model(x_train[idx]) - y_train[idx]).norm(dim=-1) / y_train[idx].norm(dim=-1)
        opt.zero_grad()
        loss.mean().backward()
        opt.step()
        schedule.step()

    with torch.no_grad():
        error = rel_l2(model(x_test), y_test)
        assert error < 0.03 * baseline, (error, baseline)
        # zero-shot on a twice finer grid: D is rescaled to the training grid's units
        x_fine, y_fine = advection_windows(128, 128, gen)
        fine = rel_l2(model(x_fine), y_fine)
        model.grid_shape = None  # the published behaviour: D in the input's own grid units
        unscaled = rel_l2(model(x_fine), y_fine)
    assert fine < 3 * error + 0.01, (fine, error)
    assert fine < unscaled, (fine, unscaled)


def test_checkpoints_of_the_previous_layout_still_load():
    # before issue 13: G was neuraloperator's SpectralConv (`...weight.tensor`) and no kappa_D
    torch.manual_seed(0)
    model = DyMixOp(in_channels=3, hidden_channels=4, n_layers=2, n_modes=3)
    state = model.state_dict()
    old = {}
    for key, value in state.items():
        if key == "structure_change_coefficient":
            continue
        old[key + ".tensor" if key.endswith("global_transform.weight") else key] = value
    clone = DyMixOp(in_channels=3, hidden_channels=4, n_layers=2, n_modes=3)
    clone.load_state_dict(old)
    x = torch.randn(2, 3, 16)
    torch.testing.assert_close(clone(x), model(x))
    assert torch.isnan(clone.structure_change_coefficient)


@pytest.mark.parametrize("per_sample", [False, True])
def test_fused_state_update_is_two_addcmuls_with_their_gradients(per_sample):
    # (c + g f, a + w f) with its own backward: values and gradients against autograd's
    from opkit.models._dymixop import _Update

    torch.manual_seed(12)
    c, a, f = (torch.randn(3, 8, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    w = torch.randn((), dtype=torch.float64, requires_grad=True)
    g = torch.rand(3, 1, 1, dtype=torch.float64) if per_sample else torch.rand(())
    g = g.double().requires_grad_()
    plain = torch.addcmul(c, g, f), torch.addcmul(a, w, f)
    out = _Update.apply(c, a.clone(), f, w, g)  # (it updates the aggregate in place)
    for x, y in zip(out, plain):
        torch.testing.assert_close(x, y, rtol=0, atol=0)

    def update(c, a, f, w, g):
        return _Update.apply(c, a.clone(), f, w, g)

    assert torch.autograd.gradcheck(update, (c, a, f, w, g))
