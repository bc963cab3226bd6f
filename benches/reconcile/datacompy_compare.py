#!/usr/bin/env python3
"""Times datacompy's Polars compare on the same two tables as the Rust benchmark.

    datacompy_compare.py OUT_DIR
"""
import resource
import sys
import time

import datacompy
import polars as pl

out = sys.argv[1]
t0 = time.perf_counter()
reg = pl.read_csv(f"{out}/registry.csv", schema_overrides={"Payment amount": pl.Utf8})
led = pl.read_csv(f"{out}/ledger.csv", schema_overrides={"Gross": pl.Utf8})
reg = reg.select(pl.col("Transaction ID").alias("txn"),
                 pl.col("Payment amount").cast(pl.Decimal(38, 6)).alias("amount"),
                 pl.col("Payment currency").alias("currency"))
led = led.select(pl.col("Xsolla transaction").alias("txn"),
                 pl.col("Gross").cast(pl.Decimal(38, 6)).alias("amount"),
                 pl.col("Currency").alias("currency"))
t1 = time.perf_counter()
PolarsCompare = getattr(datacompy, "PolarsCompare", None)
if PolarsCompare is None:
    from datacompy.polars import PolarsCompare  # older layout
cmp = PolarsCompare(reg, led, join_columns=["txn"])
mismatched = cmp.all_mismatch().height
only_left = cmp.df1_unq_rows.height
only_right = cmp.df2_unq_rows.height
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"datacompy {datacompy.__version__} (polars {pl.__version__}): load {t1 - t0:.1f}s, "
      f"compare alone {t2 - t1:.1f}s, total {t2 - t0:.1f}s, peak memory {peak:.0f} MiB; "
      f"{mismatched} mismatched, {only_left} only in registry, {only_right} only in ledger")
