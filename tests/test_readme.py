"""Every command of the README runs as written.

The README's fenced code blocks are extracted. Each shell command must be listed in
`COMMANDS` below with what the test does with it -- so a new command in the README fails
this test until someone decides how it is checked:

- ``"run"``: run literally, in order, in an empty folder (cheap ones; the earlier ones make
  the files the later ones read);
- ``("run", {old: new})``: run with those literal replacements (a smaller size only:
  ``--n-samples 1300`` -> ``4`` with a coarse grid), the rest as written;
- ``("lead", reason)`` / ``("skip", reason)``: not run here (too long for the default
  suite, needs a GPU or a cluster, or waits for a change named in the reason); the
  command's sub-command must still exist and every file it names must be in the checkout
  or made by an earlier command.

Python blocks are compiled, and every ``opkit.…`` name they use must exist.
"""

from __future__ import annotations

import ast
import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OPKIT = str(Path(sys.executable).with_name("opkit"))

_SMALL = {"--n-samples 1300": "--n-samples 4 --param n_x=64"}
COMMANDS: dict[str, object] = {
    "pip install opkit-pde": ("skip", "the package index; tests/test_wheel.py installs the wheel"),
    "pip install torch --index-url https://download.pytorch.org/whl/cu128": (
        "skip",
        "a CUDA build from PyTorch's index",
    ),
    "make demo": ("skip", "minutes; tests/trainers/test_demo.py runs the demo at tiny size"),
    "make test": ("skip", "the test suite itself"),
    "mkdir -p data": "run",
    "opkit generate burgers --n-samples 1300 --out data/burgers.h5 --seed 0": ("run", _SMALL),
    "opkit generate ns --size paper --out data/ns.h5 --device cuda --shard 3/8": (
        "skip",
        "a GPU and the paper size",
    ),
    "opkit data merge data/ns.h5 data/ns.shard-*-of-8.h5": ("skip", "needs the 8 GPU shards"),
    "opkit data info data/burgers.h5": "run",
    "opkit fit --config configs/burgers_fno.yaml": (
        "skip",
        "generates the built-in set (minutes); tests/test_quiet.py runs it on tiny data",
    ),
    "opkit fit --config configs/ns_fno.yaml --trainer.accelerator gpu --trainer.devices 4 "
    "--trainer.strategy ddp --trainer.num_nodes 2": ("skip", "4 GPUs on 2 nodes"),
    "opkit evaluate lightning_logs/version_0/checkpoints/last.ckpt": (
        "skip",
        "scores the checkpoint of the `opkit fit` above (skipped); tests/trainers/test_tasks.py "
        "runs `opkit evaluate CKPT` without --data on a checkpoint of each task",
    ),
    "opkit benchmark --suite burgers --models deeponet,fno": ("skip", "6 minutes of training"),
    "opkit fit --config configs/burgers_fno.yaml --ckpt_path "
    "lightning_logs/version_0/checkpoints/last.ckpt": ("skip", "resumes a run made above"),
}


def _blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of each fenced block, indented ones (in lists) included."""
    out = []
    for m in re.finditer(r"^( *)```(\w*)\n(.*?)^\1```", text, re.M | re.S):
        indent = len(m.group(1))
        body = "\n".join(line[indent:] for line in m.group(3).splitlines())
        out.append((m.group(2), body))
    return out


def _commands(body: str) -> list[str]:
    """Shell commands of a block: continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", "", body)
    commands = []
    for line in joined.splitlines():
        line = line.split(" #")[0].strip()
        if line and not line.startswith("#"):
            commands.append(" ".join(line.split()))
    return commands


BLOCKS = _blocks(README.read_text(encoding="utf-8"))
SHELL = [c for lang, body in BLOCKS if lang in ("bash", "sh", "") for c in _commands(body)]
SHELL = [c for c in SHELL if c.split()[0] in ("pip", "make", "opkit", "python", "mkdir")]
PYTHON = [body for lang, body in BLOCKS if lang == "python"]


def test_every_readme_command_is_classified():
    assert SHELL, "no shell commands found in the README"
    missing = [c for c in SHELL if c not in COMMANDS]
    assert not missing, f"README commands this test does not know (add them to COMMANDS): {missing}"
    stale = [c for c in COMMANDS if c not in SHELL]
    assert not stale, f"COMMANDS lists commands the README no longer has: {stale}"


def test_subcommands_make_targets_and_files_exist():
    from opkit.cli import _COMMANDS

    targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
    for command in SHELL:
        words = shlex.split(command)
        if words[0] == "opkit":
            assert words[1] in _COMMANDS, f"`opkit {words[1]}` is not a command: {command}"
        if words[0] == "make":
            assert words[1] in targets, f"no make target {words[1]!r}: {command}"
        for word in words:
            if re.fullmatch(r"(configs|tutorials|benchmarks|docs)/[\w./-]+", word):
                assert (ROOT / word).exists(), f"{word} (in `{command}`) is not in the checkout"


def test_python_blocks_compile_and_name_real_api():
    import opkit

    assert PYTHON
    for body in PYTHON:
        tree = ast.parse(body)
        for node in ast.walk(tree):
            chain = []
            while isinstance(node, ast.Attribute):
                chain.append(node.attr)
                node = node.value
            if isinstance(node, ast.Name) and node.id == "opkit" and chain:
                obj, path = opkit, "opkit"
                for name in reversed(chain):
                    path += f".{name}"
                    if not hasattr(obj, name):  # a subpackage the snippet's calls import
                        try:
                            importlib.import_module(path)
                        except ImportError:
                            pass
                    assert hasattr(obj, name), f"{path} does not exist"
                    obj = getattr(obj, name)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opkit"):
                module = __import__(node.module, fromlist=["_"])
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{node.module}.{alias.name} is missing"


def _to_run() -> list[tuple[str, str]]:
    out = []
    for command in SHELL:
        how = COMMANDS.get(command)
        if how == "run":
            out.append((command, command))
        elif isinstance(how, tuple) and how[0] == "run":
            small = command
            for old, new in how[1].items():
                small = small.replace(old, new)
            out.append((command, small))
    return out


@pytest.mark.slow  # generates a few Burgers samples through the console script
def test_the_cheap_commands_run_in_order(tmp_path):
    env = {**os.environ, "OPKIT_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    env.pop("OPKIT_DEBUG", None)
    for command, actual in _to_run():
        words = shlex.split(actual)
        if words[0] == "opkit":
            words[0] = OPKIT
        proc = subprocess.run(
            words, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, (
            f"`{command}` failed:\n{proc.stdout[-1500:]}{proc.stderr[-3000:]}"
        )


@pytest.mark.parametrize(
    "command", [c for c in SHELL if isinstance(COMMANDS.get(c), tuple) and COMMANDS[c][0] == "lead"]
)
def test_commands_waiting_for_a_change(command):
    pytest.skip(f"`{command}`: {COMMANDS[command][1]}")
