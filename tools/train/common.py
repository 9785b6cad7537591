"""Loading a trained checkpoint (final.pt or ckpt.pt) into a GatedLM."""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Config, GatedLM  # noqa: E402


def load_model(path):
    ck = torch.load(path, map_location="cpu")
    cfg = Config(**ck["cfg"])
    model = GatedLM(cfg)
    model.load_state_dict(ck["model"])
    model.eval()
    return model, ck["chars"], ck
