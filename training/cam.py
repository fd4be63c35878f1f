"""The class-activation map of the defective class, in the same forward pass as the probabilities.

EfficientNet-Lite0 ends in global average pooling and one linear layer, so its logits are the mean over
the last feature map's cells of a 1x1 "convolution" by the linear weights. With two classes the
softmax depends only on the difference of the logits, so the map

    heatmap[i, j] = (w_defective - w_defect_free) . features[:, i, j] + (b_defective - b_defect_free)

is exact: its mean over the cells is the image's log-odds of `defective`, log(p_def / p_free). Each
cell is in log-odds units too: > 0 where that part of the image speaks for a defect, < 0 where it speaks
against. The grid is the last feature map's (input size / 32, rounded up: 5x5 at 160 px, 7x7 at 224 px).

With `flips`, the image is also seen mirrored left-right (test-time augmentation, both views in one batch):
the logits are the mean of the two views', and the map the mean of their maps, the mirrored one turned back to
the photo's orientation; its mean is still the log-odds of the averaged logits. A crack has no preferred side,
and the views disagree most on the photos a single view gets wrong. Two views, not four (adding upside down
and both): on ELPV the other two added 0.001 of ROC AUC or less and doubled the inference time again
(docs/model-choices.md).

Used by the ONNX export (a second graph output, `heatmap`) and by the SageMaker handler
(`training/sagemaker/inference.py`, which ships a copy of this file). Only torch APIs available in
torch 2.6 are used here.
"""

import torch
from torch import nn

DEFECT_FREE_INDEX, DEFECTIVE_INDEX = 0, 1


class UnsupportedHead(ValueError):
    """The network does not end in average pooling + one linear layer: the exact map does not apply."""


class ProbabilitiesAndHeatmap(nn.Module):
    """An EfficientNet-Lite classifier -> (softmax probabilities [N, C], defective heatmap [N, h, w])."""

    def __init__(self, network: nn.Module, *, flips: bool = False):
        super().__init__()
        head = getattr(network, "_fc", None)
        pooling = getattr(network, "_avg_pooling", None)
        local_pooling = getattr(getattr(network, "_global_params", None), "local_pooling", False)
        if not isinstance(head, nn.Linear) or not isinstance(pooling, nn.AdaptiveAvgPool2d) or local_pooling \
                or head.out_features != 2 or not hasattr(network, "extract_features"):
            raise UnsupportedHead(
                f"{type(network).__name__}: the class-activation map needs a 2-class linear head after global "
                "average pooling (EfficientNet-Lite)")
        self.network = network
        self.flips = flips

    def forward(self, inputs: torch.Tensor):
        views = len(FLIPS) if self.flips else 1
        if self.flips:
            inputs = torch.cat([_flipped(inputs, dims) for dims in FLIPS])  # [2N, 3, S, S]: one forward pass
        features = self.network.extract_features(inputs)  # [V*N, C, h, w]
        head = self.network._fc
        # Pooling then the linear layer, as the network's own forward does (dropout is off in eval mode).
        logits = head(features.mean(dim=(2, 3)))
        weights = head.weight[DEFECTIVE_INDEX] - head.weight[DEFECT_FREE_INDEX]
        bias = head.bias[DEFECTIVE_INDEX] - head.bias[DEFECT_FREE_INDEX]
        heatmap = torch.einsum("nchw,c->nhw", features, weights) + bias
        if self.flips:
            # Each view's map turned back (a flip is its own inverse), then the views averaged.
            heatmap = torch.stack([_flipped(view, [dim - 1 for dim in dims])  # [N, h, w]: one axis fewer
                                   for view, dims in zip(heatmap.chunk(views), FLIPS)]).mean(dim=0)
            logits = torch.stack(logits.chunk(views)).mean(dim=0)
        return torch.softmax(logits, dim=1), heatmap


# The views of test-time augmentation, as the image axes they mirror ([N, 3, S, S]: 3 = columns): as it is,
# and mirrored left-right.
FLIPS = ((), (3,))


def _flipped(tensor: torch.Tensor, dims) -> torch.Tensor:
    return tensor.flip(list(dims)) if dims else tensor
