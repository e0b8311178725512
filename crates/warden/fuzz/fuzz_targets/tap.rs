//! The TAP parser must never panic, and where the chunks split must not change its report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden::tap::TapParser;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the mode and the chunk size, the rest is the test's output.
    let Some((&knob, output)) = data.split_first() else {
        return;
    };
    let new = || {
        if knob & 0x80 == 0 {
            TapParser::new()
        } else {
            TapParser::assume_tap()
        }
    };
    let mut whole = new();
    whole.feed(output);
    let whole = whole.finish();

    let chunk = usize::from(knob & 0x7f) + 1;
    let mut pieces = new();
    for piece in output.chunks(chunk) {
        pieces.feed(piece);
    }
    let pieces = pieces.finish();
    assert_eq!(whole, pieces, "chunks of {chunk} changed the report");

    let _ = whole.failure_reason();
    let _ = whole.subtests();
    let _ = whole.skip_all_reason();
});
