"""Issue 17's pre-training experiment: one Transformer seed whose scratch encoder starts from
weights learned on the train split's own text instead of a random initialisation.

    cd WORKSPACE && python /path/to/benchmarks/pretrained_init.py {mlm,word2vec} \\
        [--minutes M] -- --seed 0 --features-dir data/features --output-dir OUT

WORKSPACE is a ``dvc repro`` of the ``devign`` preset (its ``params.yaml`` and
``data/features``); the arguments after ``--`` are those of
``pipelines/train_transformer.py``, whose stage then runs unchanged from the pre-trained
start, so ``OUT/metrics.json`` compares directly with the workspace's
``outputs/transformer/seed_<k>/``. Point ``MLFLOW_TRACKING_URI`` elsewhere to keep the run
out of the workspace's store. Only the train split's token ids are read: valid and test
stay unseen, and nothing here touches ``cvepairs``.

* ``mlm`` — masked language modelling (Devlin et al., NAACL 2019: 15% of the non-special
  tokens of each window chosen; of those 80% ``<mask>``, 10% a random token, 10% kept) on
  the same windows the classifier reads (``transformer.windows`` in params), AdamW with
  linear warm-up and decay, for at most ``--minutes`` of wall time;
  the MLM head is computed on the masked positions only (the full 16,000-way softmax on every
  position was more than 2x slower a step). The encoder's weights then start the classifier.
* ``word2vec`` — skip-gram word2vec (Mikolov et al., 2013; ``gensim``, ``pip install
  gensim``) over each train function's BPE tokens; the vectors, centred and scaled to the
  encoder's initial spread (std 0.02), replace the word embeddings of the tokens they cover
  (the rest of the encoder keeps its random start).

Measured (stratified split, 2 cores, README "Whole functions, data flow and normalised
names"; the MLM run cut each function into consecutive windows, its last one a short tail
rather than moved back as here and in the classifier): MLM for 8 minutes (~530 steps of 64
windows) left the masked-token loss at ~5.5 nats, a unigram plateau, and gave seed 0 valid
ROC-AUC 0.707 against 0.712 (test 0.715 against 0.718); word2vec (102 s) gave seed 0 valid
0.715 against 0.712 (test 0.722 against 0.718) and seed 1 valid 0.695 against 0.693 (test
0.718 against 0.716). Neither is added to the preset: see the README.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from vulnfusion.cli import run_stage
from vulnfusion.cli.train import branch_stage_main
from vulnfusion.config import load_config
from vulnfusion.features import load_split
from vulnfusion.models.transformer import scratch_config
from vulnfusion.models.windows import WindowSpec, window_starts
from vulnfusion.runs import branch
from vulnfusion.tokenization import SPECIAL_TOKENS, load_tokenizer_dir

FEATURES = "data/features"


def train_windows(spec: WindowSpec) -> list[np.ndarray]:
    """The train split's functions cut as the classifier reads them
    (``models.windows.window_starts``): each window ``<s> … </s>``, at most ``max_length``
    token ids."""
    s = load_split(f"{FEATURES}/train.safetensors")
    ptr, ids = s.arrays["tok_ptr"], s.arrays["tok_ids"]
    span = spec.max_length - 2
    out: list[np.ndarray] = []
    for i in range(len(s)):
        seq = ids[ptr[i] : ptr[i + 1]]
        if len(seq) <= spec.max_length:
            out.append(seq)
            continue
        for start in window_starts(len(seq) - 2, span, spec.stride, spec.max_windows):
            out.append(np.concatenate([seq[:1], seq[1 + start : 1 + start + span], seq[-1:]]))
    return out


def mlm_encoder(minutes: float, batch_size: int, lr: float, seed: int) -> dict[str, torch.Tensor]:
    """One epoch (or ``minutes`` of wall time, whichever ends first) of masked language
    modelling on the train windows; returns the encoder's state dict (RobertaModel keys)."""
    from transformers import RobertaConfig, RobertaForMaskedLM

    cfg = load_config()
    tok = load_tokenizer_dir(f"{FEATURES}/tokenizer")
    conf = scratch_config(cfg.transformer, tok)
    conf.pop("model_type")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = RobertaForMaskedLM(RobertaConfig(**conf))
    # the spec the model records and reads (models.transformer.transformer_spec)
    spec = {"max_length": cfg.transformer.max_length, "windows": asdict(cfg.transformer.windows)}
    wins = train_windows(WindowSpec.from_spec(spec))
    lengths = np.array([len(w) for w in wins])
    pad, mask_id, n_vocab = tok.pad_token_id, tok.mask_token_id, len(tok)
    special = torch.tensor(sorted({tok.bos_token_id, tok.eos_token_id, pad}))
    total = math.ceil(len(wins) / batch_size)
    warm = max(1, total // 16)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: min((t + 1) / warm, max(0.0, (total - t) / max(1, total - warm)))
    )
    order = rng.permutation(len(wins))
    chunk = batch_size * 50  # length-bucketed: sort 50 batches' worth at a time
    batches: list[np.ndarray] = []
    for c in range(0, len(order), chunk):
        part = order[c : c + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[b : b + batch_size] for b in range(0, len(part), batch_size))
    rng.shuffle(batches)
    model.train()
    t0 = time.time()
    done = 0
    for b in batches:
        if time.time() - t0 >= minutes * 60:
            break
        x = torch.full((len(b), int(lengths[b].max())), pad, dtype=torch.long)
        for row, j in enumerate(b):
            x[row, : lengths[j]] = torch.from_numpy(wins[j].astype(np.int64))
        att = (x != pad).long()
        chosen = (torch.rand(x.shape) < 0.15) & att.bool() & ~torch.isin(x, special)
        r = torch.rand(x.shape)
        inp = x.clone()
        inp[chosen & (r < 0.8)] = mask_id
        swap = chosen & (r >= 0.8) & (r < 0.9)
        inp[swap] = torch.randint(len(SPECIAL_TOKENS), n_vocab, (int(swap.sum()),))
        hidden = model.roberta(input_ids=inp, attention_mask=att).last_hidden_state
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden[chosen]), x[chosen])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        done += 1
        if done % 100 == 0:
            print(f"mlm step {done}/{total} loss {loss.item():.3f} {time.time() - t0:.0f}s")
    print(f"mlm: {done} of {total} steps in {time.time() - t0:.0f}s", flush=True)
    return {k: v.detach().clone() for k, v in model.roberta.state_dict().items()}


