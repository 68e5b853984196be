//! Google Cloud service-account keys, checked by the token exchange Google documents for them
//! ("Using OAuth 2.0 for Server to Server Applications"): a JWT with `iss` the key's
//! `client_email`, `aud` and the endpoint `https://oauth2.googleapis.com/token`, signed RS256
//! with the key's `private_key`, posted as `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`;
//! Google answers an `access_token` for a working key and 400 `invalid_grant` for a deleted or
//! disabled key or account (<https://developers.google.com/identity/protocols/oauth2/service-account#httprest>).
//! The token asked for is read-only (`cloud-platform.read-only`), lives an hour, and is
//! dropped unread.
//!
//! The key goes only to Google's documented token host, whatever `token_uri` the key file
//! names. Signing is `ring`'s RSA (already the TLS stack's). `LEAKHOUND_VERIFY_GCP_URL` replaces
//! `https://oauth2.googleapis.com`: for tests only.

use std::time::{SystemTime, UNIX_EPOCH};

use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls::pki_types::PrivatePkcs8KeyDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;

use super::hosts::Named;
use super::{Checked, Context, Outcome};
use crate::engine::decode::base64_encode;

/// The endpoint override for tests: the fake that stands for oauth2.googleapis.com.
pub const ENDPOINT_ENV: &str = "LEAKHOUND_VERIFY_GCP_URL";

/// The documented token endpoint, which is also the JWT's audience.
const TOKEN_URL: &str = "https://oauth2.googleapis.com/token";

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    rule_id == "google.service-account-key"
}

/// The key file's fields we use (the secret is the file from `"type"` on, so it is read as the
/// body of a JSON object).
#[derive(Deserialize)]
struct KeyFile {
    private_key: String,
    client_email: Option<String>,
    private_key_id: Option<String>,
    project_id: Option<String>,
}

/// Checks one key file.
pub async fn check(context: &Context, secret: &str) -> Checked {
    let key: KeyFile = serde_json::from_str(&format!("{{{secret}}}"))
        .map_err(|e| Outcome::unverified(format!("cannot read the key file: {e}")))?;
    let email = key.client_email.as_deref().ok_or_else(|| {
        Outcome::unverified("no client_email after the private key: the token exchange needs it")
    })?;
    let url = super::endpoint(ENDPOINT_ENV, "https://oauth2.googleapis.com", "/token")?;
    let assertion = jwt(&key, email).map_err(Outcome::unverified)?;
    let form = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
    );
    let request = context
        .client(&url)
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form);
    let (response, at) = super::ask(context, &url, Named::Provider, request).await?;
    let identity = format!(
        "service account {email} (project {}, key {})",
        key.project_id.as_deref().unwrap_or("?"),
        key.private_key_id.as_deref().unwrap_or("?")
    );
    if matches!(response.status().as_u16(), 400 | 401) {
        let answer: TokenError = super::read_json(response, &at).await?;
        return Err(match answer.error.as_str() {
            "invalid_grant" | "unauthorized_client" | "invalid_client" => Outcome {
                identity: Some(identity),
                ..Outcome::invalid(format!("{at}: {}", answer.error))
            },
            other => Outcome::unverified(format!("{at}: {other}")),
        });
    }
    super::judge_usable(&response, &at)?;
    let token: Token = super::read_json(response, &at).await?;
    if token.access_token.is_empty() {
        return Err(Outcome::unverified(format!("{at}: unexpected answer: no access token")));
    }
    Ok(Outcome::verified(identity, format!("{at}: access token granted")))
}

/// The signed assertion: `header.claims.signature`, each base64url without padding.
fn jwt(key: &KeyFile, email: &str) -> Result<String, String> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(key.private_key.as_bytes())
        .map_err(|_| "the private key is not a PKCS #8 PEM key".to_owned())?;
    let pair = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|e| format!("the private key is not a usable RSA key: {e}"))?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": key.private_key_id});
    let claims = serde_json::json!({
        "iss": email,
        "scope": "https://www.googleapis.com/auth/cloud-platform.read-only",
        "aud": TOKEN_URL,
        "iat": now,
        "exp": now + 3600,
    });
    let input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(claims.to_string().as_bytes())
    );
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "cannot sign the assertion".to_owned())?;
    Ok(format!("{input}.{}", base64url(&signature)))
}

/// base64url without padding (RFC 7515).
fn base64url(bytes: &[u8]) -> String {
    base64_encode(bytes).trim_end_matches('=').replace('+', "-").replace('/', "_")
}

/// The token endpoint's success, as far as we read it.
#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    access_token: String,
}

/// The token endpoint's error.
#[derive(Deserialize)]
struct TokenError {
    error: String,
}
