"""A compact single-stage detector for aerial violation objects (CenterNet-style).

Backbone of depthwise-separable residual stages (strides 2-32), a top-down feature pyramid fused
down to stride 4, and three heads at stride 4:

    heatmap  [B, C, H/4, W/4]  class-wise object-centre probability (sigmoid applied in-graph)
    size     [B, 2, H/4, W/4]  box width, height in input pixels / 4
    offset   [B, 2, H/4, W/4]  sub-cell centre offset in cells (0..1)

Stride 4 keeps objects of 5-10 px findable; the whole network is trained from scratch.
"""

import torch
from torch import nn
import torch.nn.functional as F


def conv_bn(c_in, c_out, k=3, s=1):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SepBlock(nn.Module):
    """Residual depthwise-separable block."""

    def __init__(self, c):
        super().__init__()
        self.dw = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, groups=c, bias=False), nn.BatchNorm2d(c))
        self.pw = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return F.relu(x + self.pw(F.relu(self.dw(x))))


def stage(c_in, c_out, blocks):
    return nn.Sequential(conv_bn(c_in, c_out, 3, 2), *[SepBlock(c_out) for _ in range(blocks)])


class Detector(nn.Module):
    def __init__(self, num_classes=3, width=(24, 32, 64, 96, 128), neck=48):
        super().__init__()
        w = width
        self.stem = conv_bn(3, w[0], 3, 2)  # /2
        self.s4 = stage(w[0], w[1], 1)  # /4
        self.s8 = stage(w[1], w[2], 2)  # /8
        self.s16 = stage(w[2], w[3], 3)  # /16
        self.s32 = stage(w[3], w[4], 2)  # /32
        self.lat32 = nn.Conv2d(w[4], neck, 1)
        self.lat16 = nn.Conv2d(w[3], neck, 1)
        self.lat8 = nn.Conv2d(w[2], neck, 1)
        self.lat4 = nn.Conv2d(w[1], neck, 1)
        self.smooth = nn.Sequential(conv_bn(neck, neck), SepBlock(neck))

        def head(out, bias=0.0):
            h = nn.Sequential(conv_bn(neck, neck), nn.Conv2d(neck, out, 1))
            nn.init.constant_(h[-1].bias, bias)
            return h

        self.heat = head(num_classes, -2.19)  # prior probability 0.1
        self.size = head(2)
        self.offset = head(2)

    def features(self, x):
        x = self.stem(x)
        f4 = self.s4(x)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        p = self.lat32(f32)
        p = self.lat16(f16) + F.interpolate(p, size=f16.shape[-2:], mode="nearest")
        p = self.lat8(f8) + F.interpolate(p, size=f8.shape[-2:], mode="nearest")
        p = self.lat4(f4) + F.interpolate(p, size=f4.shape[-2:], mode="nearest")
        return self.smooth(p)

    def forward(self, x):
        f = self.features(x)
        return self.heat(f), self.size(f), self.offset(f)


class Exported(nn.Module):
    """The graph that ships: sigmoid on the heatmap, named outputs."""

    def __init__(self, det):
        super().__init__()
        self.det = det

    def forward(self, images):
        heat, size, offset = self.det(images)
        return torch.sigmoid(heat), size, offset
