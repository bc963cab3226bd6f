#!/usr/bin/env python3
"""Times the bare Polars read of the benchmark's two CSVs: the floor under any Polars-based tool.

    polars_read.py WORK

Reads WORK/registry.csv and WORK/ledger.csv with `polars.read_csv` (all cores), the money
columns kept as text as datacompy_compare.py reads them (no float is ever made of an amount),
and does nothing else. Prints the wall time, the peak memory (getrusage) and the shapes.
"""
import resource
import sys
import time

import polars as pl

work = sys.argv[1]
MONEY = ["Payment amount", "Payout amount", "Xsolla revenue share", "Payment system fee",
         "Gross", "Fee"]

def read(path):
    header = pl.read_csv(path, n_rows=0).columns
    return pl.read_csv(path, schema_overrides={c: pl.Utf8 for c in MONEY if c in header})

t0 = time.perf_counter()
reg = read(f"{work}/registry.csv")
led = read(f"{work}/ledger.csv")
t1 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"polars {pl.__version__} ({pl.thread_pool_size()} threads): read both files in "
      f"{t1 - t0:.1f}s, peak memory {peak:.0f} MiB; registry {reg.height} x {reg.width}, "
      f"ledger {led.height} x {led.width}")
