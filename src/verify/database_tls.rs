//! TLS for the database checks of [`super::database`] (#16): which TLS a URI asks for (libpq's
//! `sslmode`, `MySQL`'s `ssl-mode`), and whom the checks trust: the system's roots plus
//! `--ca-cert`, as the HTTP checks do. It knows no database client.
//!
//! Every mode that uses TLS verifies the server's certificate (`verify-ca` skips only the name),
//! `require` included, where libpq would take any certificate: a found password is never sent
//! to a peer that may not be the server. A URI that asks for TLS never falls back to plain text.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

/// What TLS a database URI asks for, in libpq's terms (`MySQL`'s `ssl-mode` names map onto them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No TLS (`disable`, `DISABLED`).
    Disable,
    /// TLS when the server offers it, else plain (`prefer`, `allow`, `PREFERRED`): the default,
    /// as in libpq and the `MySQL` client.
    Prefer,
    /// TLS or no connection (`require`, `REQUIRED`).
    Require,
    /// TLS or no connection; the certificate's chain is checked, not its name (`verify-ca`,
    /// `VERIFY_CA`).
    VerifyCa,
    /// TLS or no connection; chain and name (`verify-full`, `VERIFY_IDENTITY`).
    VerifyFull,
}

impl Mode {
    /// The mode the value of a URI's `sslmode` parameter asks for (the rule captures it in
    /// every spelling clients use: `sslmode`, `ssl-mode`, `ssl_mode`, `sslMode`); without
    /// one, [`Mode::Prefer`].
    pub fn of(sslmode: Option<&str>) -> Result<Mode, String> {
        let Some(value) = sslmode else { return Ok(Mode::Prefer) };
        Ok(match value.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" => Mode::Disable,
            "allow" | "prefer" | "preferred" => Mode::Prefer,
            "require" | "required" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" | "verify-identity" => Mode::VerifyFull,
            _ => return Err(format!("the URI's sslmode {value:?} is not a TLS mode we know")),
        })
    }
}

/// The certificates a database check trusts: the system's roots plus `--ca-cert`'s.
pub struct Trust {
    roots: Vec<CertificateDer<'static>>,
}

impl Trust {
    /// The system's roots (as rustls-native-certs reads them; an unreadable store adds none)
    /// and the PEM certificates of `ca_cert`.
    pub fn new(ca_cert: Option<&[u8]>) -> Result<Trust, String> {
        let mut roots = rustls_native_certs::load_native_certs().certs;
        for cert in CertificateDer::pem_slice_iter(ca_cert.unwrap_or_default()) {
            roots.push(cert.map_err(|e| format!("invalid CA certificate (--ca-cert): {e}"))?);
        }
        Ok(Trust { roots })
    }

    /// The roots as one PEM file, for clients that take their trust that way.
    pub fn pem(&self) -> Vec<u8> {
        let mut pem = String::new();
        for cert in &self.roots {
            pem.push_str("-----BEGIN CERTIFICATE-----\n");
            let base64 = crate::engine::decode::base64_encode(cert.as_ref());
            for line in base64.as_bytes().chunks(64) {
                pem.push_str(&String::from_utf8_lossy(line));
                pem.push('\n');
            }
            pem.push_str("-----END CERTIFICATE-----\n");
        }
        pem.into_bytes()
    }

    /// A rustls client config on the ring provider that verifies the server's certificate
    /// against these roots, and its name unless `mode` is [`Mode::VerifyCa`].
    pub fn client_config(&self, mode: Mode) -> Result<rustls::ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut store = rustls::RootCertStore::empty();
        store.add_parsable_certificates(self.roots.iter().cloned());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| format!("no trusted certificates: {e}"))?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if mode == Mode::VerifyCa {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyName(verifier)))
        } else {
            builder.with_webpki_verifier(verifier)
        };
        Ok(builder.with_no_client_auth())
    }
}

/// `verify-ca`: the chain is verified, a certificate for another name is accepted.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match verified {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::Mode;

    #[test]
    fn sslmode_is_read_in_the_spellings_of_libpq_and_mysql() {
        assert_eq!(Mode::of(None), Ok(Mode::Prefer));
        assert_eq!(Mode::of(Some("verify-full")), Ok(Mode::VerifyFull));
        assert_eq!(Mode::of(Some("VERIFY_IDENTITY")), Ok(Mode::VerifyFull));
        assert_eq!(Mode::of(Some("REQUIRED")), Ok(Mode::Require));
        assert_eq!(Mode::of(Some("verify_ca")), Ok(Mode::VerifyCa));
        assert_eq!(Mode::of(Some("disable")), Ok(Mode::Disable));
        assert!(Mode::of(Some("sometimes")).is_err());
    }
}
