//! Feeds arbitrary bytes to the stored-item decoder and the key-component decoder: garbage
//! must be an error, never a panic or a huge allocation; whatever decodes must survive an
//! encode/decode round trip unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nuvem_dynamo::keys::{KeyType, decode_key_component, encode_key_component};
use nuvem_dynamo::value::{decode_item, encode_item};

fuzz_target!(|data: &[u8]| {
    if let Ok(item) = decode_item(data) {
        assert_eq!(decode_item(&encode_item(&item)).ok(), Some(item));
    }
    for kind in [KeyType::S, KeyType::N, KeyType::B] {
        let mut input = data;
        if let Ok(v) = decode_key_component(kind, &mut input) {
            let mut out = Vec::new();
            let _ = encode_key_component(&v, &mut out);
            assert_eq!(out.as_slice(), &data[..data.len() - input.len()]);
        }
    }
});
