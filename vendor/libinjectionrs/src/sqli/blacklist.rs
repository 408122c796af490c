// SQL injection blacklist checker - matches C implementation exactly

use super::sqli_data;

/// Check if a fingerprint is blacklisted
/// This matches libinjection_sqli_blacklist from the C version
pub fn is_blacklisted(fingerprint: &str) -> bool {
    // Match the C version: convert v0 fingerprint to v1 format
    // v0: up to 5 chars, mixed case  
    // v1: '0' prefix, up to 5 more chars, upper case
    
    if fingerprint.is_empty() {
        return false;
    }
    
    // Build the v1 fingerprint with '0' prefix (lookup_word uppercases; nuvem's patch: no
    // String per call).
    let mut buf = [0u8; 16];
    let fp = fingerprint.as_bytes();
    let Some(dst) = buf.get_mut(1..=fp.len()) else {
        return false;
    };
    dst.copy_from_slice(fp);
    buf[0] = b'0';
    let Ok(fp2) = core::str::from_utf8(&buf[..=fp.len()]) else {
        return false;
    };
    sqli_data::lookup_word(&fp2) == crate::sqli::TokenType::Fingerprint
}