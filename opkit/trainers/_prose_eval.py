"""`evaluate_prose`: PROSE scored on a split of ODE data, trajectories and equations.

Conditions: the ``variants`` of the guess at the evaluation noise (`VARIANTS`): ``clean``
(the clean placeholder guess, unprefixed keys), ``corrupted`` (the authors' law at
``corrupt``: one mode per system, 70 % clean at 0.15), ``add`` / ``delete`` (one term added
/ deleted in every guess), ``other`` (the clean guess of another family of the same
dimension), ``no_symbols`` (the empty expression ``<BOS> <EOS>``; networks that read bare
guesses, the authors' variant, have none and skip it); then the clean guess at each of
``noise_levels`` (prefix ``noise_<level>/``, e.g. ``noise_0.05/``). The paper's
operator-only ablation is a *separately trained* ``PROSE(operator_only=True)`` scored the
same way (``clean`` only, no symbol metrics); ``no_symbols`` instead measures how much a
trained model relies on its guess.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import torch

from .. import symbolic
from .._checks import check_int
from ._prose_data import ProseDataModule, _check_noise, _ids, _pad, model_symbols
from ._prose_module import relative_l2_masked
from ._prose_trained import TrainedProse, decode_rows

__all__ = ["evaluate_prose", "INVALID_REASONS", "VARIANTS"]

# -- evaluation -----------------------------------------------------------------------------
#: Why a decoded system is not valid, in the order they are checked.
INVALID_REASONS = ("no_eos", "syntax", "components", "other", "non_finite")

#: The guess each variant gives the model: ``None`` the clean guess, ``"drawn"`` the
#: authors' training law (one mode per system at ``corrupt``), a corruption mode of
#: `ODETrajectories` (``"add"``, ``"delete"``, ``"other"``), ``"none"`` the empty expression.
VARIANTS = {
    "clean": None,
    "corrupted": "drawn",
    "add": "add",
    "delete": "delete",
    "other": "other",
    "no_symbols": "none",
}


def _vector_field_errors(
    tokens: list[list[str]],
    ended: list[bool],
    targets: torch.Tensor,
    dims: torch.Tensor,
    *,
    generator,
    n_points,
) -> tuple[list[str], list[float]]:
    """Per decoded system: ``"valid"`` or the reason it is not (`INVALID_REASONS`: no
    ``<EOS>`` within ``max_len``, a `TokenError` (arity, float, stray token), the wrong
    number of components or a variable beyond them, another `ValueError` such as a
    ``<PLACEHOLDER>`` left in it, non-finite values), and the vector-field relative L2
    against the true system (NaN unless valid)."""
    reasons, errors = [], []
    for toks, eos, target, d in zip(tokens, ended, targets.tolist(), dims.tolist()):
        u = (torch.rand(n_points, d, generator=generator, dtype=torch.float64) * 10) - 5
        true = symbolic.vector_field(symbolic.from_ids(_ids(target)))(u)
        reason = "valid"
        try:
            f = symbolic.vector_field(toks)
            if f.n_components != d or f.n_variables > d:
                reason = "components"
            else:
                pred = f(u)
                if not bool(torch.isfinite(pred).all()):
                    reason = "non_finite"
        except symbolic.TokenError:
            reason = "syntax"
        except ValueError:
            reason = "other"
        except ZeroDivisionError:
            reason = "non_finite"
        if not eos:  # the cut sequence may still parse: it was not finished
            reason = "no_eos"
        reasons.append(reason)
        if reason == "valid":
            errors.append(float((pred - true).norm() / true.norm().clamp_min(1e-30)))
        else:
            errors.append(float("nan"))
    return reasons, errors


def _summary(values: list[float], families: list[str], name: str) -> dict[str, Any]:
    v = torch.tensor(values, dtype=torch.float64)
    finite = v[torch.isfinite(v)]
    out = {
        name: float(finite.mean()) if finite.numel() else float("nan"),
        f"{name}_median": float(finite.median()) if finite.numel() else float("nan"),
    }
    per: dict[str, list[float]] = defaultdict(list)
    for x, fam in zip(values, families):
        if math.isfinite(x):
            per[fam].append(x)
    out[f"{name}_per_family"] = {f: sum(xs) / len(xs) for f, xs in sorted(per.items())}
    return out


def _check_options(split, variants, decoders, noise, noise_levels, max_samples) -> None:
    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}.")
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise ValueError(f"unknown `variants` {sorted(unknown)}; known: {sorted(VARIANTS)}.")
    if isinstance(decoders, str) or set(decoders) - {"greedy", "constrained"}:
        raise ValueError(
            f"`decoders` must name 'greedy' and/or 'constrained' (or none: () scores the "
            f"trajectories only), got {decoders!r}."
        )
    _check_noise("noise", noise)
    for level in noise_levels:
        _check_noise("noise_levels", level)
    if max_samples is not None:
        check_int("max_samples", max_samples, minimum=1)


def _conditions(net, variants, noise, noise_levels) -> list[tuple[str, float, str | None]]:
    """``(key prefix, noise level, guess)`` of every scored condition: the variants at
    ``noise`` (``clean`` unprefixed), then the clean guess at each of ``noise_levels``
    (prefix ``noise_<level>/``). An operator-only model reads no guess: its variants are
    ``clean`` only; a network that reads bare guesses (the authors') has no empty one."""
    if net.operator_only:
        variants = [v for v in variants if v == "clean"]
    elif not net.symbol_markers:
        variants = [v for v in variants if v != "no_symbols"]
    out = [("" if v == "clean" else f"{v}/", noise, VARIANTS[v]) for v in variants]
    return out + [(f"noise_{level:g}/", level, None) for level in noise_levels]


def _dataset(dm: ProseDataModule, split: str, noise: float, guess, corrupt, limit):
    if guess == "drawn":
        return dm.dataset(split, noise=noise, corrupt=corrupt, limit=limit)
    mode = guess if guess in ("add", "delete", "other") else None
    return dm.dataset(split, noise=noise, corruption_mode=mode, limit=limit)


def _decode_scores(net, batch, sym, decoders, gens, n_points, max_len, sink) -> None:
    """Decode the batch's equations with each decoder; append the reasons and
    vector-field errors to ``sink[name]``."""
    for name in decoders:
        ids = net.generate(
            batch["t_in"], batch["u_in"], sym, max_len=max_len,
            constrained=name == "constrained", dim=batch["dim"],
        )  # fmt: skip
        tokens, _ = decode_rows(ids.cpu())
        why, err = _vector_field_errors(
            tokens, ids.eq(net.eos_id).any(1).tolist(), batch["target"].cpu(),
            batch["dim"].cpu(), generator=gens[name], n_points=n_points,
        )  # fmt: skip
        sink[name][0].extend(why)
        sink[name][1].extend(err)


def _score_condition(net, dm, ds, guess, *, decoders, n_points, max_len, seed, dev) -> dict:
    """Errors of one condition: per-sample data errors against the clean and the noisy
    target, the held last value's, families, and per decoder (reasons, vector-field
    errors)."""
    rec: dict[str, list] = defaultdict(list)
    gens = {name: torch.Generator().manual_seed(seed) for name in decoders}
    sink: dict[str, tuple[list, list]] = {name: ([], []) for name in decoders}
    for batch in dm.loader(ds):
        batch = {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        if guess == "none":
            batch["symbols"] = _pad([[]] * len(batch["family"])).to(dev)
        sym = None if net.operator_only else model_symbols(net, batch["symbols"])
        u = net(batch["t_in"], batch["u_in"], sym, batch["t_out"], dim=batch["dim"])[0]
        held = batch["u_in"][:, -1:].expand_as(batch["u_out"])
        for key, pred in (("", u), ("baseline_", held)):
            for target, label in (("u_out_clean", "rel_l2"), ("u_out", "rel_l2_noisy_target")):
                err = relative_l2_masked(pred, batch[target], batch["dim"])
                rec[key + label] += err.tolist()
        rec["family"] += batch["family"]
        if sym is not None and decoders:
            _decode_scores(net, batch, sym, decoders, gens, n_points, max_len, sink)
    rec["decoded"] = {} if net.operator_only else sink
    return rec


def _condition_metrics(rec: dict, prefix: str, *, baseline: bool) -> dict[str, Any]:
    """The scores of one condition under ``prefix`` (see `evaluate_prose`'s Returns)."""
    fams, out = rec["family"], {}
    names = ("rel_l2", "rel_l2_noisy_target")
    for name in names + (tuple("baseline_" + n for n in names) if baseline else ()):
        for k, v in _summary(rec[name], fams, name).items():
            out[prefix + k] = v
    for decoder, (why, errors) in rec["decoded"].items():
        key = prefix + ("" if decoder == "greedy" else f"{decoder}_")
        valid = [r == "valid" for r in why]
        out[key + "valid_fraction"] = sum(valid) / len(valid)
        out[key + "invalid_reasons"] = {r: why.count(r) for r in INVALID_REASONS}
        per: dict[str, list[bool]] = defaultdict(list)
        for ok, fam in zip(valid, fams):
            per[fam].append(ok)
        out[key + "valid_fraction_per_family"] = {
            f: sum(x) / len(x) for f, x in sorted(per.items())
        }
        for k, v in _summary(errors, fams, "vector_field_rel_l2").items():
            out[key + k] = v
    return out


@torch.no_grad()
def evaluate_prose(
    trained: TrainedProse,
    path: str,
    split: str = "test",
    *,
    batch_size: int = 64,
    noise: float = 0.02,
    corrupt: float = 0.15,
    noise_levels: tuple[float, ...] = (),
    n_points: int = 50,
    max_len: int = 150,
    max_samples: int | None = None,
    variants: tuple[str, ...] = ("clean", "corrupted", "no_symbols"),
    decoders: tuple[str, ...] = ("greedy",),
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Score a trained PROSE on a split of an ODE file (`opkit.evaluate`'s PROSE task; the
    file is already resolved and checked not to share samples with training).

    Inputs carry the authors' noise (``noise``, default 0.02 on the whole trajectory, as
    their evaluation; 0 for clean data). For each condition, the data relative L2 on the
    128 target points (valid components; mean, median, per family) against the **clean**
    target (``rel_l2``) and against the **noisy** target (``rel_l2_noisy_target``, the
    authors' number; equal for ``noise=0``), and, for models with a symbol decoder, the
    decoded equations: the fraction that is valid (decodes without `TokenError`, has the
    system's number of components, and is finite at ``n_points`` points drawn from
    ``U(-5, 5)^d``), and the relative L2 of the decoded vector field against the true one
    at those points (valid expressions only).

    Conditions (see the module docstring): the ``variants`` of the guess at ``noise``, then
    the clean guess at each of ``noise_levels``.

    Args:
        trained, path, split: a `TrainedProse`, an ODE file, ``"train"``/``"val"``/``"test"``.
        batch_size, max_len: evaluation batch, decoding length (150, the authors').
        noise: the authors' noise level ``gamma`` of the inputs and the noisy target.
        corrupt: add/delete probability of the ``corrupted`` variant (0.15, the paper).
        noise_levels: further noise levels scored with the clean guess.
        n_points: points of the vector-field comparison.
        max_samples: score only the first N items of the split (any split).
        variants: which guesses to score (`VARIANTS`).
        decoders: ``"greedy"`` (plain argmax, the default) and/or ``"constrained"``
            (argmax over the tokens that keep a valid prefix system of the sample's
            dimension, see `opkit.symbolic.PrefixGrammar`); the constrained scores carry
            the prefix ``constrained_`` (``constrained_valid_fraction`` ...); ``()``
            scores the trajectories only.
        seed: seed of the evaluation points and of noise/corruption.

    Returns:
        ``dict`` with ``rel_l2``, ``rel_l2_median``, ``rel_l2_per_family``, the same for
        ``rel_l2_noisy_target``, ``baseline_rel_l2`` and ``baseline_rel_l2_noisy_target``
        (the last observed, noisy value held) with their medians and per family,
        ``valid_fraction``, ``valid_fraction_per_family``, ``invalid_reasons`` (counts of
        `INVALID_REASONS`), ``vector_field_rel_l2`` (mean, median, per family) for the
        clean guess; the same keys (without the baseline) prefixed ``corrupted/``,
        ``add/``, ... and ``noise_<level>/``; ``noise``, ``n_samples`` and ``split``.

    Raises:
        ValueError: unknown split, variant or decoder, a noise level outside [0, 1),
            ``max_samples < 1``, an empty split.
    """
    _check_options(split, variants, decoders, noise, noise_levels, max_samples)
    net = trained.module.eval().model if device is None else trained.module.eval().to(device).model
    dev = next(net.parameters()).device
    hide = (trained.data or {}).get("hide_integers", True)
    dm = ProseDataModule(str(path), batch_size=batch_size, seed=seed, hide_integers=hide)
    n = len(dm.dataset(split, limit=max_samples))
    if n == 0:
        raise ValueError(f"the {split} split of {str(path)!r} is empty: nothing to score.")
    out: dict[str, Any] = {"split": split, "n_samples": n, "noise": float(noise)}
    for prefix, level, guess in _conditions(net, variants, noise, noise_levels):
        ds = _dataset(dm, split, level, guess, corrupt, max_samples)
        rec = _score_condition(
            net, dm, ds, guess, decoders=decoders, n_points=n_points, max_len=max_len,
            seed=seed, dev=dev,
        )  # fmt: skip
        out.update(_condition_metrics(rec, prefix, baseline=prefix == ""))
    return out
