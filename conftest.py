"""pytest's doctest collection of ``opkit/``: every ``>>>`` example runs in a fresh
temporary folder with an empty ``data/`` (the examples write there), one torch thread."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _doctest_folder(request, tmp_path, monkeypatch):
    if isinstance(request.node, pytest.DoctestItem):
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("OPKIT_CACHE", str(tmp_path / "cache"))
        (tmp_path / "data").mkdir()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)
    else:
        yield
