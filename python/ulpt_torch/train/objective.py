"""Mirrors src/train/objective.ts: log-likelihood of the target tokens given [virtual tokens; input].

Decoder-only models read one sequence; for an encoder-decoder model the prompt goes in front of the encoder input
and the decoder is teacher-forced on the target (as the paper's code does).
"""
from typing import Optional

import torch

from ..models.loader import LoadedModel
from ..ulpt.prompt import prepend_prompt
from .batch import Batch


def prompted_inputs(lm: LoadedModel, prompt: Optional[torch.Tensor], ids: torch.Tensor, mask: torch.Tensor):
    """The (encoder or decoder-only) input with the prompt in front: [B, n + S, d] and its mask [B, n + S] (long)."""
    embeds = lm.embeddings(ids)  # [B, S, d]
    mask = mask.to(torch.long)
    return prepend_prompt(prompt, embeds, mask) if prompt is not None else (embeds, mask)


def logits_at_targets(lm: LoadedModel, prompt: Optional[torch.Tensor], batch: Batch) -> torch.Tensor:
    """Vocabulary logits [N, V] (float32) at the rows that predict each target token."""
    inputs, mask = prompted_inputs(lm, prompt, batch.ids, batch.mask)
    if lm.seq2seq:
        out = lm.model(inputs_embeds=inputs, attention_mask=mask, decoder_input_ids=batch.decoder_ids,
                       decoder_attention_mask=batch.decoder_mask.to(torch.long), use_cache=False)
        logits = out.logits  # [B, M, V]
        return logits.reshape(-1, logits.shape[-1])[batch.rows].float()
    if lm.head_on_rows:
        # Only the target rows go through the output head: a large vocabulary costs N rows, not B*T.
        hidden = lm.model.base_model(inputs_embeds=inputs, attention_mask=mask, use_cache=False).last_hidden_state  # [B, T, d]
        rows = hidden.reshape(-1, hidden.shape[-1])[batch.rows]  # [N, d]
        return lm.model.get_output_embeddings()(rows).float()
    logits = lm.model(inputs_embeds=inputs, attention_mask=mask, use_cache=False).logits  # [B, T, V]
    return logits.reshape(-1, logits.shape[-1])[batch.rows].float()


def target_log_probs(lm: LoadedModel, prompt: Optional[torch.Tensor], batch: Batch) -> torch.Tensor:
    """log p of each target token: [N]."""
    logp = torch.log_softmax(logits_at_targets(lm, prompt, batch), dim=-1)
    return logp.gather(1, batch.targets.unsqueeze(1)).squeeze(1)


def batch_loss(lm: LoadedModel, prompt: Optional[torch.Tensor], batch: Batch, normalizer: float) -> torch.Tensor:
    """Summed negative log-likelihood of the batch's target tokens divided by `normalizer` (a scalar)."""
    return -target_log_probs(lm, prompt, batch).sum() / normalizer
