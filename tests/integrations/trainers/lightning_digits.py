"""A Lightning trainer for the integration tests: an MLP on scikit-learn's digits, two DataLoader workers.

Usage: python lightning_digits.py CONFIG SERIALIZATION_DIR. Config keys: lr, epochs, and ``report``:
``callback`` (tuner.integrations.lightning.TunerCallback) or ``csv`` (only Lightning's CSVLogger, read by
``tune --metrics-from csv``). The process and each DataLoader worker write ``pids/<pid>`` in the trial folder.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger
from sklearn.datasets import load_digits
from torch.utils.data import DataLoader, Dataset

DIRECTORY = sys.argv[2]


def write_pid() -> None:
    folder = os.path.join(DIRECTORY, "pids")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, str(os.getpid())), "w") as handle:
        handle.write(f"{os.getpid()} {os.getppid()}\n")


class Digits(Dataset):
    """scikit-learn's 8x8 digits; each DataLoader worker records its pid on its first item."""

    def __init__(self, validation: bool) -> None:
        images, labels = load_digits(return_X_y=True)
        split = slice(1400, None) if validation else slice(0, 1400)
        self.inputs = torch.tensor(images[split] / 16.0, dtype=torch.float32)
        self.labels = torch.tensor(labels[split])
        self.pid = os.getpid()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        if os.getpid() != self.pid:
            self.pid = os.getpid()
            write_pid()
        return self.inputs[index], self.labels[index]


class Classifier(pl.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.lr = lr
        self.net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

    def training_step(self, batch, batch_idx):
        inputs, labels = batch
        loss = torch.nn.functional.cross_entropy(self.net(inputs), labels)
        self.log("train_loss", loss, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        inputs, labels = batch
        logits = self.net(inputs)
        self.log("val_loss", torch.nn.functional.cross_entropy(logits, labels))
        self.log("val_acc", (logits.argmax(dim=1) == labels).float().mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def main() -> int:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    write_pid()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    loaders = [
        DataLoader(Digits(validation), batch_size=64, shuffle=not validation, num_workers=2)
        for validation in (False, True)
    ]
    callbacks = []
    if config["report"] == "callback":
        from tuner.integrations.lightning import TunerCallback

        callbacks.append(TunerCallback())
    trainer = pl.Trainer(
        max_epochs=config["epochs"],
        callbacks=callbacks,
        logger=CSVLogger(DIRECTORY),
        default_root_dir=DIRECTORY,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        devices=1,
    )
    trainer.fit(Classifier(config["lr"]), *loaders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
