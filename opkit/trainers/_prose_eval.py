"""`evaluate_prose`: PROSE scored on a split of ODE data, trajectories and equations."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import torch

from .. import symbolic
from .._checks import check_int
from ._prose_data import ProseDataModule, _ids, _pad
from ._prose_module import relative_l2_masked
from ._prose_trained import TrainedProse, decode_rows

__all__ = ["evaluate_prose", "INVALID_REASONS"]

# -- evaluation -----------------------------------------------------------------------------
#: Why a decoded system is not valid, in the order they are checked.
INVALID_REASONS = ("no_eos", "syntax", "components", "other", "non_finite")


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


@torch.no_grad()
def evaluate_prose(
    trained: TrainedProse,
    path: str,
    split: str = "test",
    *,
    batch_size: int = 64,
    noise: float = 0.02,
    corrupt: float = 0.15,
    n_points: int = 50,
    max_len: int = 300,
    max_samples: int | None = None,
    variants: tuple[str, ...] = ("clean", "noisy", "corrupted", "no_symbols"),
    decoders: tuple[str, ...] = ("greedy",),
    seed: int = 0,
    device: str | torch.device | None = None,
) -> dict[str, Any]:
    """Score a trained PROSE on a split of an ODE file (`opkit.evaluate`'s PROSE task; the
    file is already resolved and checked not to share samples with training).

    For each variant of the input, the data relative L2 on the 128 target points (valid
    components; mean, median, per family; always against the *clean* target), and, for
    models with a symbol decoder, the greedy-decoded equations: the fraction that is valid
    (decodes without `TokenError`, has the system's number of components, and is finite
    at ``n_points`` points drawn from ``U(-5, 5)^d``), and the relative L2 of the decoded
    vector field against the true one at those points (valid expressions only).

    Variants: ``clean`` (clean data, clean placeholder guess), ``noisy`` (inputs with
    ``noise`` relative noise), ``corrupted`` (guess with added/deleted terms), and
    ``no_symbols`` (the same model given the empty expression ``<BOS> <EOS>``). The
    ``no_symbols`` variant measures how much this trained model relies on its symbol
    input; the paper's operator-only ablation is a *separately trained*
    ``PROSE(operator_only=True)``, which is scored by passing it as ``model`` (its
    ``clean`` data error is then the operator-only number; it has no symbol metrics).
    Trained on guesses only, a model may fare worse on the empty expression than a
    model trained without symbols: it has never seen one.

    Args:
        trained: a `TrainedProse`.
        path: an ODE file.
        split: ``"train"``, ``"val"`` or ``"test"``.
        batch_size, max_len: evaluation batch and decoding length.
        noise: relative noise of the ``noisy`` variant (2 %).
        corrupt: add/delete probability of the ``corrupted`` variant (0.15, the paper).
        n_points: points of the vector-field comparison.
        max_samples: score only the first N items of the split (any split).
        variants: which variants to score.
        decoders: ``"greedy"`` (plain argmax, the default) and/or ``"constrained"``
            (argmax over the tokens that keep a valid prefix system of the sample's
            dimension, see `opkit.symbolic.PrefixGrammar`); the constrained scores carry
            the prefix ``constrained_`` (``constrained_valid_fraction`` ...).
        seed: seed of the evaluation points and of noise/corruption.

    Returns:
        ``dict`` with ``rel_l2``, ``rel_l2_median``, ``rel_l2_per_family``,
        ``baseline_rel_l2`` (last observed value held) and its median and per family,
        ``valid_fraction``, ``valid_fraction_per_family``, ``invalid_reasons`` (counts of
        `INVALID_REASONS`: ``no_eos``, ``syntax``, ``components``, ``other``,
        ``non_finite``), ``vector_field_rel_l2`` (mean, median, per family) for ``clean``;
        the same keys prefixed ``noisy/``, ``corrupted/``, ``no_symbols/``; ``n_samples``
        and ``split``.

    Raises:
        ValueError: unknown split, variant or decoder, ``max_samples < 1``, an empty split.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}.")
    unknown = set(variants) - {"clean", "noisy", "corrupted", "no_symbols"}
    if unknown:
        raise ValueError(f"unknown `variants` {sorted(unknown)}.")
    if not decoders or set(decoders) - {"greedy", "constrained"}:
        raise ValueError(f"`decoders` must name 'greedy' and/or 'constrained', got {decoders!r}.")
    if max_samples is not None:
        check_int("max_samples", max_samples, minimum=1)
    module = trained.module.eval()
    if device is not None:
        module.to(device)
    dev = next(module.parameters()).device
    net = module.model
    dm = ProseDataModule(str(path), batch_size=batch_size, seed=seed)
    clean = dm.dataset(split, limit=max_samples)
    if len(clean) == 0:
        raise ValueError(f"the {split} split of {str(path)!r} is empty: nothing to score.")
    sources = {
        "clean": clean,
        "noisy": dm.dataset(split, noise=noise, limit=max_samples),
        "corrupted": dm.dataset(split, corrupt=corrupt, limit=max_samples),
        "no_symbols": clean,
    }
    out: dict[str, Any] = {"split": split, "n_samples": len(clean)}
    if net.operator_only:
        variants = tuple(v for v in variants if v in ("clean", "noisy"))
    for variant in variants:
        prefix = "" if variant == "clean" else f"{variant}/"
        gens = {name: torch.Generator().manual_seed(seed) for name in decoders}
        rel, base, fams = [], [], []
        reasons: dict[str, list[str]] = defaultdict(list)
        vf: dict[str, list[float]] = defaultdict(list)
        loaders = zip(dm.loader(clean), dm.loader(sources[variant]))
        for ref, batch in loaders:
            batch = {k: v.to(dev) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            ref_out = ref["u_out"].to(dev)
            if variant == "no_symbols":
                batch["symbols"] = _pad([[]] * len(batch["family"])).to(dev)
            sym = None if net.operator_only else batch["symbols"]
            u = net(batch["t_in"], batch["u_in"], sym, batch["t_out"], dim=batch["dim"])[0]
            rel += relative_l2_masked(u, ref_out, batch["dim"]).tolist()
            base += relative_l2_masked(
                ref["u_in"][:, -1:].expand_as(ref["u_out"]).to(dev), ref_out, batch["dim"]
            ).tolist()
            fams += batch["family"]
            if net.operator_only:
                continue
            for name in decoders:
                ids = net.generate(
                    batch["t_in"], batch["u_in"], sym, max_len=max_len,
                    constrained=name == "constrained", dim=batch["dim"],
                )  # fmt: skip
                tokens, _ = decode_rows(ids.cpu())
                why, err = _vector_field_errors(
                    tokens, ids.eq(net.eos_id).any(1).tolist(), ref["target"], ref["dim"],
                    generator=gens[name], n_points=n_points,
                )  # fmt: skip
                reasons[name] += why
                vf[name] += err
        for k, v in _summary(rel, fams, "rel_l2").items():
            out[prefix + k] = v
        if variant == "clean":
            out.update(_summary(base, fams, "baseline_rel_l2"))
        for name, why in reasons.items():
            key = prefix + ("" if name == "greedy" else f"{name}_")
            valid = [r == "valid" for r in why]
            out[key + "valid_fraction"] = sum(valid) / len(valid)
            out[key + "invalid_reasons"] = {r: why.count(r) for r in INVALID_REASONS}
            per: dict[str, list[bool]] = defaultdict(list)
            for ok, fam in zip(valid, fams):
                per[fam].append(ok)
            out[key + "valid_fraction_per_family"] = {
                f: sum(x) / len(x) for f, x in sorted(per.items())
            }
            for k, v in _summary(vf[name], fams, "vector_field_rel_l2").items():
                out[key + k] = v
    return out
