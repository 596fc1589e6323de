#!/usr/bin/python3
"""JPEG decoding reference: a noisy 24x16 quality-95 JPEG written by PIL and PIL's own decoding of it
(libjpeg-turbo, accurate DCT, fancy upsampling: what torchvision's ImageFolder and OpenCV give).
Debian python3-pil 9.4, NumPy 1.24. Writes Tests/FaceDataTests/Fixtures/jpeg_noise.{jpg,rgb}."""
import os

import numpy as np
from PIL import Image

out = os.path.join(os.path.dirname(__file__), "../../Tests/FaceDataTests/Fixtures")
rng = np.random.default_rng(3)
pixels = rng.integers(0, 256, size=(16, 24, 3), dtype=np.uint8)
Image.fromarray(pixels).save(os.path.join(out, "jpeg_noise.jpg"), quality=95)
decoded = np.asarray(Image.open(os.path.join(out, "jpeg_noise.jpg")).convert("RGB"))
open(os.path.join(out, "jpeg_noise.rgb"), "wb").write(decoded.tobytes())
print("wrote jpeg_noise.jpg and jpeg_noise.rgb", decoded.shape, "PIL", Image.__version__)
