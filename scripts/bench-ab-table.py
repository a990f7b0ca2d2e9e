#!/usr/bin/env python3
"""Print the A/B table of scripts/bench-ab.sh: each figure's runs per build and their medians."""
import glob, json, os, statistics, sys

out = sys.argv[1]
FIGURES = [
    ("(a) drain, jobs/s", "queue", ("drain_in_process", "jobs_per_sec")),
    ("(b) gRPC end to end, jobs/s", "queue", ("grpc_end_to_end", "jobs_per_sec")),
    ("(c) pickup p50, ms", "queue", ("pickup_latency", "p50_ms")),
    ("(c) pickup p99, ms", "queue", ("pickup_latency", "p99_ms")),
    ("(c) create p99, ms", "queue", ("pickup_latency", "create_p99_ms")),
    ("(s) share of the rate ceiling", "shopify", ("ratio_of_ceiling",)),
    ("(e) orders created/s", "erp", ("orders_created_per_sec",)),
    ("(e) orders created/s, batched", "erp", ("orders_created_per_sec_batched",)),
    ("(e) documents posted/s", "erp", ("documents_posted_per_sec",)),
]

def value(path, keys):
    try:
        v = json.load(open(path))
        for k in keys:
            v = v[k]
        return float(v)
    except (OSError, KeyError, TypeError, ValueError):
        return None

print(f"| figure | A runs | A median | B runs | B median | B/A |")
print("|---|---|---|---|---|---|")
for name, kind, keys in FIGURES:
    cols = []
    for label in "ab":
        vals = [value(p, keys) for p in sorted(glob.glob(os.path.join(out, f"{label}-*-{kind}.json")))]
        vals = [v for v in vals if v is not None]
        cols.append(vals)
    if not any(cols):
        continue
    med = [statistics.median(v) if v else None for v in cols]
    fmt = lambda v: f"{v:,.3f}" if v is not None and v < 10 else (f"{v:,.0f}" if v is not None else "–")
    ratio = f"{med[1] / med[0]:.2f}" if med[0] and med[1] else "–"
    print(f"| {name} | {', '.join(fmt(v) for v in cols[0])} | {fmt(med[0])} | "
          f"{', '.join(fmt(v) for v in cols[1])} | {fmt(med[1])} | {ratio} |")
