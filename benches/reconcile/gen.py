#!/usr/bin/env python3
"""Generates a registry export and a matching ledger with a known number of discrepancies.

    gen.py [--real] ROWS DISCREPANCIES OUT_DIR        (BENCH_REAL=1 is the same as --real)

Writes OUT_DIR/registry.csv (Xsolla registry export headers) and OUT_DIR/ledger.csv
(a finance export), both for October 2026, in five currencies (USD, EUR, BRL with 2 decimals,
JPY with 0, KWD with 3). Every k-th transaction is disturbed in one of three ways (dropped from
the ledger, amount off by one unit, booked twice), so exactly DISCREPANCIES findings are
expected. Amounts are written as exact decimal text.

The default data has one registry row and one ledger line per payment and no fees (the figures
in the README were measured on it). `--real` adds what a real month has, so the timed path is
the one a merchant's run takes:

- fees: the registry carries Xsolla's revenue share and the payment system's fee, its payout
  amount is the payment minus both, and the ledger books their sum in its Fee column;
- cancellations: about one undisturbed payment in 37 is refunded (every other one in part)
  one to five days later, inside the month: a negative registry row with the same transaction
  id (the payment row's status becomes refunded / partiallyRefunded) and a negative ledger line
  with status Refund on the same day, fee negated too.

Both sides agree on every cancellation and fee, so the expected findings stay the same.
"""
import os
import sys

args = [a for a in sys.argv[1:] if a != "--real"]
real = "--real" in sys.argv[1:] or os.environ.get("BENCH_REAL", "") not in ("", "0")
rows, k, out = int(args[0]), int(args[1]), args[2]
os.makedirs(out, exist_ok=True)
currencies = [("USD", 2), ("EUR", 2), ("JPY", 0), ("KWD", 3), ("BRL", 2)]
step = max(rows // max(k, 1), 1)
disturbed = 0
cancelled = 0

def amount(i, exp):
    minor = 99 + (i * 7919) % 100_000
    if exp == 0:
        return str(minor)
    s = str(minor).rjust(exp + 1, "0")
    return s[:-exp] + "." + s[-exp:]

def fmt(minor, exp):
    """Minor units as exact decimal text, sign kept."""
    sign, minor = ("-", -minor) if minor < 0 else ("", minor)
    if exp == 0:
        return sign + str(minor)
    s = str(minor).rjust(exp + 1, "0")
    return sign + s[:-exp] + "." + s[-exp:]

def fees(minor):
    """Xsolla's revenue share (5 %) and the payment system's fee (3 % + 1 minor unit)."""
    return minor * 5 // 100, minor * 3 // 100 + 1

with open(os.path.join(out, "registry.csv"), "w", newline="") as reg, \
     open(os.path.join(out, "ledger.csv"), "w", newline="") as led:
    if real:
        reg.write("Transaction ID,External ID,Project ID,Status,Transfer date,Payment amount,"
                  "Payment currency,Xsolla revenue share,Payment system fee,Payout amount,"
                  "Payout currency,Dry run\r\n")
    else:
        reg.write("Transaction ID,External ID,Project ID,Status,Transfer date,Payment amount,"
                  "Payment currency,Payout amount,Payout currency,Dry run\r\n")
    led.write("Booking date,Xsolla transaction,Order,Currency,Gross,Fee,Status,Note\r\n")
    rb, lb = [], []
    for i in range(rows):
        txn = 10_000_000 + i
        cur, exp = currencies[i % len(currencies)]
        a = amount(i, exp)
        day = 1 + i % 31
        date = f"2026-10-{day:02d}"
        kind = (i // step) % 3 if (i % step == step // 2 and disturbed < k) else None
        if kind is not None:
            disturbed += 1
        if not real:
            rb.append(f"{txn},ord-{txn},{1 + i % 3},done,{date} 12:00:00,{a},{cur},{a},{cur},0\r\n")
            fee = "0"
        else:
            minor = 99 + (i * 7919) % 100_000
            x, ps = fees(minor)
            fee = fmt(x + ps, exp)
            later = 1 + (i // 37) % 5
            cancel = kind is None and i % 37 == 5 and day + later <= 31
            partial = cancel and (i // 37) % 2 == 1
            status = ("partiallyRefunded" if partial else "refunded") if cancel else "done"
            rb.append(f"{txn},ord-{txn},{1 + i % 3},{status},{date} 12:00:00,{a},{cur},"
                      f"{fmt(x, exp)},{fmt(ps, exp)},{fmt(minor - x - ps, exp)},{cur},0\r\n")
            if cancel:
                cancelled += 1
                back = minor // 2 if partial else minor
                bx, bps = fees(back) if partial else (x, ps)
                cdate = f"2026-10-{day + later:02d}"
                rb.append(f"{txn},ord-{txn},{1 + i % 3},{status},{cdate} 09:30:00,"
                          f"{fmt(-back, exp)},{cur},{fmt(-bx, exp)},{fmt(-bps, exp)},"
                          f"{fmt(-(back - bx - bps), exp)},{cur},0\r\n")
                lb.append(f"{date},{txn},ord-{txn},{cur},{a},{fee},Paid,\r\n")
                lb.append(f"{cdate},{txn},ord-{txn},{cur},{fmt(-back, exp)},"
                          f"{fmt(-(bx + bps), exp)},Refund,\r\n")
                kind = "done"
        if kind == 0:
            pass  # missing_in_ledger
        elif kind == 1:
            bumped = amount(i + 1, exp) if amount(i + 1, exp) != a else amount(i + 2, exp)
            lb.append(f"{date},{txn},ord-{txn},{cur},{bumped},{fee},Paid,\r\n")  # amount_mismatch
        elif kind != "done":
            lb.append(f"{date},{txn},ord-{txn},{cur},{a},{fee},Paid,\r\n")
            if kind == 2:
                lb.append(f"{date},{txn},ord-{txn},{cur},{a},{fee},Paid,\r\n")  # duplicate_in_ledger
        if len(rb) >= 100_000:
            reg.write("".join(rb)); led.write("".join(lb)); rb, lb = [], []
    reg.write("".join(rb)); led.write("".join(lb))
if real:
    print(f"{rows} provider payments (+{cancelled} refunds, fees, 5 currencies), "
          f"{disturbed} discrepancies injected -> {out}")
else:
    print(f"{rows} provider rows, {disturbed} discrepancies injected -> {out}")
