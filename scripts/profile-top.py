"""Top functions of a py-spy collapsed-stack profile (``py-spy record --format raw``): self and total share.

python scripts/profile-top.py PROFILE.txt [N]
"""

from __future__ import annotations

import sys
from collections import Counter


def main(path: str, n: int = 25) -> None:
    self_t: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    with open(path, encoding="utf-8") as fh:
        lines = fh.readlines()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        samples += k
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        self_t[frames[-1]] += k
        for f in set(frames):
            total[f] += k
    print(f"{samples} samples")
    print(f"{'self %':>7} {'total %':>8}  function")
    for f, k in self_t.most_common(n):
        print(f"{100 * k / samples:7.1f} {100 * total[f] / samples:8.1f}  {f}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 25)
