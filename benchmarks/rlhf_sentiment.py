"""Steer Korean movie reviews toward praise: RLHF (RLOO, PPO) and DPO, judged by a classifier they never saw.

1. Pretrain a char GPT on NSMC review text (labels unused).
2. Reward model: that GPT + a scalar head on pairs "a positive review is better than a negative one".
3. Policies from the pretrained GPT, at the same CPU budget each: RLOO and PPO against the reward model
   (KL leash to the start), DPO on on-policy pairs sampled once from the start (``genlab prefs``: best vs
   worst of 4 samples), and online DPO (``genlab rlhf --algo online-dpo``: fresh pairs every step).
4. Judge: scikit-learn char 1–3-gram TF-IDF + logistic regression trained on a *disjoint* part of the
   labelled reviews. The reward model is not the judge, so reward hacking shows as a gap between them.
5. For every policy, 200 sampled reviews: judged positive rate, mean reward, KL to the reference
   (nats per sample, from the models' own log-probabilities), perplexity under the base model,
   distinct-2; and a reward–KL frontier over β (RLOO with a fixed β, DPO, online DPO; half the budget,
   no reward clip: the plain objective "reward − β·KL") as a PNG, with each DPO point's reward set
   against RLOO's at the same KL (interpolated between RLOO's points).

    python benchmarks/rlhf_sentiment.py                      # default budgets
    python benchmarks/rlhf_sentiment.py --pretrain 120 --policy 90 --work /tmp/rlhf-quick

Prints a table and a JSON object as its last line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from machine import cpu_model  # a sibling module: benchmarks run as scripts from this folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "nsmc_ratings_train.txt"


#: The table's recipes. What held policies back was diversity, not the positive rate: the reward model
#: pays most for a few words of praise, so every policy that got well past 90 % positive had collapsed
#: onto them (RLOO, fixed β 0.75: 94.5–96.5 % positive but distinct-2 74–81 % of the base's over three
#: runs; at β 1.0: 86.5 %). The command's default, an adaptive β from 0.05 aiming at 6 nats, ends at
#: 100 % positive with distinct-2 at 36 % of the base's. So the table's runs clip the reward
#: (``--reward-clip``) at the 70 % quantile of the reward model's scores on real positive reviews, 1.5
#: on the reward model these were measured on: an answer as positive as a good real review earns no
#: more, and the KL leash then keeps the rest of the base's variety. Measured (AMD EPYC, 120 CPU-s per
#: policy, one thread, one base and reward model, judged + / KL / distinct-2 as % of the base's):
#:   RLOO β 0.25, clip 1.5: 93.5 % / 3.8 / 84 % (seed 1), 94.0 % / 3.7 / 83 % (seed 2); clip 2 at β 0.25:
#:   96.5 % / 4.4 / 81 %, at β 0.35: 90.0 % / 3.7 / 84 %, at β 0.5: 86 % / 2.7 / 99 %.
#:   PPO (group baseline), clip 1.5: β 0.35: 94.5 % / 4.2 / 77 %; β 0.5: 90.5 % / 3.7 / 95 %; β 0.75: 84 %.
#:   Unclipped it needed β 1.5 (90.0–91.5 % / 3.3–3.6 / 85–88 %).
#:   Online DPO, clip 1.5: β 0.35: 96 % / 6.2 / 75 %; β 0.42: 95.5 % / 5.5 / 72 %; β 0.46: 93 % / 4.9 / 91 %;
#:   β 0.5: 90 % / 4.9 / 91 %.
#: One end-to-end run on a fresh base and reward model (clip 2.65 there): RLOO 95.0 % / 4.1 / 83 %, DPO
#: 98.5 % / 5.1 / 83 %, but PPO β 0.4 97.5 % / 4.4 / 67 % (β 0.5: 99 % / 4.4 / 57 %) and online DPO 95.5 % /
#: 5.2 / 71 %: PPO's and online DPO's diversity depends on the reward model more than RLOO's does.
#: (PPO with group-centred advantages, not divided by the group's spread, collapsed alike: 69 % and 74 %.)
RLOO_RECIPE = "--beta 0.25 --target-kl 0"
PPO_RECIPE = "--beta 0.4 --target-kl 0"
#: the table's DPO run: β 0.5 at a learning rate of 1e-4 on 2,000 on-policy pairs. At the command's 5e-4
#: DPO overfits its pairs within 120 CPU-s (validation margins of ~10 nats) and drifts to a KL of 8–10 nats
#: whatever β (0.5 to 4); at 1e-4 it stays at 4.8 nats: 91.5 % positive, distinct-2 0.44.
DPO_RECIPE = "--beta 0.5 --lr 1e-4"
ONLINE_DPO_RECIPE = "--beta 0.45"


def genlab(*args: str, stdin: str | None = None) -> str:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "genlab", *args], capture_output=True, text=True, input=stdin)
    if proc.returncode != 0:
        sys.exit(f"genlab {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    print(f"  genlab {args[0]} {args[1] if len(args) > 1 else ''} … {time.perf_counter() - start:.0f} s", flush=True)
    return proc.stdout


def load_reviews(limit: int) -> list[tuple[str, int]]:
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines()[1:]:
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].strip() and parts[2] in ("0", "1"):
            rows.append((parts[1].strip(), int(parts[2])))
    return rows[:limit]


def train_judge(texts: list[str], labels: list[int]):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    judge = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
                          LogisticRegression(max_iter=2000, C=2.0))
    return judge.fit(texts, labels)


def samples(run: Path, num: int, seed: int, max_tokens: int) -> list[str]:
    out = genlab("generate", str(run), "--num", str(num), "--max-tokens", str(max_tokens), "--temperature", "1",
                 "--seed", str(seed), "--format", "jsonl")
    return [json.loads(line)["text"] for line in out.splitlines()]


def sequence_stats(base: Path, policy: Path, texts: list[str]) -> dict[str, float]:
    """KL(policy ‖ base) per sample and perplexity under the base, from each model's log-probabilities."""
    import torch

    from genlab.models import load_model
    from genlab.tokenizers import EOS_ID
    from genlab.tuning.sequences import token_logprobs

    ref, tokenizer, _ = load_model(base)
    pol, _, _ = load_model(policy)
    kls, logps, count = [], [], 0
    with torch.inference_mode():
        for text in texts:
            ids = torch.tensor([[EOS_ID, *tokenizer.encode(text), EOS_ID]])
            ids = ids[:, -(ref.block_size + 1):]
            lp_ref, lp_pol = token_logprobs(ref, ids)[0], token_logprobs(pol, ids)[0]
            kls.append(float((lp_pol - lp_ref).sum()))
            logps.append(float(lp_ref.sum()))
            count += lp_ref.numel()
    return {"kl": float(np.mean(kls)), "base_perplexity": float(np.exp(-np.sum(logps) / max(count, 1)))}


