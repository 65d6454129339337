"""params.yaml sections become configs, and a wrong key or type fails naming the key."""
from __future__ import annotations

import pytest

from pipeline.datasets import DATASETS, PRESETS
from pipeline.model import loss_config_from_params, model_config_from_params


def test_params_sections_build_configs():
    cfg = model_config_from_params({"hidden": 64, "modalities": ["t", "a"], "use_dri": False, "class_edges": []})
    assert cfg.hidden == 64 and cfg.modalities == ("t", "a") and cfg.use_dri is False
    assert loss_config_from_params({"alpha": 0.5, "w_hsf": 1}).w_hsf == 1.0


@pytest.mark.parametrize(
    "section, message",
    [
        ({"hiden": 64}, "model.hiden: unknown key"),
        ({"use_hsf": "yes"}, "model.use_hsf: expected true/false"),
        ({"hidden": 12.5}, "model.hidden: expected a whole number"),
        ({"layers": "2"}, "model.layers: expected a number"),
        ({"modalities": ["t", "x"]}, "model.modalities"),
        ({"fusion": "sum"}, "model.fusion: 'sum'"),
        ({"hidden": 30, "heads": 4}, "model.hidden: 30 is not divisible"),
        ({"num_classes": 5, "class_edges": [0.0]}, "model.class_edges"),
    ],
)
def test_bad_model_params_name_the_key(section, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        model_config_from_params(section)


def test_bad_loss_params_name_the_key():
    with pytest.raises(ValueError, match="loss.w_dr: unknown key"):
        loss_config_from_params({"w_dr": 1.0})


def test_presets_are_the_papers():
    # The paper, §4.2: lr {3e-5, 1e-5, 1e-5, 1e-5}, batch {32, 64, 32, 32}, hidden {128, 128, 64, 128},
    # weight decay {1e-3, 1e-3, 1e-2, 1e-2} for MOSI, MOSEI, SIMS, SIMSv2.
    table = [(p.lr, p.batch_size, p.hidden, p.weight_decay) for p in (PRESETS[k] for k in ("mosi", "mosei", "sims", "simsv2"))]
    assert table == [(3e-5, 32, 128, 1e-3), (1e-5, 64, 128, 1e-3), (1e-5, 32, 64, 1e-2), (1e-5, 32, 128, 1e-2)]
    assert DATASETS["sims"].num_classes == 5 and DATASETS["mosi"].num_classes == 7
