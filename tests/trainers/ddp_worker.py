"""Run by tests/trainers/test_ddp.py as a script: real DDP, 2 CPU processes over gloo.

Each rank records a fingerprint of every training sample it saw and its final weights.
"""

import hashlib
import json
import sys
from pathlib import Path

import lightning as L
import torch

from opkit.models import FNO
from opkit.trainers import OperatorDataModule, OperatorModule


class SeenSamples(L.Callback):
    def __init__(self):
        self.seen = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        x, _ = batch
        for row in x:
            digest = hashlib.sha1(row.detach().cpu().numpy().tobytes()).hexdigest()
            self.seen.setdefault(str(trainer.current_epoch), []).append(digest)


def main(data: str, out: str) -> None:
    out_dir = Path(out)
    # No shift augmentation: the fingerprints must identify the stored samples.
    dm = OperatorDataModule(data, batch_size=8, shift_augment=False)
    torch.manual_seed(0)
    model = FNO.from_spec(dm.spec, n_modes=8, hidden_channels=8, n_layers=2)
    module = OperatorModule(model, n_fields=dm.spec.n_fields, lr=1e-3)
    torch.save(module.state_dict(), out_dir / "initial.pt")
    seen = SeenSamples()
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp",
        max_epochs=2,
        callbacks=[seen],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, datamodule=dm)
    rank = trainer.global_rank
    (out_dir / f"seen{rank}.json").write_text(json.dumps(seen.seen))
    torch.save(module.state_dict(), out_dir / f"weights{rank}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
