"""The anomaly scorer (PatchCore-style) as one torch module: photo in, (probabilities, heatmap) out.

Learnt from photos of good parts alone (training/anomaly.py fills it in); everything it needs is inside it,
so the ONNX export, the local endpoint and the SageMaker handler serve it exactly like the supervised
classifier (docs/anomaly.md):

1. patch features: the frozen ImageNet Lite0's stride-8 and stride-16 stages (blocks 4 and 10: 40 + 112
   channels), each averaged over its 3x3 neighbourhood, the coarser one upsampled to the stride-8 grid, and
   concatenated: one 152-dimensional vector per 8x8 pixels of model input, minus the memory's mean;
2. the memory: a coreset of such vectors from the good photos (a constant of the graph);
3. each patch's score is the squared distance to its nearest neighbour in the memory (found by one matrix
   product: |b|^2 - 2ab, then measured directly); the image score is the highest patch score;
4. calibration: log-odds of `defective` = (score - threshold) / scale, so p(defective) = 0.5 exactly at the
   threshold chosen on held-out good photos. The heat map is each patch's log-odds on the same scale (within
   +-20), so the
   image's log-odds is its highest cell (the supervised map's cells are log-odds too; their mean is the
   image's), and the classify step's overlay reads both alike.

Used by the SageMaker handler (`training/sagemaker/inference.py`, which ships a copy of this file): only torch
APIs available in torch 2.6.
"""

import math

import torch
from torch import nn
from torch.nn import functional

FEATURE_BLOCKS = (4, 10)  # the last blocks of Lite0's stride-8 (40 channels) and stride-16 (112 channels) stages
FEATURE_CHANNELS = 40 + 112
PATCH_STRIDE = 8  # input pixels per heat-map cell
LOG_ODDS_LIMIT = 20.0  # the map's cells lie within +-this


def patch_grid(input_size: int) -> int:
    """Cells per side of the heat map (the stride-8 feature map) for a square input of input_size pixels."""
    return math.ceil(input_size / PATCH_STRIDE)


class PatchFeatures(nn.Module):
    """The frozen backbone up to its stride-16 stage -> locally aggregated patch features [N, 152, h, w]."""

    def __init__(self, network: nn.Module):
        super().__init__()
        self.stem = network._conv_stem
        self.bn0 = network._bn0
        self.activation = network._swish
        self.blocks = nn.ModuleList(network._blocks[: FEATURE_BLOCKS[-1] + 1])  # nothing deeper is computed

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.activation(self.bn0(self.stem(inputs)))
        stages = []
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in FEATURE_BLOCKS:
                # Each patch described with its 3x3 neighbourhood: a little context, still local.
                stages.append(functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False))
        size = stages[0].shape[-2:]
        stages = [stages[0]] + [functional.interpolate(s, size=size, mode="bilinear", align_corners=False)
                                for s in stages[1:]]
        return torch.cat(stages, dim=1)


class PatchCoreScorer(nn.Module):
    """A frozen Lite0 + a memory of good patch features -> (probabilities [N, 2], heatmap [N, h, w] in log-odds)."""

    def __init__(self, network: nn.Module, memory: torch.Tensor, center: torch.Tensor,
                 threshold: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.features = PatchFeatures(network)
        self.register_buffer("memory", memory.float().contiguous())  # [M, C], centred
        self.register_buffer("memory_norms", (memory.float() ** 2).sum(dim=1))  # [M]
        self.register_buffer("center", center.float().reshape(1, -1, 1, 1))  # [1, C, 1, 1]
        self.register_buffer("threshold", torch.tensor(float(threshold)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    @classmethod
    def from_state_dict(cls, network: nn.Module, state: dict) -> "PatchCoreScorer":
        """Rebuild a saved scorer around a Lite0 of the right input size (its weights come from `state`)."""
        scorer = cls(network, torch.zeros_like(state["memory"]), torch.zeros(state["center"].numel()))
        scorer.load_state_dict(state)
        return scorer.eval()

    def patch_distances(self, inputs: torch.Tensor) -> torch.Tensor:
        """Each patch's squared distance to its nearest neighbour in the memory: [N, h, w]."""
        features = self.features(inputs) - self.center
        n, c, h, w = features.shape
        patches = features.flatten(2).transpose(1, 2)  # [N, h*w, C]
        # The nearest neighbour by the expanded squared distances (one matrix product; |a|^2 is the same for
        # every neighbour of a patch, so it is left out)...
        nearest = (self.memory_norms - 2 * patches @ self.memory.t()).argmin(dim=2)  # [N, h*w]
        # ...and its distance computed directly: the expansion cancels badly for close neighbours, and the
        # graph and torch must agree to 1e-4 there too.
        difference = patches - self.memory[nearest]
        # Squared, not its root: the root's slope is unbounded near 0, where good patches lie, and would magnify
        # the last digits in which onnxruntime's convolutions differ from torch's.
        return (difference ** 2).sum(dim=2).reshape(n, h, w)

    def forward(self, inputs: torch.Tensor):
        # Bounded, like any float32 probability: beyond +-20 log-odds p is 1 or 0 to 1e-9, and an unbounded cell
        # (a dark blot scores thousands) would show its float32 rounding as absolute differences.
        heatmap = ((self.patch_distances(inputs) - self.threshold) / self.scale).clamp(-LOG_ODDS_LIMIT, LOG_ODDS_LIMIT)
        log_odds = heatmap.flatten(1).max(dim=1).values
        probabilities = torch.stack([torch.sigmoid(-log_odds), torch.sigmoid(log_odds)], dim=1)
        return probabilities, heatmap
