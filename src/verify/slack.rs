//! Slack tokens, checked with Slack's "who am I" method, written from Slack's Web API
//! documentation: `POST https://slack.com/api/auth.test` with `Authorization: Bearer TOKEN`
//! (<https://api.slack.com/methods/auth.test>). Slack answers HTTP 200 either way: `{"ok": true,
//! "url", "team", "user", "team_id", "user_id", "bot_id"?}` for a working token, `{"ok": false,
//! "error": "..."}` otherwise; `invalid_auth`, `not_authed`, `account_inactive`, `token_revoked`
//! and `token_expired` mean the token does not work (invalid), any other error says nothing about
//! it (unverified). A refresh token (`xoxe-`, `xoxr-`) is not accepted by Web API methods, so it
//! is not checked. `LEAKHOUND_VERIFY_SLACK_URL` replaces `https://slack.com`: for tests only.

use serde::Deserialize;

use super::hosts::Named;
use super::{Checked, Context, Outcome};

/// The endpoint override for tests: the fake that stands for slack.com.
pub const ENDPOINT_ENV: &str = "LEAKHOUND_VERIFY_SLACK_URL";

/// The `error` values that mean the token itself does not work.
const REJECTED: &[&str] =
    &["invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"];

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    rule_id == "slack.token"
}

/// Checks one token.
pub async fn check(context: &Context, token: &str) -> Checked {
    if token.starts_with("xoxe-") || token.starts_with("xoxr-") {
        return Err(Outcome::unverified("a Slack refresh token has no read-only check"));
    }
    let url = super::endpoint(ENDPOINT_ENV, "https://slack.com", "api/auth.test")?;
    let request = context
        .client(&url)
        .post(url.clone())
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("");
    let (response, at) = super::ask(context, &url, Named::Provider, request).await?;
    super::judge_usable(&response, &at)?;
    let answer: AuthTest = super::read_json(response, &at).await?;
    Ok(match (answer.ok, answer.error.as_deref()) {
        (true, _) => {
            let kind = if answer.bot_id.is_some() { "bot" } else { "user" };
            let identity = format!(
                "{kind} {} ({}) in {} ({}, {})",
                answer.user.unwrap_or_default(),
                answer.user_id.unwrap_or_default(),
                answer.team.unwrap_or_default(),
                answer.team_id.unwrap_or_default(),
                answer.url.unwrap_or_default()
            );
            Outcome::verified(identity, format!("{at}: ok"))
        }
        (false, Some(error)) if REJECTED.contains(&error) => {
            Outcome::invalid(format!("{at}: {error}"))
        }
        (false, error) => {
            Outcome::unverified(format!("{at}: error {}", error.unwrap_or("(none given)")))
        }
    })
}

/// The documented answer of `auth.test`, as far as we read it.
#[derive(Deserialize)]
struct AuthTest {
    ok: bool,
    error: Option<String>,
    url: Option<String>,
    team: Option<String>,
    user: Option<String>,
    team_id: Option<String>,
    user_id: Option<String>,
    bot_id: Option<String>,
}
