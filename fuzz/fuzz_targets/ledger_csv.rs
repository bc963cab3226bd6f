//! libFuzzer target: see `xsolla_recon::fuzz::ledger_csv` for the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xsolla_recon::fuzz::ledger_csv(data);
});
