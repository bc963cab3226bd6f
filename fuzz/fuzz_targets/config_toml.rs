//! libFuzzer target: see `xsolla_recon::fuzz::config_toml` for the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    xsolla_recon::fuzz::config_toml(data);
});
