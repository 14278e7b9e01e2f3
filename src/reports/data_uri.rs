//! `data:` URIs, so that a report is one file that needs no network and no neighbours.
use base64::Engine;

/// `data:<mime>;base64,...` (standard base64 with padding).
pub fn data_uri(mime: &str, bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:{mime};base64,{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_uris_carry_rfc4648_base64() {
        assert_eq!(
            data_uri("text/plain", b"foobar"),
            "data:text/plain;base64,Zm9vYmFy"
        );
        assert_eq!(data_uri("x/y", &[0xff, 0xfe, 0x00]), "data:x/y;base64,//4A");
        assert_eq!(data_uri("x/y", b"fo"), "data:x/y;base64,Zm8=");
    }
}
