"""Shims that let Lightning Flash 0.8.2 import on the current torch stack; import this before flash."""

import os
import sys

# albumentations 1.4 checks the internet for a newer release at import time; workers may be offline.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

import torchvision.models  # noqa: E402  (after the environment is set)
import torchvision.models.alexnet  # noqa: E402
import torchvision.models.vgg  # noqa: E402

# pystiche 1.0.1 (flash's image topic requires it to import) reads `model_urls` from these two torchvision
# modules, which torchvision removed; rebuild them from the weight enums that replaced them (no download).
# sys.modules, because `import torchvision.models.alexnet as m` binds the function alexnet, not the module.
_VGG_ARCHS = ("vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
_MODEL_URLS = {
    "torchvision.models.alexnet": {"alexnet": torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url},
    "torchvision.models.vgg": {
        arch: torchvision.models.get_model_weights(arch).IMAGENET1K_V1.url for arch in _VGG_ARCHS
    },
}
for _module_name, _urls in _MODEL_URLS.items():
    if not hasattr(sys.modules[_module_name], "model_urls"):
        sys.modules[_module_name].model_urls = _urls
