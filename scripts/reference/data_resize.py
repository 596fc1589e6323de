#!/usr/bin/python3
"""Bilinear resize reference: torch.nn.functional.interpolate(mode='bilinear', align_corners=False,
antialias=False), the half-pixel-centre convention our RGBImage.resized follows (same as OpenCV's
INTER_LINEAR). Debian python3-torch 1.13. Writes Tests/FaceDataTests/Fixtures/resize.json."""
import json
import os
import random

import torch
import torch.nn.functional as F

rng = random.Random(7)
height, width = 5, 7
pixels = [rng.randrange(256) for _ in range(height * width * 3)]
image = torch.tensor(pixels, dtype=torch.float32).reshape(1, height, width, 3).permute(0, 3, 1, 2)
out = {"width": width, "height": height, "pixels": pixels, "resized": []}
for h, w in [(3, 4), (9, 11), (5, 3)]:
    r = F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False)
    values = r.permute(0, 2, 3, 1).reshape(-1).tolist()
    out["resized"].append({"width": w, "height": h, "pixels": values})
path = os.path.join(os.path.dirname(__file__), "../../Tests/FaceDataTests/Fixtures/resize.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path, "torch", torch.__version__)
