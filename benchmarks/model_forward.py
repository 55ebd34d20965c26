"""Parameter counts of the backbone presets and CPU forward time of one 5 s clip.

    python benchmarks/model_forward.py [--presets tiny-mert,mert-v1-330m,...] [--repeats 3]

Random weights (nothing is downloaded): the architectures are built from the presets' configs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from singerid import PRESETS, SingerClassifier, SingerClassifierConfig
from singerid.models.singer.backbones import preset_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, clip {args.seconds} s, median of {args.repeats}")
    print(f"{'preset':<18}{'backbone params':>16}{'states':>8}{'weighted_sum s':>16}{'finetune s':>12}")
    for name in args.presets.split(","):
        encoder, rate = preset_config(name)
        times = {}
        for strategy in ("weighted_sum", "finetune"):
            torch.manual_seed(0)
            config = SingerClassifierConfig(encoder_config=encoder, strategy=strategy, sampling_rate=rate,
                                            id2label={i: f"artist_{i}" for i in range(20)})
            model = SingerClassifier(config).eval()
            clip = torch.randn(1, round(args.seconds * rate)) * 0.1
            runs = []
            with torch.inference_mode():
                model(clip)  # warm-up
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    model(clip)
                    runs.append(time.perf_counter() - started)
            times[strategy] = statistics.median(runs)
        params = sum(p.numel() for p in model.backbone.parameters())
        print(f"{name:<18}{params:>16,}{config.num_hidden_states:>8}"
              f"{times['weighted_sum']:>16.3f}{times['finetune']:>12.3f}")


if __name__ == "__main__":
    main()
