#!/usr/bin/env python3
"""Writes the seed corpus of tests/fuzz/fuzz_graph.c into tests/fuzz/corpus (checked in).

Each seed is a small program in fuzz_graph.c's byte language: a header byte, then steps
(a byte below 64 makes a leaf: input, weight, state, param by its value mod 4; a byte of
64 or more applies op (byte mod 30) to tensors picked from the pool). The hand-written
seeds cover the gated-block shapes (a token-halt, a head gate, the compact consumers,
attention over a state written with set_rows); the rest are drawn from a fixed seed so
that the corpus is the same on every run of this script. The fuzzer grows its own corpus
from these (scripts/test-sanitizers.sh and scripts/fuzz.sh keep it outside the tree);
scripts/fuzz.sh adds what it finds here as found-* files, which this script keeps."""
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus")

# fuzz_graph.c op codes (byte % 30), shifted to 64 + code so that they are ops.
OPS = {name: 64 + i * 1 for i, name in enumerate(
    "add mul scale rms_norm layer_norm mul_mat rope soft_max silu gelu sigmoid swiglu cont "
    "cpy argmax set_rows attn get_rows head_gate token_halt topk get_rows_sel scatter_add_sel "
    "mul_mat_sel mul_mat_sel_k view view2 clear name".split())}
F32, F16, Q8, Q4, I32 = 0, 1, 2, 3, 4


def leaf(kind, typ, nd, *ne):
    """kind 0 input, 1 weight, 2 state, 3 param; nd in 1..4; ne bytes (1 + b % 8, 240+: 32*k)."""
    ne = list(ne) + [0] * (4 - len(ne))
    return [kind, typ, nd - 1, 0] + ne + ([0] if kind == 2 else [])  # a state's fill


def gated_block():
    p = [0x00]
    p += leaf(0, F32, 2, 7, 5)            # 0 x [8, 6]
    p += leaf(0, F32, 1, 5)               # 1 p_halt [6]
    p += [OPS["token_halt"], 1, 0, 0xb4, 0]  # 2 sel = token_halt(p, 0.5)
    p += [OPS["get_rows_sel"], 0, 2]      # 3 xs
    p += [OPS["rms_norm"], 3, 0, 0xa4]    # 4
    p += [OPS["scale"], 4, 0, 0xa8]       # 5
    p += [OPS["scatter_add_sel"], 0, 5, 2]  # 6
    return bytes(p + [2])


def head_gate():
    p = [0x00]
    p += leaf(1, F32, 2, 7, 7)            # 0 w [8, 8]
    p += leaf(0, F32, 2, 7, 3)            # 1 x [8, 4]
    p += leaf(0, F32, 1, 1)               # 2 scores [2]
    p += [OPS["head_gate"], 2, 0, 0xb0]   # 3 heads (tau 0)
    p += [OPS["mul_mat_sel"], 0, 1, 3, 4]  # 4
    p += [OPS["mul_mat_sel_k"], 0, 4, 3, 4]  # 5
    return bytes(p + [1])


def attention():
    p = [0x00]
    p += leaf(0, F32, 3, 3, 1, 2)         # 0 q [4, 2, 3]
    p += leaf(2, F16, 2, 7, 4)            # 1 k cache [8, 5]
    p += leaf(0, F32, 2, 7, 2)            # 2 k new [8, 3]
    p += leaf(0, I32, 1, 2)               # 3 pos [3]
    p += [OPS["set_rows"], 1, 2, 3]       # 4 k after write
    p += [OPS["view"], 4, 0, 3, 3, 1, 4, 0, 0, 0]  # 5 a 3-D reshape of it
    p += [OPS["attn"], 0, 0, 5, 5, 3, 0]  # 6 attention
    p += [OPS["soft_max"], 6, 0, 0, 0xa0]  # 7
    p += [OPS["argmax"], 7, 0]            # 8
    return bytes(p + [2])


def main():
    os.makedirs(OUT, exist_ok=True)
    # The written seeds are replaced; inputs the fuzzer found (found-*, scripts/fuzz.sh)
    # are kept: each is a regression case of its own.
    for f in os.listdir(OUT):
        if not f.startswith("found-"):
            os.remove(os.path.join(OUT, f))
    seeds = {"gated_block": gated_block(), "head_gate": head_gate(), "attention": attention()}
    rng = random.Random(5)
    for i in range(37):
        n = rng.randint(8, 160)
        body = []
        while len(body) < n:
            if rng.random() < 0.35:
                body += leaf(rng.randint(0, 3), rng.choice([F32, F32, F32, F16, Q8, I32]),
                             rng.randint(1, 3), *[rng.choice([0, 1, 3, 5, 7, 240]) for _ in range(3)])
            else:
                body += [64 + rng.randint(0, 29)] + [rng.randint(0, 40) for _ in range(rng.randint(2, 6))]
        head = rng.choice([0x00, 0x00, 0x00, 0x80, 0x40])
        extra = [rng.randint(0, 120)] if head & 0xC0 else []
        seeds["random_%02d" % i] = bytes([head] + extra + body)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), OUT))


if __name__ == "__main__":
    main()
