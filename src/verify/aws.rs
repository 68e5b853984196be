//! AWS access keys, checked with STS `GetCallerIdentity`, written from the STS API reference:
//! `POST https://sts.amazonaws.com/` with `Action=GetCallerIdentity&Version=2011-06-15`, signed
//! with Signature Version 4 for `us-east-1`/`sts`, answers the caller's `Arn`, `UserId` and
//! `Account` as XML; it needs no permission, so any working key pair passes
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>). A key id
//! AWS does not know is refused with 403 `InvalidClientTokenId`, a secret that is not the key
//! id's with 403 `SignatureDoesNotMatch`, a lapsed session with 403 `ExpiredToken`: all invalid
//! (<https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html>).
//!
//! A request is signed by both halves of a key, which the rules find apart: a secret key is
//! paired with the key ids found in the same blob, nearest first (and a key id with the secret
//! keys), a temporary (`ASIA`) key id also with the session token found there (as
//! `aws_session_token`, `AWS_SESSION_TOKEN`, `X-Amz-Security-Token`: the `aws.session-token`
//! rule knows the token by its own prefix, whatever its name), sent as `X-Amz-Security-Token`
//! and signed; a temporary key id with no token beside it is not sent at all, since STS would
//! refuse it whether it is live or not. The signing is
//! `aws-sigv4`, the AWS SDK's own signer. `LEAKHOUND_VERIFY_AWS_URL` replaces
//! `https://sts.amazonaws.com`: for tests only.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

use super::hosts::Named;
use super::{Checked, Context, Outcome};

/// The endpoint override for tests: the fake that stands for sts.amazonaws.com.
pub const ENDPOINT_ENV: &str = "LEAKHOUND_VERIFY_AWS_URL";

/// The key id rule.
const KEY_ID: &str = "aws.access-key-id";
/// The rules that find secret access keys.
const SECRET_KEYS: &[&str] = &["aws.secret-access-key", "generic.aws-secret-near-key-id"];
/// The session token rule.
const SESSION_TOKEN: &str = "aws.session-token";

/// The rules whose findings are paired with each other ([`super::Context::beside`]).
pub const PAIRED: &[&str] = &[KEY_ID, SECRET_KEYS[0], SECRET_KEYS[1], SESSION_TOKEN];

/// Pairs tried per finding at most: a blob with many keys must not become many requests.
const MAX_PAIRS: usize = 4;

/// The query body of the call.
const BODY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    rule_id == KEY_ID || SECRET_KEYS.contains(&rule_id)
}

/// Checks the key pairs `secret` (of rule `rule_id`) makes with its other half found beside it:
/// verified by the first pair STS accepts, invalid when STS refuses every pair.
pub async fn check(context: &Context, rule_id: &str, secret: &str) -> Checked {
    let pairs: Vec<(&str, &str)> = if rule_id == KEY_ID {
        let keys = context.beside(rule_id, secret, SECRET_KEYS);
        keys.into_iter().map(|key| (secret, key)).collect()
    } else {
        let ids = context.beside(rule_id, secret, &[KEY_ID]);
        ids.into_iter().map(|id| (id, secret)).collect()
    };
    if pairs.is_empty() {
        let missing = if rule_id == KEY_ID { "secret access key" } else { "access key id" };
        return Err(Outcome::unverified(format!(
            "no {missing} found in the same file: STS checks the two together"
        )));
    }
    let mut refused = Vec::new();
    let mut untried = None;
    for (id, key) in pairs.into_iter().take(MAX_PAIRS) {
        let token = if id.starts_with("ASIA") {
            let Some(&token) = context.beside(rule_id, secret, &[SESSION_TOKEN]).first() else {
                untried = Some(
                    "a temporary key id (ASIA…) is checked with its session token, and none was \
                     found in the same file",
                );
                continue;
            };
            Some(token)
        } else {
            None
        };
        let outcome = caller_identity(context, id, key, token).await;
        match outcome.unwrap_or_else(|early| early) {
            refused_pair if refused_pair.status == super::Status::Invalid => {
                refused.push(refused_pair.detail);
            }
            outcome => return Ok(outcome),
        }
    }
    // A pair left untried may be the live one.
    match untried {
        Some(why) => Err(Outcome::unverified(why)),
        None => Err(Outcome::invalid(refused.join("; "))),
    }
}

/// One signed `GetCallerIdentity` with key id `id`, secret key `key` and maybe a session token.
async fn caller_identity(context: &Context, id: &str, key: &str, token: Option<&str>) -> Checked {
    let url = super::endpoint(ENDPOINT_ENV, "https://sts.amazonaws.com", "/")?;
    let content_type = "application/x-www-form-urlencoded; charset=utf-8";
    let signed = signature_headers(url.as_str(), content_type, id, key, token)
        .map_err(|why| Outcome::unverified(format!("cannot sign the STS request: {why}")))?;
    let mut request = context
        .client(&url)
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, content_type)
        .body(BODY);
    for (name, value) in signed {
        request = request.header(name, value);
    }
    let (response, at) = super::ask(context, &url, Named::Provider, request).await?;
    let status = response.status();
    if status.is_success() || status == reqwest::StatusCode::FORBIDDEN {
        let body = response.text().await.map_err(|e| {
            Outcome::unverified(format!("{at}: {}", super::request_failure(&e.without_url())))
        })?;
        return Ok(read(&body, status.is_success(), &at));
    }
    super::judge_usable(&response, &at)?;
    Err(Outcome::unverified(format!("{at}: HTTP {}", status.as_u16())))
}

/// The `Authorization`, `X-Amz-Date` (and `X-Amz-Security-Token`) headers of the call.
fn signature_headers(
    url: &str,
    content_type: &str,
    id: &str,
    key: &str,
    token: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    let identity =
        Credentials::new(id, key, token.map(str::to_owned), None, "found-by-leakhound").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("sts")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let headers = [("content-type", content_type)];
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.into_iter(),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    Ok(instructions.headers().map(|(n, v)| (n.to_owned(), v.to_owned())).collect())
}

/// What STS answered: the caller on success, else its error code.
fn read(body: &str, success: bool, at: &str) -> Outcome {
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].trim().to_owned())
    };
    if success {
        return match (tag("Arn"), tag("Account")) {
            (Some(arn), Some(account)) => {
                Outcome::verified(format!("{arn} (account {account})"), format!("{at}: HTTP 200"))
            }
            _ => Outcome::unverified(format!("{at}: unexpected answer: no Arn and Account")),
        };
    }
    match tag("Code").as_deref() {
        Some(code @ ("InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken")) => {
            Outcome::invalid(format!("{at}: HTTP 403 {code}"))
        }
        Some(code) => Outcome::unverified(format!("{at}: HTTP 403 {code}")),
        None => Outcome::unverified(format!("{at}: HTTP 403")),
    }
}
