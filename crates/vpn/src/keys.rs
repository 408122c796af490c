//! WireGuard keys as the manifest writes them: 32 bytes in standard base64 (what `wg genkey`
//! and `wg pubkey` print). A secret never appears in `Debug` output or an error message.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use boringtun::x25519::{PublicKey, StaticSecret};
use rand_core::{OsRng, RngCore};

use crate::Error;

/// A 32-byte key: a private key, a public key or a preshared key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; 32]);

impl Key {
    /// Parses standard base64 of exactly 32 bytes. The error never repeats the text (it may
    /// be a secret).
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| Error::BadKey("not standard base64"))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::BadKey("a WireGuard key is 32 bytes (44 base64 characters)"))?;
        Ok(Key(bytes))
    }

    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A new random private key, clamped as `wg genkey` does.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        // Clamped as `wg genkey` does, so the printed key is the one in use.
        bytes[0] &= 248;
        bytes[31] = (bytes[31] & 127) | 64;
        Key(bytes)
    }

    /// The public key of this private key (`wg pubkey`).
    pub fn public(&self) -> Key {
        Key(PublicKey::from(&self.secret()).to_bytes())
    }

    pub(crate) fn secret(&self) -> StaticSecret {
        StaticSecret::from(self.0)
    }
}

impl From<[u8; 32]> for Key {
    fn from(bytes: [u8; 32]) -> Self {
        Key(bytes)
    }
}

// Keys may be secrets: Debug says only that there is one.
impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7748_public_key() {
        // RFC 7748 §6.1: Alice's private and public keys.
        let private = Key::from(hex32(
            "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
        ));
        let public = hex32("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        assert_eq!(private.public().as_bytes(), &public);
        let round = Key::from_base64(&private.to_base64()).unwrap();
        assert_eq!(round, private);
        assert_eq!(format!("{round:?}"), "Key(…)");
    }

    #[test]
    fn bad_keys() {
        assert!(matches!(
            Key::from_base64("not base64!"),
            Err(Error::BadKey(_))
        ));
        assert!(matches!(Key::from_base64("AAAA"), Err(Error::BadKey(_))));
        let generated = Key::generate();
        assert_ne!(generated, Key::generate());
        assert_eq!(generated.as_bytes()[0] & 7, 0);
    }

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
