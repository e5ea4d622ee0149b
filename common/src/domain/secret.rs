//! Secrets Kefu stores (an app's HMAC key, webhook and push signing secrets, the IM
//! secret key, agents' password hashes): the column's text, read through `secrecy`'s
//! [`ExposeSecret`] and never printed. The one secret of the configuration (the admin
//! token) is a [`secrecy::SecretString`].

use sea_orm::DeriveValueType;
pub use secrecy::{ExposeSecret, SecretString};

/// A stored secret; `Debug` shows `***`.
#[derive(Clone, PartialEq, Eq, DeriveValueType)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }
}

impl ExposeSecret<str> for Secret {
    fn expose_secret(&self) -> &str {
        &self.0
    }
}

/// For the few answers that show a secret once (create, rotate): `serialize_with`.
pub fn shown<S: serde::Serializer>(secret: &Secret, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_never_printed() {
        let secret = Secret::new("the-app-secret-value");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(secret.expose_secret(), "the-app-secret-value");
        let token = SecretString::from("the-admin-token");
        assert!(!format!("{token:?}").contains("the-admin-token"));
    }
}
