//! Telegram bot tokens, checked with the Bot API's "who am I" method, written from Telegram's Bot
//! API documentation: `GET https://api.telegram.org/bot<token>/getMe` ("a simple method for
//! testing your bot's authentication token"), which answers `{"ok": true, "result": {"id",
//! "is_bot", "first_name", "username"}}`, and 401 `{"ok": false, "description": "Unauthorized"}`
//! for a token that is not valid (<https://core.telegram.org/bots/api#getme>).
//!
//! The token travels in the path, so every detail is scrubbed of it before it leaves this module
//! (reqwest's errors, a redirect's `Location`, the host policy all name the URL).
//! `LEAKHOUND_VERIFY_TELEGRAM_URL` replaces `https://api.telegram.org`: for tests only.

use serde::Deserialize;

use super::hosts::Named;
use super::{Checked, Context, Outcome};

/// The endpoint override for tests: the fake that stands for api.telegram.org.
pub const ENDPOINT_ENV: &str = "LEAKHOUND_VERIFY_TELEGRAM_URL";

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    rule_id == "telegram.bot-token"
}

/// Checks one bot token.
pub async fn check(context: &Context, token: &str) -> Checked {
    let scrub = |o: Outcome| Outcome {
        identity: o.identity,
        detail: o.detail.replace(token, "…"),
        status: o.status,
    };
    get_me(context, token).await.map(scrub).map_err(scrub)
}

async fn get_me(context: &Context, token: &str) -> Checked {
    // `./`: joined bare, `bot123:AA…` would read as a URL of scheme `bot123`.
    let url =
        super::endpoint(ENDPOINT_ENV, "https://api.telegram.org", &format!("./bot{token}/getMe"))?;
    let request = context.client(&url).get(url.clone());
    let (response, at) = super::ask(context, &url, Named::Provider, request).await?;
    super::judge_status(&response, &at)?;
    let answer: GetMe = super::read_json(response, &at).await?;
    let bot = answer
        .result
        .filter(|_| answer.ok)
        .ok_or_else(|| Outcome::unverified(format!("{at}: unexpected answer: no bot named")))?;
    let name = bot.username.unwrap_or(bot.first_name);
    Ok(Outcome::verified(format!("Telegram bot @{name} (id {})", bot.id), format!("{at}: ok")))
}

/// The documented answer of `getMe`, as far as we read it.
#[derive(Deserialize)]
struct GetMe {
    ok: bool,
    result: Option<Bot>,
}

/// The bot's `User` object.
#[derive(Deserialize)]
struct Bot {
    id: i64,
    first_name: String,
    username: Option<String>,
}
