#![no_main]
//! See `newsread::fuzzing::config` for what is checked.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| newsread::fuzzing::config(data));
