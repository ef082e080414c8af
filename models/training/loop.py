"""The training loop shared by the zoo's training script and PyTorch fine-tuning after pruning.

Recipe (`TrainingRecipe`): SGD with Nesterov momentum 0.9 and weight decay 5e-4 on BN-free
weights too, mini-batches of 128 reshuffled every epoch, a one-cycle learning-rate schedule
(linear warm-up over the first 15% of the steps to `lr`, cosine decay to ~0), cross-entropy
loss, and random horizontal flips when the data set allows them.  Every random choice (weight
init is the caller's; shuffling, flips, dropout) comes from `seed`, and torch runs on `threads`
intra-op threads (one by default: the reduction order then does not depend on the core count,
and small convolutions gain little from more), so a run is reproducible.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from onnx_tee.passes.datasets import load_dataset

FLIP_INVARIANT = {"fashion-mnist"}   # a mirrored garment is still that garment; a mirrored digit is not


@dataclass(frozen=True)
class TrainingRecipe:
    epochs: float = 8
    lr: float = 0.05
    batch_size: int = 128
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup: float = 0.15
    seed: int = 0
    threads: int = 1


def train(model: nn.Module, dataset: str, recipe: TrainingRecipe = TrainingRecipe(), *,
          progress: bool = True) -> nn.Module:
    """Train `model` in place on the train split of `dataset` for `recipe.epochs` (may be fractional)."""
    torch.set_num_threads(recipe.threads)
    torch.manual_seed(recipe.seed)
    x_all, y_all = (torch.from_numpy(a) for a in load_dataset(dataset, "train"))
    flips = dataset in FLIP_INVARIANT
    steps_per_epoch = math.ceil(len(x_all) / recipe.batch_size)
    total_steps = max(1, round(recipe.epochs * steps_per_epoch))
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum, nesterov=True,
                                weight_decay=recipe.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=total_steps,
                                                   pct_start=recipe.warmup, anneal_strategy="cos")
    generator = torch.Generator().manual_seed(recipe.seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    bar = tqdm(total=total_steps, desc="train", unit="step", disable=not progress, leave=False)
    step = 0
    while step < total_steps:
        order = torch.randperm(len(x_all), generator=generator)
        for start in range(0, len(order), recipe.batch_size):
            if step == total_steps:
                break
            index = order[start:start + recipe.batch_size]
            x, y = x_all[index], y_all[index]
            if flips:
                mirror = torch.rand(len(x), generator=generator) < 0.5
                x = torch.where(mirror[:, None, None, None], x.flip(-1), x)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}", epoch=f"{step / steps_per_epoch:.2f}")
    bar.close()
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """Logits of `model` (in eval mode) for every sample of `x`."""
    model.eval()
    return np.concatenate([model(torch.from_numpy(np.ascontiguousarray(x[i:i + batch]))).numpy()
                           for i in range(0, len(x), batch)])
