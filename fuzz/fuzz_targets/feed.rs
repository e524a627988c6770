#![no_main]
//! See `newsread::fuzzing::feed` for what is checked.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| newsread::fuzzing::feed(data));
