"""What every sentiment model here shares: its config, the optional fine-tuned text encoder, the
missing-modality rule for its inputs, and the task output and loss.

A model is `SentimentModel` plus its own layers. Its `forward(inputs, lengths, present, labels,
tokens, index)` returns a `ModelOutput` (or a subclass with the model's explanation); training,
evaluation, checkpoints and predict need nothing else of it.
"""
from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .encoder import ModalityEncoder
from .losses import class_scores, sentiment_classes, task_loss
from .output import ModelOutput
from .text_backbone import TextBackbone


class SentimentModel(nn.Module):
    def __init__(self, config: ModelConfig, own, text_backbone: TextBackbone | None = None):
        super().__init__()
        if text_backbone is not None and "t" not in config.modalities:
            raise ValueError(f"train.finetune_text: the model has no text modality (modalities {list(config.modalities)})")
        self.config = config
        self.own = own  # the model's own settings (params `model.<name>`; DSRF: its loss weights)
        self.text_backbone = text_backbone

    @property
    def outputs(self) -> int:
        """Width of the task head: one score, or one logit per class."""
        return 1 if self.config.task == "regression" else self.config.num_classes

    def modality_encoders(self) -> nn.ModuleDict:
        """DSRF's modality encoders (Conv1d + positions + Transformer), one per modality."""
        c = self.config
        return nn.ModuleDict({m: ModalityEncoder(c.input_dims[m], c.hidden, c.layers, c.heads, c.dropout) for m in c.modalities})

    def read_inputs(self, inputs: dict[str, torch.Tensor], lengths: dict[str, torch.Tensor], present: torch.Tensor | None,
                    tokens: torch.Tensor | None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """(inputs with every missing modality zeroed before any layer reads it, present (B, M) bool).

        `present` defaults to lengths > 0; a fine-tuned text encoder replaces inputs["t"] with its
        states of the token ids."""
        if self.text_backbone is not None:
            if tokens is None:
                raise ValueError("this model fine-tunes its text encoder: it reads the text's token ids, and none were given")
            inputs = {**inputs, "t": self.text_backbone(tokens, lengths["t"])}
        modalities = self.config.modalities
        if present is None:
            present = torch.stack([lengths[m] > 0 for m in modalities], dim=1)
        present = present.bool()
        # torch.where, not multiplication: NaN in a missing modality's input stays out.
        cleared = {m: torch.where(present[:, i, None, None], inputs[m], torch.zeros_like(inputs[m])) for i, m in enumerate(modalities)}
        return cleared, present

    def result(self, output: torch.Tensor, labels: torch.Tensor | None,
               extra: dict[str, tuple[float, torch.Tensor]] | None = None) -> ModelOutput:
        """The forward output from the head's (B, outputs); with labels, the task loss, each extra
        term by name (weight, value) and `total` = task + Σ weight · term."""
        prediction, logits = self.prediction(output)
        result = ModelOutput(prediction=prediction, logits=logits)
        if labels is not None:
            task = self.task_loss(output, labels.to(output.dtype))
            extra = extra or {}
            total = task + sum(weight * value for weight, value in extra.values())
            result.losses = {"task": task, **{name: value for name, (_, value) in extra.items()}, "total": total}
        return result

    def prediction(self, output: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(prediction (B,), a score; logits (B, C) or None) from the head's output. A classifier's
        score is the one its arg-max class stands for, so selection, metrics and predict read every
        model the same way."""
        c = self.config
        if c.task == "regression":
            return output.squeeze(-1), None
        scores = class_scores(c.num_classes, c.class_edges).to(output.device, output.dtype)
        return scores[output.argmax(-1)], output

    def task_loss(self, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean task loss: L1 on scores, or cross-entropy on the labels' sentiment classes."""
        c = self.config
        classes = sentiment_classes(labels, c.num_classes, c.class_edges)
        return task_loss(output.squeeze(-1) if c.task == "regression" else output, labels, classes, c.task).mean()
