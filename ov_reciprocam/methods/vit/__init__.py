"""The transformer family: token classifiers (ViT, DeiT, BEiT) explained by ViT-ReciproCAM."""
