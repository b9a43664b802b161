"""Exports the networks of the family tests into the folder given, in one process.

  export_families.py OUTDIR

Each file is OUTDIR/<name>.pt, scripted as scripts/model/export_model.py scripts it, with random
weights from seed 0:
- the smallest member of each family that fine-tunes at small sizes (the full tier);
- tiny configurations of the transformer classes, whose smallest members take only 224 px
  (vit_tiny, swin_tiny, maxvit_tiny: the same classes and module names, few small layers);
- those big members themselves and a few more of the larger ones (the load-and-replace tier);
- googlenet.pt, which ftl must refuse (scripted directly: export_model.py refuses it too);
- two networks of no torchvision family: shared_type.pt, whose head `fc` shares its
  TorchScript class with `proj` (both Linear(16, 16)), and custom_logits.pt, whose head
  `logits` has none of the conventional names and is not the last Linear in module order.
A file already there is kept, so a rerun costs only Python's start.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "scripts", "model"))
import export_model  # noqa: E402

SMALL = ["regnet_y_400mf", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
         "convnext_tiny", "densenet121", "vgg11", "alexnet", "squeezenet1_1",
         "shufflenet_v2_x0_5", "mnasnet0_5"]
TINY = ["vit_tiny", "swin_tiny", "maxvit_tiny"]
CUSTOM = ["shared_type", "custom_logits"]
BIG = ["resnet50", "resnext50_32x4d", "efficientnet_v2_s", "vit_b_16", "swin_t", "maxvit_t"]


def tiny(torchvision, name):
    models = torchvision.models
    if name == "vit_tiny":
        return models.vision_transformer.VisionTransformer(
            image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32)
    if name == "swin_tiny":
        return models.swin_transformer.SwinTransformer(
            patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=[2, 2],
            stochastic_depth_prob=0.1)
    return models.maxvit.MaxVit(
        input_size=(32, 32), stem_channels=8, partition_size=2, block_channels=[8, 16],
        block_layers=[1, 1], head_dim=4, stochastic_depth_prob=0.1)


def custom(torch, name):
    """The networks of no torchvision family (classes defined here, after torch is imported)."""
    nn = torch.nn

    class SharedType(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(),
                                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
            self.proj = nn.Linear(16, 16)
            self.fc = nn.Linear(16, 16)

        def forward(self, x):
            return self.fc(torch.relu(self.proj(self.features(x))))

    class CustomLogits(nn.Module):
        def __init__(self):
            super().__init__()
            self.logits = nn.Linear(12, 10)
            self.trunk = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(),
                                       nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 12),
                                       nn.ReLU())

        def forward(self, x):
            return self.logits(self.trunk(x))

    return SharedType() if name == "shared_type" else CustomLogits()


def main() -> int:
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch, torchvision = export_model.import_torch("export_families.py")
    torch.set_num_threads(2)
    for name in SMALL + TINY + CUSTOM + ["googlenet"] + BIG:
        path = os.path.join(out, name + ".pt")
        if os.path.exists(path):
            continue
        start = time.time()
        torch.manual_seed(0)
        if name in TINY:
            model = tiny(torchvision, name)
        elif name in CUSTOM:
            model = custom(torch, name)
        else:
            model = torchvision.models.get_model(name, weights=None)
        export_model.save_scripted(torch, model, path)
        print(f"{name}: {time.time() - start:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