def word2vec_embeddings(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Skip-gram vectors (window 5, 5 epochs, 128 dims) of the train split's BPE token ids:
    ``(token ids (V,), vectors (V, 128))``."""
    try:
        from gensim.models import Word2Vec
    except ImportError:
        sys.exit("pretrained_init.py word2vec: needs gensim (pip install gensim)")
    s = load_split(f"{FEATURES}/train.safetensors")
    ptr, ids = s.arrays["tok_ptr"], s.arrays["tok_ids"]
    sents = [[str(t) for t in ids[ptr[i] + 1 : ptr[i + 1] - 1]] for i in range(len(s))]
    t0 = time.time()
    w2v = Word2Vec(
        sents, vector_size=128, window=5, min_count=1, sg=1, workers=2, epochs=5, seed=seed
    )
    print(f"word2vec: {len(w2v.wv)} tokens in {time.time() - t0:.0f}s", flush=True)
    keys = np.array([int(k) for k in w2v.wv.index_to_key])
    return keys, w2v.wv.vectors


def patch_encoder(init: Callable[[Any], None]) -> None:
    """Make the train_transformer stage call ``init(model)`` on its freshly built model."""
    build = branch.new_transformer

    def patched(cfg: Any, tok: Any) -> Any:
        model, spec = build(cfg, tok)
        init(model)
        return model, spec

    branch.new_transformer = patched


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    rest: list[str] = []
    if "--" in argv:
        argv, rest = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("method", choices=["mlm", "word2vec"])
    p.add_argument("--minutes", type=float, default=8.0, help="mlm: wall-time cap")
    p.add_argument("--batch-size", type=int, default=64, help="mlm: windows per step")
    p.add_argument("--lr", type=float, default=1e-3, help="mlm: peak learning rate")
    p.add_argument("--pretrain-seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.method == "mlm":
        state = mlm_encoder(args.minutes, args.batch_size, args.lr, args.pretrain_seed)

        def init(model: Any) -> None:
            missing, unexpected = model.encoder.load_state_dict(state, strict=False)
            assert not unexpected and all("pooler" in k for k in missing), (missing, unexpected)

    else:
        keys, vectors = word2vec_embeddings(args.pretrain_seed)
        scaled = (vectors - vectors.mean(0)) / vectors.std() * 0.02

        def init(model: Any) -> None:
            weight = model.encoder.embeddings.word_embeddings.weight
            with torch.no_grad():
                weight[torch.from_numpy(keys)] = torch.from_numpy(scaled).to(weight.dtype)

    patch_encoder(init)
    run_stage(lambda _argv: branch_stage_main("transformer", __doc__ or "", rest))


if __name__ == "__main__":
    main()
