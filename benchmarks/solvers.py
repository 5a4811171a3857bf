"""opkit's PDE solvers at the shared suite's CPU sizes: speed, FFT bound, accuracy.

For each solver (Burgers 2048 points ``nu = 1e-2`` ``T = 1``; Kuramoto-Sivashinsky on
``64 pi`` with 1024 points, burn-in to 100 and frames to 120; Navier-Stokes 64 x 64,
``nu = 1e-3``, ``dt = 1e-3``, ``T = 20``; Allen-Cahn at its defaults; advection) this
prints samples/s and the ratio of the solve time to the *FFT bound*: the time of the same
number of FFT calls of the same sizes alone (the floor a pseudo-spectral solver can
approach). It measures each default step against a run with ``dt / 4``, Navier-Stokes
64 x 64 against 128 x 128, and, for Burgers and KS, runs a straightforward
``scipy.integrate.solve_ivp`` pseudo-spectral reference (the same semi-discrete ODE with
numpy FFTs, method BDF with a finite-difference Jacobian, ``rtol = 1e-8``) on one sample
of the same problem and prints the speed and accuracy ratios; both are scored against an
opkit run with ``dt / 16`` (ETDRK4 converged to round-off). LSODA was tried first: the
stiffness (``nu k_max^2 = 4e5`` for Burgers) kept it at explicit steps, 23 000 right-hand
sides for ``t = 0.01``, i.e. hours per sample.

Everything runs single-threaded (``torch.set_num_threads(1)``; numpy's FFT is
single-threaded too) and is timed in CPU seconds of the calling thread, so that time other
processes take from a shared machine is not counted (their cache traffic still is: absolute
timings on a shared machine are indicative only). For the 1-D solvers each solve and its
FFT bound are timed alternately ``--repeats`` times (solves shorter than 50 ms over
back-to-back calls, and their bounds likewise) and the median ratio is printed, with the
ratio of the first solve of the problem beside it (the first solve also computes the
ETDRK4 coefficients or the advection propagator that later solves of the same problem,
like the batches of a dataset, reuse).
A figure goes to ``benchmarks/out/solvers.png``. Run::

    .venv/bin/python benchmarks/solvers.py [--samples 8] [--repeats 9] [--ns-samples 2]
        [--skip-ns128] [--skip-ns] [--skip-scipy]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.integrate import solve_ivp

from opkit.pde_data import (
    GRF1D,
    GRF2D,
    Advection1D,
    AllenCahn1D,
    Burgers1D,
    KuramotoSivashinsky1D,
    NavierStokes2D,
    RandomFourierSeries,
)
from opkit.pde_data.solvers._spectral import (
    dealias_mask,
    irfft,
    irfft2,
    rfft,
    rfft2,
    rfft_wavenumbers,
    step_schedule,
)

OUT = Path(__file__).resolve().parent / "out"


def clock() -> float:
    """CPU seconds of this thread: with one torch thread every FFT and kernel runs here, and
    time that other processes take from a shared machine is not counted."""
    return time.thread_time()


def timed(fn: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    start = clock()
    out = fn()
    return out, clock() - start


def fft_bound(calls: list[tuple[Callable, torch.Tensor]], repeats: int, n_sample: int = 200):
    """Seconds for ``repeats`` rounds of ``calls`` (each a transform and its input), timed
    on ``n_sample`` rounds and scaled. In inference mode, where each call costs least (the
    1-D solvers step in it too), so that the bound stays a floor."""
    n_sample = max(1, min(n_sample, repeats))
    with torch.inference_mode():
        for fn, x in calls:  # warm-up (plans)
            fn(x)
        start = clock()
        for _ in range(n_sample):
            for fn, x in calls:
                fn(x)
        return (clock() - start) * repeats / n_sample


def against_bound(
    solve: Callable[[], torch.Tensor],
    calls: list[tuple[Callable, torch.Tensor]],
    rounds: int,
    repeats: int,
    min_seconds: float = 0.05,
) -> tuple[torch.Tensor, float, float, float, tuple[float, float]]:
    """Time ``solve`` and its FFT bound (``rounds`` rounds of ``calls``) alternately,
    ``repeats`` times; a solve shorter than ``min_seconds`` is timed over enough
    back-to-back calls to last that long, and so is its bound. Returns the first solution,
    the median solve seconds, the median of the per-repeat ratios solve / bound, their
    range (min, max), and the
    first call's ratio (it also pays for what later solves of the same problem reuse:
    ETDRK4 coefficients, propagators)."""
    out, first_sec = timed(solve)
    first = first_sec / fft_bound(calls, rounds)
    inner = max(1, math.ceil(min_seconds / max(first_sec, 1e-9)))
    ratios, seconds = [], []
    for _ in range(repeats):
        start = clock()
        for _ in range(inner):
            solve()
        sec = (clock() - start) / inner
        bound = sum(fft_bound(calls, rounds) for _ in range(inner)) / inner
        ratios.append(sec / bound)
        seconds.append(sec)
    spread = (min(ratios), max(ratios))
    return out, statistics.median(seconds), statistics.median(ratios), first, spread


def n_steps(t: torch.Tensor, dt: float) -> int:
    return sum(n for n, _ in step_schedule(t, dt))


# -- scipy references ---------------------------------------------------------------------
METHOD = "BDF"


def scipy_quadratic_flux(
    u0: np.ndarray, t_end: float, *, n: int, length: float, lin: np.ndarray, alpha: float, rtol
):
    """``u_t = F^-1[lin F[u]] - alpha (u^2 / 2)_x`` with the same 2/3-rule dealiasing as
    opkit, integrated in physical space by ``solve_ivp`` (BDF) with numpy FFTs."""
    k = rfft_wavenumbers(n, length, odd=True).numpy()
    mask = dealias_mask(n).numpy()
    flux = -0.5j * alpha * k * mask

    def rhs(_t, u):
        # Vectorised over columns, so that the finite-difference Jacobian of the implicit
        # method costs one batched call instead of n calls.
        col = u.ndim == 1
        u = u[:, None] if col else u
        v = np.fft.rfft(u, axis=0)
        um = np.fft.irfft(v * mask[:, None], n, axis=0)
        out = np.fft.irfft(
            lin[:, None] * v + flux[:, None] * np.fft.rfft(um * um, axis=0), n, axis=0
        )
        return out[:, 0] if col else out

    sol = solve_ivp(
        rhs, (0.0, t_end), u0, method=METHOD, rtol=rtol, atol=rtol * 1e-2, vectorized=True
    )
    return sol.y[:, -1], sol.nfev


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=8, help="samples per 1-D solver")
    parser.add_argument("--ns-samples", type=int, default=2, help="Navier-Stokes samples")
    parser.add_argument("--skip-ns128", action="store_true", help="skip the 128 x 128 run")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per 1-D solver")
    parser.add_argument("--skip-scipy", action="store_true", help="skip the solve_ivp runs")
    parser.add_argument("--skip-ns", action="store_true", help="skip Navier-Stokes")
    args = parser.parse_args()
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []  # name, samples, seconds, fft seconds
    notes = []

    # -- Burgers ---------------------------------------------------------------------------
    pde = Burgers1D(nu=1e-2, n_x=2048)
    u0 = GRF1D(alpha=2.0, tau=5.0, sigma=25.0).sample(
        args.samples, 2048, generator=torch.Generator().manual_seed(0)
    )
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    v = rfft(u0)
    steps = n_steps(t, pde.default_dt)
    calls = [(rfft, u0), (lambda y: irfft(y, 2048), v)]
    u, sec, ratio, first, spread = against_bound(
        lambda: pde.solve(u0, t), calls, 4 * steps, args.repeats
    )
    rows.append(("burgers 2048, T=1", args.samples, sec, ratio, first, spread))
    quarter, q_sec = timed(lambda: pde.solve(u0, t, dt=pde.default_dt / 4))
    err = float((u - quarter).abs().max())
    notes.append(f"burgers: default dt {pde.default_dt:.3g}, max |u(dt) - u(dt/4)| = {err:.2e}")
    if not args.skip_scipy:
        ref = pde.solve(u0, t, dt=pde.default_dt / 16)
        k = rfft_wavenumbers(2048, 1.0).numpy()
        n_ref = 1
        start = clock()
        sp = [
            scipy_quadratic_flux(
                u0[i].numpy(), 1.0, n=2048, length=1.0, lin=-1e-2 * k**2, alpha=1.0, rtol=1e-8
            )
            for i in range(n_ref)
        ]
        sp_sec = (clock() - start) / n_ref
        sp_err = max(float(np.abs(s[0] - ref[i, -1].numpy()).max()) for i, s in enumerate(sp))
        op_err = float((u - ref).abs().max())
        q_err = float((quarter - ref).abs().max())
        burgers_scipy = (
            sec / args.samples,
            sp_sec,
            op_err,
            sp_err,
            sp[0][1],
            q_sec / args.samples,
            q_err,
        )

    print("done: burgers", flush=True)

    # -- Kuramoto-Sivashinsky -------------------------------------------------------------
    length = 64 * math.pi
    pde = KuramotoSivashinsky1D(length=length, n_x=1024)
    u0 = RandomFourierSeries(n_modes=8, amplitude=0.1, length=length).sample(
        args.samples, 1024, generator=torch.Generator().manual_seed(1)
    )
    frames = torch.arange(21, dtype=torch.float64)
    dt = pde.default_dt
    steps = n_steps(torch.tensor([0.0, 100.0]), dt) + n_steps(frames, dt)
    calls = [(rfft, u0), (lambda y: irfft(y, 1024), rfft(u0))]
    ks, sec, ratio, first, spread = against_bound(
        lambda: pde.solve(u0, frames, burn_in=100.0), calls, 4 * steps, args.repeats
    )
    rows.append(("ks 64pi/1024, t=100..120", args.samples, sec, ratio, first, spread))
    start_state = ks[:, 0]
    ks_def = ks  # the default run from the same post-burn-in state
    ks_quarter = pde.solve(start_state, frames, dt=dt / 4)
    e_q = (ks_def - ks_quarter).abs().amax(dim=(0, 2))
    notes.append(
        f"ks: default dt {dt:.3g}, max |u(dt) - u(dt/4)| at t=1, 10, 20 after burn-in: "
        f"{e_q[1]:.2e}, {e_q[10]:.2e}, {e_q[20]:.2e} (max|u| = {float(ks.abs().max()):.2f})"
    )
    if not args.skip_scipy:
        ks_ref = pde.solve(start_state, frames, dt=dt / 16)
        e_def = (ks_def - ks_ref).abs().amax(dim=(0, 2))
        kk = rfft_wavenumbers(1024, length).numpy()
        n_ref = 1
        start = clock()
        sp = [
            scipy_quadratic_flux(
                start_state[i].numpy(),
                20.0,
                n=1024,
                length=length,
                lin=kk**2 - kk**4,
                alpha=1.0,
                rtol=1e-8,
            )
            for i in range(n_ref)
        ]
        sp_sec = (clock() - start) / n_ref
        # opkit for the same 20 time units (the frames), per sample.
        t20 = torch.tensor([0.0, 20.0])
        _, op_sec = timed(lambda: pde.solve(start_state[:n_ref], t20))
        _, q_sec = timed(lambda: pde.solve(start_state[:n_ref], t20, dt=dt / 4))
        sp_err = max(float(np.abs(s[0] - ks_ref[i, -1].numpy()).max()) for i, s in enumerate(sp))
        q_err = float((ks_quarter - ks_ref)[:, -1].abs().max())
        ks_scipy = (
            op_sec / n_ref,
            sp_sec,
            float(e_def[20]),
            sp_err,
            sp[0][1],
            q_sec / n_ref,
            q_err,
        )

    print("done: ks", flush=True)

    if not args.skip_ns:
        # -- Navier-Stokes ---------------------------------------------------------------------
        pde = NavierStokes2D(nu=1e-3, n=64, forcing="fno")
        w0 = GRF2D().sample(args.ns_samples, 64, generator=torch.Generator().manual_seed(2))
        t = torch.arange(21, dtype=torch.float64)
        w, sec = timed(lambda: pde.solve(w0, t, dt=1e-3))
        steps = n_steps(t, 1e-3)
        w_hat = rfft2(w0)
        stack = w_hat.unsqueeze(1).expand(-1, 4, -1, -1).contiguous()
        fsec = fft_bound([(lambda y: irfft2(y, 64), stack), (rfft2, w0)], 2 * steps)
        rows.append(("ns 64x64, dt=1e-3, T=20", args.ns_samples, sec, sec / fsec, sec / fsec, None))
        if not args.skip_ns128:
            idx = torch.fft.fftfreq(64, 1 / 64).long()
            pad = torch.zeros(args.ns_samples, 128, 128, dtype=torch.complex128)
            pad[:, idx[:, None], idx[None, :]] = torch.fft.fft2(w0) * 4
            w128 = torch.fft.ifft2(pad).real
            fine = NavierStokes2D(nu=1e-3, n=128, forcing="fno").solve(w128, t, dt=1e-3)
            sub = fine[..., ::2, ::2]
            rel = (w - sub).flatten(2).norm(dim=-1) / sub.flatten(2).norm(dim=-1)
            notes.append(
                "ns: relative L2 of 64x64 vs 128x128 (same band-limited w0, dt=1e-3) at "
                f"t=1, 10, 20: {rel[:, 1].max():.2e}, {rel[:, 10].max():.2e}, "
                f"{rel[:, 20].max():.2e}"
            )
        w_q = pde.solve(w0, torch.tensor([0.0, 5.0], dtype=torch.float64), dt=2.5e-4)
        e = float((w[:, 5] - w_q[:, -1]).abs().max() / w_q[:, -1].abs().max())
        notes.append(f"ns: dt=1e-3 vs dt/4 at t=5, max error relative to max|w|: {e:.2e}")
        kx = torch.fft.fftfreq(64, 1 / 64) * 2 * math.pi
        ky = torch.fft.rfftfreq(64, 1 / 64) * 2 * math.pi
        k2 = kx[:, None] ** 2 + ky[None, :] ** 2
        k2[0, 0] = 1.0
        speeds = []
        for frame in (0, 20):
            w_hat = rfft2(w[:, frame])
            uy = irfft2(1j * ky * w_hat / k2, 64)
            ux = irfft2(-1j * kx[:, None] * w_hat / k2, 64)
            speeds.append(float(torch.sqrt(ux**2 + uy**2).max()))
        notes.append(
            f"ns: max |velocity| at t=0: {speeds[0]:.2f}, t=20: {speeds[1]:.2f} "
            f"(advective CFL max|u| dt / dx at dt=1e-3: {max(speeds) * 0.064:.3f})"
        )

        print("done: ns", flush=True)

    # -- Allen-Cahn -----------------------------------------------------------------------
    pde = AllenCahn1D()
    x = pde.coords()["x"] - 1.0
    u0 = (x**2 * torch.cos(math.pi * x)).expand(args.samples, -1).contiguous()
    u0 = u0 + 0.05 * GRF1D(length=2.0).sample(
        args.samples, 512, generator=torch.Generator().manual_seed(3)
    )
    t = torch.linspace(0, 1, 11, dtype=torch.float64)
    steps = n_steps(t, pde.default_dt)
    calls = [(lambda y: irfft(y, 1024), rfft(u0)[..., :256]), (rfft, torch.cat([u0, u0], -1))]
    ac, sec, ratio, first, spread = against_bound(
        lambda: pde.solve(u0, t), calls, 4 * steps, args.repeats
    )
    rows.append(("allen_cahn 512, T=1", args.samples, sec, ratio, first, spread))
    quarter = pde.solve(u0, t, dt=pde.default_dt / 4)
    notes.append(
        f"allen_cahn: default dt {pde.default_dt:.3g}, max |u(dt) - u(dt/4)| = "
        f"{float((ac - quarter).abs().max()):.2e}"
    )

    print("done: allen_cahn", flush=True)

    # -- advection ------------------------------------------------------------------------
    pde = Advection1D(c=50.0, n_x=256)
    xs = pde.coords()["x"]
    u0 = torch.sin(xs).expand(args.samples, -1).contiguous()
    t = torch.linspace(0, 1, 101, dtype=torch.float64)
    calls = [(lambda y: irfft(y, 256), rfft(u0))]
    adv, sec, ratio, first, spread = against_bound(
        lambda: pde.solve(u0, t), calls, 100, args.repeats
    )
    rows.append(("advection c=50, 101 frames", args.samples, sec, ratio, first, spread))
    exact = torch.sin(xs[None, :] - 50.0 * t[:, None])
    notes.append(f"advection: max error vs sin(x - 50 t): {float((adv - exact).abs().max()):.1e}")

    # -- report ---------------------------------------------------------------------------
    print("\nopkit solvers, single thread, CPU time of the thread")
    print(
        f"{'problem':<28}{'samples':>8}{'s/sample':>10}{'samples/s':>11}{'FFT bound':>11}"
        f"{'range':>13}{'1st call':>10}"
    )
    for name, n, s, r, r1, spread in rows:
        span = f"{spread[0]:.2f}-{spread[1]:.2f}x" if spread else "-"
        print(f"{name:<28}{n:>8}{s / n:>10.3f}{n / s:>11.3f}{r:>10.2f}x{span:>13}{r1:>9.2f}x")
    print(
        f"\n(FFT bound: solve time / time of the same FFT calls alone; the 1-D solvers: medians"
        f" of {args.repeats} repeats, solve and FFT calls timed alternately, range: their lowest"
        " and highest; 1st call: the first"
        " solve of the problem, which also computes what later ones reuse)"
    )
    print("\naccuracy")
    for line in notes:
        print("  " + line)
    print(f"\nagainst scipy.integrate.solve_ivp ({METHOD}, rtol=1e-8, numpy FFTs), per sample")
    print(f"{'problem':<16}{'run':<14}{'seconds':>9}{'max error':>11}{'scipy / opkit time':>20}")
    compared = (
        [] if args.skip_scipy else [("burgers T=1", burgers_scipy), ("ks t=100..120", ks_scipy)]
    )
    for name, (o, s_, eo, es, nfev, q, eq) in compared:
        print(f"{name:<16}{'opkit dt':<20}{o:>9.2f}{eo:>11.1e}{s_ / o:>19.1f}x")
        print(f"{'':<16}{'opkit dt/4':<20}{q:>9.2f}{eq:>11.1e}{s_ / q:>19.1f}x")
        print(f"{'':<16}{f'scipy ({nfev} rhs)':<20}{s_:>9.2f}{es:>11.1e}")
    print(
        "(errors: max abs against opkit with dt/16; KS errors are at t=120, after 20 time"
        " units of chaos; Burgers opkit times per sample of a batch of 8, KS of one sample)"
    )

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    names = [r[0].split(",")[0] for r in rows]
    per = [r[2] / r[1] for r in rows]
    bound = [r[2] / r[3] / r[1] for r in rows]
    pos = np.arange(len(rows))
    axes[0].bar(pos - 0.2, per, 0.4, label="opkit solve")
    axes[0].bar(pos + 0.2, bound, 0.4, label="FFT calls alone")
    axes[0].set_xticks(pos, names, rotation=20)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("seconds per sample (1 thread)")
    axes[0].legend()
    axes[0].set_title("solve time vs FFT bound")
    im = axes[1].imshow(
        ks[0].numpy(), aspect="auto", origin="lower", extent=(0, length, 100, 120), cmap="RdBu"
    )
    axes[1].set_xlabel("x")
    axes[1].set_ylabel("t")
    axes[1].set_title("Kuramoto-Sivashinsky, 64 pi, 1024 points")
    fig.colorbar(im, ax=axes[1])
    fig.tight_layout()
    fig.savefig(OUT / "solvers.png", dpi=110)
    print(f"\nfigure: {OUT / 'solvers.png'}")


if __name__ == "__main__":
    main()
