//! Message properties strings (`k\u{1}v\u{2}k\u{1}v`): `decode_properties` on the input as
//! lossy UTF-8, then `encode_properties` of the result, which must decode to the same pairs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rmq::protocol::{decode_properties, encode_properties, is_reserved_property};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let props = decode_properties(&text);
    for (k, _) in &props {
        let _ = is_reserved_property(k);
    }
    let encoded = encode_properties(props.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_eq!(
        decode_properties(&encoded),
        props,
        "properties changed in a round trip"
    );
});
