#!/usr/bin/python3
"""torch.save files for Tests/TrainingTests/TorchCheckpointTests.swift, written at test time into OUTDIR.

Pinned to Debian's python3-torch 1.13 (run with /usr/bin/python3):
  /usr/bin/python3 scripts/reference/torch_checkpoints.py OUTDIR MARKER
writes, from the reference IResNet-18 of models.py (small widths 8,8,16,16, 16x16 input, embedding 32, seeded,
with non-trivial batch-norm statistics) and the full-width IResNet-18 at 16x16:
  small.safetensors         the reference tensors (float32), by safetensors_torch.save_file
  small_f32.pth             torch.save(model.state_dict())
  small_f16.pth / _bf16.pth the floating tensors in float16 / bfloat16 (the reference is their float32 value)
  small_ddp.pth             keys prefixed "module." as DistributedDataParallel saves them
  small_view.pth            one weight a non-contiguous view and one a view at a storage offset
  small_wrapped.pth         {"state_dict": state_dict}
  small_legacy.pth          the pre-1.6 layout (_use_new_zipfile_serialization=False)
  r18.pth, r18.safetensors  the full-width network (so the depth can be told from the keys)
  r50_f16.pth, r50.safetensors   IResNet-50 at 16x16, saved in float16 (the reference holds its float32 values)
  mbf.pth, mbf.safetensors  MobileFaceNet (112x112, embedding 512)
  evil.pth                  a pickle that calls os.system("touch MARKER") when torch.load runs it
"""
import os
import sys

import torch

assert torch.__version__.startswith("1.13"), torch.__version__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import iresnet  # noqa: E402
from safetensors_torch import save_file  # noqa: E402


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def seeded(model, seed):
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.dtype.is_floating_point:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.1 + (1.0 if "running_var" in name else 0.0))
    return model


def main():
    out, marker = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    small = seeded(iresnet(18, widths=(8, 8, 16, 16), image_size=(16, 16), embedding_size=32), 7)
    state = small.state_dict()
    save_file(state, os.path.join(out, "small.safetensors"))
    torch.save(state, os.path.join(out, "small_f32.pth"))
    for dtype, name in [(torch.float16, "f16"), (torch.bfloat16, "bf16")]:
        torch.save({k: v.to(dtype) if v.dtype.is_floating_point else v for k, v in state.items()},
                   os.path.join(out, f"small_{name}.pth"))
    torch.save({"module." + k: v for k, v in state.items()}, os.path.join(out, "small_ddp.pth"))
    viewed = dict(state)
    conv = state["conv1.weight"]
    viewed["conv1.weight"] = conv.permute(1, 0, 2, 3).contiguous().permute(1, 0, 2, 3)  # same values, other strides
    assert not viewed["conv1.weight"].is_contiguous()
    fc = state["fc.weight"]
    viewed["fc.weight"] = torch.cat([torch.zeros(5), fc.flatten()])[5:].view(fc.shape)  # storage offset 5
    assert viewed["fc.weight"].storage_offset() == 5
    torch.save(viewed, os.path.join(out, "small_view.pth"))
    torch.save({"state_dict": state}, os.path.join(out, "small_wrapped.pth"))
    torch.save(state, os.path.join(out, "small_legacy.pth"), _use_new_zipfile_serialization=False)
    full = seeded(iresnet(18, image_size=(16, 16), embedding_size=32), 8)
    save_file(full.state_dict(), os.path.join(out, "r18.safetensors"))
    torch.save(full.state_dict(), os.path.join(out, "r18.pth"))
    r50 = seeded(iresnet(50, image_size=(16, 16), embedding_size=32), 9)
    half = {k: v.half() if v.dtype.is_floating_point else v for k, v in r50.state_dict().items()}
    torch.save(half, os.path.join(out, "r50_f16.pth"))
    save_file({k: v.float() if v.dtype.is_floating_point else v for k, v in half.items()}, os.path.join(out, "r50.safetensors"))
    from models import MobileFaceNet  # noqa: E402
    mbf = seeded(MobileFaceNet(), 10)
    torch.save(mbf.state_dict(), os.path.join(out, "mbf.pth"))
    save_file(mbf.state_dict(), os.path.join(out, "mbf.safetensors"))
    torch.save(Evil(marker), os.path.join(out, "evil.pth"))
    print("written", len(os.listdir(out)), "files")


if __name__ == "__main__":
    main()
