#![no_main]
//! See `newsread::fuzzing::duration` for what is checked.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| newsread::fuzzing::duration(data));
