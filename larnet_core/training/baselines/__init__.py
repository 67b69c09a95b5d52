"""Baselines trained and scored exactly like LARNet: a plain ResNet-18 (the paper's comparison; the
``resnet18`` model preset, :class:`larnet_core.models.ResNet18`) and the classic LBP-TOP + SVM pipeline (the
hand-crafted row of the paper's Table 5, in this package).
"""
