"""Appearance embeddings of box crops: ResNet-18 in plain torch (no torchvision at run time).

    model = load_resnet18("s3://bucket/models/resnet18-f37072fd.pth")  # a torchvision-format state dict
    embedder = Embedder(model, device=pick_device())
    vectors = embedder.embed(crops)  # uint8 (n, size, size, 3) RGB -> float32 (n, 512)

The network is torchvision's ResNet-18 layer for layer, so the standard ImageNet weights file
(`resnet18-f37072fd.pth`, or any fine-tuned state dict of the same shape) loads with strict key
checking. The classifier (`fc`) is loaded but not used: the embedding is the 512-d pooled feature
before it, as in the original method. Unlike the original notebook, crops are ImageNet-normalized
and converted to channels-first by transposing (not reshaping) the pixel array.

Weights are never downloaded and never invented: without a weights file there is no model. Tests
and benchmarks write a seeded (untrained) state dict with `seeded_state_dict` on purpose.
"""
from __future__ import annotations

import hashlib
import io

import numpy as np
import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EMBEDDING_DIM = 512


class WeightsError(ValueError):
    """A weights file that is missing, unreadable or not a ResNet-18 state dict."""


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    """torchvision's resnet18 (same module names, so the same state dict keys)."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        layers, cin = [], 64
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(_BasicBlock(cin, w, stride), _BasicBlock(w, w, 1)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The 512-d embedding: the pooled output of the last block (what `fc` would classify)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def seeded_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A deterministic, untrained ResNet-18 state dict (torchvision's initialisation) for tests and benchmarks.

    Random convolutions still tell textures and colours apart, which is what the synthetic sample
    frames need; real labels need the ImageNet weights (README: appearance check).
    """
    gen = torch.Generator().manual_seed(seed)
    model = ResNet18()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):  # kaiming normal, fan_out, as torchvision initialises
                fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_out) ** 0.5)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / m.in_features ** 0.5
                m.weight.copy_((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound)
                m.bias.copy_((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * bound)
    return model.state_dict()


def weights_digest(data: bytes) -> str:
    """Short sha256 of a weights file: names the model in embedding_metrics and the ledger."""
    return hashlib.sha256(data).hexdigest()[:16]


def load_resnet18(data: bytes, source: str = "weights") -> ResNet18:
    """A ResNet-18 in eval mode with the state dict in `data` (strict: every key, every shape).

    The file is read with `weights_only=True`: a state dict is tensors, never pickled code.
    """
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise WeightsError(f"{source} is not a torch state dict: {type(e).__name__}: {str(e)[:200]}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]  # a training checkpoint that wraps the state dict
    if not isinstance(state, dict):
        raise WeightsError(f"{source} holds a {type(state).__name__}, not a state dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}  # saved from DataParallel
    model = ResNet18(num_classes=int(state["fc.weight"].shape[0]) if "fc.weight" in state else 1000)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(state[k].shape) != tuple(expected[k].shape))
    if missing or unexpected or wrong:
        parts = [f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
                 for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
        raise WeightsError(f"{source} is not a ResNet-18 state dict ({'; '.join(parts)})")
    model.load_state_dict(state, strict=True)
    return model.eval()


def pick_device(requested: str = "auto") -> torch.device:
    """cuda when available (or asked for), else cpu."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise WeightsError("device cuda requested but torch sees no CUDA device")
    return torch.device(requested)


class Embedder:
    """One loaded model on one device; embeds uint8 RGB crops in batches."""

    def __init__(self, model: ResNet18, device: torch.device | str = "cpu", batch_size: int = 64):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.batch_size = int(batch_size)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """float32 (n, 512) embeddings of uint8 crops shaped (n, height, width, 3), RGB."""
        if crops.ndim != 4 or crops.shape[-1] != 3:
            raise ValueError(f"crops must be (n, height, width, 3), got {crops.shape}")
        out = np.empty((crops.shape[0], EMBEDDING_DIM), np.float32)
        with torch.inference_mode():
            for s in range(0, crops.shape[0], self.batch_size):
                x = torch.from_numpy(np.ascontiguousarray(crops[s:s + self.batch_size])).to(self.device)
                x = x.permute(0, 3, 1, 2).float().div_(255.0)  # NHWC -> NCHW: a transpose, not a reshape
                x = (x - self.mean) / self.std
                out[s:s + x.shape[0]] = self.model.features(x).float().cpu().numpy()
        return out