def distinct_2(texts: list[str]) -> float:
    grams = [t[i:i + 2] for t in texts for i in range(len(t) - 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def reward_at(points: list[dict], kl: float) -> float | None:
    """The reward of a frontier at ``kl``, linear between its two nearest points; None outside its range."""
    pts = sorted((p["kl"], p["reward"]) for p in points)
    for (k0, r0), (k1, r1) in zip(pts, pts[1:]):
        if k0 <= kl <= k1:
            return r0 if k1 == k0 else r0 + (r1 - r0) * (kl - k0) / (k1 - k0)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pretrain", type=float, default=300, help="CPU seconds of pretraining")
    ap.add_argument("--reward", type=float, default=120, help="CPU seconds for the reward model")
    ap.add_argument("--policy", type=float, default=180, help="CPU seconds per policy (RLOO, PPO, DPO)")
    ap.add_argument("--pairs", type=int, default=20_000, help="reward-model pairs (a positive review over a negative "
                    "one); 6,000 overfit within the budget: 83 %% held-out pairwise accuracy against 87.6 %% with "
                    "20,000, same base and budget")
    ap.add_argument("--samples", type=int, default=200, help="reviews sampled per policy for the table")
    ap.add_argument("--max-tokens", type=int, default=40)
    ap.add_argument("--betas", default="0.02,0.1,0.5", help="β values of the frontier (RLOO fixed β and DPO)")
    ap.add_argument("--rloo-args", default=RLOO_RECIPE, help="options of the RLOO run of the table")
    ap.add_argument("--ppo-args", default=PPO_RECIPE, help="options of the PPO run of the table")
    ap.add_argument("--dpo-args", default=DPO_RECIPE, help="options of the DPO run of the table")
    ap.add_argument("--online-dpo-args", default=ONLINE_DPO_RECIPE, help="options of the online DPO run of the table")
    ap.add_argument("--clip-quantile", type=float, default=0.7,
                    help="the table's RLOO, PPO and online DPO runs clip the reward at this quantile of the reward "
                    "model's scores on real positive reviews (0: no clip)")
    ap.add_argument("--dpo-prompts", type=int, default=2000, help="on-policy pairs for DPO (best vs worst of 4 each)")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--work", default="runs/bench-rlhf")
    ap.add_argument("--seed", default="1")
    ap.add_argument("--reuse", action="store_true", help="keep the base and reward model of an earlier run in --work")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cpu = cpu_model()
    print(f"CPU: {cpu}, {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}; threads {args.threads}; "
          "budgets in CPU seconds per thread")
    common = ["--threads", args.threads, "--budget-clock", "cpu", "--seed", args.seed, "--quiet", "--overwrite"]

    reviews = load_reviews(150_000)
    a, b = reviews[:100_000], reviews[100_000:]  # a: pretraining + reward pairs; b: the judge, disjoint
    (work / "reviews.txt").write_text("\n".join(t for t, _ in a) + "\n", encoding="utf-8")
    judge = train_judge([t for t, _ in b[:40_000]], [y for _, y in b[:40_000]])
    held = b[40_000:45_000]
    judge_acc = float(np.mean(judge.predict([t for t, _ in held]) == np.array([y for _, y in held])))
    print(f"judge (TF-IDF + LR on {40_000:,} disjoint reviews): held-out accuracy {judge_acc:.3f}")

    base = work / "base"
    reuse = args.reuse and (base / "model-best.safetensors").is_file()
    print("1. pretrain" + (" (reusing the base of an earlier run: --reuse)" if reuse else ""))
    if not reuse:
        genlab("prepare", "--corpus", str(work / "reviews.txt"), "--unit", "line", "--out", str(base), "--quiet")
        genlab("train", str(base), "--model", "gpt", "--preset", "gpt-tiny", "--time-budget", str(args.pretrain),
               *common)
    print("2. reward model")
    rng = np.random.default_rng(int(args.seed))
    pos, neg = [t for t, y in a if y == 1], [t for t, y in a if y == 0]
    with open(work / "prefs.jsonl", "w", encoding="utf-8") as fh:
        for _ in range(args.pairs):
            fh.write(json.dumps({"chosen": pos[rng.integers(len(pos))], "rejected": neg[rng.integers(len(neg))]},
                                ensure_ascii=False) + "\n")
    if reuse and (work / "rm" / "model-best.safetensors").is_file():
        evals = [json.loads(line) for line in (work / "rm" / "metrics.jsonl").read_text().splitlines()
                 if '"eval"' in line]
        rm_accuracy = max(e["pairwise_accuracy"] for e in evals)  # the best checkpoint's held-out accuracy
    else:
        out = genlab("reward", str(base), "--data", str(work / "prefs.jsonl"), "--out", str(work / "rm"),
                     "--time-budget", str(args.reward), *common)
        rm_accuracy = float(re.search(r"pairwise accuracy ([\d.]+)%", out).group(1)) / 100
    print(f"  reward model pairwise accuracy {rm_accuracy:.3f}")
    clip: list[str] = []
    if args.clip_quantile > 0:  # scored on reviews neither the reward model nor the judge trained on
        real = [t.replace("\n", " ") for t, y in b[45_000:50_000] if y == 1][:1000]
        scores = [float(x) for x in genlab("score", str(work / "rm"), stdin="\n".join(real) + "\n").split()]
        clip = ["--reward-clip", f"{float(np.quantile(scores, args.clip_quantile)):.3f}"]
        print(f"  reward clip {clip[1]}: the {args.clip_quantile:.0%} quantile of the reward model's scores on "
              f"{len(real):,} real positive reviews (median {float(np.median(scores)):.2f})")
    (work / "prompts.txt").write_text("\n" * 64, encoding="utf-8")  # empty prompts: a review from its start
    rl = ["--reward", str(work / "rm"), "--prompts", str(work / "prompts.txt"), "--max-new-tokens",
          str(args.max_tokens)]

    print("3. policies")
    runs: dict[str, Path] = {"base": base}
    genlab("rlhf", str(base), *rl, "--out", str(work / "rloo"), "--algo", "rloo", "--time-budget", str(args.policy),
           *args.rloo_args.split(), *clip, *common)
    runs["rloo"] = work / "rloo"
    genlab("rlhf", str(base), *rl, "--out", str(work / "ppo"), "--algo", "ppo", "--time-budget", str(args.policy),
           *args.ppo_args.split(), *clip, *common)
    runs["ppo"] = work / "ppo"
    (work / "prompts-prefs.txt").write_text("\n" * args.dpo_prompts, encoding="utf-8")
    genlab("prefs", str(base), "--reward", str(work / "rm"), "--prompts", str(work / "prompts-prefs.txt"),
           "--samples", "4", "--max-new-tokens", str(args.max_tokens), "--seed", args.seed, "--out",
           str(work / "onpolicy.jsonl"))
    genlab("dpo", str(base), "--data", str(work / "onpolicy.jsonl"), "--out", str(work / "dpo"),
           *args.dpo_args.split(), "--time-budget", str(args.policy), *common)
    runs["dpo"] = work / "dpo"
    genlab("rlhf", str(base), *rl, "--out", str(work / "online-dpo"), "--algo", "online-dpo", "--time-budget",
           str(args.policy), *args.online_dpo_args.split(), *clip, *common)
    runs["online-dpo"] = work / "online-dpo"
    frontier: dict[str, list[dict]] = {"rloo": [], "dpo": [], "online-dpo": []}
    for beta in [float(x) for x in args.betas.split(",")]:
        r, d = work / f"rloo-b{beta}", work / f"dpo-b{beta}"
        genlab("rlhf", str(base), *rl, "--out", str(r), "--beta", str(beta), "--target-kl", "0", "--time-budget",
               str(args.policy / 2), *common)
        genlab("dpo", str(base), "--data", str(work / "onpolicy.jsonl"), "--out", str(d), *args.dpo_args.split(),
               "--beta", str(beta),  # the last --beta counts: the table's recipe at this β
               "--time-budget", str(args.policy / 2), *common)
        o = work / f"online-dpo-b{beta}"
        genlab("rlhf", str(base), *rl, "--out", str(o), "--algo", "online-dpo", *args.online_dpo_args.split(),
               "--beta", str(beta), "--time-budget", str(args.policy / 2), *common)
        frontier["rloo"].append({"beta": beta, "run": r})
        frontier["dpo"].append({"beta": beta, "run": d})
        frontier["online-dpo"].append({"beta": beta, "run": o})

    print("4. judge the samples")

    def measure(run: Path) -> dict[str, float]:
        texts = samples(run, args.samples, 7, args.max_tokens)
        scores = [float(x) for x in genlab("score", str(work / "rm"), stdin="\n".join(
            t.replace("\n", " ") for t in texts) + "\n").split()]
        return {"positive": float(judge.predict(texts).mean()), "reward": float(np.mean(scores)),
                **sequence_stats(base, run, texts), "distinct_2": distinct_2(texts),
                "mean_chars": float(np.mean([len(t) for t in texts]))}

    table = {name: measure(run) for name, run in runs.items()}
    print(f"\n{'policy':<11}{'judged +':>10}{'reward':>9}{'KL':>8}{'ppl(base)':>11}{'distinct-2':>12}{'chars':>7}")
    for name, m in table.items():
        print(f"{name:<11}{100 * m['positive']:>9.1f}%{m['reward']:>9.3f}{m['kl']:>8.2f}{m['base_perplexity']:>11.2f}"
              f"{m['distinct_2']:>12.3f}{m['mean_chars']:>7.1f}")
    points = {k: [{"beta": p["beta"], **measure(p["run"])} for p in v] for k, v in frontier.items()}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, marker in (("rloo", "o"), ("dpo", "s"), ("online-dpo", "^")):
        ax.plot([p["kl"] for p in points[name]], [p["reward"] for p in points[name]], marker + "-",
                label=f"{name.upper()} (β {', '.join(str(p['beta']) for p in points[name])})")
    ax.set_xlabel("KL(policy ‖ reference), nats per sample")
    ax.set_ylabel("mean reward")
    ax.set_title("reward–KL frontier on NSMC (char GPT)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(work / "frontier.png", dpi=120)
    print(f"frontier plot: {work / 'frontier.png'}")
    for name, pts in points.items():
        for p in pts:
            rloo = reward_at(points["rloo"], p["kl"]) if name != "rloo" else None
            p["rloo_reward_at_same_kl"] = rloo
            versus = "" if rloo is None else f"; RLOO at this KL {rloo:.3f} ({p['reward'] - rloo:+.3f})"
            print(f"  {name} β {p['beta']}: reward {p['reward']:.3f}, KL {p['kl']:.2f}, judged + {p['positive']:.2f}, "
                  f"distinct-2 {p['distinct_2']:.3f}, {p['mean_chars']:.1f} chars{versus}")
    print(json.dumps({"cpu": cpu, "judge_accuracy": judge_acc, "reward_model_accuracy": rm_accuracy,
                      "policies": table, "frontier": points, "rloo_args": args.rloo_args, "ppo_args": args.ppo_args,
                      "dpo_args": args.dpo_args,
                      "online_dpo_args": args.online_dpo_args,
                      "dpo_prompts": args.dpo_prompts,
                      "reward_clip": float(clip[1]) if clip else None,
                      "budgets": {"pretrain": args.pretrain, "reward": args.reward, "policy": args.policy}},
                     default=str))


if __name__ == "__main__":
    main()
