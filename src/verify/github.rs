//! GitHub tokens, checked with GitHub's "who am I" call, written from GitHub's REST API
//! documentation: `GET https://api.github.com/user` ("Get the authenticated user") with
//! `Authorization: Bearer TOKEN`, which answers the account's `login` and `id`, the scopes of a
//! classic token in the `X-OAuth-Scopes` header and an expiring token's expiry in
//! `github-authentication-token-expiration`
//! (<https://docs.github.com/en/rest/users/users#get-the-authenticated-user>,
//! <https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/scopes-for-oauth-apps>), and
//! 401 `Bad credentials` for a token that is not valid. A refresh token (`ghr_`) is not accepted
//! by any API call, so it is not checked (a 401 would wrongly read as invalid).
//! `LEAKHOUND_VERIFY_GITHUB_URL` replaces `https://api.github.com`: for tests only.

use serde::Deserialize;

use super::hosts::Named;
use super::{Checked, Context, Outcome};

/// The endpoint override for tests: the fake that stands for api.github.com.
pub const ENDPOINT_ENV: &str = "LEAKHOUND_VERIFY_GITHUB_URL";

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    matches!(rule_id, "github.token" | "github.fine-grained-pat")
}

/// Checks one token.
pub async fn check(context: &Context, token: &str) -> Checked {
    if token.starts_with("ghr_") {
        return Err(Outcome::unverified("a GitHub refresh token has no read-only check"));
    }
    let url = super::endpoint(ENDPOINT_ENV, "https://api.github.com", "user")?;
    let request = context
        .client(&url)
        .get(url.clone())
        .bearer_auth(token)
        .header(reqwest::header::ACCEPT, "application/vnd.github+json")
        .header("X-GitHub-Api-Version", "2022-11-28");
    let (response, at) = super::ask(context, &url, Named::Provider, request).await?;
    super::judge_status(&response, &at)?;
    let header =
        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let scopes = header("x-oauth-scopes");
    let expires = header("github-authentication-token-expiration");
    let user: User = super::read_json(response, &at).await?;
    let scopes = scopes.map(|s| format!("; scopes: {s}")).unwrap_or_default();
    let expires = expires.map(|e| format!("; expires: {e}")).unwrap_or_default();
    let identity = format!("{} (user id {}{scopes}{expires})", user.login, user.id);
    Ok(Outcome::verified(identity, format!("{at}: HTTP 200")))
}

/// The documented answer of `GET /user`, as far as we read it.
#[derive(Deserialize)]
struct User {
    login: String,
    id: u64,
}
