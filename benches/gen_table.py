"""Writes the scale benchmarks' generated table as CSV: 6 numeric and 4 categorical columns
driven by one hidden factor, 10% of the cells missing, seeded.

    python3 benches/gen_table.py ROWS PATH [SEED]
"""
import random
import sys

rows, path = int(sys.argv[1]), sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 7)
cats = [["a", "b", "c", "d"], ["x%d" % i for i in range(12)], ["red", "green", "blue"], ["s%d" % i for i in range(30)]]
with open(path, "w") as f:
    f.write("n1,n2,n3,n4,n5,n6,c1,c2,c3,c4\n")
    for _ in range(rows):
        g = rng.random()
        nums = [round(g * 100 + rng.gauss(0, 5), 3), round(rng.gauss(50, 10), 3), round(g * 3 + rng.random(), 4),
                rng.randint(0, 1000), round(rng.expovariate(1.0), 4), rng.randint(18, 80)]
        labels = [c[min(int(g * len(c) + rng.random()), len(c) - 1)] for c in cats]
        cells = [str(v) for v in nums] + labels
        f.write(",".join("" if rng.random() < 0.1 else c for c in cells) + "\n")
