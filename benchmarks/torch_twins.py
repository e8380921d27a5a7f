"""PyTorch versions of ser_jax's three networks and training steps, for the speed comparison.

Same layers, sizes, losses and optimizers as ser_jax.encoders / ser_jax.signals at the shapes
the benchmark uses (NCHW here, NHWC there); not used by ser_jax itself.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn import functional as F


def _half_max_pool(x):
    return F.max_pool2d(x, kernel_size=(x.shape[2] // 2, x.shape[3] // 2))


def _conv_blocks(channels):
    """(Conv 3×3 SAME + BN + ReLU + max-pool 2×2) per entry, from one input channel."""
    blocks, prev = [], 1
    for c in channels:
        blocks += [nn.Conv2d(prev, c, 3, padding=1), nn.BatchNorm2d(c, momentum=0.1), nn.ReLU(), nn.MaxPool2d(2)]
        prev = c
    return nn.Sequential(*blocks)


class ParallelCNN(nn.Module):
    def __init__(self, frames, bins, num_classes, channels=200, kernel_sizes=((4, 6), (6, 8), (8, 10), (10, 12)),
                 embed_dim=64, recon_dim=64, decoder_dims=(256,), dropout=0.5, sigmoid_output=True):
        super().__init__()
        self.frames, self.bins = frames, bins
        self.convs = nn.ModuleList([nn.Conv2d(1, channels, k) for k in kernel_sizes])
        width = 4 * channels * len(kernel_sizes)
        self.embed = nn.Sequential(nn.Linear(width, embed_dim), nn.BatchNorm1d(embed_dim, momentum=0.1), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, num_classes))
        layers, prev = [nn.Linear(width, recon_dim), nn.BatchNorm1d(recon_dim, momentum=0.1), nn.ReLU(),
                        nn.Dropout(dropout)], recon_dim
        for d in decoder_dims:
            layers += [nn.Linear(prev, d), nn.ReLU()]
            prev = d
        layers += [nn.Linear(prev, frames * bins)] + ([nn.Sigmoid()] if sigmoid_output else [])
        self.decoder = nn.Sequential(*layers)

    def forward(self, x):
        h = x[:, None]
        shared = torch.cat([_half_max_pool(F.relu(conv(h))).flatten(1) for conv in self.convs], dim=1)
        z = self.embed(shared)
        return self.head(z), z, self.decoder(shared).view(-1, self.frames, self.bins)


class ConvGRU(nn.Module):
    def __init__(self, bins, num_classes, conv_channels=(32, 64), gru_units=128, z_dim=128, dropout=0.3):
        super().__init__()
        self.conv = _conv_blocks(conv_channels)
        prev = conv_channels[-1]
        feat = prev * (bins // 2 ** len(conv_channels))
        self.gru = nn.GRU(feat, gru_units, batch_first=True, bidirectional=True)
        self.fc1 = nn.Linear(2 * gru_units, z_dim)
        self.fc2 = nn.Sequential(nn.ReLU(), nn.Dropout(dropout), nn.Linear(z_dim, num_classes))

    def forward(self, x):
        h = self.conv(x[:, None])  # [B, C, T', F']
        seq = h.permute(0, 2, 1, 3).flatten(2)
        _, last = self.gru(seq)  # [2, B, units]: last forward and last backward states
        z = self.fc1(torch.cat([last[0], last[1]], dim=-1))
        return self.fc2(z), z


class SattEncoder(nn.Module):
    def __init__(self, frames, bins, conv_channels=(16, 32, 32, 64, 64), embed_dim=256):
        super().__init__()
        self.conv = _conv_blocks(conv_channels)
        prev = conv_channels[-1]
        n = len(conv_channels)
        self.fc = nn.Linear(prev * (frames // 2 ** n) * (bins // 2 ** n), embed_dim)

    def forward(self, x):
        return self.fc(self.conv(x[:, None]).flatten(1))


class PairwiseModel(nn.Module):
    def __init__(self, frames, bins, hidden=128):
        super().__init__()
        self.encoder = SattEncoder(frames, bins)
        self.disc = nn.Sequential(nn.Linear(512, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x1, x2):
        e1, e2 = self.encoder(torch.cat([x1, x2])).chunk(2)
        return self.disc(torch.cat([e1, e2], dim=-1)), e1, e2


def center_loss(z, centers, labels):
    return 0.5 * ((z - centers[labels]) ** 2).sum(dim=1).mean()


@torch.no_grad()
def wen_update(centers, z, labels, alpha):
    onehot = F.one_hot(labels, centers.shape[0]).to(z.dtype)  # [B, C]
    counts = onehot.sum(0)
    diff = counts[:, None] * centers - onehot.T @ z
    centers.sub_(alpha * diff / (1.0 + counts[:, None]))


def make_step(name, model, optimizer, centers, *, center_weight=4.0, recon_weight=1.0, cos_weight=0.9, margin=0.1,
              amp_dtype=None):
    """A training-step closure over one batch (tensors on the model's device). With
    `amp_dtype` (torch.bfloat16) the forward pass and losses run under autocast: PyTorch's
    mixed precision, float32 weights and optimizer."""
    device = next(model.parameters()).device.type
    amp = (lambda: torch.autocast(device, dtype=amp_dtype)) if amp_dtype else contextlib.nullcontext
    if name == "parallel_cnn":
        def step(x, labels):
            optimizer.zero_grad(set_to_none=True)
            with amp():
                logits, z, recon = model(x)
                loss = (F.cross_entropy(logits, labels) + center_weight * center_loss(z, centers, labels)
                        + recon_weight * F.mse_loss(recon, x))
            loss.backward()
            optimizer.step()
            wen_update(centers, z.detach(), labels, 0.5)
            return loss
    elif name == "conv_gru":
        def step(x, labels):
            optimizer.zero_grad(set_to_none=True)
            with amp():
                logits, z = model(x)
                loss = F.cross_entropy(logits, labels) + 0.3 * center_loss(z, centers, labels)
            loss.backward()
            optimizer.step()
            with torch.no_grad():  # moving class means (001)
                onehot = F.one_hot(labels, centers.shape[0]).to(z.dtype)
                counts = onehot.sum(0)
                means = (onehot.T @ z.detach()) / counts.clamp(min=1)[:, None]
                centers.sub_(0.5 * (counts > 0).to(z.dtype)[:, None] * (centers - means))
            return loss
    else:
        def step(x1, x2, same):
            optimizer.zero_grad(set_to_none=True)
            with amp():
                logits, e1, e2 = model(x1, x2)
                cos = F.cosine_similarity(e1, e2)
                l_cos = torch.where(same > 0, 1 - cos, (cos - margin).clamp(min=0)).mean()
                loss = cos_weight * l_cos + (1 - cos_weight) * F.cross_entropy(logits, same)
            loss.backward()
            optimizer.step()
            return loss
    return step
