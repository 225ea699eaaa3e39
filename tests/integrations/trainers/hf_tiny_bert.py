"""A Hugging Face trainer for the integration tests: a tiny BERT built from its config (no download), two
DataLoader workers, on token ids generated with torch (no tokenizer).

Usage: python hf_tiny_bert.py CONFIG SERIALIZATION_DIR. Config keys: lr, epochs, and ``report``:
``callback`` (tuner.integrations.transformers.TunerCallback) or ``state`` (only the checkpoints'
trainer_state.json, read by ``tune --metrics-from hf``). The process and each DataLoader worker write
``pids/<pid>`` in the trial folder.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", ".."))
import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

DIRECTORY = sys.argv[2]
VOCABULARY, LENGTH = 32, 8


def write_pid() -> None:
    folder = os.path.join(DIRECTORY, "pids")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, str(os.getpid())), "w") as handle:
        handle.write(f"{os.getpid()} {os.getppid()}\n")


class Sequences(Dataset):
    """Random token ids; the label says whether token 1 occurs (learnable in a few epochs)."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(2, VOCABULARY, (size, LENGTH), generator=generator)
        self.labels = torch.randint(0, 2, (size,), generator=generator)
        self.ids[self.labels == 1, 0] = 1
        self.ids = self.ids[:, torch.randperm(LENGTH, generator=generator)]
        self.pid = os.getpid()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        if os.getpid() != self.pid:
            self.pid = os.getpid()
            write_pid()
        return {"input_ids": self.ids[index], "labels": self.labels[index]}


def accuracy(prediction) -> dict:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def main() -> int:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    write_pid()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model_config = BertConfig(
        vocab_size=VOCABULARY,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=LENGTH,
        num_labels=2,
    )
    callbacks = []
    if config["report"] == "callback":
        from tuner.integrations.transformers import TunerCallback

        callbacks.append(TunerCallback())
    arguments = TrainingArguments(
        output_dir=DIRECTORY,
        num_train_epochs=config["epochs"],
        learning_rate=config["lr"],
        per_device_train_batch_size=32,
        per_device_eval_batch_size=64,
        eval_strategy="epoch",
        save_strategy="epoch" if config["report"] == "state" else "no",
        save_only_model=True,
        logging_strategy="epoch",
        report_to=[],
        dataloader_num_workers=2,
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(
        model=BertForSequenceClassification(model_config),
        args=arguments,
        train_dataset=Sequences(256, 0),
        eval_dataset=Sequences(128, 1),
        compute_metrics=accuracy,
        callbacks=callbacks,
    )
    trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
