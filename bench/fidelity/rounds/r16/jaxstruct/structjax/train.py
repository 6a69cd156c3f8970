"""Training a CRF / SSVM sequence tagger with optax."""
from __future__ import annotations

import functools
from typing import Any, Dict, Iterable

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax.training import train_state
from jax import lax

from .config import CRFConfig, HingeConfig, TrainConfig
from .crf import LinearChainCRF, crf_marginals, crf_nll, marginal_entropy
from .metrics import summarize, token_accuracy
from .ssvm import structured_hinge_loss


class Tagger(nn.Module):
    """Embedding -> MLP encoder -> emissions, plus a CRF layer."""

    vocab_size: int
    num_tags: int
    hidden: int = 256

    def setup(self):
        self.embed = nn.Embed(self.vocab_size, self.hidden)
        self.encoder = nn.Sequential([nn.Dense(self.hidden), nn.gelu, nn.Dense(self.hidden), nn.gelu])
        self.proj = nn.Dense(self.num_tags)
        self.crf = LinearChainCRF(self.num_tags)

    def __call__(self, tokens, mask):
        h = self.encoder(self.embed(tokens))
        return self.proj(h) * mask[..., None]

    def nll(self, tokens, tags, mask):
        return self.crf(self(tokens, mask), tags, mask)

    def decode(self, tokens, mask):
        return self.crf.decode(self(tokens, mask), mask)


def make_optimizer(cfg: TrainConfig) -> optax.GradientTransformation:
    schedule = optax.warmup_cosine_decay_schedule(
        0.0, cfg.learning_rate, cfg.warmup_steps, cfg.total_steps)
    return optax.chain(
        optax.clip_by_global_norm(cfg.max_grad_norm),
        optax.adamw(schedule, weight_decay=cfg.weight_decay),
    )


def create_state(rng, model: Tagger, cfg: TrainConfig, example_batch):
    params = model.init(rng, example_batch["tokens"], example_batch["tags"],
                        example_batch["mask"], method=Tagger.nll)["params"]
    return train_state.TrainState.create(apply_fn=model.apply, params=params,
                                         tx=make_optimizer(cfg))


def ohem_mean(per_example, ratio):
    """Online hard example mining: mean over the largest ``ratio`` fraction of losses."""
    if ratio >= 1.0:
        return jnp.mean(per_example)
    k = max(1, int(ratio * per_example.shape[0]))
    hardest, _ = lax.top_k(per_example, k)
    return jnp.mean(hardest)


def compute_loss(params, batch, model: Tagger, cfg: TrainConfig,
                 crf_cfg: CRFConfig, hinge_cfg: HingeConfig):
    tokens, tags, mask = batch["tokens"], batch["tags"], batch["mask"]
    emissions = model.apply({"params": params}, tokens, mask)
    crf_params = params["crf"]
    start, end = crf_params.get("start"), crf_params.get("end")
    if cfg.loss == "crf":
        per_seq = crf_nll(emissions, tags, crf_params["transitions"], mask, start, end)
        if crf_cfg.normalize_by_length:
            per_seq = per_seq / jnp.maximum(jnp.sum(mask, axis=1), 1)
    elif cfg.loss == "hinge":
        per_seq = structured_hinge_loss(emissions, tags, mask, crf_params, hinge_cfg,
                                        reduction="none")
    else:
        raise ValueError(f"unknown loss {cfg.loss!r}")
    loss = ohem_mean(per_seq, cfg.ohem_ratio)
    if crf_cfg.entropy_weight > 0:
        probs = crf_marginals(emissions, crf_params["transitions"], mask, start, end)
        loss = loss + crf_cfg.entropy_weight * marginal_entropy(probs, mask)
    aux = {"per_seq_mean": jnp.mean(lax.stop_gradient(per_seq))}
    return loss, aux


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def train_step(state, batch, model, cfg, crf_cfg, hinge_cfg):
    loss_fn = functools.partial(compute_loss, batch=batch, model=model, cfg=cfg,
                                crf_cfg=crf_cfg, hinge_cfg=hinge_cfg)
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state = state.apply_gradients(grads=grads)
    metrics = {"loss": loss, "grad_norm": optax.global_norm(grads), **aux}
    return state, metrics


@functools.partial(jax.jit, static_argnums=(2,))
def eval_step(params, batch, model):
    pred_tags, _ = model.apply({"params": params}, batch["tokens"], batch["mask"],
                               method=Tagger.decode)
    return {"accuracy": token_accuracy(pred_tags, batch["tags"], batch["mask"])}


def train_epoch(state, batches: Iterable[Dict[str, Any]], model, cfg: TrainConfig,
                crf_cfg: CRFConfig, hinge_cfg: HingeConfig = HingeConfig()):
    history = []
    for batch in batches:
        state, metrics = train_step(state, batch, model, cfg, crf_cfg, hinge_cfg)
        step = int(state.step)
        if step % cfg.log_every == 0:
            logged = summarize(metrics)
            if not jnp.isfinite(logged["loss"]):
                raise FloatingPointError(f"non-finite loss at step {step}")
            history.append({"step": step, **logged})
            print(f"step {step:6d}  loss {logged['loss']:.4f}  |g| {logged['grad_norm']:.3f}")
    return state, history
