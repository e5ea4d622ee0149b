//! UserSig (TLSSigAPIv2, as Tencent documents it): HMAC-SHA256 with the app's secret key over
//! `TLS.identifier:…\nTLS.sdkappid:…\nTLS.time:…\nTLS.expire:…\n`, put in a JSON
//! document, zlib-compressed, base64 with `+/=` → `*-_`. Cached per (sdkappid,
//! identifier) until a tenth of its lifetime is left.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a generated UserSig is valid (the IM accepts up to 180 days; a day is
/// plenty for a server that regenerates them).
pub const USERSIG_LIFETIME_SECS: u64 = 24 * 3600;

fn signature(sdkappid: u64, key: &str, identifier: &str, time: u64, expire: u64) -> String {
    let content =
        format!("TLS.identifier:{identifier}\nTLS.sdkappid:{sdkappid}\nTLS.time:{time}\nTLS.expire:{expire}\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key length");
    mac.update(content.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A UserSig for `identifier`, valid `expire` seconds from `time` (epoch seconds).
pub fn gen_usersig(sdkappid: u64, key: &str, identifier: &str, expire: u64, time: u64) -> String {
    // Field order as Tencent's reference implementations write it.
    let doc = format!(
        r#"{{"TLS.ver":"2.0","TLS.identifier":{},"TLS.sdkappid":{sdkappid},"TLS.expire":{expire},"TLS.time":{time},"TLS.sig":{}}}"#,
        serde_json::Value::String(identifier.to_owned()),
        serde_json::Value::String(signature(sdkappid, key, identifier, time, expire)),
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(doc.as_bytes()).expect("writing to memory");
    let compressed = z.finish().expect("writing to memory");
    base64::engine::general_purpose::STANDARD
        .encode(compressed)
        .replace('+', "*")
        .replace('/', "-")
        .replace('=', "_")
}

/// What a UserSig says, checked against the key (tests, diagnostics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub identifier: String,
    pub sdkappid: u64,
    pub time: u64,
    pub expire: u64,
}

/// Decodes and checks a UserSig: `None` if it does not decode or its HMAC is wrong.
pub fn verify_usersig(sig: &str, key: &str) -> Option<Verified> {
    use std::io::Read;
    let b64 = sig.replace('*', "+").replace('-', "/").replace('_', "=");
    let compressed = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let mut json = String::new();
    flate2::read::ZlibDecoder::new(&compressed[..])
        .read_to_string(&mut json)
        .ok()?;
    let doc: serde_json::Value = serde_json::from_str(&json).ok()?;
    let v = Verified {
        identifier: doc["TLS.identifier"].as_str()?.to_owned(),
        sdkappid: doc["TLS.sdkappid"].as_u64()?,
        time: doc["TLS.time"].as_u64()?,
        expire: doc["TLS.expire"].as_u64()?,
    };
    let expected = signature(v.sdkappid, key, &v.identifier, v.time, v.expire);
    (doc["TLS.sig"].as_str()? == expected).then_some(v)
}

/// UserSigs by (sdkappid, identifier), regenerated when less than a tenth of their
/// lifetime is left (or the key changed).
#[derive(Default)]
pub struct UserSigCache {
    cached: Mutex<HashMap<(u64, String), (String, u64, u64)>>,
}

impl UserSigCache {
    pub fn get(&self, sdkappid: u64, key: &str, identifier: &str) -> String {
        let now = crate::now_ms() as u64 / 1000;
        let key_tag = hash_key(key);
        let mut cached = self.cached.lock().expect("usersig cache");
        if let Some((sig, valid_until, tag)) = cached.get(&(sdkappid, identifier.to_owned())) {
            if *tag == key_tag && now + USERSIG_LIFETIME_SECS / 10 < *valid_until {
                return sig.clone();
            }
        }
        let sig = gen_usersig(sdkappid, key, identifier, USERSIG_LIFETIME_SECS, now);
        cached.insert(
            (sdkappid, identifier.to_owned()),
            (sig.clone(), now + USERSIG_LIFETIME_SECS, key_tag),
        );
        sig
    }
}

/// Tells keys apart without keeping them.
fn hash_key(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let sig = gen_usersig(1400000000, "secret-key", "administrator", 86400, 1_700_000_000);
        assert!(!sig.contains(['+', '/', '=']));
        let v = verify_usersig(&sig, "secret-key").unwrap();
        assert_eq!(
            v,
            Verified {
                identifier: "administrator".into(),
                sdkappid: 1400000000,
                time: 1_700_000_000,
                expire: 86400
            }
        );
        assert!(verify_usersig(&sig, "another-key").is_none());
    }

    #[test]
    fn cache_reuses_until_near_expiry_and_follows_the_key() {
        let cache = UserSigCache::default();
        let a = cache.get(1, "k", "admin");
        assert_eq!(cache.get(1, "k", "admin"), a);
        assert_ne!(cache.get(1, "k2", "admin"), a);
    }
}
