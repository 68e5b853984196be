//! Twilio auth tokens, checked with the account they belong to, written from Twilio's REST API
//! documentation: `GET https://api.twilio.com/2010-04-01/Accounts/{AccountSid}.json` with HTTP
//! Basic auth, the Account SID as user and the auth token as password, answers the Account
//! resource (`sid`, `friendly_name`, `status`: active, suspended or closed), and 401 (code
//! 20003, "Authenticate") for a token the account does not accept
//! (<https://www.twilio.com/docs/iam/api/account>).
//!
//! The token alone cannot be checked: the SID must be written next to it, which only
//! `twilio.account-credentials` captures (as its `user` group). `LEAKHOUND_VERIFY_TWILIO_URL`
//! replaces `https://api.twilio.com`: for tests only.

use serde::Deserialize;

use super::hosts::Named;
use super::{Checked, Context, Credential, Outcome};

/// The endpoint override for tests: the fake that stands for api.twilio.com.
pub const ENDPOINT_ENV: &str = "LEAKHOUND_VERIFY_TWILIO_URL";

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    matches!(rule_id, "twilio.account-credentials" | "twilio.auth-token")
}

/// Checks one auth token against the account whose SID the rule found beside it.
pub async fn check(context: &Context, credential: &Credential) -> Checked {
    let sid = credential.capture("user").ok_or_else(|| {
        Outcome::unverified(
            "no Account SID (AC…) written next to the token: Twilio checks the two together",
        )
    })?;
    let url = super::endpoint(
        ENDPOINT_ENV,
        "https://api.twilio.com",
        &format!("2010-04-01/Accounts/{sid}.json"),
    )?;
    let request = context.client(&url).get(url.clone()).basic_auth(sid, Some(&credential.secret));
    let (response, at) = super::ask(context, &url, Named::Provider, request).await?;
    super::judge_status(&response, &at)?;
    let account: Account = super::read_json(response, &at).await?;
    let who = format!("Twilio account {} ({})", account.friendly_name, account.sid);
    if account.status == "active" {
        Ok(Outcome::verified(who, format!("{at}: ok")))
    } else {
        // A suspended or closed account answers, but its token opens nothing.
        Err(Outcome {
            identity: Some(who),
            ..Outcome::invalid(format!("{at}: account {}", account.status))
        })
    }
}

/// The documented Account resource, as far as we read it.
#[derive(Deserialize)]
struct Account {
    sid: String,
    friendly_name: String,
    status: String,
}
